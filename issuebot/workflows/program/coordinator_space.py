"""The coordinators' private project, its members and its dashboard issue, created by `sync`."""

from __future__ import annotations

from issuebot.plan import COORDINATION_TOKEN, ProgramPlan
from issuebot.workflows.program import dashboard_issue

triggers = frozenset({"sync"})
phase = "before"


def decide(plan: ProgramPlan) -> None:
    program, view = plan.program, plan.view
    if not view.coordination_exists:
        plan.create_space(program.settings.coordinator_project, "coordination-project", COORDINATION_TOKEN)
    if dashboard_issue.find_dashboard(view.coordination_issues) is None:
        plan.coordinators_join(view.coordination_path)
        opened = dashboard_issue.open_or_edit(plan, None, [], {})
        if opened is not None:
            plan.actions.append(opened)

