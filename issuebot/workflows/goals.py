"""One reminder for a goal due soon and not done."""

from __future__ import annotations

from issuebot.pairstate import book, exempt_until, goal_progress, is_working_day, members_hear_reminders
from issuebot.plan import Plan

triggers = frozenset({"sweep"})

def decide(plan: Plan) -> None:
    today = plan.ctx.today
    if exempt_until(plan.state, plan.status, today) is not None or not is_working_day(plan.program, today):
        return
    if not members_hear_reminders(plan.program, plan.view, plan.state, plan.status, today):
        return  # a stale pair's members hear no more reminders; the coordinators were told
    reminded = set(book(plan.state).get("goal_reminders", []))
    for goal in goal_progress(plan.view):
        if goal.done or goal.due is None or goal.key in reminded:
            continue
        if plan.program.settings.goal_reminder.before(goal.due) > today:
            continue
        plan.comment(goal.key, f"goal-reminder:{goal.number}", "goal-reminder",
                     goal={"title": goal.title, "due": goal.due, "done": goal.tasks_done, "total": goal.tasks_total,
                           "percent": goal.percent})
        state = plan.bookkeeping()
        state["goal_reminders"] = sorted({*state.get("goal_reminders", []), goal.key})
