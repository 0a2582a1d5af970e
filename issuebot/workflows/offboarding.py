"""End pairs gracefully: the wrap-up issue, asking coordinators at the end date, and `end_pair`."""

from __future__ import annotations

from issuebot.models import ArchiveProject
from issuebot.pairstate import book, held_any, in_wrapup
from issuebot.plan import TRACKER, Plan

triggers = frozenset({"sweep", "event"})


def end_pair(plan: Plan, reason: str, by: str) -> None:
    """Move the pair to `pair::ended`, say so on the tracker, then archive the project.

    Issues are never closed; the archive makes the whole project read-only (it can be unarchived).
    """
    if plan.status == "ended":
        return
    plan.set_status("ended")
    plan.state["ended"] = {"on": plan.ctx.today.isoformat(), "by": by, "reason": reason}
    plan.comment(TRACKER, f"ended:{plan.ctx.today.isoformat()}", "ended", reason=reason, by=by)
    plan.after_tracker.append(ArchiveProject(pair=plan.pair.id, project=plan.view.project_path))


def open_wrapup(plan: Plan) -> None:
    """Inside `wrapup_before` of the end: the wrap-up issue and `pair::wrapping-up` (a stale pair
    that never met keeps `pair::stale`); an `/extend` that moves the end out of that window sets
    the pair back to active (the issue stays)."""
    today = plan.ctx.today
    if plan.status in ("ended", "paused"):
        return
    if in_wrapup(plan.program, plan.view, plan.state, today):
        plan.open_issue("wrapup", "wrapup", due=plan.ends)
        if plan.status == "stale" and not held_any(plan.state):
            return  # a pair that never met stays flagged for the coordinators through wrap-up
        plan.set_status("wrapping-up")
    elif plan.status == "wrapping-up":
        plan.set_status("active")


def ask_coordinators_to_end(plan: Plan) -> None:
    """At the end date the coordinators are asked, once per end date, to end the pair; never automatic."""
    if plan.status == "ended" or plan.ctx.today < plan.ends:
        return
    ends = plan.ends.isoformat()
    if book(plan.state).get("end_requested") == ends:
        return
    coordinators = plan.coordinators()
    if plan.comment(TRACKER, f"end-request:{ends}", "end-request", coordinators=coordinators):
        plan.bookkeeping()["end_requested"] = ends


def decide(plan: Plan) -> None:
    if plan.ctx.trigger != "sweep" or plan.view.tracker is None:
        return
    open_wrapup(plan)
    ask_coordinators_to_end(plan)
