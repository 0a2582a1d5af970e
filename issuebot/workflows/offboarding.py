"""End pairs gracefully: a closing comment, `pair::ended`, and the project archived read-only."""

from __future__ import annotations

from issuebot.models import ArchiveProject
from issuebot.reconcile import TRACKER, Plan

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


def decide(plan: Plan) -> None:
    """Nothing scheduled yet: ending happens through `end_pair` (quick command or coordinator)."""
