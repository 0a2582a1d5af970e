"""Remind quiet pairs: the first-session reminder, nudges to the side that went quiet, escalations."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from issuebot import markers
from issuebot.config import Period, Program
from issuebot.models import EditIssue, PostComment
from issuebot.pairstate import (
    book,
    current_session,
    exempt_until,
    held_any,
    is_working_day,
    item_reminders,
    members_hear_reminders,
    overdue_session,
    reminders_owed,
    settled_status,
)
from issuebot.plan import TRACKER, Context, PairView, Plan, SessionRef, end_date, state_date

triggers = frozenset({"sweep"})

WEEK = 7
KEEP_DAYS = 35  # bookkeeping older than this no longer affects any rule


@dataclass(frozen=True)
class NudgeIntent:
    """Who should hear from issuebot about which issue today, and why."""

    rule: str  # "first-session" or "overdue"
    issue_key: str
    recipients: tuple[str, ...]  # usernames, mentee first
    session: SessionRef
    due: date
    days_overdue: int


# ----------------------------------------------------------------------------- facts (pure)


def issues_needing_comments(view: PairView, program: Program, today: date, requested: bool = False) -> list[str]:
    """The issue whose comments today's decision needs (who spoke last): the session issue of a
    pair that is overdue and due a nudge, or any pair a coordinator asked to nudge now. In the
    steady state that is none, so a sweep costs only its bulk reads."""
    if view.tracker is None:
        return []
    if requested:
        current = current_session(view)
        return [current.ref.key] if current else []
    due = due_nudge(view, view.state, view.status(program), program, today)
    return [due.issue_key] if due is not None and due.rule == "overdue" else []


def last_pair_speaker(view: PairView, issue_key: str, ctx: Context) -> str | None:
    """`mentee` or `mentor`: whose comment on the issue is the latest; bot and coordinators do not count."""
    pair = view.pair
    sides = {pair.mentee.handle(ctx.provider_kind): "mentee", pair.mentor.handle(ctx.provider_kind): "mentor"}
    speaker = None
    for comment in sorted(view.comments.get(issue_key, []), key=lambda c: (c.created_at or ctx.now, c.id)):
        if comment.author in sides and markers.find_marker(comment.body) is None:
            speaker = sides[comment.author]
    return speaker


def last_nudged(view: PairView, state: dict[str, Any], issue_key: str | None = None) -> date | None:
    """The latest nudge to this pair, from the bookkeeping and from the bot's comments (state may be lost)."""
    days = [state_date(e.get("on")) for e in book(state).get("sent", []) if isinstance(e, dict)
            and (issue_key is None or e.get("issue") == issue_key)]
    for key, comments in view.comments.items():
        if issue_key is not None and key != issue_key:
            continue
        for comment in comments:
            found = markers.find_marker(comment.body) or ""
            if found.startswith("nudge:"):
                days.append(state_date(found.rsplit(":", 1)[-1]))
    known = [d for d in days if d]
    return max(known) if known else None


def sent_this_week(state: dict[str, Any], today: date) -> Counter[str]:
    """Nudges per username in the seven days up to today."""
    counts: Counter[str] = Counter()
    for entry in book(state).get("sent", []):
        on = state_date(entry.get("on")) if isinstance(entry, dict) else None
        if on and today - timedelta(days=WEEK) < on <= today:
            counts[str(entry.get("to"))] += 1
    return counts


def due_nudge(view: PairView, state: dict[str, Any], status: str, program: Program, today: date) -> NudgeIntent | None:
    """The nudge rule the pair is due under today's policy, before choosing who hears it (pure).
    Its recipients are both sides; `intent` narrows them from who spoke last."""
    policy = program.settings.nudges
    pair = view.pair
    if view.tracker is None or not is_working_day(program, today) or exempt_until(state, status, today):
        return None
    if today >= end_date(view.pair, state):
        return None  # past the end only the coordinators are asked (offboarding), the pair is not nudged
    found = current_session(view)
    if found is None or found.issue.due is None:
        return None
    both = (pair.mentee.username, pair.mentor.username)
    overdue = overdue_session(view, state, program, today)
    if overdue is None:
        if held_any(state) or book(state).get("first_session") or policy.first_session_within.after(pair.starts) > today:
            return None
        return NudgeIntent("first-session", found.ref.key, both, found.ref, found.issue.due, 0)
    last = last_nudged(view, state)
    if last is not None and policy.renudge_every.after(last) > today:
        return None
    if status == "stale" or reminders_sent(state, found.ref.key) >= policy.max_per_session:
        return None  # enough said to the pair: from here on only the coordinators hear
    return NudgeIntent("overdue", found.ref.key, both, found.ref, found.issue.due, overdue.days)


def reminders_sent(state: dict[str, Any], issue_key: str) -> int:
    """Reminders the pair got about one session issue (kept beyond the weekly bookkeeping)."""
    counts = book(state).get("reminded")
    value = counts.get(issue_key, 0) if isinstance(counts, dict) else 0
    return value if isinstance(value, int) else 0


def intent(view: PairView, state: dict[str, Any], status: str, ctx: Context) -> NudgeIntent | None:
    """The nudge the pair is due today under the program's policy, before the weekly cap (pure)."""
    due = due_nudge(view, state, status, ctx.program, ctx.today)
    if due is None or due.rule != "overdue":
        return due
    pair = view.pair
    speaker = last_pair_speaker(view, due.issue_key, ctx)
    if speaker == "mentee":
        recipients: tuple[str, ...] = (pair.mentor.username,)
    elif speaker == "mentor":
        recipients = (pair.mentee.username,)
    elif last_nudged(view, state, due.issue_key) is None:
        recipients = (pair.mentee.username,)  # the mentee leads: they hear first
    else:
        recipients = (pair.mentee.username, pair.mentor.username)
    return replace(due, recipients=recipients)


def weekly_allowance(views: dict[str, PairView], ctx: Context) -> dict[str, frozenset[str]]:
    """Who may be nudged in which pair today so nobody gets more than `max_per_person_per_week`
    across all their pairs; pairs take turns in program order (pure, program-wide)."""
    cap = ctx.program.settings.nudges.max_per_person_per_week
    used: Counter[str] = Counter()
    for view in views.values():
        used.update(sent_this_week(view.state, ctx.today))
    allowed: dict[str, frozenset[str]] = {}
    # The pair nudged longest ago goes first, so a capped person's other pairs get their turn.
    order = sorted(
        (pair for pair in ctx.program.pairs if pair.id in views),
        key=lambda pair: last_nudged(views[pair.id], views[pair.id].state) or date.min,
    )
    for pair in order:
        view = views[pair.id]
        wanted = intent(view, view.state, view.status(ctx.program), ctx)
        granted = []
        for username in wanted.recipients if wanted else ():
            if used[username] < cap:
                used[username] += 1
                granted.append(username)
        allowed[pair.id] = frozenset(granted)
    return allowed


# ----------------------------------------------------------------------------- decide


def decide(plan: Plan) -> None:
    if plan.status == "ended":
        return
    if plan.ctx.commands or moves_a_due_date(plan):
        # Quick commands were just carried out (a session logged, a pause...) or a session was
        # re-planned: the pair is not quiet, or the view predates those writes and shows an old
        # due date; the next sweep decides on a fresh read.
        return
    ctx, program, today = plan.ctx, plan.program, plan.ctx.today
    policy = program.settings.nudges
    resume_when_pause_is_over(plan)
    relearn_nudges(plan)
    wanted = intent(plan.view, plan.state, plan.status, ctx)
    if wanted is not None:
        if ctx.nudge_allowance is not None:
            allowed = ctx.nudge_allowance.get(plan.pair.id, frozenset())
        else:
            counts = sent_this_week(plan.state, today)
            allowed = frozenset(u for u in wanted.recipients if counts[u] < policy.max_per_person_per_week)
        recipients = tuple(u for u in wanted.recipients if u in allowed)
        if recipients:
            nudge(plan, wanted, recipients)
    if "nudge" in ctx.requests.get(plan.pair.id, frozenset()):
        nudge_now(plan)
    escalate_stale_pair(plan)
    remind_overdue_items(plan)


def moves_a_due_date(plan: Plan) -> bool:
    return any(isinstance(a, EditIssue) and a.due is not None for a in plan.actions)


def relearn_nudges(plan: Plan) -> None:
    """Record nudges the comments show but the bookkeeping lost (a run stopped by --max-writes
    between the comment and the tracker write, or a state block edited by hand)."""
    today, pair, kind = plan.ctx.today, plan.pair, plan.ctx.provider_kind
    recorded = {(e.get("issue"), e.get("on")) for e in book(plan.state).get("sent", []) if isinstance(e, dict)}
    for issue_key, comments in plan.view.comments.items():
        for comment in comments:
            found = markers.find_marker(comment.body) or ""
            on = state_date(found.rsplit(":", 1)[-1]) if found.startswith("nudge:") else None
            if on is None or (issue_key, on.isoformat()) in recorded or on <= today - timedelta(days=KEEP_DAYS):
                continue
            people = tuple(p.username for p in (pair.mentee, pair.mentor) if f"@{p.handle(kind)}" in comment.body)
            entries = plan.bookkeeping().setdefault("sent", [])
            entries.extend({"to": u, "on": on.isoformat(), "rule": "overdue", "issue": issue_key} for u in people)


def resume_when_pause_is_over(plan: Plan) -> None:
    """Overdue counts from the end of a pause: remember that date once the pause is lifted
    (the sessions workflow, which runs first, lifts it)."""
    was = state_date(plan.original_state.get("paused_until"))
    if was is not None and was <= plan.ctx.today and plan.status != "paused" and state_date(book(plan.state).get("resumed_on")) != was:
        plan.bookkeeping()["resumed_on"] = was.isoformat()


def _person(plan: Plan, username: str) -> dict[str, Any]:
    pair = plan.pair
    return plan.ctx.person(pair.mentee if username == pair.mentee.username else pair.mentor)


def record(plan: Plan, recipients: tuple[str, ...], rule: str, issue_key: str) -> None:
    today = plan.ctx.today
    kept = plan.bookkeeping()
    sent = [e for e in kept.get("sent", []) if isinstance(e, dict)
            and (state_date(e.get("on")) or today) > today - timedelta(days=KEEP_DAYS)]
    for username in recipients:
        entry = {"to": username, "on": today.isoformat(), "rule": rule, "issue": issue_key}
        if entry not in sent:
            sent.append(entry)
    kept["sent"] = sent


def nudge(plan: Plan, wanted: NudgeIntent, recipients: tuple[str, ...]) -> None:
    """One comment on the session issue naming the quiet side; recorded for the caps."""
    today = plan.ctx.today
    if wanted.rule == "first-session":
        key, template = "first-session", "first-session"
        plan.bookkeeping()["first_session"] = today.isoformat()
    else:
        key, template = f"nudge:{wanted.issue_key}:{today.isoformat()}", "nudge"
    plan.comment(
        wanted.issue_key, key, template,
        to=[_person(plan, u) for u in recipients],
        session={"number": wanted.session.number, "due": wanted.due, "days_overdue": wanted.days_overdue},
    )
    record(plan, recipients, wanted.rule, wanted.issue_key)
    if wanted.rule == "overdue":
        counts = plan.bookkeeping().get("reminded")
        counts = counts if isinstance(counts, dict) else {}
        plan.bookkeeping()["reminded"] = {**counts, wanted.issue_key: reminders_sent(plan.state, wanted.issue_key) + 1}


def nudge_now(plan: Plan) -> None:
    """A coordinator ticked "nudge now": remind the quiet side today, whatever the policy says."""
    today = plan.ctx.today
    if exempt_until(plan.state, plan.status, today) == date.max:
        return
    found = current_session(plan.view)
    issue_key = found.ref.key if found else TRACKER
    key = f"nudge:{issue_key}:{today.isoformat()}"
    if any(isinstance(a, PostComment) and a.key == key for a in plan.actions):
        return  # the regular nudge of today already went out
    speaker = last_pair_speaker(plan.view, issue_key, plan.ctx)
    pair = plan.pair
    recipients = {"mentee": (pair.mentor.username,), "mentor": (pair.mentee.username,)}.get(
        speaker or "", (pair.mentee.username, pair.mentor.username))
    due = found.issue.due if found and found.issue.due else today
    number = found.ref.number if found else 0
    plan.comment(issue_key, key, "nudge", to=[_person(plan, u) for u in recipients],
                 session={"number": number, "due": due, "days_overdue": max(0, (today - due).days)})
    record(plan, recipients, "coordinator", issue_key)


def escalate_stale_pair(plan: Plan) -> None:
    """Past `escalate_after`: `pair::stale` and one escalation per `escalate_every` to the coordinators."""
    program, today = plan.program, plan.ctx.today
    policy = program.settings.nudges
    overdue = overdue_session(plan.view, plan.state, program, today)
    if exempt_until(plan.state, plan.status, today) is not None or today >= plan.ends:
        return
    late = overdue is not None and policy.escalate_after.after(overdue.since) <= today
    if not late:
        if plan.status == "stale":
            plan.set_status(settled_status(plan.state))
        if book(plan.state).get("escalations"):
            plan.bookkeeping().pop("escalations", None)  # the stale spell is over
        return
    if plan.status in ("kickoff", "active"):
        plan.set_status("stale")
        history = plan.state.get("stale_on")
        if not isinstance(history, list):  # absent, or broken by a person's edit
            history = plan.state["stale_on"] = []
        history.append(today.isoformat())  # the report's month-by-month history
    if not is_working_day(program, today):
        return
    last = state_date(book(plan.state).get("escalated"))
    spell = book(plan.state).get("escalations")
    spell = spell if isinstance(spell, int) else 0
    if spell >= policy.max_escalations:
        return  # the dashboard keeps showing the pair as stale
    # Back off: each escalation of a spell waits twice as long as the one before.
    wait = Period(days=policy.escalate_every.days * 2 ** max(0, spell - 1),
                  months=policy.escalate_every.months * 2 ** max(0, spell - 1))
    if last is not None and wait.after(last) > today:
        return
    assert overdue is not None
    coordinators = plan.coordinators()
    if plan.comment(TRACKER, f"escalation:{today.isoformat()}", "escalation", coordinators=coordinators,
                    session={"number": overdue.ref.number, "due": overdue.issue.due,
                             "days_overdue": overdue.days}):
        plan.bookkeeping()["escalated"] = today.isoformat()
        plan.bookkeeping()["escalations"] = spell + 1


def remind_overdue_items(plan: Plan) -> None:
    """One reminder (`item_reminders`) on each overdue review, feedback, KPI or code-of-conduct
    issue, to the people it waits for (its assignees in the pair, else both). A stale pair's
    members hear no more: the dashboard shows the item as overdue to the coordinators."""
    program, today, pair = plan.program, plan.ctx.today, plan.pair
    if plan.status == "ended" or not members_hear_reminders(program, plan.view, plan.state, plan.status, today) \
            or exempt_until(plan.state, plan.status, today) is not None or not is_working_day(program, today) \
            or today >= plan.ends:
        return
    kind = plan.ctx.provider_kind
    sides = {pair.mentee.handle(kind): pair.mentee.username, pair.mentor.handle(kind): pair.mentor.username}
    for key in reminders_owed(program, plan.view, plan.state, today):
        issue = plan.view.issues[key]
        waiting = tuple(dict.fromkeys(sides[a] for a in issue.assignees if a in sides)) or (
            pair.mentee.username, pair.mentor.username)
        sent = item_reminders(plan.state).get(key, [])
        assert issue.due is not None  # reminders_owed keeps dated items only
        plan.comment(key, f"reminder:{key}:{len(sent) + 1}", "item-reminder", to=[_person(plan, u) for u in waiting],
                     item={"kind": key.split(":", 1)[0], "title": issue.title, "due": issue.due,
                           "days_overdue": (today - issue.due).days},
                     last=len(sent) + 1 >= program.settings.nudges.item_reminders)
        kept = plan.bookkeeping().get("items")
        kept = kept if isinstance(kept, dict) else {}
        plan.bookkeeping()["items"] = {**kept, key: [*(d.isoformat() for d in sent), today.isoformat()]}
