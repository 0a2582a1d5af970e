"""A review a manager is invited to, sent to the manager's private channel with the pair's metadata."""

from __future__ import annotations

import re

from issuebot import markers, report
from issuebot.models import OpenIssue
from issuebot.pairstate import goal_progress
from issuebot.plan import ProgramPlan, handle_of, projected

triggers = frozenset({"sweep"})
phase = "after"

_REVIEW_KEY = re.compile(r"^review:(\d+)$")


def decide(plan: ProgramPlan) -> None:
    """For each open review of a pair whose mentee has a manager: the manager's own item, once."""
    policy = plan.program.settings.reviews
    if plan.view.partial or not (policy.every and policy.invite_managers and policy.manager_access == "channel"):
        return
    items = plan.view.channel_items()
    for pair_id, observed in plan.view.pairs.items():
        view = projected(observed, plan.results.get(pair_id, []))  # a review opened this run counts now
        manager = view.pair.mentee.manager
        path = plan.view.channels.get(manager or "")
        if not manager or path is None or view.project is None:
            continue
        for key, issue in view.issues.items():
            match = _REVIEW_KEY.match(key)
            if match is None or issue.state != "open":
                continue
            item_key = f"manager-review:{match.group(1)}:{pair_id}:{manager}"
            if item_key in items:
                continue
            handle = handle_of(plan.program, manager, plan.ctx.provider_kind)
            goals = [{"title": g.title, "due": g.due, "percent": g.percent} for g in goal_progress(view)]
            context = plan.pair_plan(pair_id).render_context(
                review={"number": int(match.group(1)), "due": issue.due}, manager={"handle": handle},
                row=report.pair_row(plan.program, view), goal_progress=goals)
            rendered = plan.ctx.templates.render("manager-review", **context)
            plan.actions.append(OpenIssue(pair="", project=path, key=item_key, title=rendered.title,
                                          body=markers.with_marker(rendered.body, item_key),
                                          assignees=(handle,), confidential=True))
