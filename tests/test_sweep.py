"""Scenario tests of the scheduled sweep on every tracker harness, with an injected clock."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from issuebot import markers
from issuebot.config import load_program
from issuebot.plan import TRACKER, index_issues
from issuebot.reconcile import reconcile_program
from issuebot.sweep import sweep
from issuebot.templates import Templates
from tests.conftest import program_data, write_program

START = datetime(2027, 1, 11, 9, 0, tzinfo=timezone.utc)  # a Monday; session 1 is due 2027-01-25


def at(day: str) -> datetime:
    return datetime.fromisoformat(day + "T09:00:00+00:00")


class World:
    """A synced program on one harness, swept at chosen moments."""

    def __init__(self, forge, clock, tmp_path: Path, **overrides):
        self.forge, self.clock = forge, clock
        data = program_data(forge.provider_config(), **overrides)
        self.program = load_program(write_program(tmp_path / "program.yml", data))
        self.templates = Templates()
        clock.set(START)
        for person in ("alice", "bob", "carol", "dave", "erin", "dana"):
            forge.add_user(person)
        result = reconcile_program(forge.provider, self.program, self.templates, trigger="sync", now=START)
        assert not result.outcome.errors

    def sweep(self, day: str, **options):
        self.clock.set(at(day))
        before = self.forge.writes
        result = sweep(self.forge.provider, self.program, self.templates, now=at(day), **options)
        result.writes_made = self.forge.writes - before
        return result

    def project(self, pair_id: str) -> str:
        return self.forge.provider.project_path(self.program.project_name(self.program.pair(pair_id)))

    def issues(self, pair_id: str):
        return index_issues(self.forge.provider.list_issues(self.project(pair_id), state="all"))

    def comments(self, pair_id: str, issue_key: str, prefix: str = ""):
        issue = self.issues(pair_id)[issue_key]
        found = self.forge.provider.list_comments(self.project(pair_id), issue.number)
        return [c for c in found if (markers.find_marker(c.body) or "").startswith(prefix)] if prefix else found

    def say(self, username: str, pair_id: str, issue_key: str, text: str) -> None:
        issue = self.issues(pair_id)[issue_key]
        self.forge.as_user(username).create_comment(self.project(pair_id), issue.number, text)

    def state(self, pair_id: str) -> dict:
        return markers.read_state(self.issues(pair_id)[TRACKER].body)

    def labels(self, pair_id: str, key: str = TRACKER) -> tuple[str, ...]:
        return self.issues(pair_id)[key].labels

    def dashboard(self):
        path = self.forge.provider.project_path(self.program.settings.coordinator_project)
        return index_issues(self.forge.provider.list_issues(path, state="all"))["dashboard"]


def mentions(comment, handle: str) -> bool:
    return f"@{handle}" in comment.body


@pytest.fixture
def world(forge, clock, tmp_path):
    return World(forge, clock, tmp_path)


# ----------------------------------------------------------------------------- nudges


def test_first_session_reminder_reaches_both_once(world):
    assert world.sweep("2027-01-20").writes_made <= 1  # before first_session_within: dashboard only
    assert world.comments("bob-alice", "session:1", "first-session") == []
    world.sweep("2027-01-21")
    reminders = world.comments("bob-alice", "session:1", "first-session")
    assert len(reminders) == 1 and mentions(reminders[0], "bob") and mentions(reminders[0], "alice")
    assert world.sweep("2027-01-21").writes_made == 0
    assert world.sweep("2027-01-22").writes_made == 0
    assert len(world.comments("bob-alice", "session:1", "first-session")) == 1


def test_overdue_session_nudges_the_mentee_first_then_the_quiet_side(world):
    world.sweep("2027-01-28")  # due 01-25 + grace 3d
    nudges = world.comments("bob-alice", "session:1", "nudge:")
    assert len(nudges) == 1 and mentions(nudges[0], "bob") and not mentions(nudges[0], "alice")
    assert world.sweep("2027-01-28").writes_made == 0
    assert world.sweep("2027-01-29").writes_made == 0  # renudge_every 7d
    world.say("bob", "bob-alice", "session:1", "Alice, does Tuesday work?")
    world.say("carol", "bob-alice", "session:1", "Coordinator here, just checking")  # does not count
    world.sweep("2027-02-04")
    nudges = world.comments("bob-alice", "session:1", "nudge:")
    assert len(nudges) == 2
    assert mentions(nudges[1], "alice") and not mentions(nudges[1], "bob")  # the mentee spoke last
    other = world.comments("erin-dave", "session:1", "nudge:")
    assert len(other) == 2 and mentions(other[1], "erin") and mentions(other[1], "dave")  # nobody spoke
    assert world.sweep("2027-02-04").writes_made == 0


def test_paused_pair_is_left_alone_until_its_date(world):
    tracker = world.issues("bob-alice")[TRACKER]
    state = world.state("bob-alice") | {"paused_until": "2027-02-10"}
    world.forge.provider.update_issue(world.project("bob-alice"), tracker.number, body=markers.write_state(tracker.body, state),
                                      add_labels=["pair::paused"], remove_labels=["pair::kickoff"])
    world.sweep("2027-01-28")
    assert world.comments("bob-alice", "session:1", "nudge:") == []
    assert "pair::paused" in world.labels("bob-alice")
    assert len(world.comments("erin-dave", "session:1", "nudge:")) == 1
    world.sweep("2027-02-10")  # the pause is over: resumed, session 1 re-planned a cadence later
    assert "pair::paused" not in world.labels("bob-alice")
    assert world.issues("bob-alice")["session:1"].due.isoformat() == "2027-02-24"
    world.sweep("2027-02-11")
    assert world.comments("bob-alice", "session:1", "nudge:") == []
    assert len(world.comments("bob-alice", "session:1", "first-session")) == 1  # no session yet: both reminded
    world.sweep("2027-02-26")  # within the grace of the new date
    assert world.comments("bob-alice", "session:1", "nudge:") == []
    world.sweep("2027-03-01")  # the first working day past the grace
    assert len(world.comments("bob-alice", "session:1", "nudge:")) == 1


def test_escalation_marks_stale_and_tells_coordinators_once_per_period(world):
    for day in ("2027-01-28", "2027-02-04", "2027-02-11"):
        world.sweep(day)
    assert "pair::stale" not in world.labels("bob-alice")
    world.sweep("2027-02-15")  # due 01-25 + escalate_after 21d
    assert "pair::stale" in world.labels("bob-alice")
    escalations = world.comments("bob-alice", TRACKER, "escalation:")
    assert len(escalations) == 1 and mentions(escalations[0], "carol")
    assert world.sweep("2027-02-15").writes_made == 0
    world.sweep("2027-02-16")
    world.sweep("2027-02-22")
    assert len(world.comments("bob-alice", TRACKER, "escalation:")) == 1
    world.sweep("2027-03-01")  # escalate_every 14d
    assert len(world.comments("bob-alice", TRACKER, "escalation:")) == 2
    assert all(i.state == "open" for i in world.issues("bob-alice").values())  # nothing is ever closed
    assert "coordinators" in markers.visible_text(world.dashboard().body)


def test_quiet_days_and_holidays_defer_nudges(forge, clock, tmp_path):
    world = World(forge, clock, tmp_path, nudges={"holidays": ["2027-02-01"]})
    assert world.sweep("2027-01-30").writes_made <= 1  # Saturday
    world.sweep("2027-01-31")  # Sunday
    world.sweep("2027-02-01")  # holiday
    assert world.comments("bob-alice", "session:1", "nudge:") == []
    world.sweep("2027-02-02")
    nudges = world.comments("bob-alice", "session:1", "nudge:")
    assert len(nudges) == 1 and "2027-02-02" in markers.find_marker(nudges[0].body)


def test_weekly_cap_counts_a_person_across_all_their_pairs(forge, clock, tmp_path):
    pairs = [{"mentor": "alice", "mentee": "bob"}, {"mentor": "dave", "mentee": "bob"}]
    world = World(forge, clock, tmp_path, pairs=pairs, nudges={"max_per_person_per_week": 1})
    world.sweep("2027-01-28")
    counts = [len(world.comments(p, "session:1", "nudge:")) for p in ("bob-alice", "bob-dave")]
    assert counts == [1, 0]  # bob hears once this week, from his first pair
    assert world.sweep("2027-01-28").writes_made == 0
    world.sweep("2027-02-04")  # a week later the pair that waited goes first
    assert len(world.comments("bob-dave", "session:1", "nudge:")) == 1
    second = world.comments("bob-alice", "session:1", "nudge:")
    assert len(second) == 2 and mentions(second[1], "alice") and not mentions(second[1], "bob")


def test_max_writes_stops_cleanly_and_the_next_run_resumes_without_duplicates(world):
    first = world.sweep("2027-01-28", max_writes=1)
    assert first.stopped and first.writes_made == 1
    second = world.sweep("2027-01-28")
    assert not second.stopped
    for pair_id in ("bob-alice", "erin-dave"):
        assert len(world.comments(pair_id, "session:1", "nudge:")) == 1
        assert world.state(pair_id)["nudges"]["sent"][0]["to"] in ("bob", "erin")
    assert world.sweep("2027-01-28").writes_made == 0
    assert world.sweep("2027-01-29").writes_made == 0


def test_hand_edited_pair_reconciles_without_duplicate_nudges(world):
    world.sweep("2027-01-28")
    project, issues = world.project("bob-alice"), world.issues("bob-alice")
    provider = world.forge.provider
    tracker = issues[TRACKER]
    stripped = tracker.body[: tracker.body.index("<!-- issuebot:state")]
    provider.update_issue(project, tracker.number, body=stripped, remove_labels=list(tracker.labels))
    session = issues["session:1"]
    provider.update_issue(project, session.number, state="closed")
    provider.update_issue(project, session.number, state="open", remove_labels=list(session.labels))
    result = world.sweep("2027-01-29")
    assert not result.errors
    assert any(l.startswith("pair::") for l in world.labels("bob-alice"))
    assert world.state("bob-alice")["pair"] == "bob-alice"
    assert len(world.comments("bob-alice", "session:1", "nudge:")) == 1  # known from the comment itself
    assert world.sweep("2027-01-29").writes_made == 0


# ----------------------------------------------------------------------------- recurring issues


def test_reviews_feedback_goal_reminder_wrapup_and_end_request(forge, clock, tmp_path):
    world = World(forge, clock, tmp_path, reviews={"every": "1 month", "invite_managers": True},
                  feedback={"first_after": "30d", "every": "60d"})
    world.sweep("2027-02-10")
    assert "feedback:1" in world.issues("bob-alice") and "review:1" not in world.issues("bob-alice")
    world.sweep("2027-02-11")
    review = world.issues("bob-alice")["review:1"]
    # dana cannot read the pair's project: she is asked in her private channel, not mentioned here.
    assert "kind::review" in review.labels and "@dana" not in review.body and "asked for their view privately" in review.body
    assert "@dana" not in world.issues("erin-dave")["review:1"].body  # erin has no manager
    assert world.sweep("2027-02-11").writes_made == 0
    world.sweep("2027-04-23")  # goal due 04-30, goal_reminder 7d (a Friday)
    assert "pair::stale" in world.labels("bob-alice")
    assert world.comments("bob-alice", "goal:1", "goal-reminder:") == []  # a stale pair's members hear no more
    # Only the round due now is opened: no sweep ran in March, so review 2 is not opened late.
    assert set(k for k in world.issues("bob-alice") if k.startswith("review:")) == {"review:1", "review:3"}
    world.sweep("2027-06-28")  # ends 07-11, wrapup_before 14d
    # The pair never met: the wrap-up issue opens and the pair stays flagged for the coordinators.
    assert "wrapup" in world.issues("bob-alice") and "pair::stale" in world.labels("bob-alice")
    world.sweep("2027-07-12")
    asks = world.comments("bob-alice", TRACKER, "end-request:")
    assert len(asks) == 1 and mentions(asks[0], "carol")
    assert world.sweep("2027-07-12").writes_made == 0
    world.sweep("2027-07-13")
    assert len(world.comments("bob-alice", TRACKER, "end-request:")) == 1
    assert "pair::ended" not in world.labels("bob-alice")  # never auto-ended
    world.sweep("2027-07-19")
    late = [c for c in world.comments("bob-alice", "session:1", "nudge:") if markers.find_marker(c.body) > "nudge:session:1:2027-07-11"]
    assert late == []  # past the end date the pair is not nudged any more
    assert all(i.state == "open" for i in world.issues("bob-alice").values())


def test_a_goal_due_soon_gets_one_reminder(forge, clock, tmp_path):
    world = World(forge, clock, tmp_path, nudges={"escalate_after": "365d"})  # quiet, but never stale
    world.sweep("2027-04-22")
    assert world.comments("bob-alice", "goal:1", "goal-reminder:") == []
    world.sweep("2027-04-23")  # goal due 04-30, goal_reminder 7d (a Friday)
    assert len(world.comments("bob-alice", "goal:1", "goal-reminder:")) == 1
    assert world.sweep("2027-04-23").writes_made == 0
    world.sweep("2027-04-26")
    assert len(world.comments("bob-alice", "goal:1", "goal-reminder:")) == 1


def test_done_goal_gets_no_reminder(world):
    goal = world.issues("bob-alice")["goal:1"]
    world.forge.as_user("bob").update_issue(world.project("bob-alice"), goal.number, body=goal.body.replace("- [ ]", "- [x]"))
    world.sweep("2027-04-26")
    assert world.comments("bob-alice", "goal:1", "goal-reminder:") == []


# ----------------------------------------------------------------------------- dashboard boxes


def tick(world, request: str, pair_id: str) -> None:
    """A coordinator ticks one box by editing the dashboard, as in the tracker's web editor."""
    board = world.dashboard()
    needle = f"<!-- issuebot:do:{request}:{pair_id} -->"
    lines = [l.replace("- [ ]", "- [x]", 1) if needle in l else l for l in board.body.splitlines()]
    assert any(needle in l for l in lines), needle
    path = world.forge.provider.project_path(world.program.settings.coordinator_project)
    world.forge.as_user("carol").update_issue(path, board.number, body="\n".join(lines) + "\n")


def test_sync_creates_the_dashboard_and_sweep_fills_it(world):
    board = world.dashboard()
    assert "kind::dashboard" in board.labels
    world.sweep("2027-01-12")
    text = world.dashboard().body
    assert "| [bob-alice]" in text and "<!-- issuebot:do:snooze:erin-dave -->" in text
    assert world.sweep("2027-01-12").writes_made == 0
    world.say("bob", "bob-alice", "session:1", "my private agenda: salary talk")
    world.sweep("2027-01-28")
    assert "salary" not in world.dashboard().body


def test_ticked_boxes_are_carried_out_once_and_cleared(world):
    world.sweep("2027-01-12")
    tick(world, "snooze", "bob-alice")
    tick(world, "extend", "erin-dave")
    world.sweep("2027-01-28")
    assert world.comments("bob-alice", "session:1", "nudge:") == []  # snoozed 14 days
    assert world.state("bob-alice")["nudges"]["snoozed_until"] == "2027-02-11"
    assert world.state("erin-dave")["ends"] == "2027-08-11"
    assert "[x]" not in world.dashboard().body
    assert world.sweep("2027-01-28").writes_made == 0
    tick(world, "nudge", "bob-alice")
    world.sweep("2027-01-29")
    assert len(world.comments("bob-alice", "session:1", "nudge:")) == 1
    tick(world, "end", "erin-dave")
    world.sweep("2027-01-30")
    assert "pair::ended" in world.labels("erin-dave")
    assert world.sweep("2027-01-30").writes_made == 0


def test_box_ticked_while_the_sweep_runs_is_not_lost(world, monkeypatch):
    world.sweep("2027-01-12")
    tick(world, "snooze", "bob-alice")
    provider = world.forge.provider
    real_get = provider.get_issue

    def get_issue_after_a_coordinator_ticked(project, number):
        tick(world, "extend", "erin-dave")  # happens between the first read and the write
        return real_get(project, number)

    monkeypatch.setattr(provider, "get_issue", get_issue_after_a_coordinator_ticked)
    world.sweep("2027-01-13")
    monkeypatch.undo()
    body = world.dashboard().body
    assert "- [x] extend one month <!-- issuebot:do:extend:erin-dave -->" in body
    assert "- [ ] snooze reminders 14 days <!-- issuebot:do:snooze:bob-alice -->" in body
    world.sweep("2027-01-14")
    assert world.state("erin-dave")["ends"] == "2027-08-11"
    assert "[x]" not in world.dashboard().body


def test_steady_state_sweep_costs_only_its_bulk_reads(world):
    world.sweep("2027-01-28")  # nudges both pairs
    open_issues = sum(1 for _ in world.forge.provider.list_issues(None, state="open"))
    reads, writes = world.forge.reads, world.forge.writes
    assert world.sweep("2027-01-29").writes_made == 0
    calls = world.forge.reads - reads + world.forge.writes - writes
    assert calls <= -(-open_issues // 100) + 5, world.forge.provider.meter.by_verb


def test_quiet_days_follow_the_program_time_zone(forge, clock, tmp_path):
    world = World(forge, clock, tmp_path, timezone="Pacific/Auckland")
    saturday_there = datetime(2027, 1, 29, 20, 0, tzinfo=timezone.utc)  # Friday in UTC, Saturday 09:00 in Auckland
    clock.set(saturday_there)
    sweep(forge.provider, world.program, world.templates, now=saturday_there)
    assert world.comments("bob-alice", "session:1", "nudge:") == []
    monday_there = datetime(2027, 1, 31, 20, 0, tzinfo=timezone.utc)
    clock.set(monday_there)
    sweep(forge.provider, world.program, world.templates, now=monday_there)
    nudges = world.comments("bob-alice", "session:1", "nudge:")
    assert len(nudges) == 1 and markers.find_marker(nudges[0].body).endswith("2027-02-01")


def dashboard_edited(world, actor: str):
    from issuebot.models import Event, EventKind

    path = world.forge.provider.project_path(world.program.settings.coordinator_project)
    return Event(kind=EventKind.ISSUE_EDITED, provider=world.forge.provider.kind, project=path,
                 issue_number=world.dashboard().number, actor=actor)


def test_a_ticked_box_is_carried_out_by_the_webhook_of_the_edit(world):
    from issuebot.events import handle_event

    world.sweep("2027-01-12")
    tick(world, "extend", "erin-dave")
    world.clock.set(at("2027-01-13"))
    outcome = handle_event(world.program, world.forge.provider, world.templates, dashboard_edited(world, "carol"),
                           now=at("2027-01-13"))
    assert outcome.ignored is None and outcome.writes > 0
    assert world.state("erin-dave")["ends"] == "2027-08-11"
    assert "[x]" not in world.dashboard().body
    again = handle_event(world.program, world.forge.provider, world.templates, dashboard_edited(world, "carol"),
                         now=at("2027-01-13"))
    assert again.ignored == "no ticked box on the dashboard" and again.writes == 0


def test_dashboard_edits_by_others_are_not_acted_on(world):
    from issuebot.events import handle_event

    world.sweep("2027-01-12")
    tick(world, "end", "erin-dave")
    outcome = handle_event(world.program, world.forge.provider, world.templates, dashboard_edited(world, "bob"),
                           now=at("2027-01-13"))
    assert outcome.ignored == "only coordinators act through the dashboard" and outcome.writes == 0
    assert "pair::ended" not in world.labels("erin-dave")


def test_a_hand_mangled_end_date_in_the_state_block_is_ignored_not_fatal(world):
    world.sweep("2027-01-12")
    tracker = world.issues("bob-alice")[TRACKER]
    state = dict(world.state("bob-alice"), ends="31/12", paused_until="soon")
    world.forge.as_user("carol").update_issue(world.project("bob-alice"), tracker.number,
                                              body=markers.write_state(tracker.body, state))
    result = world.sweep("2027-01-28")
    assert result.errors == []
    assert world.comments("bob-alice", "session:1", "nudge:")  # the program's end date applies


def test_the_monthly_report_issue_covers_each_complete_month_and_is_edited_once_a_month(forge, clock, tmp_path):
    world = World(forge, clock, tmp_path)
    data = program_data(forge.provider_config())
    data["program"]["reports"] = {"monthly": True}
    world.program = load_program(write_program(tmp_path / "monthly.yml", data))
    path = forge.provider.project_path(world.program.settings.coordinator_project)

    def report():
        return index_issues(forge.provider.list_issues(path, state="all")).get("monthly-report")

    world.sweep("2027-01-20")
    assert report() is None  # no month of the program has ended yet
    clock.set(at("2027-01-22"))
    world.say("bob", "bob-alice", "session:1", "our private agenda")
    session = world.issues("bob-alice")["session:1"]
    forge.as_user("bob").update_issue(session.project, session.number, state="closed")  # held, no webhook
    world.sweep("2027-02-02")
    first = report()
    assert first is not None and "up to 2027-01-31" in first.body and "private agenda" not in first.body
    assert "| 2027-01 | 2 | 1 | 0.75 | 0 | 0 | 0 |" in first.body  # two pairs, bob-alice's 45 minutes
    assert world.sweep("2027-02-02").writes_made == 0
    world.sweep("2027-02-16")
    assert report().body == first.body  # within a month: not edited
    world.sweep("2027-03-01")
    again = report()
    assert again.number == first.number and "up to 2027-02-28" in again.body and "| 2027-02 |" in again.body
