"""A program run by the scheduled sweep alone: quick commands no webhook delivered are carried out."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from issuebot import markers
from issuebot.cli import main
from issuebot.config import load_program
from issuebot.events import handle_event
from issuebot.models import Event, EventKind
from issuebot.plan import TRACKER, index_issues
from issuebot.providers.local import from_program
from tests.conftest import Clock, program_data, write_program
from tests.fakes import harness
from tests.test_sweep import World, at


@pytest.fixture(params=["local", "github"])
def world(request, tmp_path: Path, clock: Clock):
    with harness(request.param, tmp_path, clock) as made:
        yield World(made, clock, tmp_path)


def replies(world: World, pair_id: str, key: str, prefix: str = "ack:") -> list[str]:
    return [markers.visible_text(c.body) for c in world.comments(pair_id, key, prefix)]


def sessions(world: World, pair_id: str = "bob-alice") -> list[tuple[int, str, str]]:
    return [(e["n"], e["date"], e["outcome"]) for e in world.state(pair_id)["sessions"]]


def test_a_pause_written_without_a_webhook_stops_the_nudges(world):
    world.clock.set(at("2027-01-20"))
    world.say("bob", "bob-alice", TRACKER, "We are both away.\n/pause until 2027-03-01")
    world.sweep("2027-01-28")  # session 1 was due 01-25: erin-dave is nudged, bob-alice is paused
    assert "pair::paused" in world.labels("bob-alice")
    assert world.state("bob-alice")["paused_until"] == "2027-03-01"
    assert world.comments("bob-alice", "session:1", "nudge:") == []
    assert len(world.comments("erin-dave", "session:1", "nudge:")) == 1
    (reply,) = replies(world, "bob-alice", TRACKER)
    assert "paused until 2027-03-01" in reply
    assert world.sweep("2027-01-28").writes_made == 0
    later = world.sweep("2027-02-04")  # erin-dave is nudged again; bob-alice is still paused
    assert [a for a in later.actions() if a.pair == "bob-alice"] == []


def test_commands_run_in_the_order_written_and_dated_by_their_comment(world):
    world.clock.set(at("2027-01-19"))
    world.say("bob", "bob-alice", "session:1", "/session")  # met today, 01-19
    world.clock.set(at("2027-01-20"))
    world.say("alice", "bob-alice", TRACKER, "/pause")
    world.clock.set(at("2027-01-21"))
    world.say("bob", "bob-alice", TRACKER, "/resume")
    world.say("dave", "erin-dave", "session:1", "/skip travelling")
    world.sweep("2027-01-25")
    assert sessions(world) == [(1, "2027-01-19", "held")]
    assert world.issues("bob-alice")["session:2"].due.isoformat() == "2027-02-02"
    assert "pair::active" in world.labels("bob-alice")  # paused, then resumed
    assert "logged as held on 2027-01-19" in replies(world, "bob-alice", "session:1")[0]
    assert len(replies(world, "bob-alice", TRACKER)) == 2
    assert sessions(world, "erin-dave") == [(1, "2027-01-21", "skipped")]
    # Reminders wait for a read that shows the commands' writes: the next run decides them, once.
    world.sweep("2027-01-25")
    assert world.sweep("2027-01-25").writes_made == 0


def comment_reads(world: World, day: str) -> tuple[int, int]:
    """(comment listings, writes) of one sweep: what finding missed commands costs (no nudge is due here)."""
    before = world.forge.provider.meter.by_verb["list_comments"]
    writes = world.sweep(day).writes_made
    return world.forge.provider.meter.by_verb["list_comments"] - before, writes


def test_a_quiet_day_reads_no_comments_and_an_active_issue_one_read(world):
    world.sweep("2027-01-12")
    assert comment_reads(world, "2027-01-12") == (0, 0)  # the steady state: no extra call
    world.clock.set(at("2027-01-13"))
    world.say("bob", "bob-alice", "session:1", "Looking forward to it!")  # no command
    # That issue's comments, once; the tracker notes it read them and nothing is answered.
    assert comment_reads(world, "2027-01-13") == (1, 1)
    assert world.comments("bob-alice", "session:1", "ack:") == []
    assert comment_reads(world, "2027-01-13") == (0, 0)
    assert comment_reads(world, "2027-01-14") == (0, 0)


def test_with_the_webhook_the_sweep_finds_nothing_left_to_do(world):
    world.sweep("2027-01-12")
    world.clock.set(at("2027-01-20"))
    issue = world.issues("bob-alice")["session:1"]
    comment = world.forge.as_user("bob").create_comment(world.project("bob-alice"), issue.number, "/session 1h")
    event = Event(kind=EventKind.COMMENT_CREATED, provider=world.forge.provider.kind, project=world.project("bob-alice"),
                  issue_number=issue.number, actor="bob", comment_id=comment.id, comment_body=comment.body,
                  at=world.clock.now)
    assert handle_event(world.program, world.forge.provider, world.templates, event, now=world.clock.now).writes > 0
    reads = world.forge.provider.meter.by_verb["list_comments"]
    swept = world.sweep("2027-01-20")
    assert swept.writes_made <= 1  # the dashboard shows the held session; the pair needs nothing
    assert all(a.pair != "bob-alice" for a in swept.actions())
    assert world.forge.provider.meter.by_verb["list_comments"] == reads
    assert sessions(world) == [(1, "2027-01-20", "held")]
    assert len(world.comments("bob-alice", "session:1", "ack:")) == 1


def test_a_comment_carried_out_long_ago_is_not_carried_out_again(world):
    world.clock.set(at("2027-01-20"))
    world.say("bob", "bob-alice", "session:1", "/extend 1m")
    world.sweep("2027-01-20")
    assert world.state("bob-alice")["ends"] == "2027-08-11"
    # Two hundred other comments later the tracker no longer lists it as carried out...
    tracker = world.issues("bob-alice")[TRACKER]
    state = world.state("bob-alice") | {"handled": list(range(5000, 5200)), "looked": {}}
    world.forge.provider.update_issue(world.project("bob-alice"), tracker.number,
                                      body=markers.write_state(tracker.body, state))
    # ...but issuebot's reply names it: neither the sweep nor a redelivery extends twice.
    world.sweep("2027-01-21")
    assert world.state("bob-alice")["ends"] == "2027-08-11"
    (comment,) = [c for c in world.comments("bob-alice", "session:1") if c.author == "bob"]
    event = Event(kind=EventKind.COMMENT_CREATED, provider=world.forge.provider.kind, project=world.project("bob-alice"),
                  issue_number=comment.issue_number, actor="bob", comment_id=comment.id, comment_body=comment.body,
                  at=world.clock.now, delivery_id="a-new-delivery")
    handle_event(world.program, world.forge.provider, world.templates, event, now=world.clock.now)
    assert world.state("bob-alice")["ends"] == "2027-08-11"
    assert len(world.comments("bob-alice", "session:1", "ack:")) == 1


def test_a_run_stopped_between_the_tracker_and_the_reply_posts_the_reply_next_time(world):
    world.clock.set(at("2027-01-20"))
    world.say("bob", "bob-alice", "session:1", "/extend 2w")
    first = world.sweep("2027-01-20", max_writes=1, only="bob-alice")
    assert first.stopped and world.state("bob-alice")["ends"] == "2027-07-25"
    assert world.comments("bob-alice", "session:1", "ack:") == []
    world.sweep("2027-01-20", only="bob-alice")
    assert world.state("bob-alice")["ends"] == "2027-07-25"  # carried out once
    (reply,) = replies(world, "bob-alice", "session:1")
    assert "now runs until 2027-07-25" in reply
    assert world.sweep("2027-01-20", only="bob-alice").writes_made == 0


# ----------------------------------------------------------------------------- rehearsing on the embedded tracker


def test_tracker_comment_no_webhook_leaves_the_command_to_the_next_sweep(tmp_path: Path):
    config = write_program(tmp_path / "program.yml", program_data())
    runner = CliRunner()
    assert runner.invoke(main, ["sync", "-c", str(config), "--now", "2027-01-11T09:00:00+00:00"]).exit_code == 0
    out = runner.invoke(main, ["tracker", "comment", "bob-alice", "progress", "/pause until 2027-03-01", "--as", "bob",
                               "--no-webhook", "-c", str(config), "--now", "2027-01-20T09:00:00+00:00"])
    assert out.exit_code == 0 and "not delivered" in out.output and "issuebot replied" not in out.output
    provider = from_program(load_program(config))
    path = "mentoring/mentoring-bob-alice"
    tracker = index_issues(provider.list_issues(path, state="all"))[TRACKER]
    assert "pair::paused" not in tracker.labels
    assert [c.author for c in provider.list_comments(path, tracker.number)] == ["bob"]
    swept = runner.invoke(main, ["sweep", "--json", "-c", str(config), "--now", "2027-01-28T09:00:00+00:00"])
    assert swept.exit_code == 0, swept.output
    tracker = index_issues(provider.list_issues(path, state="all"))[TRACKER]
    assert "pair::paused" in tracker.labels
    assert [c.author for c in provider.list_comments(path, tracker.number)] == ["bob", "issuebot"]
    again = runner.invoke(main, ["sweep", "--json", "-c", str(config), "--now", "2027-01-28T09:00:00+00:00"])
    assert '"writes": 0' in again.output


# ----------------------------------------------------------------------------- one meeting is one session


def test_one_meeting_logged_three_ways_counts_once(world):
    from issuebot.observe import observe_program
    from issuebot.report import rows

    world.clock.set(at("2027-02-10"))
    world.say("bob", "bob-alice", "session:1", "/session 2027-02-10")
    world.sweep("2027-02-10")
    world.clock.set(at("2027-02-11"))
    world.say("alice", "bob-alice", "session:2", "/session 2027-02-10")  # the same meeting, on session 2
    world.sweep("2027-02-11")
    assert sessions(world) == [(1, "2027-02-10", "held")]
    assert world.issues("bob-alice")["session:2"].state == "open"
    (again,) = replies(world, "bob-alice", "session:2")
    assert "already logged as held on 2027-02-10" in again and "counts once" in again
    # A sweep reads open issues only: a comment on the closed session 1 arrives by its webhook.
    world.clock.set(at("2027-02-12"))
    closed = world.issues("bob-alice")["session:1"]
    comment = world.forge.as_user("bob").create_comment(world.project("bob-alice"), closed.number, "/session")
    handle_event(world.program, world.forge.provider, world.templates, Event(
        kind=EventKind.COMMENT_CREATED, provider=world.forge.provider.kind, project=world.project("bob-alice"),
        issue_number=closed.number, actor="bob", comment_id=comment.id, comment_body="/session", at=world.clock.now,
    ), now=world.clock.now)
    assert sessions(world) == [(1, "2027-02-10", "held")]
    assert "already logged as held on 2027-02-10" in replies(world, "bob-alice", "session:1")[1]
    views, _ = observe_program(world.forge.provider, world.program)
    row = next(r for r in rows(world.program, views) if r.pair == "bob-alice")
    assert (row.sessions_held, row.mentor_hours) == (1, 0.75)
    assert world.sweep("2027-02-12").writes_made == 0


def test_a_dateless_session_before_the_start_is_refused_like_an_early_date(world):
    world.clock.set(at("2027-01-08"))  # the pairing starts on 2027-01-11
    world.say("bob", "bob-alice", "session:1", "/session 1h")
    world.sweep("2027-01-12")
    assert sessions(world) == []
    (reply,) = replies(world, "bob-alice", "session:1", "usage:")
    assert "2027-01-08 is before this pairing started (2027-01-11)" in reply
    assert world.sweep("2027-01-12").writes_made == 0


def test_a_mistyped_command_gets_the_nearest_one(world):
    world.clock.set(at("2027-01-20"))
    world.say("bob", "bob-alice", "session:1", "/sesion 1h")
    world.say("alice", "bob-alice", "session:1", "Path is /usr/local, and /shrug")
    world.sweep("2027-01-20")
    (reply,) = replies(world, "bob-alice", "session:1", "usage:")
    assert "`/sesion` is not a command I know; did you mean `/session`?" in reply
    assert "Usage: `/session [YYYY-MM-DD] [45m|1h] [async]`" in reply
    assert sessions(world) == []
    assert len([c for c in world.comments("bob-alice", "session:1") if c.author != "bob" and c.author != "alice"]) == 1
    assert world.sweep("2027-01-20").writes_made == 0


# ----------------------------------------------------------------------------- overlapping runs


def test_two_sweeps_started_together_write_nothing_twice(tmp_path: Path, clock: Clock):
    """Two sweeps as two CI jobs would run them (each its own client), both having read the
    tracker before either writes: every nudge, escalation, reply and issue exists once."""
    import threading
    from collections import Counter

    from issuebot.providers import make_provider
    from issuebot.sweep import sweep

    with harness("github", tmp_path, clock) as forge:
        world = World(forge, clock, tmp_path)
        world.clock.set(at("2027-01-27"))
        world.say("erin", "erin-dave", "session:1", "/session 2027-01-26")  # a missed command: one reply
        world.clock.set(at("2027-01-28"))
        both_read = threading.Barrier(2, timeout=30)
        results, failures = [], []

        def run() -> None:
            seen = []

            def on_pair(pair_id: str) -> None:
                if not seen:
                    seen.append(pair_id)
                    both_read.wait()  # neither writes before both have read and decided
            try:
                results.append(sweep(make_provider(world.program, clock), world.program, world.templates,
                                     now=at("2027-01-28"), on_pair=on_pair))
            except Exception as exc:
                failures.append(exc)

        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert failures == [] and len(results) == 2 and all(not r.errors for r in results)
        nudges = [k for r in results for a in r.actions() if (k := getattr(a, "key", "")).startswith("nudge:")]
        assert len(nudges) == 2  # both runs meant to nudge bob-alice...
        markers_seen: Counter[tuple[str, str]] = Counter()
        for pair_id in ("bob-alice", "erin-dave"):
            issues = forge.provider.list_issues(world.project(pair_id), state="all")
            for issue in issues:
                markers_seen[(pair_id, markers.find_marker(issue.body) or f"#{issue.number}")] += 1
                for comment in forge.provider.list_comments(world.project(pair_id), issue.number):
                    if comment.author == forge.provider.bot_username:
                        markers_seen[(pair_id, markers.find_marker(comment.body) or "")] += 1
        assert [k for k, n in markers_seen.items() if n > 1] == []  # ...and it happened once
        assert len(world.comments("bob-alice", "session:1", "nudge:")) == 1
        assert len(world.comments("erin-dave", "session:1", "ack:")) == 1
        assert [e["n"] for e in world.state("erin-dave")["sessions"]] == [1]
        assert world.sweep("2027-01-28").writes_made == 0


# ----------------------------------------------------------------------------- reminders that stop


def test_a_pair_that_never_writes_hears_a_bounded_number_of_reminders(world):
    from datetime import date, timedelta

    day = date(2027, 1, 14)  # a Thursday; the program ends on 2027-07-11
    while day < date(2027, 7, 11):
        world.sweep(day.isoformat())
        day += timedelta(days=7)
    said = Counter()
    for key, issue in world.issues("bob-alice").items():
        for comment in world.forge.provider.list_comments(world.project("bob-alice"), issue.number):
            found = markers.find_marker(comment.body) or ""
            said[(key, found.split(":", 1)[0])] += 1
    assert all(n <= 2 for (key, kind), n in said.items() if kind == "nudge"), said
    assert said[(TRACKER, "escalation")] == 3, said  # backing off: 14, 28 then 56 days apart
    members = sum(n for (key, kind), n in said.items() if kind in ("nudge", "first-session"))
    assert members <= 3, said  # the first-session reminder and the overdue reminders of session 1
    last = (day - timedelta(days=7)).isoformat()
    assert world.sweep(last).writes_made == 0  # the last sweep run again


def test_a_pair_silent_for_a_whole_program_hears_at_most_eight_comments(tmp_path: Path, clock: Clock):
    """Default nudge policy, a sweep every working day from the start to past the end, on the
    embedded tracker: the pair writes nothing at all. Reviews, feedback rounds and a code of
    conduct to sign open as usual; the bot's comments are counted on the tracker itself."""
    from datetime import date, timedelta

    from issuebot.pairstate import is_working_day

    extras = {"reviews": {"every": "3 months"}, "feedback": {"first_after": "6w", "every": "2 months"},
              "onboarding_issues": [{"key": "conduct", "template": "goals", "due_after": "2w"}]}
    with harness("local", tmp_path, clock) as forge:
        world = World(forge, clock, tmp_path, **extras)
        stale_since = None
        day = date(2027, 1, 12)
        while day <= date(2027, 7, 16):  # the program ends on 2027-07-11; wrap-up from 06-27
            if is_working_day(world.program, day):
                world.sweep(day.isoformat())
                if stale_since is None and "pair::stale" in world.labels("bob-alice"):
                    stale_since = day
                if stale_since is not None:  # from then on flagged for the coordinators, through wrap-up
                    assert "pair::stale" in world.labels("bob-alice"), day
                    act = world.dashboard().body.split("| [bob-alice]", 1)[1].split("\n", 1)[0].split("|")[6]
                    assert act.strip() == "coordinators", (day, act)
            day += timedelta(days=1)
        assert stale_since == date(2027, 2, 15)
        project, bot = world.project("bob-alice"), forge.provider.bot_username
        said = [markers.find_marker(c.body) or "" for issue in forge.provider.list_issues(project, state="all")
                for c in forge.provider.list_comments(project, issue.number) if c.author == bot]
        assert len(said) <= 8, said
        assert len([k for k in said if k.startswith("escalation:")]) <= 3, said
        assert "wrapup" in world.issues("bob-alice")
        assert world.sweep("2027-07-16").writes_made == 0
