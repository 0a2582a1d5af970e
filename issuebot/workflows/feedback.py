"""Feedback rounds for both sides: first after `feedback.first_after`, then every `feedback.every`."""

from __future__ import annotations

from issuebot.pairstate import exempt_until, latest_round
from issuebot.plan import Plan

triggers = frozenset({"sweep"})


def decide(plan: Plan) -> None:
    policy = plan.program.settings.feedback
    if policy.first_after is None or exempt_until(plan.state, plan.status, plan.ctx.today) is not None:
        return
    found = latest_round(plan.pair.starts, plan.ends, policy.first_after, policy.every, plan.ctx.today)
    if found is None:
        return
    number, due = found
    plan.open_issue(f"feedback:{number}", "feedback", due=plan.program.settings.nudges.respond_within.after(due),
                    feedback={"number": number, "due": due})
