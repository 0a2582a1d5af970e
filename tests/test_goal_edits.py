"""Goals edited in the program file reach the goal issues, unless the pair changed that field first."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from issuebot import markers
from issuebot.config import load_program
from issuebot.plan import WRITTEN
from issuebot.reconcile import reconcile_program
from tests.conftest import Clock, program_data, run_cli, write_program
from tests.fakes import harness
from tests.test_sweep import World, at


@pytest.fixture(params=["local", "github"])
def world(request, tmp_path: Path, clock: Clock):
    with harness(request.param, tmp_path, clock) as made:
        yield World(made, clock, tmp_path)


def edit_goal(world: World, tmp_path: Path, **goal) -> Path:
    """Rewrite bob-alice's first goal in the program file, as a coordinator would."""
    data = program_data(world.forge.provider_config())
    data["pairs"][0]["goals"][0].update(goal)
    path = write_program(tmp_path / "program.yml", data)
    world.program = load_program(path)
    return path


def sync(world: World, day: str = "2027-01-20") -> int:
    world.clock.set(at(day))
    before = world.forge.writes
    result = reconcile_program(world.forge.provider, world.program, world.templates, trigger="sync", now=at(day))
    assert not result.outcome.errors
    return world.forge.writes - before


def goal(world: World):
    return world.issues("bob-alice")["goal:1"]


def as_pair(world: World, username: str = "bob", **changes) -> None:
    issue = goal(world)
    world.forge.as_user(username).update_issue(world.project("bob-alice"), issue.number, **changes)


def test_a_new_goal_issue_keeps_what_issuebot_wrote(world):
    written = markers.read_state(goal(world).body)[WRITTEN]
    assert written == {"goal": "Ship a service", "due": "2027-04-30", "actions": ["Tutorial", "Deploy"],
                       "title": "Goal: Ship a service", "heading": "**Goal:** Ship a service — due 2027-04-30"}
    assert sync(world) == 0  # the program file says what the issue shows: nothing to write


def test_title_due_date_and_new_actions_reach_the_goal_issue_and_ticked_boxes_stay(world, tmp_path):
    as_pair(world, body=goal(world).body.replace("- [ ] Tutorial", "- [x] Tutorial"))
    edit_goal(world, tmp_path, title="Ship two services", due="2027-05-31", actions=["Tutorial", "Deploy", "Write a runbook"])
    assert sync(world) > 0
    issue = goal(world)
    assert issue.title == "Goal: Ship two services"
    assert issue.due == date(2027, 5, 31)
    assert "**Goal:** Ship two services — due 2027-05-31" in issue.body
    assert "- [x] Tutorial\n- [ ] Deploy\n- [ ] Write a runbook\n" in issue.body
    assert markers.find_marker(issue.body) == "goal:1"
    assert sync(world) == 0  # run twice: the second run writes nothing
    world.sweep("2027-01-21")
    assert world.sweep("2027-01-21").writes_made == 0


def test_a_sweep_carries_a_due_date_change_too(world, tmp_path):
    edit_goal(world, tmp_path, due="2027-06-15")
    world.sweep("2027-01-20")
    assert goal(world).due == date(2027, 6, 15)
    assert world.sweep("2027-01-20").writes_made == 0


def test_a_title_the_pair_changed_is_kept_and_plan_says_so(world, tmp_path):
    as_pair(world, title="Goal: run my own service")
    config = edit_goal(world, tmp_path, title="Ship two services", due="2027-05-31")
    out = run_cli("plan", "-c", str(config), "--now", "2027-01-20T09:00:00+00:00", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert ("  note: goal 'Ship two services' in pair bob-alice: kept the pair's title "
            "(program file says 'Ship two services')") in out.stdout.splitlines()
    assert "run my own service" not in out.stdout  # the pair's text stays in the pair's project
    assert sync(world) > 0
    issue = goal(world)
    assert issue.title == "Goal: run my own service"
    assert issue.due == date(2027, 5, 31)  # the field the pair left alone follows the file
    assert "**Goal:** Ship a service — due 2027-05-31" in issue.body
    assert sync(world) == 0


def test_a_due_date_the_pair_changed_is_kept_and_plan_says_so(world, tmp_path):
    as_pair(world, due=date(2027, 3, 1))
    config = edit_goal(world, tmp_path, due="2027-02-15")
    out = run_cli("plan", "-c", str(config), "--now", "2027-01-20T09:00:00+00:00", cwd=tmp_path)
    assert ("  note: goal 'Ship a service' in pair bob-alice: kept the pair's due date 2027-03-01 "
            "(program file says 2027-02-15)") in out.stdout.splitlines()
    assert "bob-alice: up to date" in out.stdout
    assert sync(world) == 0
    assert goal(world).due == date(2027, 3, 1)


def test_an_action_the_pair_already_wrote_is_not_added_twice(world, tmp_path):
    as_pair(world, body=goal(world).body.replace("- [ ] Deploy", "- [ ] Deploy\n- [x] Write a runbook"))
    edit_goal(world, tmp_path, actions=["Tutorial", "Deploy", "Write a runbook", "Demo"])
    sync(world)
    body = goal(world).body
    assert body.count("Write a runbook") == 1 + 1  # the pair's ticked line and the record of what issuebot wrote
    assert "- [x] Write a runbook\n- [ ] Demo\n" in body
    assert sync(world) == 0


def test_a_goal_issue_without_a_record_is_left_as_it_is(world, tmp_path):
    issue = goal(world)
    state = markers.read_state(issue.body)
    state.pop(WRITTEN)
    as_pair(world, body=markers.write_state(issue.body, state))
    config = edit_goal(world, tmp_path, title="Ship two services")
    assert sync(world) == 0
    assert goal(world).title == "Goal: Ship a service"
    out = run_cli("plan", "-c", str(config), "--now", "2027-01-20T09:00:00+00:00", cwd=tmp_path)
    assert ("  note: goal 'Ship two services' in pair bob-alice: left the issue's title as it is (program file says "
            "'Ship two services'); the issue predates issuebot keeping what it wrote, so the pair's edits cannot be "
            "told from its own") in out.stdout.splitlines()
    assert world.sweep("2027-01-20").writes_made <= 1  # the dashboard at most: the goal issue stays as it is
