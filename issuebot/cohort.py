"""Cohort-wide activities: the days each opens, who hosted and who attended, and the mentor time credited (pure)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from issuebot import markers
from issuebot.config import CohortActivity, Period, Program
from issuebot.models import Comment, Issue

CALL_KEY = "call-for-participants"  # marker of the call for participants in the intake project
ACTIVITY_PREFIX = "activity:"  # activity:<key>:<YYYY-MM-DD>
ATTENDANCE = "attendance"  # bot-owned section of an activity issue: hosts and attendees
# Attendance is a quick command of its own: a line that starts with `/attended`.
_ATTENDED = re.compile(r"^\s*/attended\b", re.MULTILINE | re.IGNORECASE)
_KEY_RE = re.compile(r"^activity:(?P<key>[a-z0-9][a-z0-9._-]*):(?P<day>\d{4}-\d{2}-\d{2})$")


def activity_key(key: str, day: date) -> str:
    """The marker key of one occurrence: `activity:lunch-and-learn:2027-05-03`."""
    return f"{ACTIVITY_PREFIX}{key}:{day.isoformat()}"


def parse_activity_key(marker_key: str | None) -> tuple[str, date] | None:
    """(activity key, day) of an occurrence's marker key; None for any other key."""
    match = _KEY_RE.match(marker_key or "")
    if match is None:
        return None
    try:
        return match["key"], date.fromisoformat(match["day"])
    except ValueError:
        return None


def occurrences(activity: CohortActivity, program: Program) -> list[date]:
    """Every day the activity opens: its `dates`, or `starts` (default the program's start) and then
    each `every` until the program ends; one day when neither is given."""
    if activity.dates:
        return sorted(set(activity.dates))
    first = activity.starts or program.settings.starts
    if activity.every is None:
        return [first]
    found: list[date] = []
    n, end = 0, program.settings.end_date
    while True:
        # Counted from the first day each time, so a month-end start does not drift (31st, 28th, 28th...).
        day = Period(days=activity.every.days * n, months=activity.every.months * n).after(first)
        if day > end:
            return found
        found.append(day)
        n += 1


def due_occurrence(activity: CohortActivity, program: Program, today: date) -> date | None:
    """The latest day on or before `today` the activity opens; earlier ones a run missed are not opened late."""
    due = [d for d in occurrences(activity, program) if d <= today]
    return due[-1] if due else None


def hosts(activity: CohortActivity | None, issue: Issue, program: Program, provider_kind: str) -> list[str]:
    """Who hosts an occurrence (forge handles): the `host` the program names, else the issue's assignees."""
    if activity is not None and activity.host:
        person = program.people.get(activity.host)
        return [person.handle(provider_kind) if person is not None else activity.host]
    return list(issue.assignees)


def attendees(comments: Iterable[Comment], bot_username: str, host_handles: Sequence[str] = ()) -> list[str]:
    """Everyone who commented `/attended`, in the order they did (hosts and issuebot left out)."""
    found: dict[str, None] = {}
    for comment in sorted(comments, key=lambda c: (c.created_at or datetime.min, c.id)):
        if comment.author and comment.author != bot_username and comment.author not in host_handles \
                and says_attended(comment.body or ""):
            found[comment.author] = None
    return list(found)


def says_attended(text: str) -> bool:
    """Whether a comment's text holds the `/attended` command."""
    return _ATTENDED.search(text or "") is not None


def record(issue: Issue) -> dict[str, Any]:
    """What issuebot recorded in an occurrence's state block (hosts, attendees, credited minutes)."""
    return markers.read_state(issue.body)


@dataclass(frozen=True)
class Credit:
    """Mentor time credited to one host for one closed occurrence."""

    username: str  # the program's username when the handle is a person's, else the handle
    minutes: int
    on: date | None  # the day the issue was closed (program time zone)
    key: str  # the occurrence's marker key


def credits(program: Program, issues: Iterable[Issue], provider_kind: str) -> list[Credit]:
    """The credits of every closed occurrence in the cohort space: the hosts and minutes issuebot
    recorded when it closed, or, before a run recorded them, the hosts and `credit` the program names."""
    space = program.settings.cohort_space
    if space is None:
        return []
    by_key = {a.key: a for a in space.activities}
    usernames = {p.handle(provider_kind): p.username for p in program.people.values()}
    zone = ZoneInfo(program.settings.timezone)
    found = []
    for issue in issues:
        marker_key = markers.find_marker(issue.body)
        parsed = parse_activity_key(marker_key)
        if parsed is None or issue.state != "closed" or marker_key is None:
            continue
        activity = by_key.get(parsed[0])
        state = record(issue)
        recorded = state.get("credited")
        minutes = recorded if isinstance(recorded, int) else (activity.credit if activity is not None else None)
        handles: list[Any] = state["hosts"] if isinstance(state.get("hosts"), list) else hosts(activity, issue, program, provider_kind)
        if not minutes:
            continue
        on = issue.closed_at.astimezone(zone).date() if issue.closed_at is not None else None
        for handle in handles or ():
            found.append(Credit(usernames.get(str(handle), str(handle)), int(minutes), on, marker_key))
    return found


def credited_minutes(found: Iterable[Credit]) -> dict[str, int]:
    """Username -> minutes credited, in the order people first appear."""
    totals: dict[str, int] = {}
    for credit in found:
        totals[credit.username] = totals.get(credit.username, 0) + credit.minutes
    return totals
