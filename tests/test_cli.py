"""The `issuebot` command line: init, validate, schema, plan, sync and report as a coordinator uses them."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from issuebot.cli import main
from issuebot.providers.local import LocalProvider
from tests.conftest import program_data, write_program

NOW = "2027-01-11T09:00:00+00:00"


@pytest.fixture
def runner(monkeypatch):
    monkeypatch.delenv("ISSUEBOT_CONFIG", raising=False)
    return CliRunner()


@pytest.fixture
def config(tmp_path):
    return write_program(tmp_path / "program.yml", program_data())


def invoke(runner, *args: str):
    result = runner.invoke(main, list(args), catch_exceptions=False)
    return result


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_init_writes_a_program_and_templates_that_work(runner, tmp_path):
    target = tmp_path / "new"
    result = invoke(runner, "init", str(target))
    assert result.exit_code == 0, result.output
    assert (target / "issuebot.yml").is_file()
    assert {"goal.md", "kickoff.md", "progress.md", "session.md"} <= {p.name for p in (target / "issue_templates").glob("*.md")}
    data = yaml.safe_load((target / "issuebot.yml").read_text())
    assert data["program"]["templates"] == "issue_templates"  # the copies are the ones in use

    # The copied templates are used: change one and sync.
    kickoff = target / "issue_templates" / "kickoff.md"
    kickoff.write_text(kickoff.read_text().replace("## First coffee chat", "## Our first coffee"))
    assert invoke(runner, "validate", "-c", str(target / "issuebot.yml")).exit_code == 0
    result = invoke(runner, "sync", "-c", str(target / "issuebot.yml"), "--now", NOW, "--json")
    assert result.exit_code == 0, result.output
    tracker = LocalProvider(target / ".issuebot" / "local.db")
    kickoffs = [i for i in tracker.list_issues(None) if i.title.startswith("Kickoff")]
    assert kickoffs and all("## Our first coffee" in i.body for i in kickoffs)


def test_init_refuses_to_overwrite_without_force(runner, tmp_path):
    assert invoke(runner, "init", str(tmp_path)).exit_code == 0
    (tmp_path / "issuebot.yml").write_text("# mine\n")
    result = invoke(runner, "init", str(tmp_path))
    assert result.exit_code == 2 and "already exists; use --force" in result.output
    assert (tmp_path / "issuebot.yml").read_text() == "# mine\n"
    assert invoke(runner, "init", str(tmp_path), "--force").exit_code == 0
    assert (tmp_path / "issuebot.yml").read_text() != "# mine\n"


def test_validate_counts_people_and_pairs(runner, config):
    result = invoke(runner, "validate", "-c", str(config))
    assert result.exit_code == 0
    assert result.output.strip() == "program.yml: ok (5 people, 2 pairs, provider local)"


def test_schema_prints_json(runner):
    result = invoke(runner, "schema")
    schema = json.loads(result.output)
    assert schema["title"] == "issuebot program file" and "program" in schema["properties"]


def test_plan_lists_actions_per_pair_and_writes_nothing(runner, config, tmp_path):
    before = files_under(tmp_path)
    result = invoke(runner, "plan", "-c", str(config), "--now", NOW)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "bob-alice:" in lines and "erin-dave:" in lines
    assert "  - create private project mentoring-bob-alice" in lines
    assert "  - ensure members alice (pair), bob (pair), carol (coordinator)" in lines
    assert any(l.startswith("  - open issue [goal:1] 'Goal: Ship a service'") and l.endswith("due 2027-04-30") for l in lines)
    assert any(l.startswith("  - open issue [goal:define] 'Define your goals'") for l in lines)
    assert any(l.startswith("  - open issue [session:1]") and l.endswith("due 2027-01-25") for l in lines)
    assert files_under(tmp_path) == before, "plan created files"

    dry = invoke(runner, "sync", "-c", str(config), "--now", NOW, "--dry-run", "--json")
    data = json.loads(dry.output)
    assert data["dry_run"] is True and data["writes"] == 0 and sorted(data["created"]) == ["bob-alice", "erin-dave"]
    assert any(a["action"] == "create private project mentoring-bob-alice" for a in data["actions"])
    assert files_under(tmp_path) == before, "sync --dry-run created files"

    report = invoke(runner, "report", "-c", str(config), "--format", "json")
    assert [r["status"] for r in json.loads(report.output)] == ["not created", "not created"]
    assert files_under(tmp_path) == before, "report created files"


def test_plan_after_sync_says_up_to_date(runner, config):
    assert invoke(runner, "sync", "-c", str(config), "--now", NOW).exit_code == 0
    result = invoke(runner, "plan", "-c", str(config), "--now", NOW)
    assert "bob-alice: up to date" in result.output and "erin-dave: up to date" in result.output


def test_sync_prints_a_summary_and_reports_removed_pairs(runner, config):
    first = invoke(runner, "sync", "-c", str(config), "--now", NOW)
    assert first.exit_code == 0
    assert first.output.startswith("created 2, updated 0, unchanged 0 pairs; ")
    data = program_data()
    data["pairs"] = data["pairs"][:1]
    write_program(config, data)
    second = invoke(runner, "sync", "-c", str(config), "--now", NOW)
    assert second.exit_code == 0
    assert "mentoring/mentoring-erin-dave: no longer in the program file (left as it is)" in second.output
    assert "created 0, updated 0, unchanged 1 pairs; 0 writes" in second.output
    as_json = json.loads(invoke(runner, "sync", "-c", str(config), "--now", NOW, "--json").output)
    assert as_json["orphans"] == ["mentoring/mentoring-erin-dave"]


def test_partial_failure_exits_1_and_handles_the_other_pairs(runner, config, tmp_path):
    LocalProvider(tmp_path / ".issuebot" / "local.db").create_foreign_project("mentoring-bob-alice", "made by hand")
    result = runner.invoke(main, ["sync", "-c", str(config), "--now", NOW, "--json"])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert [e["pair"] for e in data["errors"]] == ["bob-alice"]
    assert "not created by issuebot" in data["errors"][0]["error"]
    assert data["created"] == ["erin-dave"]
    text = runner.invoke(main, ["sync", "-c", str(config), "--now", NOW])
    assert text.exit_code == 1
    assert "error: bob-alice: project mentoring/mentoring-bob-alice already exists and was not created by issuebot" in text.output


def test_max_writes_stops_cleanly_then_the_next_run_finishes(runner, config):
    first = runner.invoke(main, ["sync", "-c", str(config), "--now", NOW, "--max-writes", "20"])
    assert first.exit_code == 0
    assert "(--max-writes); run again to continue" in first.output
    for _ in range(10):
        data = json.loads(invoke(runner, "sync", "-c", str(config), "--now", NOW, "--json", "--max-writes", "4").output)
        assert data["errors"] == []
        if not data["stopped_at_max_writes"]:
            break
    else:
        pytest.fail("never finished")
    again = json.loads(invoke(runner, "sync", "-c", str(config), "--now", NOW, "--json").output)
    assert again["writes"] == 0 and sorted(again["unchanged"]) == ["bob-alice", "erin-dave"]


def test_report_table(runner, config):
    invoke(runner, "sync", "-c", str(config), "--now", NOW)
    result = invoke(runner, "report", "-c", str(config))
    assert result.exit_code == 0
    header, rule, *rows, rule_again, totals = result.output.splitlines()
    assert rule_again == rule
    # Columns line up under the rule's dashes; read each cell by its column.
    spans, start = [], 0
    for dashes in rule.split("  "):
        spans.append((start, start + len(dashes)))
        start += len(dashes) + 2
    cells = lambda line: [line[a:b].strip() for a, b in spans]  # noqa: E731
    table = [dict(zip(cells(header), cells(row))) for row in rows]
    assert [r["pair"] for r in table] == ["bob-alice", "erin-dave"]
    bob = table[0]
    assert (bob["status"], bob["held"], bob["last session"], bob["next due"], bob["goals"], bob["project"]) == (
        "kickoff", "0", "-", "2027-01-25", "0/1", "mentoring/mentoring-bob-alice")
    assert (bob["mentee & mentor"], bob["act"], bob["paused until"], bob["overdue"]) == ("Bob Brown & Alice Adams", "-", "-", "-")
    total = cells(totals)
    assert total[:3] == ["total", "2 pairs", "0 need action"] and "0/1" in total


def test_report_never_shows_pair_text(runner, config, tmp_path):
    invoke(runner, "sync", "-c", str(config), "--now", NOW)
    tracker = LocalProvider(tmp_path / ".issuebot" / "local.db")
    [kickoff] = [i for i in tracker.list_issues("mentoring/mentoring-bob-alice") if i.title.startswith("Kickoff")]
    tracker.as_user("bob").update_issue(kickoff.project, kickoff.number, body=kickoff.body + "\nSECRET-NOTE\n")
    for fmt in ("table", "json"):
        assert "SECRET-NOTE" not in invoke(runner, "report", "-c", str(config), "--format", fmt).output


@pytest.mark.parametrize("now", ["yesterday", "2027-13-01"])
def test_bad_now_is_a_usage_error(runner, config, now):
    result = runner.invoke(main, ["sync", "-c", str(config), "--now", now])
    assert result.exit_code == 2 and "--now: not an ISO 8601" in result.output


def test_sync_twice_through_the_cli_second_writes_nothing(runner, config, tmp_path):
    first = json.loads(invoke(runner, "sync", "-c", str(config), "--now", NOW, "--json").output)
    assert first["writes"] > 0
    later = datetime(2027, 1, 12, tzinfo=timezone.utc).isoformat()
    second = json.loads(invoke(runner, "sync", "-c", str(config), "--now", later, "--json").output)
    assert second["writes"] == 0 and second["errors"] == []


def test_a_template_mistake_stops_sync_before_any_write(runner, tmp_path):
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "session.md").write_text("---\nname: Session\ntitle: T\n---\nDue {{ session.when }}\n")
    config = write_program(tmp_path / "program.yml", program_data(templates="templates"))
    result = runner.invoke(main, ["sync", "-c", str(config), "--now", NOW])
    assert result.exit_code == 2
    assert f"{folder / 'session.md'}:5: 'dict object' has no attribute 'when'" in result.output
    assert not (tmp_path / ".issuebot" / "local.db").exists(), "sync wrote before finding the template mistake"


def test_an_output_file_that_cannot_be_written_is_a_clear_error(runner, program_file, tmp_path):
    target = tmp_path / "no-such-folder" / "proposals.yml"
    result = invoke(runner, "match", "-c", str(program_file), "--output", str(target))
    assert result.exit_code == 1
    assert "no-such-folder" in result.output and "Traceback" not in result.output
