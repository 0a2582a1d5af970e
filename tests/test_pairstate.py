"""Pure unit tests of the facts and nudge rules every workflow reads: no tracker, no I/O."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from issuebot import markers
from issuebot.config import Program, load_program
from issuebot.models import Comment, Issue, Project
from issuebot.pairstate import (
    current_session,
    exempt_until,
    goal_progress,
    held_any,
    is_working_day,
    latest_round,
    overdue_session,
    settled_status,
)
from issuebot.plan import TRACKER, Context, PairView, SessionRef
from issuebot.templates import Templates
from issuebot.workflows import nudges
from tests.conftest import program_data, write_program

PATH = "mentoring/mentoring-bob-alice"


@pytest.fixture
def program(tmp_path: Path) -> Program:
    return load_program(write_program(tmp_path / "program.yml", program_data()))


def session(number: int, due: date, state: str = "open") -> Issue:
    key = SessionRef(number).key
    return Issue(project=PATH, number=10 + number, title=f"Session {number}", body=markers.with_marker("agenda", key),
                 state=state, due=due)  # type: ignore[arg-type]


def view_of(program: Program, *issues: Issue, state: dict | None = None, comments: dict | None = None) -> PairView:
    tracker = Issue(project=PATH, number=1, title="Progress",
                    body=markers.write_state(markers.with_marker("", TRACKER), state or {"sessions": []}))
    by_key = {TRACKER: tracker, **{markers.find_marker(i.body) or "": i for i in issues}}
    return PairView(pair=program.pair("bob-alice"), project_path=PATH, project=Project(path=PATH, name="p"),
                    issues=by_key, comments=comments or {})


def ctx_on(program: Program, day: date) -> Context:
    return Context(program=program, templates=Templates(), trigger="sweep",
                   now=datetime(day.year, day.month, day.day, 9, tzinfo=timezone.utc))


def test_session_refs_parse_only_well_formed_keys():
    assert SessionRef.parse("session:3") == SessionRef(3) and SessionRef(3).key == "session:3"
    for key in ("session:", "session:x", "session:²", "goal:1", "sessions:1", "session:-1"):
        assert SessionRef.parse(key) is None, key
    assert SessionRef(2) < SessionRef(10)  # by number, not as text


def test_the_current_session_is_the_open_one_with_the_highest_number(program):
    view = view_of(program, session(1, date(2027, 1, 25), "closed"), session(2, date(2027, 2, 8)),
                   session(10, date(2027, 6, 1)))
    found = current_session(view)
    assert found is not None and found.ref == SessionRef(10) and found.issue.number == 20
    assert current_session(view_of(program, session(1, date(2027, 1, 25), "closed"))) is None


def test_a_session_is_overdue_after_the_grace_counted_from_the_end_of_a_pause(program):
    view = view_of(program, session(1, date(2027, 1, 25)))
    assert overdue_session(view, {}, program, date(2027, 1, 27)) is None  # within the 3-day grace
    late = overdue_session(view, {}, program, date(2027, 1, 28))
    assert late is not None and (late.since, late.days) == (date(2027, 1, 25), 3)
    paused = {"paused_until": "2027-02-10"}
    assert overdue_session(view, paused, program, date(2027, 2, 12)) is None
    assert overdue_session(view, paused, program, date(2027, 2, 13)).since == date(2027, 2, 10)
    mangled = {"paused_until": "not a date"}  # a hand edit must not stop a sweep
    assert overdue_session(view, mangled, program, date(2027, 1, 28)).since == date(2027, 1, 25)


def test_who_is_exempt_and_until_when():
    today = date(2027, 3, 1)
    assert exempt_until({}, "ended", today) == date.max
    assert exempt_until({}, "paused", today) == date.max  # paused without an end date
    assert exempt_until({"paused_until": "2027-03-05"}, "paused", today) == date(2027, 3, 5)
    assert exempt_until({"paused_until": "2027-02-20"}, "paused", today) is None  # the pause is over
    assert exempt_until({"nudges": {"snoozed_until": "2027-03-10"}}, "active", today) == date(2027, 3, 10)
    assert exempt_until({"nudges": "broken by hand"}, "active", today) is None
    assert exempt_until({}, "active", today) is None


def test_status_after_a_pause_depends_on_whether_the_pair_ever_met():
    assert settled_status({"sessions": [{"n": 1, "outcome": "skipped"}]}) == "kickoff"
    assert settled_status({"sessions": [{"n": 1, "outcome": "held"}]}) == "active"
    assert not held_any({"sessions": ["garbage", {"outcome": "skipped"}]})


def test_quiet_days_and_holidays_are_not_working_days(tmp_path):
    data = program_data(nudges={"quiet_days": ["sat", "sun"], "holidays": ["2027-01-12"]})
    program = load_program(write_program(tmp_path / "program.yml", data))
    assert is_working_day(program, date(2027, 1, 11))  # a Monday
    assert not is_working_day(program, date(2027, 1, 12))  # a holiday
    assert not is_working_day(program, date(2027, 1, 16))  # a Saturday


def test_goal_progress_counts_ticked_tasks_and_goals_closed_out_of_sight(program):
    goal = Issue(project=PATH, number=5, title="Goal", body=markers.with_marker("- [x] a\n- [ ] b", "goal:1"))
    view = view_of(program, goal, state={"issues": ["goal:1", "goal:2", "goal:define"], "sessions": []})
    first, second = goal_progress(view)
    assert (first.tasks_done, first.tasks_total, first.percent, first.done) == (1, 2, 50, False)
    assert second.closed and second.done and second.percent == 100  # named by the state, not listed: closed


def test_review_rounds_are_counted_from_the_pair_start_and_stop_before_the_end():
    from issuebot.config import Period

    starts, ends = date(2027, 1, 1), date(2027, 7, 1)
    quarterly = Period(months=3)
    assert latest_round(starts, ends, quarterly, quarterly, date(2027, 3, 31)) is None
    assert latest_round(starts, ends, quarterly, quarterly, date(2027, 4, 1)) == (1, date(2027, 4, 1))
    assert latest_round(starts, ends, quarterly, quarterly, date(2027, 12, 1)) == (1, date(2027, 4, 1))


# ----------------------------------------------------------------------------- nudge rules


def test_the_first_session_reminder_comes_once_when_no_session_was_held(program):
    view = view_of(program, session(1, date(2027, 1, 25)))
    assert nudges.due_nudge(view, view.state, "kickoff", program, date(2027, 1, 20)) is None  # within 10 days
    wanted = nudges.due_nudge(view, view.state, "kickoff", program, date(2027, 1, 21))
    assert wanted is not None and wanted.rule == "first-session" and wanted.recipients == ("bob", "alice")
    reminded = {"sessions": [], "nudges": {"first_session": "2027-01-21"}}
    assert nudges.due_nudge(view_of(program, session(1, date(2027, 1, 25)), state=reminded), reminded,
                            "kickoff", program, date(2027, 1, 22)) is None


def test_an_overdue_session_is_nudged_again_only_after_renudge_every(program):
    state = {"sessions": [{"n": 1, "outcome": "held", "date": "2027-01-20"}],
             "nudges": {"sent": [{"to": "bob", "on": "2027-02-11", "rule": "overdue", "issue": "session:2"}]}}
    view = view_of(program, session(2, date(2027, 2, 8)), state=state)
    assert nudges.due_nudge(view, view.state, "active", program, date(2027, 2, 17)) is None
    again = nudges.due_nudge(view, view.state, "active", program, date(2027, 2, 18))
    assert again is not None and again.rule == "overdue" and again.session == SessionRef(2) and again.days_overdue == 10


def comment(author: str, text: str, day: int) -> Comment:
    return Comment(project=PATH, issue_number=12, id=day, author=author, body=text,
                   created_at=datetime(2027, 2, day, tzinfo=timezone.utc))


@pytest.mark.parametrize(("spoke", "hears"), [
    ([], ("bob",)),  # nobody spoke and nobody was nudged: the mentee leads, they hear first
    ([("bob", "Does Tuesday work?")], ("alice",)),  # the mentee spoke last: the mentor is the quiet side
    ([("bob", "Tuesday?"), ("alice", "Yes")], ("bob",)),
    ([("alice", "Yes"), ("carol", "coordinator checking in")], ("bob",)),  # coordinators do not count
])
def test_the_nudge_goes_to_the_side_that_went_quiet(program, spoke, hears):
    state = {"sessions": [{"n": 1, "outcome": "held", "date": "2027-01-20"}]}
    said = [comment(author, text, day) for day, (author, text) in enumerate(spoke, start=1)]
    view = view_of(program, session(2, date(2027, 2, 8)), state=state, comments={"session:2": said})
    wanted = nudges.intent(view, view.state, "active", ctx_on(program, date(2027, 2, 12)))
    assert wanted is not None and wanted.recipients == hears


def test_the_weekly_cap_counts_every_pair_a_person_is_in(program):
    sent = [{"to": "bob", "on": "2027-02-10", "rule": "overdue", "issue": "session:2"},
            {"to": "bob", "on": "2027-02-11", "rule": "overdue", "issue": "session:2"}]
    state = {"sessions": [{"n": 1, "outcome": "held", "date": "2027-01-20"}], "nudges": {"sent": sent}}
    view = view_of(program, session(2, date(2027, 1, 30)), state=state)
    allowance = nudges.weekly_allowance({"bob-alice": view}, ctx_on(program, date(2027, 2, 12)))
    assert allowance == {"bob-alice": frozenset()}  # bob had his two this week
    assert nudges.sent_this_week(view.state, date(2027, 2, 18))["bob"] == 0


def test_a_stale_pairs_members_hear_reminders_again_only_once_wrap_up_moves_a_pair_that_met_on(program):
    from issuebot.pairstate import members_hear_reminders, reminders_owed

    met = {"sessions": [{"n": 1, "date": "2027-01-20", "outcome": "held"}]}
    never = {"sessions": []}
    assert members_hear_reminders(program, view_of(program), never, "active", date(2027, 3, 1))
    assert not members_hear_reminders(program, view_of(program), met, "stale", date(2027, 3, 1))
    assert not members_hear_reminders(program, view_of(program), never, "stale", date(2027, 7, 1))  # never met: stays stale
    assert members_hear_reminders(program, view_of(program), met, "stale", date(2027, 7, 1))  # wraps up this run
    review = Issue(project=PATH, number=30, title="Review 1", body=markers.with_marker("", "review:1"), due=date(2027, 3, 1))
    view = view_of(program, review)
    assert reminders_owed(program, view, view.state, date(2027, 3, 3)) == []  # within the grace of 3 days
    assert reminders_owed(program, view, view.state, date(2027, 3, 4)) == ["review:1"]
    sent = {"sessions": [], "nudges": {"items": {"review:1": ["2027-03-04"]}}}
    assert reminders_owed(program, view, sent, date(2027, 4, 1)) == []  # item_reminders: 1
