"""Personal iCalendar feeds: each person's sessions, reviews, feedback rounds and wrap-up, from the tracker's due dates.

Pure: built from the pairs' views. Every event's UID is stable (program, pair, issue key), so a
client that subscribed to the feed (Outlook, Google Calendar) moves a re-planned session instead
of adding a second one. The feed's URL carries a secret derived from one key per program
(`program.calendar.secret_env`) and the person's username, so no list of tokens is stored.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event

from issuebot.config import Program
from issuebot.plan import PairView, SessionRef, end_date

KINDS = ("review", "feedback", "wrapup")  # besides sessions: the dated issues a person attends to


def feed_token(key: str, program: Program, username: str) -> str:
    """The secret part of a person's feed URL (HMAC-SHA256 of the username under the program's key)."""
    message = f"{program.settings.name}\0{username}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()[:32]


def token_matches(key: str, program: Program, username: str, token: str) -> bool:
    return hmac.compare_digest(feed_token(key, program, username), token)


def _uid(program: Program, pair_id: str, key: str) -> str:
    seed = hashlib.sha256(f"{program.settings.name}\0{pair_id}\0{key}".encode()).hexdigest()[:24]
    return f"{seed}@issuebot"


def _title(key: str, partner: str, program: Program) -> str | None:
    ref = SessionRef.parse(key)
    if ref is not None:
        return f"Mentoring session {ref.number} with {partner}"
    kind, _, number = key.partition(":")
    names = {"review": "Mentoring review", "feedback": "Mentoring feedback round", "wrapup": "Mentoring wrap-up"}
    if kind not in names:
        return None
    return f"{names[kind]}{' ' + number if number else ''} with {partner}"


def person_feed(program: Program, views: Mapping[str, PairView], username: str, *, now: datetime) -> bytes:
    """The iCalendar text of one person's dated events across their pairs (metadata only)."""
    settings = program.settings
    zone = ZoneInfo(settings.timezone)
    hour, minute = (int(part) for part in settings.calendar.starts_at.split(":"))
    calendar = Calendar()
    calendar.add("prodid", "-//issuebot//mentoring calendar//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", f"{settings.name}")
    calendar.add("x-wr-timezone", settings.timezone)
    calendar.add("refresh-interval;value=duration", "PT6H")  # how often subscribed clients should look again
    stamp = now.astimezone(ZoneInfo("UTC"))
    for pair_id, view in sorted(views.items()):
        pair = view.pair
        if username not in pair.usernames():
            continue
        partner = (pair.mentee if pair.mentor.username == username else pair.mentor).name
        for key, issue in sorted(view.issues.items()):
            summary = _title(key, partner, program)
            if summary is None or issue.due is None:
                continue
            event = Event()
            event.add("uid", _uid(program, pair_id, key))
            event.add("dtstamp", stamp)
            start = datetime.combine(issue.due, time(hour, minute), tzinfo=zone)
            event.add("dtstart", start)
            event.add("dtend", start + timedelta(minutes=settings.session_length))
            event.add("summary", summary)
            if issue.updated_at is not None:
                event.add("last-modified", issue.updated_at.astimezone(ZoneInfo("UTC")))
            event.add("status", "CANCELLED" if issue.state == "closed" and SessionRef.is_key(key)
                      and _skipped(program, issue.labels) else "CONFIRMED")
            if issue.url.startswith("http"):
                event.add("url", issue.url)
            calendar.add_component(event)
        ends = end_date(pair, view.state)
        end = Event()
        end.add("uid", _uid(program, pair_id, "ends"))
        end.add("dtstamp", stamp)
        end.add("dtstart", ends)
        end.add("dtend", ends + timedelta(days=1))
        end.add("summary", f"Mentoring with {partner} ends")
        calendar.add_component(end)
    return calendar.to_ical()


def _skipped(program: Program, labels: tuple[str, ...]) -> bool:
    return program.label("session::skipped") in labels
