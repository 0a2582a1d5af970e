"""`issuebot sweep` on the command line: JSON summary, dry-run text, exit codes, --only, --max-writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from issuebot.cli import main
from issuebot.config import load_program
from issuebot.plan import index_issues
from issuebot.providers.local import LocalProvider
from tests.conftest import program_data, write_program


@pytest.fixture
def program_path(tmp_path: Path) -> Path:
    data = program_data({"kind": "local", "path": str(tmp_path / "local.db")}, reviews={"every": "1 month"})
    path = write_program(tmp_path / "program.yml", data)
    done = CliRunner().invoke(main, ["sync", "-c", str(path), "--now", "2027-01-11T09:00:00"])
    assert done.exit_code == 0, done.output
    return path


def run(program_path: Path, *args: str):
    return CliRunner().invoke(main, ["sweep", "-c", str(program_path), *args])


def tracker(program_path: Path) -> LocalProvider:
    return LocalProvider(load_program(program_path).local_db_path())


def nudge_comments(program_path: Path, pair_project: str) -> list:
    provider = tracker(program_path)
    session = index_issues(provider.list_issues(pair_project, state="all"))["session:1"]
    return [c for c in provider.list_comments(pair_project, session.number) if "issuebot:nudge:" in c.body]


def test_json_summary_then_zero_writes_on_the_second_run(program_path):
    first = run(program_path, "--now", "2027-01-28T09:00:00", "--json")
    assert first.exit_code == 0, first.output
    summary = json.loads(first.output)
    assert summary["pairs"] == 2 and summary["nudged"] == ["bob-alice", "erin-dave"]
    assert summary["escalated"] == [] and summary["errors"] == [] and summary["writes"] > 0
    assert summary["opened"] == []
    second = json.loads(run(program_path, "--now", "2027-01-28T09:00:00", "--json").output)
    assert second["writes"] == 0 and second["nudged"] == []


def test_dry_run_prints_the_text_and_writes_nothing(program_path):
    done = run(program_path, "--now", "2027-01-28T09:00:00", "--dry-run")
    assert done.exit_code == 0, done.output
    assert "comment on #" in done.output and "Hi @bob" in done.output and "add pair::" not in done.output
    assert "0 writes" in done.output
    assert nudge_comments(program_path, "mentoring/mentoring-bob-alice") == []
    review = run(program_path, "--now", "2027-02-15T09:00:00", "--dry-run", "--json")
    actions = json.loads(review.output)["actions"]
    assert any("[review:1]" in a["action"] for a in actions)
    assert any("add pair::stale" in a["action"] for a in actions)
    assert any(line.strip().startswith("@carol") for a in actions for line in a["text"])


def test_only_sweeps_one_pair_and_leaves_the_dashboard(program_path):
    done = run(program_path, "--now", "2027-01-28T09:00:00", "--only", "erin-dave", "--json")
    summary = json.loads(done.output)
    assert summary["pairs"] == 1 and summary["nudged"] == ["erin-dave"] and summary["dashboard"] == "skipped (--only)"
    assert nudge_comments(program_path, "mentoring/mentoring-bob-alice") == []
    unknown = run(program_path, "--only", "nobody-here")
    assert unknown.exit_code == 2 and "no pair 'nobody-here'" in unknown.output


def test_config_problem_exits_2_before_any_write(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("program:\n  name: x\n  coordinators: [carol]\n  starts: 2027-01-11\n  duration: 6 months\n  nudges: {grace: soon}\n")
    done = CliRunner().invoke(main, ["sweep", "-c", str(bad)])
    assert done.exit_code == 2 and "program.nudges.grace" in done.output
    assert not (tmp_path / ".issuebot").exists()


def test_a_failing_pair_exits_1_and_the_rest_is_handled(program_path):
    tracker(program_path).archive_project("mentoring/mentoring-bob-alice")  # read-only: the review cannot open
    done = run(program_path, "--now", "2027-02-11T09:00:00", "--json")
    assert done.exit_code == 1
    summary = json.loads(done.output)
    assert [e["pair"] for e in summary["errors"]] == ["bob-alice"] and "archived" in summary["errors"][0]["error"]
    assert "erin-dave:review:1" in summary["opened"]


def test_max_writes_stops_and_the_next_run_continues(program_path):
    first = json.loads(run(program_path, "--now", "2027-01-28T09:00:00", "--json", "--max-writes", "2").output)
    assert first["stopped_at_max_writes"] and first["writes"] == 2
    second = json.loads(run(program_path, "--now", "2027-01-28T09:00:00", "--json").output)
    assert not second["stopped_at_max_writes"]
    for project in ("mentoring/mentoring-bob-alice", "mentoring/mentoring-erin-dave"):
        assert len(nudge_comments(program_path, project)) == 1
    assert json.loads(run(program_path, "--now", "2027-01-28T09:00:00", "--json").output)["writes"] == 0


def test_progress_lines_when_not_a_terminal(program_path):
    done = run(program_path, "--now", "2027-01-12T09:00:00")
    assert "swept 2/2 pairs" in done.output and "dashboard" in done.output


CI = Path(__file__).resolve().parent.parent / "config" / "ci"


def test_ci_templates_schedule_a_sweep_and_offer_a_dry_run():
    import yaml

    gitlab = yaml.safe_load((CI / "gitlab-ci.yml").read_text())
    scheduled, manual = gitlab["issuebot-sweep"], gitlab["issuebot-sweep-dry-run"]
    assert scheduled["rules"][0]["if"] == '$CI_PIPELINE_SOURCE == "schedule"'
    assert any(line.startswith("issuebot sweep --json") for line in scheduled["script"])
    assert manual["rules"][0]["when"] == "manual" and all("--dry-run" in line for line in manual["script"])
    assert "pip install" in " ".join(gitlab[".issuebot"]["before_script"])

    github = yaml.safe_load((CI / "github-sweep.yml").read_text())
    triggers = github[True]  # YAML 1.1 reads the key `on` as True
    assert triggers["schedule"][0]["cron"] and triggers["workflow_dispatch"]["inputs"]["dry_run"]["type"] == "boolean"
    steps = " ".join(step.get("run", "") for step in github["jobs"]["sweep"]["steps"])
    assert "pip install" in steps and "issuebot sweep --dry-run" in steps and "issuebot sweep --json" in steps

    help_text = CliRunner().invoke(main, ["sweep", "--help"]).output
    for flag in ("--dry-run", "--json", "--max-writes", "--only", "--now"):
        assert flag in help_text
