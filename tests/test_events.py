"""handle_event: which events are ignored, and one effect for concurrent identical deliveries."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest

from issuebot import markers
from issuebot.events import handle_event
from issuebot.models import Event, EventKind
from issuebot.providers.local import LocalProvider
from tests.conftest import Clock
from tests.fakes.local import LocalHarness
from tests.test_sessions import Pairing, held


def test_events_on_projects_that_are_not_pairs_are_ignored(forge, tmp_path, clock):
    pairing = Pairing(forge, tmp_path, clock)
    writes = forge.writes
    for project in (pairing.provider.project_path("coordination"), pairing.provider.project_path("mentoring-zed-amy"),
                    "elsewhere/" + pairing.path.rsplit("/", 1)[-1]):
        event = Event(kind=EventKind.COMMENT_CREATED, provider=pairing.provider.kind, project=project,
                      issue_number=1, actor="bob", comment_id=99, comment_body="/session")
        outcome = pairing.deliver(event)
        assert outcome.pair is None and outcome.ignored
        if project == pairing.provider.project_path("coordination"):
            assert outcome.ignored == "not an edit of the dashboard"  # its one kind of event
        else:
            assert "not a pair project" in outcome.ignored
    assert forge.writes == writes


def test_event_without_commands_only_reconciles(forge, tmp_path, clock):
    pairing = Pairing(forge, tmp_path, clock)
    outcome = pairing.comment("bob", "session:1", "Agenda: career paths. See /docs later.")
    assert outcome.ignored is None and outcome.commands == []
    # Only the tracker's note that issuebot has read this comment, so no sweep reads it again.
    assert outcome.writes == 1 and len(outcome.actions) == 1 and "[progress]: update bot-owned text" in outcome.actions[0]
    assert pairing.replies("session:1") == []
    chat = pairing.write("bob", "session:1", "See you!")
    assert pairing.deliver(chat).writes == 1
    assert pairing.deliver(chat).writes == 0
    assert pairing.state()["looked"] == {str(pairing.issue("session:1").number): 2}


def test_one_comment_with_several_commands_gets_one_reply(forge, tmp_path, clock):
    pairing = Pairing(forge, tmp_path, clock)
    pairing.at("2027-01-20T09:00:00")
    outcome = pairing.comment("bob", "session:1", "/session 50m\n/extend 2w\n/extend soon")
    assert outcome.commands == ["/session 50m", "/extend 2w", "/extend soon"]
    (reply,) = pairing.replies("session:1")
    assert "session 1 is logged" in reply and "now runs until 2027-07-25" in reply and "`soon` is not a period" in reply
    assert pairing.state()["ends"] == "2027-07-25"


def test_ten_identical_deliveries_at_once_have_one_effect(tmp_path):
    clock = Clock()
    pairing = Pairing(LocalHarness(tmp_path, clock), tmp_path, clock)
    pairing.at("2027-01-20T09:00:00")
    event = pairing.write("bob", "session:1", "/session")
    start = threading.Barrier(10)

    def deliver(_: int):
        # Each worker thread has its own provider on the same tracker file, as separate workers would.
        provider = LocalProvider(pairing.forge.db, clock=clock)
        start.wait()
        return handle_event(pairing.program, provider, pairing.templates, replace(event), now=clock.now)

    with ThreadPoolExecutor(max_workers=10) as pool:
        outcomes = list(pool.map(deliver, range(10)))
    assert sorted(o.writes > 0 for o in outcomes) == [False] * 9 + [True]
    assert len(pairing.replies("session:1", "ack:")) == 1
    assert held(pairing.state()) == [1]
    assert sorted(k for k in pairing.issues() if k.startswith("session:")) == ["session:1", "session:2"]


def test_event_before_the_pair_project_exists_is_ignored(tmp_path: Path):
    clock = Clock()
    pairing = Pairing(LocalHarness(tmp_path, clock), tmp_path, clock)
    other = pairing.program.pair("erin-dave")
    path = pairing.provider.project_path(pairing.program.project_name(other))
    # A tracker that lost the project: the event names it but nothing can be done yet.
    empty = LocalProvider(tmp_path / "empty.db", clock=clock)
    event = Event(kind=EventKind.ISSUE_CLOSED, provider="local", project=path, issue_number=1, actor="erin")
    outcome = handle_event(pairing.program, empty, pairing.templates, event, now=clock.now)
    assert outcome.pair == "erin-dave"
    assert outcome.writes == 0


class Killed(BaseException):
    """The worker process dying: not an error anything may catch."""


class DiesAfterWrites:
    """The embedded tracker, but the process 'dies' right after its N-th write."""

    WRITES = frozenset({"ensure_members", "ensure_labels", "create_issue", "update_issue", "create_comment",
                        "archive_project"})

    def __init__(self, provider: LocalProvider, writes: int):
        self._provider, self._left = provider, writes

    def __getattr__(self, name: str):
        value = getattr(self._provider, name)
        if name not in self.WRITES:
            return value

        def write(*args, **kwargs):
            if self._left <= 0:
                raise Killed()
            result = value(*args, **kwargs)
            self._left -= 1
            return result
        return write


def outcome_of(pairing: Pairing) -> dict:
    issues = pairing.issues()
    comments = [
        markers.find_marker(c.body)
        for i in issues.values() for c in pairing.provider.list_comments(pairing.path, i.number)
        if c.author == pairing.provider.bot_username
    ]
    state = pairing.state()
    return {
        "issues": {k: (i.state, sorted(i.labels), i.due) for k, i in issues.items()},
        "replies": sorted(comments),
        "sessions": state["sessions"],
        "status": pairing.status(),
        "dates": (state.get("ends"), state.get("paused_until")),
        "handled": state.get("handled"),
        "archived": [p.archived for p in pairing.provider.list_projects() if p.path == pairing.path],
    }


@pytest.mark.parametrize("text", ["/session", "/skip", "/extend 1m\n/pause until 2027-03-01", "/resume", "/end moving teams"])
def test_killed_after_any_write_then_redelivered_has_the_effect_of_one_clean_run(tmp_path, text):
    clock = Clock()
    clean = Pairing(LocalHarness(tmp_path / "clean", clock), tmp_path / "clean", clock)
    clean.at("2027-01-20T09:00:00")
    if text == "/resume":
        clean.comment("alice", "progress", "/pause")
    writes = clean.comment("bob", "session:1", text).writes
    expected = outcome_of(clean)
    assert len([r for r in expected["replies"] if r.startswith("ack:")]) == 2 if text == "/resume" else 1
    assert writes >= 2  # at least the reply and the tracker
    for dies_after in range(writes):
        where = tmp_path / f"killed-{dies_after}"
        pairing = Pairing(LocalHarness(where, clock), where, clock)
        pairing.at("2027-01-20T09:00:00")
        if text == "/resume":
            pairing.comment("alice", "progress", "/pause")
        event = pairing.write("bob", "session:1", text)
        dying = DiesAfterWrites(pairing.provider, dies_after)
        try:
            handle_event(pairing.program, dying, pairing.templates, event, now=clock.now)  # type: ignore[arg-type]
        except Killed:
            pass
        else:
            pytest.fail(f"the run with {dies_after} writes should have been killed")
        pairing.deliver(event)  # the lease expired: the delivery runs again
        pairing.deliver(event)
        assert outcome_of(pairing) == expected, f"killed after {dies_after} writes"


def test_api_calls_of_a_command_and_of_its_redelivery(forge, tmp_path, clock):
    pairing = Pairing(forge, tmp_path, clock)
    pairing.at("2027-01-20T09:00:00")
    event = pairing.write("bob", "session:1", "/session 1h")
    reads, writes = forge.reads, forge.writes
    pairing.deliver(event)
    # open issues of the project, the commented issue's comments, the marker checks right before
    # opening the next session and the reply; close, open next, tracker, reply. GitHub changes
    # labels by delta (one POST to add, one DELETE to remove): two more writes for each of the two
    # label swaps, session::planned -> held and pair::kickoff -> active.
    label_swap_writes = 2 if forge.name == "github" else 0
    assert forge.writes - writes == 4 + 2 * label_swap_writes
    assert forge.reads - reads <= 6  # a forge adapter may add a project lookup per verb
    reads, writes = forge.reads, forge.writes
    pairing.deliver(event)
    # the listing, the commented issue (closed now) and its comments (issuebot's reply names it)
    assert (forge.reads - reads, forge.writes - writes) == (3, 0)
