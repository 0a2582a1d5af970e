"""Overdue review, feedback, KPI and code-of-conduct issues: one reminder, then the dashboards show them as overdue."""

from __future__ import annotations

from pathlib import Path

import pytest

from issuebot import markers
from issuebot.observe import observe_program
from issuebot.report import rows
from tests.conftest import Clock
from tests.fakes import harness
from tests.test_sweep import World, at

# A code of conduct to sign two weeks in (due 2027-01-25), feedback four weeks in (opens 2027-02-08,
# due 2027-02-22). The pairs go quiet without turning stale, so only the item rules speak.
PROGRAM = {"onboarding_issues": [{"key": "conduct", "template": "goals", "due_after": "2w"}],
           "feedback": {"first_after": "4w"}}
NEVER_STALE = {"escalate_after": "365d"}


@pytest.fixture(params=["local", "github"])
def forge(request, tmp_path: Path, clock: Clock):
    with harness(request.param, tmp_path, clock) as made:
        yield made


def reminders(world: World, key: str, pair_id: str = "bob-alice"):
    return world.comments(pair_id, key, "reminder:")


def dashboard_row(world: World, pair_id: str) -> str:
    return next(line for line in world.dashboard().body.splitlines() if line.startswith(f"| [{pair_id}]"))


def test_an_overdue_item_gets_one_reminder_to_the_people_it_waits_for(forge, clock, tmp_path):
    world = World(forge, clock, tmp_path, **PROGRAM, nudges=NEVER_STALE)
    assert world.issues("bob-alice")["extra:conduct"].due.isoformat() == "2027-01-25"
    world.sweep("2027-01-27")  # within the grace of 3 days: not yet
    assert reminders(world, "extra:conduct") == []
    world.sweep("2027-01-28")
    (reminder,) = reminders(world, "extra:conduct")
    text = markers.visible_text(reminder.body)
    assert "@bob" in text and "@alice" not in text  # the mentee is the one it is assigned to
    assert "was due on\n**2027-01-25** (3 days ago)" in text and "last reminder" in text
    assert world.sweep("2027-01-28").writes_made == 0  # run twice: nothing the second time
    for day in ("2027-02-04", "2027-02-11", "2027-02-18"):
        world.sweep(day)
    assert len(reminders(world, "extra:conduct")) == 1  # one reminder, then only the dashboards
    assert "extra:conduct" in dashboard_row(world, "bob-alice").rsplit("|", 2)[1]
    views, _ = observe_program(world.forge.provider, world.program)
    row = next(r for r in rows(world.program, views, at("2027-02-18").date()) if r.pair == "bob-alice")
    assert "extra:conduct" in row.overdue  # the web dashboard's and the report's Overdue column


def test_feedback_is_due_after_respond_within_and_reminds_both_sides(forge, clock, tmp_path):
    world = World(forge, clock, tmp_path, **PROGRAM, nudges=NEVER_STALE)
    world.sweep("2027-02-08")
    feedback = world.issues("bob-alice")["feedback:1"]
    assert feedback.due.isoformat() == "2027-02-22"
    world.sweep("2027-02-24")
    assert reminders(world, "feedback:1") == []
    world.sweep("2027-02-25")
    (reminder,) = reminders(world, "feedback:1")
    assert "@bob" in reminder.body and "@alice" in reminder.body and "feedback round" in reminder.body
    assert "feedback:1" in dashboard_row(world, "bob-alice")
    assert world.sweep("2027-02-25").writes_made == 0


def test_item_reminders_can_be_more_spaced_by_renudge_every_or_off(forge, clock, tmp_path):
    world = World(forge, clock, tmp_path, **PROGRAM, nudges={**NEVER_STALE, "item_reminders": 2})
    for day in ("2027-01-28", "2027-02-03", "2027-02-04", "2027-02-11"):
        world.sweep(day)
    sent = reminders(world, "extra:conduct")
    assert [markers.find_marker(c.body) for c in sent] == ["reminder:extra:conduct:1", "reminder:extra:conduct:2"]
    assert "last reminder" not in sent[0].body and "last reminder" in sent[1].body
    assert markers.read_state(world.issues("bob-alice")["progress"].body)["nudges"]["items"]["extra:conduct"] == [
        "2027-01-28", "2027-02-04"]


def test_no_item_reminders_when_off(forge, clock, tmp_path):
    world = World(forge, clock, tmp_path, **PROGRAM, nudges={**NEVER_STALE, "item_reminders": 0})
    world.sweep("2027-01-28")
    assert reminders(world, "extra:conduct") == []
    assert "extra:conduct" in dashboard_row(world, "bob-alice")  # still shown as overdue


def test_a_stale_pairs_members_hear_no_item_reminder(forge, clock, tmp_path):
    world = World(forge, clock, tmp_path, **PROGRAM)  # default policy: stale 21 days after session 1 was due
    world.sweep("2027-02-15")
    assert "pair::stale" in world.labels("bob-alice")
    world.sweep("2027-02-25")
    assert reminders(world, "feedback:1") == []
    assert "feedback:1" in dashboard_row(world, "bob-alice")
