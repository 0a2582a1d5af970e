"""`issuebot sync` and `report` on the forge fakes: same outcome as locally, cheap reruns and bulk reads."""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from issuebot import markers
from issuebot.cli import main
from issuebot.config import load_program
from issuebot.observe import observe_program
from tests.conftest import Clock, cohort, program_data, write_program
from tests.fakes import HARNESSES, harness

NOW = "2027-01-11T09:00:00+00:00"
FORGES = sorted(name for name in HARNESSES if name != "local")
PEOPLE = ("alice", "bob", "carol", "dave", "erin", "dana")

# GitLab calls a rerun may make: who am I, the group, paginated group-wide listings, and the
# issues of the coordinators' project (the dashboard), the token's scopes and role (checked before
# any write); never anything of one pair's project.
GITLAB_BULK_READS = re.compile(
    r"^/(user|personal_access_tokens/self|groups/[^/]+|groups/[^/]+/(projects|issues|labels|boards|members/all/\d+)"
    r"|projects/mentoring/coordination/issues)$"
)


def run(*args: str) -> Any:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def sync_json(program: Path) -> dict[str, Any]:
    return json.loads(run("sync", "-c", str(program), "--now", NOW, "--json"))


def report_rows(program: Path) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != "url"} for row in json.loads(run("report", "-c", str(program), "--format", "json"))]


def issues_of(forge: Any) -> set[tuple[Any, ...]]:
    return {
        (i.project, i.title, tuple(sorted(i.labels)), i.state, i.due, tuple(sorted(i.assignees)))
        for i in forge.provider.list_issues(None, state="all")
    }


@pytest.mark.parametrize("forge_name", FORGES)
def test_sync_and_report_match_the_embedded_tracker(forge_name, tmp_path):
    results = {}
    for name in ("local", forge_name):
        clock = Clock(datetime.fromisoformat(NOW))
        folder = tmp_path / name
        folder.mkdir()
        with harness(name, folder, clock) as forge:
            for person in PEOPLE:
                forge.add_user(person)
            program = write_program(folder / "program.yml", program_data(forge.provider_config()))
            first = sync_json(program)
            assert first["errors"] == [] and first["writes"] > 0
            results[name] = (sorted(first["created"]), report_rows(program), issues_of(forge))
    local, remote = results["local"], results[forge_name]
    assert remote[0] == local[0] == ["bob-alice", "erin-dave"]
    assert remote[1] == local[1]
    assert {row["status"] for row in remote[1]} == {"kickoff"}
    assert remote[2] == local[2]
    assert len(remote[2]) >= 8  # kickoff, goal, session and tracker of each pair


@pytest.mark.parametrize("forge_name", FORGES)
def test_second_sync_makes_zero_writes_and_only_bulk_reads(forge_name, tmp_path, clock):
    size = 30
    with harness(forge_name, tmp_path, clock) as forge:
        for person in ["carol"] + [f"{role}{i}" for i in range(size) for role in ("mentor", "mentee")]:
            forge.add_user(person)
        program = write_program(tmp_path / "program.yml", cohort(size, forge.provider_config()))
        assert sync_json(program)["errors"] == []
        open_issues = sum(1 for _ in forge.provider.list_issues(None))
        reads, writes = forge.reads, forge.writes
        log_start = len(forge.fake.log) if hasattr(forge, "fake") else 0

        again = sync_json(program)

        assert again["writes"] == 0 and forge.writes == writes
        assert len(again["unchanged"]) == size and again["created"] == again["updated"] == []
        # Bulk: pages of issues and of projects (read twice: pairs, coordinators' project) plus fixed
        # calls (who am I, the group, its labels, the board, the dashboard's issues, and the token's
        # scopes and role, checked before any write); never per pair.
        budget = math.ceil(open_issues / 100) + 2 * math.ceil((size + 1) / 100) + 7
        assert forge.reads - reads <= budget < size
        if forge_name == "gitlab":
            paths = {path for method, path in forge.fake.log[log_start:]}
            assert all(GITLAB_BULK_READS.match(path) for path in paths), paths


@pytest.mark.parametrize("forge_name", FORGES)
@pytest.mark.parametrize("size", [5, 60])
def test_steady_state_bulk_read_costs_pages_not_pairs(forge_name, size, tmp_path, clock):
    with harness(forge_name, tmp_path, clock) as forge:
        for person in ["carol"] + [f"{role}{i}" for i in range(size) for role in ("mentor", "mentee")]:
            forge.add_user(person)
        program = load_program(write_program(tmp_path / "program.yml", cohort(size, forge.provider_config())))
        assert sync_json(program.path)["errors"] == []
        open_issues = sum(1 for _ in forge.provider.list_issues(None))
        assert open_issues >= 4 * size

        reads = forge.reads
        views, _ = observe_program(forge.provider, program)

        assert len(views) == size and all(v.tracker is not None for v in views.values())
        projects_pages = math.ceil((size + 1) / 100)
        assert forge.reads - reads <= math.ceil(open_issues / 100) + projects_pages + 1


# ------------------------------------------------------------------ GitLab: failures a coordinator sees


def invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def gitlab(tmp_path, clock):
    with harness("gitlab", tmp_path, clock) as made:
        for person in PEOPLE:
            made.add_user(person)
        yield made


@pytest.fixture(params=FORGES)
def hosted(request, tmp_path, clock):
    """Each forge fake in turn, knowing the program's people."""
    with harness(request.param, tmp_path, clock) as made:
        for person in PEOPLE:
            made.add_user(person)
        yield made


# What each forge's refusal of a revoked token says; the token itself must never be shown.
REJECTED_TOKEN = {"gitlab": ("glpat-revoked-token", "rejected the access token"),
                  "github": ("ghp_revoked_token", "GITHUB_TOKEN")}


def test_missing_token_stops_before_any_call_naming_the_variable(hosted, tmp_path, monkeypatch):
    config = dict(hosted.provider_config(), token_env="ISSUEBOT_UNSET_TOKEN")
    monkeypatch.delenv("ISSUEBOT_UNSET_TOKEN", raising=False)
    program = write_program(tmp_path / "program.yml", program_data(config))
    result = invoke("sync", "-c", str(program), "--now", NOW)
    assert result.exit_code == 2
    assert "ISSUEBOT_UNSET_TOKEN" in result.output and "Traceback" not in result.output
    assert hosted.reads == hosted.writes == 0


def test_rejected_token_stops_before_any_write_without_showing_it(hosted, tmp_path, monkeypatch):
    token, message = REJECTED_TOKEN[hosted.name]
    config = hosted.provider_config()
    monkeypatch.setenv(config["token_env"], token)
    program = write_program(tmp_path / "program.yml", program_data(config))
    result = invoke("sync", "-c", str(program), "--now", NOW)
    assert result.exit_code == 2
    assert message in result.output and token not in result.output
    assert hosted.writes == 0


def test_unknown_username_is_named_and_the_rest_is_synced(hosted, tmp_path):
    data = program_data(hosted.provider_config())
    data["people"][3]["handles"] = {hosted.name: "erin-typo"}  # erin's handle on this forge is wrong
    program = write_program(tmp_path / "program.yml", data)
    result = invoke("sync", "-c", str(program), "--now", NOW)
    assert result.exit_code == 1
    assert "erin-dave" in result.output and "'erin-typo'" in result.output and "program file" in result.output
    assert {i.project for i in hosted.provider.list_issues(None)} >= {"mentoring/mentoring-bob-alice"}


def test_rate_limit_mid_sync_stops_clearly_and_a_rerun_finishes_without_duplicates(hosted, tmp_path):
    program = write_program(tmp_path / "program.yml", program_data(hosted.provider_config()))
    hosted.fail_next(429, retry_after=3600, times=40, after=25)
    stopped = invoke("sync", "-c", str(program), "--now", NOW)
    assert stopped.exit_code == 1
    assert "rate limit" in stopped.output.lower() and "run again later" in stopped.output
    assert getattr(hosted, "sleeps", []) == []  # an hour-long wait is refused, not slept
    hosted.clear_failures()

    assert sync_json(program)["errors"] == []
    assert sync_json(program)["writes"] == 0
    keys = [(i.project, markers.find_marker(i.body)) for i in hosted.provider.list_issues(None, state="all")]
    assert len(keys) == len(set(keys)) >= 8


# ----------------------------------------------------------------------------- GitHub specifics


def test_github_app_sync_writes_as_the_app_and_a_rerun_writes_nothing(tmp_path, clock):
    with harness("github", tmp_path, clock, app=True) as hub:
        for person in PEOPLE:
            hub.add_user(person)
        program = write_program(tmp_path / "program.yml", program_data(hub.provider_config()))
        assert sync_json(program)["errors"] == []
        authors = {i.author for i in hub.provider.list_issues(None, state="all")}
        assert authors == {"issuebot-app[bot]"}
        writes = hub.writes
        assert sync_json(program)["writes"] == 0 and hub.writes == writes  # new tokens are not writes
        assert {row["status"] for row in report_rows(program)} == {"kickoff"}


def test_sync_gives_coordinators_a_board_of_pairs_by_status(gitlab, tmp_path):
    program = write_program(tmp_path / "program.yml", program_data(gitlab.provider_config()))
    assert sync_json(program)["errors"] == []
    [board] = gitlab.fake.boards[gitlab.fake.group["id"]]
    assert board["name"] == "Test mentoring"
    assert [entry["label"]["name"] for entry in board["lists"]] == [
        "pair::kickoff", "pair::active", "pair::stale", "pair::paused", "pair::wrapping-up", "pair::ended",
    ]
    assert sync_json(program)["writes"] == 0
