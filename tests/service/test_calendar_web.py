"""Personal calendar feeds: valid iCalendar, a secret URL, and a re-planned session that moves for a subscribed client."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from icalendar import Calendar

from issuebot.app import create_app
from issuebot.calendar_feed import feed_token
from issuebot.cli import main
from issuebot.config import load_program
from issuebot.providers import make_provider
from issuebot.reconcile import reconcile_program
from issuebot.service import open_service
from issuebot.templates import Templates
from tests.conftest import program_data, write_program
from tests.service.helpers import SECRET, SECRET_ENV

KEY_ENV = "ISSUEBOT_TEST_CALENDAR_SECRET"


@pytest.fixture
def synced(tmp_path: Path, clock: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    monkeypatch.setenv(KEY_ENV, "calendar-key-for-tests")
    data = program_data(service={"webhook_secret_env": SECRET_ENV})
    data["program"]["calendar"] = {"secret_env": KEY_ENV, "starts_at": "15:30"}
    path = write_program(tmp_path / "program.yml", data)
    program = load_program(path)
    provider = make_provider(program, clock)
    reconcile_program(provider, program, Templates(program.templates_dir()), trigger="sync", now=clock())
    service = open_service(program, provider_factory=lambda _p: provider)
    yield program, provider, create_app(service).test_client()
    service.close()


def sessions(body: bytes) -> dict[str, Any]:
    """UID -> start of each session event, from the feed parsed back by the library."""
    calendar = Calendar.from_ical(body)
    return {str(e["uid"]): e.decoded("dtstart") for e in calendar.walk("VEVENT") if "session" in str(e["summary"])}


def test_a_subscribed_client_sees_a_moved_session(synced):
    program, provider, client = synced
    url = f"/calendar/bob/{feed_token('calendar-key-for-tests', program, 'bob')}.ics"
    first = client.get(url)
    assert first.status_code == 200 and first.mimetype == "text/calendar"
    before = sessions(first.data)
    assert len(before) == 1
    (uid, start), = before.items()
    assert start.date() == date(2027, 1, 25) and (start.hour, start.minute) == (15, 30)
    summaries = [str(e["summary"]) for e in Calendar.from_ical(first.data).walk("VEVENT")]
    assert "Mentoring session 1 with Alice Adams" in summaries and "Mentoring with Alice Adams ends" in summaries
    session = next(i for i in provider.list_issues(None) if "session:1" in i.body)
    provider.update_issue(session.project, session.number, due=date(2027, 1, 28))  # re-planned in the tracker
    after = sessions(client.get(url).data)
    assert list(after) == [uid] and after[uid].date() == date(2027, 1, 28)  # the same event, moved


def test_a_wrong_token_or_person_gets_nothing(synced):
    program, _, client = synced
    assert client.get(f"/calendar/bob/{feed_token('calendar-key-for-tests', program, 'erin')}.ics").status_code == 404
    assert client.get(f"/calendar/nobody/{feed_token('calendar-key-for-tests', program, 'nobody')}.ics").status_code == 404


def test_calendar_export_writes_feeds_that_parse(synced, tmp_path, monkeypatch):
    program, _, _ = synced
    monkeypatch.delenv("ISSUEBOT_CONFIG", raising=False)
    result = CliRunner().invoke(main, ["calendar", "export", "-c", str(program.path), "-o", str(tmp_path / "out"),
                                       "--person", "alice", "--person", "dave"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"/calendar/alice/{feed_token('calendar-key-for-tests', program, 'alice')}.ics" in result.output
    feed = Calendar.from_ical((tmp_path / "out" / "alice.ics").read_bytes())
    assert [str(e["summary"]) for e in feed.walk("VEVENT")] == ["Mentoring session 1 with Bob Brown", "Mentoring with Bob Brown ends"]
    assert (tmp_path / "out" / "dave.ics").is_file()
