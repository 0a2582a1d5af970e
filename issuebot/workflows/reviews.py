"""Periodic review issues: progress against goals and KPIs, what the mentor should change, the manager's view."""

from __future__ import annotations

from datetime import date

from issuebot.config import Period
from issuebot.reconcile import Plan
from issuebot.workflows.goals import goal_progress
from issuebot.workflows.nudges import exempt_until

triggers = frozenset({"sweep"})


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


def decide(plan: Plan) -> None:
    policy = plan.program.settings.reviews
    if policy.every is None or exempt_until(plan.state, plan.status, plan.ctx.today) is not None:
        return
    found = latest_round(plan.pair.starts, plan.ends, policy.every, policy.every, plan.ctx.today)
    if found is None:
        return
    number, due = found
    manager = None
    if policy.invite_managers and plan.pair.mentee.manager:
        person = plan.program.people.get(plan.pair.mentee.manager)
        manager = plan.ctx.person(person) if person else {"handle": plan.pair.mentee.manager, "name": plan.pair.mentee.manager}
    goals = [{"title": g.title, "due": g.due, "percent": g.percent, "done": g.done} for g in goal_progress(plan.view)]
    plan.open_issue(f"review:{number}", "review", review={"number": number, "due": due}, manager=manager,
                    goal_progress=goals)
