"""Facts every decision reads from a pair's view: the open and overdue session, pauses, goals, working days, bookkeeping."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from issuebot.config import WEEKDAYS, OnboardingIssue, Period, Program
from issuebot.models import Issue
from issuebot.plan import PairView, SessionRef, end_date, looked_counts, state_date


@dataclass(frozen=True)
class OpenSession:
    """The open session issue with the highest number: the one the pair should be working on."""

    ref: SessionRef
    issue: Issue


@dataclass(frozen=True)
class Overdue:
    """The open session, past due by more than the program's grace."""

    ref: SessionRef
    issue: Issue
    since: date  # its due date, moved later by a pause, a resume or a snooze
    days: int  # days past its due date: the date the issue and every reminder show


def is_working_day(program: Program, day: date) -> bool:
    policy = program.settings.nudges
    return WEEKDAYS[day.weekday()] not in policy.quiet_days and day not in policy.holidays


def book(state: dict[str, Any]) -> dict[str, Any]:
    """The `nudges` bookkeeping of a tracker state (read-only; empty when absent or damaged)."""
    value = state.get("nudges")
    return value if isinstance(value, dict) else {}


def exempt_until(state: dict[str, Any], status: str, today: date) -> date | None:
    """The date until which the pair hears nothing (paused or snoozed), or None when not exempt."""
    if status == "ended":
        return date.max
    paused = state_date(state.get("paused_until"))
    if status == "paused":
        return paused if paused and paused > today else (date.max if paused is None else None)
    snoozed = state_date(book(state).get("snoozed_until"))
    return snoozed if snoozed and snoozed > today else None


def current_session(view: PairView) -> OpenSession | None:
    """The open session issue with the highest number, if any."""
    found = [(ref, issue) for ref, issue in ((SessionRef.parse(k), i) for k, i in view.issues.items())
             if ref is not None and issue.state == "open"]
    if not found:
        return None
    ref, issue = max(found, key=lambda item: item[0])
    return OpenSession(ref, issue)


def effective_due(state: dict[str, Any], due: date) -> date:
    """A pause or snooze moves the point from which a session counts as overdue."""
    later = [d for d in (state_date(state.get("paused_until")), state_date(book(state).get("snoozed_until")),
                         state_date(book(state).get("resumed_on"))) if d]
    return max([due, *later])


def overdue_session(view: PairView, state: dict[str, Any], program: Program, today: date) -> Overdue | None:
    """The current session when it is past due by the program's `grace`."""
    found = current_session(view)
    if found is None or found.issue.due is None:
        return None
    since = effective_due(state, found.issue.due)
    if program.settings.nudges.grace.after(since) > today:
        return None
    return Overdue(found.ref, found.issue, since, (today - found.issue.due).days)


def held_any(state: dict[str, Any]) -> bool:
    return any(s.get("outcome") == "held" for s in state.get("sessions", []) if isinstance(s, dict))


def in_wrapup(program: Program, view: PairView, state: dict[str, Any], today: date) -> bool:
    """Whether today is inside `wrapup_before` of the pair's end date (moved by `/extend`)."""
    return today >= program.settings.wrapup_before.before(end_date(view.pair, state))


def members_hear_reminders(program: Program, view: PairView, state: dict[str, Any], status: str, today: date) -> bool:
    """Whether the pair's members may still be reminded: not while it is stale (only the
    coordinators hear), unless the wrap-up window moves a pair that met on to `wrapping-up`
    in this same run (offboarding), so a rerun decides the same."""
    return status != "stale" or (held_any(state) and in_wrapup(program, view, state, today))


def settled_status(state: dict[str, Any]) -> str:
    """Where a pair returns after a pause or a stale spell: `active` once a session was held."""
    return "active" if held_any(state) else "kickoff"


def last_recipients(state: dict[str, Any]) -> tuple[str, ...]:
    """Usernames of the pair's most recent nudge (metadata for the dashboard)."""
    sent = [e for e in book(state).get("sent", []) if isinstance(e, dict) and state_date(e.get("on"))]
    if not sent:
        return ()
    latest = max(str(e["on"]) for e in sent)
    return tuple(dict.fromkeys(str(e.get("to")) for e in sent if str(e["on"]) == latest))


_TASK_RE = re.compile(r"^\s*[-*+]\s+\[([ xX])\]", re.MULTILINE)


@dataclass(frozen=True)
class GoalProgress:
    key: str
    number: int
    title: str
    due: date | None
    tasks_done: int
    tasks_total: int
    closed: bool

    @property
    def done(self) -> bool:
        return self.closed or (self.tasks_total > 0 and self.tasks_done == self.tasks_total)

    @property
    def percent(self) -> int:
        if self.done:
            return 100
        return round(100 * self.tasks_done / self.tasks_total) if self.tasks_total else 0


def task_counts(body: str) -> tuple[int, int]:
    """(ticked, total) of the Markdown task list in `body` (`- [x]` vs `- [ ]`)."""
    boxes = _TASK_RE.findall(body or "")
    return sum(1 for b in boxes if b in "xX"), len(boxes)


def goal_progress(view: PairView) -> list[GoalProgress]:
    """Every numbered goal issue the pair has, with its completion. A sweep reads open issues
    only, so a goal issuebot created (named in the tracker state) but not seen is a closed one."""
    keys = [k for k in (*view.state.get("issues", []), *view.issues) if k.startswith("goal:") and k[5:].isascii() and k[5:].isdigit()]
    found = []
    for key in dict.fromkeys(keys):
        number = int(key.split(":", 1)[1])
        declared = view.pair.goals[number - 1] if number <= len(view.pair.goals) else None
        issue = view.issues.get(key)
        ticked, total = task_counts(issue.body) if issue is not None else (0, 0)
        found.append(GoalProgress(
            key=key, number=number, title=declared.title if declared else f"Goal {number}",
            due=(issue.due if issue is not None else None) or (declared.due if declared else None),
            tasks_done=ticked, tasks_total=total, closed=issue is None or issue.state == "closed",
        ))
    return sorted(found, key=lambda g: g.number)


def latest_round(starts: date, ends: date, first: Period, every: Period | None, today: date) -> tuple[int, date] | None:
    """(n, due date) of the latest round due by `today` before `ends`: round n is due at
    `starts + first + (n-1) * every`. Older missed rounds are not opened late."""
    latest = None
    number, due = 1, first.after(starts)
    while due <= today and due < ends:
        latest = (number, due)
        if every is None or (every.days == 0 and every.months == 0):
            break
        number += 1
        due = Period(days=first.days + every.days * (number - 1), months=first.months + every.months * (number - 1)).after(starts)
    return latest


def issues_with_unseen_comments(view: PairView) -> list[int]:
    """Open issues whose listed comment count differs from what issuebot saw when it last looked:
    someone wrote (or deleted) a comment since. None in the steady state, so reading their threads
    costs one call per active issue and nothing on a quiet day."""
    looked = looked_counts(view.state)
    return sorted(i.number for i in view.listed
                  if i.state == "open" and i.comments is not None and i.comments != looked.get(i.number, 0))


@dataclass(frozen=True)
class TrackedItem:
    """An onboarding issue the report counts (`counts_as`): a goal, a KPI item, signatures or an activity."""

    key: str
    counts_as: str
    due: date | None
    ticked: int
    boxes: int
    closed: bool
    closed_on: date | None  # when it was closed (None while open, or closed but not read)
    credit_minutes: int

    @property
    def done(self) -> bool:
        return self.closed or (self.boxes > 0 and self.ticked == self.boxes)


def tracked_items(program: Program, view: PairView) -> list[TrackedItem]:
    """The pair's onboarding issues that `counts_as` something, in program order. An issue issuebot
    created (named in the tracker state) but not seen in an open-issues read is a closed one."""
    found = []
    for extra in program.settings.onboarding_issues:
        if extra.counts_as is None:
            continue
        key = f"extra:{extra.key}"
        issue = view.issues.get(key)
        if issue is None and not view.known(key):
            continue
        found.append(_tracked(extra, key, issue))
    return found


def _tracked(extra: OnboardingIssue, key: str, issue: Issue | None) -> TrackedItem:
    ticked, boxes = task_counts(issue.body) if issue is not None else (0, 0)
    closed = issue is None or issue.state == "closed"
    closed_at = issue.closed_at if issue is not None and closed else None
    return TrackedItem(key=key, counts_as=extra.counts_as or "", due=issue.due if issue is not None else None,
                       ticked=ticked, boxes=boxes, closed=closed,
                       closed_on=closed_at.date() if closed_at is not None else None,
                       credit_minutes=(extra.credit or 0) if closed else 0)


def overdue_items(program: Program, view: PairView, today: date) -> list[str]:
    """Marker keys of open review, feedback, goal and onboarding (KPI, conduct...) issues past their due date."""
    late = []
    for key, issue in sorted(view.issues.items()):
        kind = key.split(":", 1)[0]
        if kind in ("review", "feedback", "goal", "extra", "wrapup") and issue.state == "open" \
                and issue.due is not None and issue.due < today:
            late.append(key)
    return late


REMINDED_KINDS = ("review", "feedback", "extra")  # items the pair is reminded of once overdue (goals have their own)


def item_reminders(state: dict[str, Any]) -> dict[str, list[date]]:
    """The dates each overdue item's reminders went out, by marker key (empty when damaged)."""
    value = book(state).get("items")
    found: dict[str, list[date]] = {}
    for key, days in (value.items() if isinstance(value, dict) else ()):
        known = [d for d in (state_date(v) for v in (days if isinstance(days, list) else ())) if d]
        if known:
            found[str(key)] = known
    return found


def reminders_owed(program: Program, view: PairView, state: dict[str, Any], today: date) -> list[str]:
    """Marker keys of open review, feedback and onboarding (KPI, conduct...) issues overdue by the
    program's `grace` that are owed a reminder: fewer than `item_reminders` so far, the last one
    at least `renudge_every` ago."""
    policy = program.settings.nudges
    sent = item_reminders(state)
    owed = []
    for key in overdue_items(program, view, today):
        issue = view.issues[key]
        if key.split(":", 1)[0] not in REMINDED_KINDS or issue.due is None or policy.grace.after(issue.due) > today:
            continue
        days = sent.get(key, [])
        if len(days) >= policy.item_reminders or (days and policy.renudge_every.after(max(days)) > today):
            continue
        owed.append(key)
    return owed


def who_acts(program: Program, view: PairView, today: date) -> str:
    """Who needs to do something next, from metadata only."""
    status = view.status(program)
    state = view.state
    if view.project is None:
        return "coordinators (run sync)"
    if status == "ended" or exempt_until(state, status, today) is not None:
        return "-"
    if status == "stale" or today >= end_date(view.pair, state):
        return "coordinators"
    overdue = overdue_session(view, state, program, today)
    if overdue is not None:
        # From the nudge bookkeeping, not from comments: comments are read only on days a nudge is due.
        sides = [side for side, person in (("mentee", view.pair.mentee), ("mentor", view.pair.mentor))
                 if person.username in last_recipients(state)]
        return " & ".join(sides) if sides else "mentee"
    if current_session(view) is None and status != "wrapping-up":
        return "coordinators"
    return "-"
