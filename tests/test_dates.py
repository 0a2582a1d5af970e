"""Dates people see stay true: the end date after an extension, due dates after a pause."""

from __future__ import annotations

from pathlib import Path

import pytest

from issuebot import markers
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
