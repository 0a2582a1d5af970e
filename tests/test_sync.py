"""`sync` end to end over every tracker harness: what it creates, idempotency, interruption and concurrency."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from issuebot import markers
from issuebot.config import load_program
from issuebot.providers.local import LocalProvider
from issuebot.reconcile import reconcile_program
from issuebot.templates import Templates
from tests.conftest import Clock, program_data, run_cli, write_program
from tests.fakes import HARNESSES, harness

REPO = Path(__file__).resolve().parent.parent
NOW = datetime(2027, 1, 11, 9, 0, tzinfo=timezone.utc)

# Provider verbs that write; a wrapper that dies around them simulates a killed process.
WRITE_VERBS = frozenset({
    "ensure_project", "ensure_members", "ensure_labels", "create_issue", "update_issue",
    "create_comment", "archive_project", "ensure_board",
})


# ----------------------------------------------------------------------------- helpers


def program_for(forge: Any, tmp_path: Path, data: dict[str, Any] | None = None, name: str = "program.yml"):
    data = data or program_data()
    data["program"]["provider"] = forge.provider_config()
    for person in data["people"]:  # forges only accept members who have an account
        forge.add_user(person.get("handles", {}).get(forge.name, person["username"]))
    return load_program(write_program(tmp_path / name, data))


def run_sync(provider: Any, program: Any, now: datetime = NOW, **options: Any):
    return reconcile_program(provider, program, Templates(program.templates_dir()), trigger="sync", now=now, **options)


def members_of_project(forge: Any, project: str) -> dict[str, str] | None:
    """Members by username, from the harness or the provider (whichever can tell)."""
    for source in (forge, forge.provider):
        reader = getattr(source, "members", None)
        if callable(reader):
            return dict(reader(project))
    return None


def label_names(forge: Any, project: str | None) -> set[str] | None:
    scope = project if getattr(forge.provider, "labels_per_project", False) else None
    for source in (forge, forge.provider):
        reader = getattr(source, "label_names", None)
        if callable(reader):
            return set(reader(scope))
    return None


def snapshot(forge: Any) -> dict[str, Any]:
    """Everything sync can write: projects, members, labels, issues (with comments)."""
    provider = forge.provider
    projects = sorted(provider.list_projects(), key=lambda p: p.path)
    issues = sorted(provider.list_issues(None, state="all"), key=lambda i: (i.project, i.number))
    return {
        "projects": [(p.path, p.name, p.description, p.private, p.archived) for p in projects],
        "members": {p.path: members_of_project(forge, p.path) for p in projects},
        "labels": {p.path: label_names(forge, p.path) for p in projects} if getattr(provider, "labels_per_project", False)
        else label_names(forge, None),
        "issues": [
            {
                "where": (i.project, i.number),
                "title": i.title,
                "body": i.body,
                "labels": sorted(i.labels),
                "state": i.state,
                "due": i.due,
                "assignees": sorted(i.assignees),
                "comments": [(c.author, c.body) for c in provider.list_comments(i.project, i.number)],
            }
            for i in issues
        ],
    }


def issues_by_key(forge: Any, project: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for issue in forge.provider.list_issues(project, state="all"):
        key = markers.find_marker(issue.body)
        assert key is not None and key not in found, f"unmarked or duplicate bot issue {issue.title!r}"
        found[key] = issue
    return found


class Killed(BaseException):
    """The process died: not a ProviderError, so nothing in issuebot catches it."""


class DiesAfterWrites:
    """A provider that dies right after its k-th write (before the caller learns of it)."""

    def __init__(self, provider: Any, k: int):
        self._provider = provider
        self._k = k
        self._start = provider.meter.writes

    def _done(self) -> int:
        return self._provider.meter.writes - self._start

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._provider, name)
        if name not in WRITE_VERBS:
            return attr

        def write(*args: Any, **kwargs: Any) -> Any:
            if self._done() >= self._k:
                raise Killed(name)
            result = attr(*args, **kwargs)
            if self._done() >= self._k:
                raise Killed(name)
            return result

        return write


# ----------------------------------------------------------------------------- what sync creates


def test_sync_creates_each_pairs_workspace(forge, tmp_path):
    program = program_for(forge, tmp_path)
    result = run_sync(forge.provider, program)
    assert result.outcome.errors == []
    assert sorted(result.outcome.created) == ["bob-alice", "erin-dave"]

    projects = {p.path: p for p in forge.provider.list_projects()}
    bob = forge.provider.project_path("mentoring-bob-alice")
    erin = forge.provider.project_path("mentoring-erin-dave")
    pair_projects = {path for path in projects if program.pair_for_project(path) is not None}
    assert pair_projects == {bob, erin}
    assert all(projects[path].private and not projects[path].archived for path in pair_projects)

    members = members_of_project(forge, bob)
    if members is not None:
        assert members == {"alice": "pair", "bob": "pair", "carol": "coordinator"}
        assert members_of_project(forge, erin) == {"dave": "pair", "erin": "pair", "carol": "coordinator"}
    labels = label_names(forge, bob)
    if labels is not None:
        assert {"pair::kickoff", "pair::active", "kind::goal", "session::planned", "session::held"} <= labels

    issues = issues_by_key(forge, bob)
    assert set(issues) == {"kickoff", "goal:1", "progress", "session:1"}
    assert "kind::kickoff" in issues["kickoff"].labels
    assert issues["goal:1"].title == "Goal: Ship a service"
    assert issues["goal:1"].due == date(2027, 4, 30)
    assert "- [ ] Tutorial" in issues["goal:1"].body and "- [ ] Deploy" in issues["goal:1"].body
    assert set(issues["progress"].labels) == {"kind::progress", "pair::kickoff"}
    assert set(issues["session:1"].labels) == {"kind::session", "session::planned"}
    assert issues["session:1"].due == date(2027, 1, 25)  # starts 2027-01-11 + cadence 2w
    assert all(i.state == "open" for i in issues.values())
    state = markers.read_state(issues["progress"].body)
    assert state["pair"] == "bob-alice" and state["status"] == "kickoff"
    assert sorted(state["issues"]) == ["goal:1", "kickoff", "session:1"]

    erin_issues = issues_by_key(forge, erin)
    assert set(erin_issues) == {"kickoff", "goal:define", "progress", "session:1"}
    assert erin_issues["goal:define"].title == "Define your goals"


def test_first_session_is_due_one_cadence_after_the_pairs_own_start(forge, tmp_path):
    data = program_data(cadence="1 month")
    data["program"]["starts"] = "2027-01-31"
    data["pairs"][1]["starts"] = "2027-03-31"
    program = program_for(forge, tmp_path, data)
    run_sync(forge.provider, program)
    bob = issues_by_key(forge, forge.provider.project_path("mentoring-bob-alice"))
    erin = issues_by_key(forge, forge.provider.project_path("mentoring-erin-dave"))
    assert bob["session:1"].due == date(2027, 2, 28)  # month end clamps
    assert erin["session:1"].due == date(2027, 4, 30)


def test_second_sync_makes_zero_writes(forge, tmp_path):
    program = program_for(forge, tmp_path)
    first = run_sync(forge.provider, program)
    assert first.outcome.writes > 0
    before = snapshot(forge)
    writes = forge.writes
    second = run_sync(forge.provider, program)
    assert second.outcome.writes == 0 and forge.writes == writes
    assert sorted(second.outcome.unchanged) == ["bob-alice", "erin-dave"]
    assert second.outcome.created == second.outcome.updated == []
    assert snapshot(forge) == before


def test_adding_one_pair_creates_only_that_pairs_things(forge, tmp_path):
    data = program_data()
    run_sync(forge.provider, program_for(forge, tmp_path, data))
    before = snapshot(forge)

    data["people"].append({"username": "frank", "name": "Frank Fox", "role": "mentee"})
    data["pairs"].append({"mentor": "alice", "mentee": "frank"})
    result = run_sync(forge.provider, program_for(forge, tmp_path, data))
    assert result.outcome.created == ["frank-alice"]
    assert sorted(result.outcome.unchanged) == ["bob-alice", "erin-dave"]

    after = snapshot(forge)
    frank = forge.provider.project_path("mentoring-frank-alice")
    assert [p for p in after["projects"] if p[0] != frank] == before["projects"]
    assert [i for i in after["issues"] if i["where"][0] != frank] == before["issues"]
    assert {k: v for k, v in after["members"].items() if k != frank} == before["members"]
    assert len([i for i in after["issues"] if i["where"][0] == frank]) == 4
    assert run_sync(forge.provider, program_for(forge, tmp_path, data)).outcome.writes == 0


def test_removed_pair_is_reported_and_nothing_deleted(forge, tmp_path):
    data = program_data()
    run_sync(forge.provider, program_for(forge, tmp_path, data))
    before = snapshot(forge)
    data["pairs"] = data["pairs"][:1]
    result = run_sync(forge.provider, program_for(forge, tmp_path, data))
    assert [p.path for p in result.orphans] == [forge.provider.project_path("mentoring-erin-dave")]
    assert result.outcome.writes == 0
    assert snapshot(forge) == before


def test_text_a_person_edited_is_never_rewritten(forge, tmp_path):
    program = program_for(forge, tmp_path)
    run_sync(forge.provider, program)
    bob = forge.provider.project_path("mentoring-bob-alice")
    issues = issues_by_key(forge, bob)
    person = forge.as_user("bob")

    kickoff = issues["kickoff"].body + "\nWe meet on Tuesdays.\n"
    person.update_issue(bob, issues["kickoff"].number, body=kickoff, title="Our kickoff")
    goal = issues["goal:1"].body.replace("_Why does this goal matter", "I want to own a service. _Why")
    person.update_issue(bob, issues["goal:1"].number, body=goal)
    tracker = issues["progress"].body.replace("## Quick commands", "Our notes go here.\n\n## Quick commands")
    person.update_issue(bob, issues["progress"].number, body=tracker)
    # Someone even deletes the marker from the session issue: it must not be opened again.
    session = markers.visible_text(issues["session:1"].body) + "\n\nAgenda: Kubernetes basics\n"
    person.update_issue(bob, issues["session:1"].number, body=session)

    before = snapshot(forge)
    result = run_sync(forge.provider, program)
    assert result.outcome.writes == 0
    assert snapshot(forge) == before
    kept = {i.number: i for i in forge.provider.list_issues(bob, state="all")}
    assert kept[issues["kickoff"].number].title == "Our kickoff"
    assert kept[issues["kickoff"].number].body.rstrip() == kickoff.rstrip()
    assert kept[issues["goal:1"].number].body.rstrip() == goal.rstrip()
    assert kept[issues["session:1"].number].body.rstrip() == session.rstrip()


def test_closed_goal_is_not_reopened_when_a_person_damaged_the_state_block(forge, tmp_path):
    program = program_for(forge, tmp_path)
    run_sync(forge.provider, program)
    bob = forge.provider.project_path("mentoring-bob-alice")
    issues = issues_by_key(forge, bob)
    forge.as_user("bob").update_issue(bob, issues["goal:1"].number, state="closed")
    damaged = issues["progress"].body.replace('"status":"kickoff"', '"status":kickoff')
    assert markers.read_state(damaged) == {}
    forge.as_user("bob").update_issue(bob, issues["progress"].number, body=damaged)

    result = run_sync(forge.provider, program)
    assert result.outcome.errors == []
    after = issues_by_key(forge, bob)  # asserts no duplicates
    assert set(after) == {"kickoff", "goal:1", "progress", "session:1"}
    assert after["goal:1"].state == "closed"
    state = markers.read_state(after["progress"].body)
    assert sorted(state["issues"]) == ["goal:1", "kickoff", "session:1"]  # repaired, one write
    assert run_sync(forge.provider, program).outcome.writes == 0


# ----------------------------------------------------------------------------- interruption


def kill_points(forge_name: str, total: int) -> list[int]:
    """Every write on the embedded tracker; on the forge fakes, whose verbs the contract suite already
    holds to the same meaning, the first and last writes and a fixed sample between them."""
    if forge_name == "local":
        return list(range(1, total + 1))
    sample = random.Random(f"kill-{forge_name}").sample(range(4, total - 2), min(6, max(0, total - 6)))
    return sorted({1, 2, 3, total - 1, total, *sample})


@pytest.mark.parametrize("forge_name", sorted(HARNESSES))
def test_sync_killed_after_every_kth_write_then_rerun_equals_uninterrupted_run(forge_name, tmp_path):
    clock = Clock(NOW)
    with harness(forge_name, tmp_path / "reference", clock) as reference:
        program = program_for(reference, tmp_path / "reference")
        total = run_sync(reference.provider, program).outcome.writes
        expected = snapshot(reference)
    assert total > 10

    for k in kill_points(forge_name, total):
        where = tmp_path / f"killed-{k}"
        with harness(forge_name, where, clock) as forge:
            program = program_for(forge, where)
            with pytest.raises(Killed):
                run_sync(DiesAfterWrites(forge.provider, k), program)
            assert forge.writes >= k, f"k={k}: died before its k-th write"
            rerun = run_sync(forge.provider, program)
            assert rerun.outcome.errors == [], f"k={k}"
            assert snapshot(forge) == expected, f"killed after write {k} of {total}, rerun differs"
            assert run_sync(forge.provider, program).outcome.writes == 0, f"k={k}: third run wrote"


def test_max_writes_stops_cleanly_and_the_next_run_completes(forge, tmp_path):
    program = program_for(forge, tmp_path)
    with harness(forge.name, tmp_path / "reference", Clock(NOW)) as reference:
        total = run_sync(reference.provider, program_for(reference, tmp_path / "reference")).outcome.writes
        expected = snapshot(reference)
    first = run_sync(forge.provider, program, max_writes=20)
    assert first.outcome.stopped and first.outcome.errors == []
    # Never more than the budget: labels and members are ensured in chunks of the writes left.
    # (A board, where the tracker has one, is ensured in one go: it may pass the budget by its lists.)
    bounded = lambda budget: budget if forge.name == "local" else budget + 10  # noqa: E731
    assert 20 <= first.outcome.writes <= bounded(20) and first.outcome.writes < total
    runs = 1
    while True:
        nxt = run_sync(forge.provider, program, max_writes=5)
        runs += 1
        assert nxt.outcome.errors == [] and nxt.outcome.writes <= bounded(5)
        if not nxt.outcome.stopped:
            break
        assert runs < 20, "max-writes runs never finish"
    assert snapshot(forge) == expected
    assert run_sync(forge.provider, program).outcome.writes == 0


# ----------------------------------------------------------------------------- processes


cli = run_cli


def local_snapshot(db: Path) -> dict[str, Any]:
    class Local:
        provider = LocalProvider(db, clock=lambda: NOW)

    return snapshot(Local)


def test_two_sync_processes_at_once_duplicate_nothing(tmp_path):
    reference_db = tmp_path / "reference" / "local.db"
    reference = LocalProvider(reference_db, clock=lambda: NOW)
    data = program_data()
    data["people"] += [{"username": f"m{n}", "role": "mentee"} for n in range(6)]
    data["pairs"] += [{"mentor": "alice", "mentee": f"m{n}"} for n in range(6)]
    data["program"]["provider"] = {"kind": "local", "path": str(reference_db)}
    run_sync(reference, load_program(write_program(tmp_path / "reference" / "program.yml", data)))
    expected = local_snapshot(reference_db)

    for attempt in range(3):
        where = tmp_path / f"race-{attempt}"
        data["program"]["provider"] = {"kind": "local", "path": "tracker/local.db"}
        config = write_program(where / "program.yml", data)
        command = [sys.executable, "-m", "issuebot.cli", "sync", "-c", str(config), "--json",
                   "--now", NOW.isoformat()]
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        running = [subprocess.Popen(command, cwd=where, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                   for _ in range(2)]
        outputs = [p.communicate(timeout=120) for p in running]
        for process, (_out, err) in zip(running, outputs):
            assert process.returncode == 0, err
        results = [json.loads(out) for out, _ in outputs]
        # exclusive(): one process made every write; the other waited, then found everything done.
        assert sorted(r["writes"] for r in results) == [0, reference.meter.writes]
        assert local_snapshot(where / "tracker" / "local.db") == expected


def test_sync_json_and_report_json_fields(tmp_path):
    config = write_program(tmp_path / "program.yml", program_data())
    done = cli("sync", "-c", str(config), "--json", "--now", NOW.isoformat(), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    assert {"created", "updated", "unchanged", "writes", "errors"} <= set(outcome)
    assert sorted(outcome["created"]) == ["bob-alice", "erin-dave"] and outcome["writes"] > 0
    assert outcome["errors"] == []

    again = json.loads(cli("sync", "-c", str(config), "--json", "--now", NOW.isoformat(), cwd=tmp_path).stdout)
    assert again["writes"] == 0 and sorted(again["unchanged"]) == ["bob-alice", "erin-dave"]

    done = cli("report", "-c", str(config), "--format", "json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = {row["pair"]: row for row in json.loads(done.stdout)}
    assert set(rows) == {"bob-alice", "erin-dave"}
    fields = {"pair", "mentor", "mentee", "project", "status", "sessions_held", "last_session",
              "next_session_due", "goals_total", "goals_done", "url"}
    assert all(fields <= set(row) for row in rows.values())
    bob = rows["bob-alice"]
    assert (bob["mentor"], bob["mentee"], bob["project"]) == ("alice", "bob", "mentoring/mentoring-bob-alice")
    assert (bob["status"], bob["sessions_held"], bob["last_session"]) == ("kickoff", 0, None)
    assert bob["next_session_due"] == "2027-01-25"
    assert (bob["goals_total"], bob["goals_done"]) == (1, 0)
    assert bob["url"]
    assert rows["erin-dave"]["goals_total"] == 0


def test_truncated_state_block_is_repaired_once_not_on_every_run(forge, tmp_path):
    program = program_for(forge, tmp_path)
    run_sync(forge.provider, program)
    bob = forge.provider.project_path("mentoring-bob-alice")
    tracker = issues_by_key(forge, bob)["progress"]
    cut = tracker.body[: tracker.body.index('"status"')] + " -->\n"  # a person's edit lost the end of the JSON
    forge.as_user("bob").update_issue(bob, tracker.number, body=cut)

    assert run_sync(forge.provider, program).outcome.writes == 1
    repaired = issues_by_key(forge, bob)["progress"].body
    assert repaired.count("issuebot:state") == 1
    assert sorted(markers.read_state(repaired)["issues"]) == ["goal:1", "kickoff", "session:1"]
    assert run_sync(forge.provider, program).outcome.writes == 0


def test_a_project_someone_else_made_at_a_pairs_path_is_refused_and_untouched(forge, tmp_path):
    forge.create_foreign_project("mentoring-bob-alice")
    program = program_for(forge, tmp_path)
    result = run_sync(forge.provider, program)
    assert [e["pair"] for e in result.outcome.errors] == ["bob-alice"]
    assert "not created by issuebot" in result.outcome.errors[0]["error"]
    assert result.outcome.created == ["erin-dave"]
    taken = forge.provider.project_path("mentoring-bob-alice")
    assert list(forge.provider.list_issues(taken, state="all")) == []
    members = members_of_project(forge, taken)
    assert not members or not {"alice", "bob", "carol"} & set(members)


def test_report_counts_a_goal_a_person_closed(tmp_path):
    config = write_program(tmp_path / "program.yml", program_data())
    assert cli("sync", "-c", str(config), "--now", NOW.isoformat(), cwd=tmp_path).returncode == 0
    tracker = LocalProvider(tmp_path / ".issuebot" / "local.db")
    [goal] = [i for i in tracker.list_issues("mentoring/mentoring-bob-alice") if markers.find_marker(i.body) == "goal:1"]
    tracker.as_user("bob").update_issue(goal.project, goal.number, state="closed")
    rows = {r["pair"]: r for r in json.loads(cli("report", "-c", str(config), "--format", "json", cwd=tmp_path).stdout)}
    assert (rows["bob-alice"]["goals_total"], rows["bob-alice"]["goals_done"]) == (1, 1)
    assert (rows["erin-dave"]["goals_total"], rows["erin-dave"]["goals_done"]) == (0, 0)
