"""The session lifecycle and quick commands, end to end over every tracker harness."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from issuebot import markers
from issuebot.commands import PROBLEMS
from issuebot.config import load_program
from issuebot.events import EventOutcome, handle_event
from issuebot.models import Comment, Event, EventKind, Issue, Member
from issuebot.plan import index_issues
from issuebot.providers.base import ProviderUnavailable
from issuebot.reconcile import reconcile_program
from issuebot.templates import Templates
from tests.conftest import Clock, program_data, write_program

START = datetime(2027, 1, 11, 9, 0, tzinfo=timezone.utc)
PEOPLE = ("alice", "bob", "carol", "dave", "erin", "mallory")


class Pairing:
    """One synced pair (bob with alice) on a tracker harness, and people acting on it."""

    def __init__(self, forge: Any, tmp_path: Path, clock: Clock, data: dict[str, Any] | None = None):
        self.forge, self.clock = forge, clock
        data = data or program_data()
        data["program"]["provider"] = forge.provider_config()
        self.program = load_program(write_program(tmp_path / "program.yml", data))
        self.templates = Templates()
        for user in PEOPLE:
            forge.add_user(user)
        clock.set(START)
        result = reconcile_program(self.provider, self.program, self.templates, trigger="sync", now=START)
        assert not result.outcome.errors
        self.pair = self.program.pair("bob-alice")
        self.path = self.provider.project_path(self.program.project_name(self.pair))

    @property
    def provider(self) -> Any:
        return self.forge.provider

    def at(self, moment: str) -> datetime:
        self.clock.set(datetime.fromisoformat(moment).replace(tzinfo=timezone.utc))
        return self.clock.now

    def issues(self) -> dict[str, Issue]:
        return index_issues(self.provider.list_issues(self.path, state="all"))

    def issue(self, key: str) -> Issue:
        return self.issues()[key]

    def state(self) -> dict[str, Any]:
        return markers.read_state(self.issue("progress").body)

    def status(self) -> str:
        labels = [l for l in self.issue("progress").labels if l.startswith("pair::")]
        assert len(labels) == 1, labels
        return labels[0].split("::")[1]

    def write(self, user: str, key: str | int, text: str) -> Event:
        number = key if isinstance(key, int) else self.issue(key).number
        comment: Comment = self.forge.as_user(user).create_comment(self.path, number, text)
        return Event(kind=EventKind.COMMENT_CREATED, provider=self.provider.kind, project=self.path,
                     issue_number=number, actor=user, comment_id=comment.id, comment_body=text, at=self.clock.now)

    def deliver(self, event: Event) -> EventOutcome:
        return handle_event(self.program, self.provider, self.templates, event, now=self.clock.now)

    def comment(self, user: str, key: str | int, text: str) -> EventOutcome:
        return self.deliver(self.write(user, key, text))

    def close(self, user: str, key: str) -> EventOutcome:
        number = self.issue(key).number
        self.forge.as_user(user).update_issue(self.path, number, state="closed")
        return self.deliver(Event(kind=EventKind.ISSUE_CLOSED, provider=self.provider.kind, project=self.path,
                                  issue_number=number, actor=user, at=self.clock.now))

    def replies(self, key: str, prefix: str = "") -> list[str]:
        """issuebot's comments on issue `key` whose marker starts with `prefix`."""
        found = []
        for comment in self.provider.list_comments(self.path, self.issue(key).number):
            marker = markers.find_marker(comment.body)
            if marker and marker.startswith(prefix) and comment.author == self.provider.bot_username:
                found.append(markers.visible_text(comment.body))
        return found

    def sweep(self) -> Any:
        return reconcile_program(self.provider, self.program, self.templates, trigger="sweep", now=self.clock.now)


@pytest.fixture
def pairing(forge: Any, tmp_path: Path, clock: Clock) -> Pairing:
    return Pairing(forge, tmp_path, clock)


def held(state: dict[str, Any]) -> list[int]:
    return [s["n"] for s in state["sessions"] if s["outcome"] == "held"]


# ----------------------------------------------------------------------------- holding sessions


def test_session_command_logs_it_closes_the_issue_and_opens_the_next(pairing):
    assert pairing.status() == "kickoff"
    pairing.at("2027-01-20T15:00:00")
    outcome = pairing.comment("bob", "session:1", "Good talk.\n/session 2027-01-19 1h async")
    assert outcome.pair == "bob-alice" and outcome.ignored is None
    assert outcome.commands == ["/session 2027-01-19 1h async"]

    first = pairing.issue("session:1")
    assert first.state == "closed"
    assert "session::held" in first.labels and "session::planned" not in first.labels
    second = pairing.issue("session:2")
    assert second.state == "open" and "session::planned" in second.labels
    assert second.due == date(2027, 2, 2)  # one cadence (2w) after the session date
    assert pairing.state()["sessions"] == [
        {"n": 1, "date": "2027-01-19", "minutes": 60, "mode": "async", "outcome": "held", "by": "bob"}
    ]
    assert pairing.status() == "active"
    log = markers.get_section(pairing.issue("progress").body, "session-log")
    assert log is not None and "| 1 | 2027-01-19 | 60 min | in writing | held |" in log
    (ack,) = pairing.replies("session:1", "ack:")
    assert "session 1 is logged as held on 2027-01-19" in ack and "2027-02-02" in ack


def test_closing_the_session_issue_logs_it_and_opens_the_next_one_cadence_later(pairing):
    pairing.at("2027-01-22T16:30:00")
    outcome = pairing.close("alice", "session:1")
    assert outcome.writes > 0
    first = pairing.issue("session:1")
    assert first.state == "closed" and "session::held" in first.labels
    state = pairing.state()
    assert state["sessions"] == [
        {"n": 1, "date": "2027-01-22", "minutes": 45, "mode": "sync", "outcome": "held", "by": "alice"}
    ]
    assert pairing.issue("session:2").due == date(2027, 2, 5)
    assert pairing.status() == "active"


def test_a_closed_session_whose_event_was_lost_is_logged_by_the_next_sweep(pairing):
    pairing.at("2027-01-22T16:30:00")
    pairing.forge.as_user("bob").update_issue(pairing.path, pairing.issue("session:1").number, state="closed")
    pairing.at("2027-01-23T06:00:00")
    result = pairing.sweep()
    assert not result.outcome.errors
    assert held(pairing.state()) == [1]
    assert pairing.state()["sessions"][0]["date"] == "2027-01-22"
    assert "session::held" in pairing.issue("session:1").labels
    assert pairing.issue("session:2").due == date(2027, 2, 5)
    assert pairing.status() == "active"


def test_stale_pair_becomes_active_when_a_session_is_held(pairing):
    progress = pairing.issue("progress")
    pairing.provider.update_issue(pairing.path, progress.number, add_labels=["pair::stale"], remove_labels=["pair::kickoff"])
    pairing.at("2027-02-10T10:00:00")
    pairing.comment("alice", "session:1", "/session")
    assert pairing.status() == "active"
    assert pairing.state()["sessions"][0]["date"] == "2027-02-10"


def test_the_same_delivery_ten_times_has_one_effect(pairing):
    pairing.at("2027-01-20T15:00:00")
    event = pairing.write("bob", "session:1", "/session 45m")
    outcomes = [pairing.deliver(event) for _ in range(10)]
    assert outcomes[0].writes > 0
    assert [o.writes for o in outcomes[1:]] == [0] * 9
    assert len(pairing.replies("session:1", "ack:")) == 1
    assert held(pairing.state()) == [1]
    assert list(pairing.state()["handled"]) == [str(event.comment_id)]
    assert sorted(k for k in pairing.issues() if k.startswith("session:")) == ["session:1", "session:2"]


def test_reconcile_after_an_event_makes_no_writes_the_second_time(pairing):
    pairing.at("2027-01-20T15:00:00")
    pairing.comment("bob", "session:1", "/session")
    again = pairing.deliver(Event(kind=EventKind.ISSUE_EDITED, provider=pairing.provider.kind, project=pairing.path,
                                  issue_number=pairing.issue("session:2").number, actor="bob", at=pairing.clock.now))
    assert again.writes == 0 and again.actions == []
    reconcile_program(pairing.provider, pairing.program, pairing.templates, trigger="sync", now=pairing.clock.now)
    second = reconcile_program(pairing.provider, pairing.program, pairing.templates, trigger="sync", now=pairing.clock.now)
    assert second.outcome.writes == 0
    assert held(pairing.state()) == [1]


# ----------------------------------------------------------------------------- other commands


def test_skip_marks_the_session_skipped_and_opens_the_next(pairing):
    pairing.at("2027-01-20T09:00:00")  # before session 1 is due (2027-01-25)
    pairing.comment("bob", "session:1", "/skip travelling")
    first = pairing.issue("session:1")
    assert first.state == "closed" and "session::skipped" in first.labels
    entry = pairing.state()["sessions"][0]
    assert (entry["n"], entry["outcome"], entry["minutes"]) == (1, "skipped", 0)
    assert pairing.issue("session:2").due == date(2027, 2, 8)  # one cadence after the skipped one was due
    assert pairing.status() == "kickoff"  # a skipped session is not a held one
    (ack,) = pairing.replies("session:1", "ack:")
    assert "skipped" in ack


def test_pause_until_a_date_then_resume_by_itself(pairing):
    pairing.at("2027-01-20T09:00:00")
    pairing.comment("alice", "progress", "/pause until 2027-02-15")
    assert pairing.status() == "paused"
    assert pairing.state()["paused_until"] == "2027-02-15"
    pairing.at("2027-02-15T07:00:00")
    pairing.sweep()
    assert pairing.status() == "kickoff"  # no session held yet
    assert "paused_until" not in pairing.state()


def test_pause_and_resume_by_command(pairing):
    pairing.at("2027-01-20T09:00:00")
    pairing.comment("bob", "session:1", "/session")
    pairing.comment("bob", "progress", "/pause")
    assert pairing.status() == "paused" and "paused_until" not in pairing.state()
    pairing.comment("alice", "progress", "/resume")
    assert pairing.status() == "active"
    pairing.comment("alice", "progress", "/resume")
    assert "not paused" in pairing.replies("progress", "ack:")[-1]


def test_extend_moves_the_end_by_a_period_or_to_a_date(pairing):
    pairing.at("2027-01-20T09:00:00")
    assert pairing.pair.ends == date(2027, 7, 11)
    pairing.comment("carol", "progress", "/extend 1m")
    assert pairing.state()["ends"] == "2027-08-11"
    pairing.comment("bob", "progress", "/extend 2027-09-30")
    assert pairing.state()["ends"] == "2027-09-30"
    assert "2027-09-30" in pairing.replies("progress", "ack:")[-1]


def test_end_archives_the_project_after_a_closing_comment(pairing):
    pairing.at("2027-03-01T09:00:00")
    pairing.comment("bob", "kickoff", "/end moving to another team")
    assert pairing.status() == "ended"
    (ended,) = pairing.replies("progress", "ended:")
    assert "has ended (moving to another team)" in ended
    assert len(pairing.replies("kickoff", "ack:")) == 1
    project = next(p for p in pairing.provider.list_projects() if p.path == pairing.path)
    assert project.archived
    assert pairing.state()["ended"] == {"on": "2027-03-01", "by": "bob", "reason": "moving to another team"}


def test_an_end_stopped_before_the_archive_is_finished_by_the_next_sweep(pairing, monkeypatch):
    pairing.at("2027-03-01T09:00:00")

    def outage(project: str) -> bool:
        raise ProviderUnavailable("the tracker is down")

    monkeypatch.setattr(pairing.provider, "archive_project", outage)
    try:
        pairing.comment("bob", "kickoff", "/end")
    except ProviderUnavailable:
        pass  # the worker would retry later; the sweep must not depend on that
    monkeypatch.undo()
    assert pairing.status() == "ended"
    assert not next(p for p in pairing.provider.list_projects() if p.path == pairing.path).archived

    assert not pairing.sweep().outcome.errors
    assert next(p for p in pairing.provider.list_projects() if p.path == pairing.path).archived
    writes = pairing.forge.writes
    pairing.sweep()
    assert pairing.forge.writes == writes
    assert len(pairing.replies("progress", "ended:")) == 1


def test_help_lists_the_commands(pairing):
    pairing.comment("bob", "goal:1", "/help")
    (reply,) = pairing.replies("goal:1", "ack:")
    for syntax in ("/session", "/skip", "/pause", "/resume", "/extend", "/end"):
        assert syntax in reply


def test_someone_else_gets_one_polite_refusal_and_nothing_changes(pairing):
    # People outside the pair who can read the project (access given by hand): they may comment, not command.
    pairing.provider.ensure_members(pairing.path, [Member("mallory", "coordinator"), Member("erin", "coordinator")])
    before = pairing.issue("session:1")
    event = pairing.write("mallory", "session:1", "/session\n/extend 1y")
    for _ in range(3):
        pairing.deliver(event)
    (refusal,) = pairing.replies("session:1", "ack:")
    assert "@mallory" in refusal and "reserved for @bob, @alice" in refusal
    after = pairing.issue("session:1")
    assert (after.state, after.labels) == (before.state, before.labels)
    assert pairing.state()["sessions"] == [] and "ends" not in pairing.state()
    # The pair of another project is not a member here either.
    pairing.comment("erin", "session:1", "/pause")
    assert pairing.status() == "kickoff"


def test_a_wrong_argument_gets_one_usage_reply_and_changes_nothing(pairing):
    pairing.at("2027-01-20T09:00:00")
    event = pairing.write("bob", "session:1", "/session 2027-02-30")
    for _ in range(3):
        pairing.deliver(event)
    (usage,) = pairing.replies("session:1", "usage:")
    assert "`2027-02-30` is not a date" in usage and "/session [YYYY-MM-DD]" in usage
    assert pairing.issue("session:1").state == "open"
    assert pairing.state()["sessions"] == []
    future = pairing.comment("bob", "session:1", "/session 2027-01-21")
    assert "still to come" in pairing.replies("session:1", "usage:")[-1]
    assert future.writes == 2  # the usage reply and the tracker's note that the comment was read


# ----------------------------------------------------------------------------- people editing by hand


def test_reopened_session_issue_becomes_the_open_session_again(pairing):
    pairing.at("2027-01-20T09:00:00")
    pairing.close("bob", "session:1")
    assert held(pairing.state()) == [1]
    pairing.at("2027-01-21T09:00:00")
    number = pairing.issue("session:1").number
    pairing.forge.as_user("bob").update_issue(pairing.path, number, state="open")
    pairing.deliver(Event(kind=EventKind.ISSUE_REOPENED, provider=pairing.provider.kind, project=pairing.path,
                          issue_number=number, actor="bob", at=pairing.clock.now))
    first = pairing.issue("session:1")
    assert first.state == "open" and "session::planned" in first.labels and "session::held" not in first.labels
    assert pairing.state()["sessions"] == []
    # It is the session a `/session` now applies to; the existing next session moves with it.
    pairing.at("2027-01-24T09:00:00")
    pairing.comment("alice", "session:1", "/session")
    assert held(pairing.state()) == [1]
    assert pairing.issue("session:1").state == "closed"
    assert pairing.issue("session:2").due == date(2027, 2, 7)
    assert "session:3" not in pairing.issues()


def test_removed_pair_label_is_restored_from_state(pairing):
    pairing.at("2027-01-20T09:00:00")
    pairing.comment("bob", "session:1", "/session")
    progress = pairing.issue("progress")
    pairing.forge.as_user("bob").update_issue(pairing.path, progress.number, remove_labels=["pair::active"])
    pairing.deliver(Event(kind=EventKind.ISSUE_UNLABELED, provider=pairing.provider.kind, project=pairing.path,
                          issue_number=progress.number, actor="bob", at=pairing.clock.now))
    assert pairing.status() == "active"


def test_session_labelled_held_by_hand_is_logged_and_closed(pairing):
    pairing.at("2027-01-20T09:00:00")
    number = pairing.issue("session:1").number
    pairing.forge.as_user("alice").update_issue(pairing.path, number, add_labels=["session::held"],
                                                remove_labels=["session::planned"])
    pairing.deliver(Event(kind=EventKind.ISSUE_LABELED, provider=pairing.provider.kind, project=pairing.path,
                          issue_number=number, actor="alice", at=pairing.clock.now))
    assert held(pairing.state()) == [1]
    assert pairing.issue("session:1").state == "closed"
    assert pairing.issue("session:2").state == "open"


def test_events_by_issuebot_itself_are_ignored(pairing):
    bot = pairing.provider.bot_username
    number = pairing.issue("session:1").number
    comment = pairing.provider.create_comment(pairing.path, number, "/session")
    writes = pairing.forge.writes
    outcome = pairing.deliver(Event(kind=EventKind.COMMENT_CREATED, provider=pairing.provider.kind,
                                    project=pairing.path, issue_number=number, actor=bot.upper(),
                                    comment_id=comment.id, comment_body="/session"))
    assert outcome.ignored == "made by issuebot itself"
    assert pairing.forge.writes == writes
    assert pairing.issue("session:1").state == "open"


def test_close_with_comment_is_one_session_described_by_the_command(pairing):
    pairing.at("2027-01-21T18:00:00")
    number = pairing.issue("session:1").number
    comment = pairing.write("bob", "session:1", "/session 2027-01-20 1h async")
    pairing.forge.as_user("bob").update_issue(pairing.path, number, state="closed")
    pairing.deliver(comment)  # the comment's delivery arrives first and already sees the issue closed
    pairing.deliver(Event(kind=EventKind.ISSUE_CLOSED, provider=pairing.provider.kind, project=pairing.path,
                          issue_number=number, actor="bob", at=pairing.clock.now))
    assert pairing.state()["sessions"] == [
        {"n": 1, "date": "2027-01-20", "minutes": 60, "mode": "async", "outcome": "held", "by": "bob"}
    ]
    assert pairing.issue("session:2").due == date(2027, 2, 3)
    assert "session:3" not in pairing.issues()
    assert len(pairing.replies("session:1", "ack:")) == 1


def test_an_edited_comment_with_a_corrected_argument_runs(pairing):
    pairing.at("2027-01-20T09:00:00")
    event = pairing.write("bob", "session:1", "/session 2027-01-32")
    pairing.deliver(event)
    assert len(pairing.replies("session:1", "usage:")) == 1 and pairing.state()["sessions"] == []
    edited = Event(kind=EventKind.COMMENT_EDITED, provider=event.provider, project=event.project,
                   issue_number=event.issue_number, actor="bob", comment_id=event.comment_id,
                   comment_body="/session 2027-01-19", at=pairing.clock.now)
    pairing.deliver(edited)
    pairing.deliver(edited)
    assert held(pairing.state()) == [1] and pairing.state()["sessions"][0]["date"] == "2027-01-19"
    assert len(pairing.replies("session:1", "ack:")) == 1
    # A later edit of a comment already carried out does nothing.
    outcome = pairing.deliver(Event(kind=EventKind.COMMENT_EDITED, provider=event.provider, project=event.project,
                                    issue_number=event.issue_number, actor="bob", comment_id=event.comment_id,
                                    comment_body="/end"))
    assert outcome.writes == 0 and pairing.status() == "active"


# ----------------------------------------------------------------------------- wiring


def test_sessions_workflow_is_wired_after_onboarding_for_every_trigger_a_pair_acts_through():
    from issuebot.workflows import WORKFLOWS, onboarding, sessions

    assert WORKFLOWS.index(sessions) == WORKFLOWS.index(onboarding) + 1
    assert sessions.triggers == {"sync", "sweep", "event"}  # `rematch` runs coordinators' requests only


@pytest.mark.parametrize("problem", PROBLEMS)
def test_every_usage_problem_is_explained_by_the_reply_template(problem, tmp_path, clock):
    from issuebot.plan import Context, PairView, Plan

    program = load_program(write_program(tmp_path / "program.yml", program_data()))
    pair = program.pair("bob-alice")
    ctx = Context(program=program, templates=Templates(), now=START, trigger="event")
    plan = Plan(PairView(pair=pair, project_path="", project=None), ctx)
    result = {"command": "session", "line": "/session x", "status": "usage", "problem": problem,
              "argument": "x", "syntax": "/session [YYYY-MM-DD] [45m|1h] [async]"}
    body = ctx.templates.render("command-ack", **plan.render_context(actor="bob", results=[result])).body
    assert "the argument does not fit" not in body  # the fallback for an unexplained problem
    assert "Nothing was changed. Usage: `/session [YYYY-MM-DD] [45m|1h] [async]`" in body
