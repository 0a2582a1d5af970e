"""Goal completion from the goal issues' task lists, and one reminder for a goal due soon and not done."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from issuebot.reconcile import PairView, Plan
from issuebot.workflows.nudges import bookkeeping, book, exempt_until, is_working_day

triggers = frozenset({"sweep"})

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
    keys = [k for k in (*view.state.get("issues", []), *view.issues) if k.startswith("goal:") and k[5:].isdigit()]
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


def decide(plan: Plan) -> None:
    today = plan.ctx.today
    if exempt_until(plan.state, plan.status, today) is not None or not is_working_day(plan.program, today):
        return
    reminded = set(book(plan.state).get("goal_reminders", []))
    for goal in goal_progress(plan.view):
        if goal.done or goal.due is None or goal.key in reminded:
            continue
        if plan.program.settings.goal_reminder.before(goal.due) > today:
            continue
        plan.comment(goal.key, f"goal-reminder:{goal.number}", "goal-reminder",
                     goal={"title": goal.title, "due": goal.due, "done": goal.tasks_done, "total": goal.tasks_total,
                           "percent": goal.percent})
        state = bookkeeping(plan)
        state["goal_reminders"] = sorted({*state.get("goal_reminders", []), goal.key})
