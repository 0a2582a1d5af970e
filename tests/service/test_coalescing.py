"""Deliveries of one pair handled together: one observe for a burst, each command carried out and answered once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from issuebot.events import handle_event, handle_events
from tests.conftest import Clock
from tests.test_sessions import Pairing, held


def counting_observes(pairing: Pairing, monkeypatch: Any) -> list[str]:
    """Record every listing of the pair's issues (what one observe of the pair costs)."""
    listings: list[str] = []
    provider = pairing.provider
    original = provider.list_issues

    def list_issues(project: str | None = None, *args: Any, **kwargs: Any) -> Any:
        if project == pairing.path:
            listings.append(kwargs.get("state", "open"))
        return original(project, *args, **kwargs)

    monkeypatch.setattr(provider, "list_issues", list_issues)
    return listings


@pytest.mark.parametrize("forge", ["local", "github"], indirect=True)  # observe costs are the same on gitlab
def test_a_burst_of_fifty_comments_costs_at_most_three_observes(forge: Any, tmp_path: Path, clock: Clock,
                                                                monkeypatch: Any) -> None:
    pairing = Pairing(forge, tmp_path, clock)
    pairing.at("2027-01-20T09:00:00")
    texts = [f"notes, part {n}" for n in range(50)]
    texts[10], texts[30] = "/session 50m", "/help"
    events = [pairing.write("bob" if n % 2 else "alice", "session:1", text) for n, text in enumerate(texts)]
    listings = counting_observes(pairing, monkeypatch)
    outcomes = handle_events(pairing.program, pairing.provider, pairing.templates, events, now=clock.now)
    assert len(listings) <= 3, listings
    assert len(outcomes) == 50 and [o.commands for o in outcomes if o.commands] == [["/session 50m"], ["/help"]]
    assert held(pairing.state()) == [1]
    replies = pairing.replies("session:1", "ack:")  # one answer per command comment
    assert len(replies) == 2 and "session 1 is logged" in replies[0] and "Quick" in replies[1]
    assert sum(o.writes for o in outcomes) > 0 and all(o.ignored is None for o in outcomes)
    monkeypatch.undo()
    # Delivered again, one by one, the same comments change nothing.
    assert sum(handle_event(pairing.program, pairing.provider, pairing.templates, e, now=clock.now).writes
               for e in events) == 0


def test_each_command_of_a_batch_sees_the_writes_of_the_one_before(forge: Any, tmp_path: Path, clock: Clock) -> None:
    pairing = Pairing(forge, tmp_path, clock)
    pairing.at("2027-01-20T09:00:00")
    events = [pairing.write("bob", "progress", "/extend 2w"), pairing.write("alice", "progress", "/extend 2w")]
    outcomes = handle_events(pairing.program, pairing.provider, pairing.templates, events, now=clock.now)
    assert [o.commands for o in outcomes] == [["/extend 2w"], ["/extend 2w"]]
    assert pairing.state()["ends"] == "2027-08-08"  # 2027-07-11 plus two fortnights, not one
    assert len(pairing.replies("progress", "ack:")) == 2


@pytest.mark.parametrize("forge", ["local"], indirect=True)
def test_a_batch_keeps_events_of_other_pairs_and_strangers_apart(forge: Any, tmp_path: Path, clock: Clock) -> None:
    pairing = Pairing(forge, tmp_path, clock)
    pairing.at("2027-01-20T09:00:00")
    stranger = pairing.write("bob", "session:1", "/help")
    stranger = type(stranger)(**{**stranger.__dict__, "project": "elsewhere/project"})
    events = [pairing.write("bob", "session:1", "/session"), stranger, pairing.write("alice", "session:1", "ok")]
    outcomes = handle_events(pairing.program, pairing.provider, pairing.templates, events, now=clock.now)
    assert [o.pair for o in outcomes] == ["bob-alice", None, "bob-alice"]
    assert outcomes[1].ignored and "not a pair project" in outcomes[1].ignored
    assert held(pairing.state()) == [1]
