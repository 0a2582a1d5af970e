"""Periodic review issues: progress against goals and KPIs, what the mentor should change, the manager's view."""

from __future__ import annotations

from issuebot.pairstate import exempt_until, goal_progress, latest_round
from issuebot.plan import Plan

triggers = frozenset({"sweep"})


def decide(plan: Plan) -> None:
    policy = plan.program.settings.reviews
    if policy.every is None or exempt_until(plan.state, plan.status, plan.ctx.today) is not None:
        return
    found = latest_round(plan.pair.starts, plan.ends, policy.every, policy.every, plan.ctx.today)
    if found is None:
        return
    number, due = found
    manager = None
    # A manager who is not a coordinator cannot read the pair's project: by default they get the
    # review in their private channel (program step manager_reviews) and are not mentioned here.
    reads_project = plan.pair.mentee.manager in plan.program.settings.coordinators
    if policy.invite_managers and plan.pair.mentee.manager and (policy.manager_access == "mention" or reads_project):
        person = plan.program.people.get(plan.pair.mentee.manager)
        manager = plan.ctx.person(person) if person else {"handle": plan.pair.mentee.manager, "name": plan.pair.mentee.manager}
    goals = [{"title": g.title, "due": g.due, "percent": g.percent, "done": g.done} for g in goal_progress(plan.view)]
    asked_privately = bool(policy.invite_managers and plan.pair.mentee.manager and manager is None)
    plan.open_issue(f"review:{number}", "review", due=plan.program.settings.nudges.respond_within.after(due),
                    review={"number": number, "due": due}, manager=manager,
                    goal_progress=goals, manager_asked_privately=asked_privately)
