"""The embedded tracker: injected clock, paging, filters, archived projects and the cross-process lock."""

from __future__ import annotations

import os
import select
import subprocess
import sys
from datetime import date, timedelta, timezone
from pathlib import Path

import pytest

from issuebot.models import Member
from issuebot.providers.base import InvalidRequest, NotFound, ProjectSpec, ProjectTaken
from issuebot.providers.local import PAGE, LocalProvider

REPO = Path(__file__).resolve().parent.parent
TOKEN = "[issuebot:bob-alice]"


@pytest.fixture
def tracker(tmp_path, clock):
    return LocalProvider(tmp_path / "local.db", clock=clock)


def make_project(tracker: LocalProvider, name: str = "mentoring-bob-alice") -> str:
    project, _ = tracker.ensure_project(ProjectSpec(name, "Mentoring", f"space {TOKEN}", TOKEN))
    return project.path


def test_timestamps_come_from_the_injected_clock(tracker, clock):
    project = make_project(tracker)
    start = clock()
    issue = tracker.create_issue(project, "T", "body")
    assert issue.created_at == issue.updated_at == start and issue.closed_at is None
    clock.advance(hours=3)
    edited = tracker.update_issue(project, issue.number, body="new")
    assert edited.created_at == start and edited.updated_at == start + timedelta(hours=3)
    clock.advance(days=1)
    tracker.ensure_members(project, [Member("bob", "pair")])
    comment = tracker.as_user("bob").create_comment(project, issue.number, "hello")
    assert comment.created_at == start + timedelta(days=1, hours=3) and comment.author == "bob"
    assert tracker.get_issue(project, issue.number).updated_at == comment.created_at  # a comment moves it
    clock.advance(minutes=5)
    closed = tracker.update_issue(project, issue.number, state="closed")
    assert closed.closed_at == clock() and closed.updated_at == clock()
    reopened = tracker.update_issue(project, issue.number, state="open")
    assert reopened.closed_at is None


def test_no_change_means_no_write_and_no_new_timestamp(tracker, clock):
    project = make_project(tracker)
    issue = tracker.create_issue(project, "T", "b", labels=["kind::goal"], due=date(2027, 2, 1))
    writes = tracker.meter.writes
    clock.advance(hours=1)
    same = tracker.update_issue(project, issue.number, title="T", body="b", add_labels=["kind::goal"], due=date(2027, 2, 1))
    assert tracker.meter.writes == writes and same.updated_at == issue.updated_at


def test_issue_numbers_are_per_project_and_never_reused(tracker):
    first = make_project(tracker)
    second = make_project(tracker, "mentoring-erin-dave")
    numbers = [tracker.create_issue(first, f"t{n}", "b").number for n in range(3)]
    assert numbers == [1, 2, 3]
    assert tracker.create_issue(second, "t", "b").number == 1


def test_pagination_reads_one_page_per_hundred(tracker):
    project = make_project(tracker)
    for n in range(2 * PAGE + 50):
        tracker.create_issue(project, f"issue {n}", "b")
    reads = tracker.meter.reads
    issues = list(tracker.list_issues(project))
    assert [i.title for i in issues] == [f"issue {n}" for n in range(250)]
    assert tracker.meter.reads - reads == 3
    reads = tracker.meter.reads
    assert len(list(tracker.list_issues(project, state="closed"))) == 0
    assert tracker.meter.reads - reads == 1  # an empty page still costs a call
    tracker.create_issue(make_project(tracker, "mentoring-x"), "elsewhere", "b")
    reads = tracker.meter.reads
    exactly = list(tracker.list_issues(project, state="all"))
    assert len(exactly) == 250 and tracker.meter.reads - reads == 3


def test_pages_stay_complete_while_issues_change_between_pages(tracker):
    """Paging by id, not offset: closing issues on page one does not skip any on page two."""
    project = make_project(tracker)
    for n in range(150):
        tracker.create_issue(project, f"issue {n}", "b")
    seen = []
    for issue in tracker.list_issues(project, state="open"):
        seen.append(issue.number)
        if issue.number <= 50:
            tracker.update_issue(project, issue.number, state="closed")
    assert seen == list(range(1, 151))


def test_filters_labels_state_updated_after_and_group(tracker, clock):
    project = make_project(tracker)
    other = make_project(tracker, "mentoring-erin-dave")
    outside = LocalProvider(tracker.path, group="elsewhere", clock=clock)
    foreign, _ = outside.ensure_project(ProjectSpec("mentoring-z", "Z", f"z {TOKEN}", TOKEN))
    outside.create_issue(foreign.path, "not ours", "b", labels=["kind::goal"])

    goal = tracker.create_issue(project, "goal", "b", labels=["kind::goal", "team::a"])
    session = tracker.create_issue(project, "session", "b", labels=["kind::session", "session::planned"])
    tracker.create_issue(other, "other goal", "b", labels=["kind::goal"])
    cutoff = clock.advance(hours=1)
    clock.advance(hours=1)
    tracker.update_issue(project, session.number, state="closed")

    titles = lambda **kw: sorted(i.title for i in tracker.list_issues(**kw))  # noqa: E731
    assert titles() == ["goal", "other goal"]  # open only, this group only
    assert titles(state="all") == ["goal", "other goal", "session"]
    assert titles(state="closed") == ["session"]
    assert titles(labels=["kind::goal"]) == ["goal", "other goal"]
    assert titles(labels=["kind::goal", "team::a"]) == ["goal"]
    assert titles(project=other, labels=["kind::goal"]) == ["other goal"]
    assert titles(state="all", updated_after=cutoff) == ["session"]
    assert titles(state="all", updated_after=cutoff.astimezone(timezone(timedelta(hours=5)))) == ["session"]
    assert [i.title for i in outside.list_issues()] == ["not ours"]
    assert goal.number == 1


def test_scoped_labels_exclude_their_siblings(tracker):
    project = make_project(tracker)
    issue = tracker.create_issue(project, "s", "b", labels=["kind::session", "session::planned", "session::held"])
    assert issue.labels == ("kind::session", "session::held")
    moved = tracker.update_issue(project, issue.number, add_labels=["session::skipped"])
    assert moved.labels == ("kind::session", "session::skipped")
    removed = tracker.update_issue(project, issue.number, remove_labels=["session::skipped"], add_labels=["plain"])
    assert removed.labels == ("kind::session", "plain")


def test_archived_project_refuses_new_issues(tracker):
    project = make_project(tracker)
    issue = tracker.create_issue(project, "before", "b")
    assert tracker.archive_project(project) is True
    writes = tracker.meter.writes
    with pytest.raises(InvalidRequest, match="archived"):
        tracker.create_issue(project, "after", "b")
    assert tracker.meter.writes == writes
    assert [i.title for i in tracker.list_issues(project)] == ["before"]
    assert [p.archived for p in tracker.list_projects() if p.path == project] == [True]
    assert tracker.get_issue(project, issue.number).title == "before"


def test_projects_are_private_owned_and_refused_when_foreign(tracker):
    project, created = tracker.ensure_project(ProjectSpec("mentoring-bob-alice", "M", f"space {TOKEN}", TOKEN))
    assert created and project.private and project.url == "local:mentoring/mentoring-bob-alice"
    tracker.create_foreign_project("mentoring-taken", "made by hand")
    with pytest.raises(ProjectTaken, match="not created by issuebot"):
        tracker.ensure_project(ProjectSpec("mentoring-taken", "M", "x [issuebot:taken]", "[issuebot:taken]"))
    with pytest.raises(NotFound, match="mentoring/nope"):
        tracker.create_issue("mentoring/nope", "T", "b")
    with pytest.raises(NotFound):
        tracker.get_issue(project.path, 42)
    with pytest.raises(InvalidRequest, match="title"):
        tracker.create_issue(project.path, "  ", "b")


def test_members_and_labels_are_written_once_and_changed_in_place(tracker):
    project = make_project(tracker)
    assert tracker.ensure_members(project, [Member("alice", "pair"), Member("carol", "coordinator")]) == 2
    assert tracker.ensure_members(project, [Member("alice", "pair"), Member("carol", "pair")]) == 1
    assert tracker.members(project) == {"alice": "pair", "carol": "pair"}
    assert tracker.ensure_labels([("kind::goal", "c5def5", "A goal")]) == 1
    assert tracker.ensure_labels([("kind::goal", "c5def5", "A goal")]) == 0
    assert tracker.ensure_labels([("kind::goal", "000000", "A goal")]) == 1
    assert tracker.label_names() == {"kind::goal"} and tracker.label_names(project) == set()


def test_comments_page_and_since(tracker, clock):
    project = make_project(tracker)
    issue = tracker.create_issue(project, "T", "b")
    for n in range(PAGE + 1):
        tracker.create_comment(project, issue.number, f"c{n}")
    reads = tracker.meter.reads
    assert len(tracker.list_comments(project, issue.number)) == PAGE + 1
    assert tracker.meter.reads - reads == 2
    since = clock.advance(hours=1)
    tracker.create_comment(project, issue.number, "late")
    assert [c.body for c in tracker.list_comments(project, issue.number, since=since)] == ["late"]


def test_data_survives_reopening_the_file(tmp_path, clock):
    first = LocalProvider(tmp_path / "db" / "local.db", clock=clock)
    project = make_project(first)
    first.create_issue(project, "kept", "b", due=date(2027, 3, 1), assignees=["bob"])
    again = LocalProvider(tmp_path / "db" / "local.db", clock=clock)
    [issue] = list(again.list_issues(project))
    assert (issue.title, issue.due, issue.assignees, issue.author) == ("kept", date(2027, 3, 1), ("bob",), "issuebot")


# ----------------------------------------------------------------------------- exclusive()


HOLDER = """
import fcntl, sys
from issuebot.providers.local import LocalProvider

real_flock = fcntl.flock


def reporting_flock(fd, operation):
    # filelock asks without blocking and tries again: say so each time another process holds it.
    try:
        return real_flock(fd, operation)
    except BlockingIOError:
        print("busy", flush=True)
        raise


fcntl.flock = reporting_flock
tracker = LocalProvider(sys.argv[1])
print("trying", flush=True)
with tracker.exclusive():
    print("acquired", flush=True)
    sys.stdin.readline()  # hold the lock until told to let go
print("released", flush=True)
"""


def _read_line(process: subprocess.Popen, timeout: float = 30) -> str:
    # stdout is unbuffered (bufsize=0): readline never reads ahead of what select() saw.
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    assert ready, "the other process said nothing"
    return process.stdout.readline().decode().strip()


def _next_other_than_busy(process: subprocess.Popen) -> str:
    while (line := _read_line(process)) == "busy":
        pass
    return line


@pytest.mark.skipif(sys.platform == "win32", reason="watches flock calls, which exist on Unix only")
def test_exclusive_serialises_two_processes(tmp_path):
    db = tmp_path / "local.db"
    LocalProvider(db)  # create the file first
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def start() -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", HOLDER, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                bufsize=0, env=env)

    first = start()
    second = None
    try:
        assert _read_line(first) == "trying" and _read_line(first) == "acquired"
        second = start()
        assert _read_line(second) == "trying"
        # The second process was refused the lock the first one holds, and keeps asking.
        assert _read_line(second) == "busy"
        first.stdin.write(b"\n")
        assert _read_line(first) == "released"
        assert _next_other_than_busy(second) == "acquired"
        second.stdin.write(b"\n")
        assert _read_line(second) == "released"
    finally:
        for process in (first, second):
            if process is not None:
                process.stdin.close()
                process.wait(timeout=30)
    assert first.returncode == second.returncode == 0


def test_the_embedded_tracker_imports_and_locks_without_fcntl(tmp_path):
    """Windows has no fcntl: the zero-setup tracker must import and lock there all the same."""
    script = (
        "import sys\n"
        "sys.modules['fcntl'] = None  # as on Windows: `import fcntl` fails\n"
        "from issuebot.providers.local import LocalProvider\n"
        "tracker = LocalProvider(sys.argv[1])\n"
        "with tracker.exclusive():\n"
        "    print('locked', flush=True)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "local.db")], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "locked"


def test_the_embedded_tracker_does_not_import_fcntl_itself():
    import ast

    import issuebot.providers.local as local

    tree = ast.parse(Path(local.__file__).read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                for alias in node.names} | {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "fcntl" not in imported


def test_exclusive_is_released_when_the_holder_fails(tracker):
    with pytest.raises(RuntimeError), tracker.exclusive():
        raise RuntimeError("boom")
    with tracker.exclusive():  # would block forever if the lock leaked
        pass
