"""Dates people see stay true: the end date after an extension, due dates after a pause."""

from __future__ import annotations

from pathlib import Path

import pytest

from issuebot import markers, report
from issuebot.observe import observe_program
from issuebot.plan import TRACKER
from tests.conftest import Clock
from tests.fakes import harness
from tests.test_sweep import World, at, tick


@pytest.fixture(params=["local", "github"])
def world(request, tmp_path: Path, clock: Clock):
    with harness(request.param, tmp_path, clock) as made:
        yield World(made, clock, tmp_path)


def shown(world: World, pair_id: str, key: str = TRACKER) -> str:
    return markers.visible_text(world.issues(pair_id)[key].body)


def test_an_extension_rewrites_the_end_date_the_progress_issue_shows(world):
    world.sweep("2027-01-12")  # the dashboard with its boxes
    assert "2027-01-11 → 2027-07-11" in shown(world, "bob-alice")
    world.clock.set(at("2027-01-20"))
    world.say("bob", "bob-alice", TRACKER, "/extend 1m")
    tick(world, "extend", "erin-dave")
    world.sweep("2027-01-21")
    assert world.state("bob-alice")["ends"] == "2027-08-11"
    assert "2027-01-11 → 2027-08-11" in shown(world, "bob-alice")
    assert "2027-07-11" not in shown(world, "bob-alice")
    assert "2027-01-11 → 2027-08-11" in shown(world, "erin-dave")
    world.sweep("2027-01-21")  # the first-session reminder waits for a read that shows the commands' writes
    assert "2027-01-11 → 2027-08-11" in shown(world, "bob-alice")
    assert world.sweep("2027-01-21").writes_made == 0


def test_a_pause_re_plans_the_open_session_and_reminders_count_from_the_date_shown(world):
    world.clock.set(at("2027-01-20"))  # session 1 is due 01-25
    world.say("bob", "bob-alice", TRACKER, "/pause until 2027-03-01")
    world.say("erin", "erin-dave", TRACKER, "/pause")
    world.sweep("2027-01-21")
    world.clock.set(at("2027-03-03"))
    world.say("dave", "erin-dave", "session:1", "/resume")
    world.sweep("2027-03-04")  # bob-alice's pause ended on 03-01, erin-dave resumed on 03-03
    assert "pair::kickoff" in world.labels("bob-alice") and "pair::kickoff" in world.labels("erin-dave")
    assert world.issues("bob-alice")["session:1"].due.isoformat() == "2027-03-15"
    assert "Session 1, due **2027-03-15**" in shown(world, "bob-alice", "session:1")
    assert "2027-01-25" not in shown(world, "bob-alice", "session:1")
    assert world.issues("erin-dave")["session:1"].due.isoformat() == "2027-03-17"
    world.sweep("2027-03-04")  # the first-session reminder waits for a read that shows the pause lifted
    (first,) = world.comments("bob-alice", "session:1", "first-session")
    assert "2027-01-25" not in first.body
    assert world.sweep("2027-03-04").writes_made == 0
    world.sweep("2027-03-17")  # bob-alice's session is 2 days past its new date: within the grace
    assert world.comments("bob-alice", "session:1", "nudge:") == []
    world.sweep("2027-03-18")
    (reminder,) = world.comments("bob-alice", "session:1", "nudge:")
    assert "was due on\n**2027-03-15** (3 days ago)" in reminder.body
    assert world.sweep("2027-03-18").writes_made == 0


def test_ended_and_paused_pairs_show_no_past_next_due(world, tmp_path: Path):
    world.clock.set(at("2027-01-20"))
    world.say("bob", "bob-alice", TRACKER, "/pause until 2027-03-01")
    world.say("erin", "erin-dave", TRACKER, "/end moving teams")
    world.sweep("2027-02-01")
    world.sweep("2027-02-01")
    board = world.dashboard().body
    assert "| paused | - | paused until 2027-03-01 |" in board
    assert "| ended | - | - |" in board
    assert "2027-01-25" not in board
    views, _ = observe_program(world.forge.provider, world.program)
    table = report.table(report.rows(world.program, views, today=at("2027-02-01").date()), with_totals=True)
    assert "paused until 2027-03-01" in table and "2027-01-25" not in table


def test_a_pair_that_never_met_stays_stale_and_needs_action_through_wrap_up(world):
    for day in ("2027-02-01", "2027-02-15", "2027-03-01"):
        world.sweep(day)
    assert "pair::stale" in world.labels("bob-alice")
    for day in ("2027-06-28", "2027-07-12"):  # wrap-up starts 06-27, the pair ends 07-11
        world.sweep(day)
        world.sweep(day)
        assert "pair::stale" in world.labels("bob-alice")
        assert "pair::wrapping-up" not in world.labels("bob-alice")
        assert "wrapup" in world.issues("bob-alice")
        row = next(line for line in world.dashboard().body.splitlines() if line.startswith("| [bob-alice]"))
        assert "| stale |" in row and "| coordinators |" in row
    assert world.sweep("2027-07-12").writes_made == 0
