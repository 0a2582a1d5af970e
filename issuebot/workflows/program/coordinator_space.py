"""The coordinators' private project, its members and its dashboard issue, created by `sync`."""

from __future__ import annotations

from issuebot.models import CreateProject, Member, SetMembers
from issuebot.plan import COORDINATION_TOKEN, ProgramPlan, program_context
from issuebot.workflows.program import dashboard_issue

triggers = frozenset({"sync"})
phase = "before"


def decide(plan: ProgramPlan) -> None:
    program, ctx, view = plan.program, plan.ctx, plan.view
    if not view.coordination_exists:
        rendered = ctx.templates.render("coordination-project", program=program_context(program), token=COORDINATION_TOKEN)
        description = " ".join(rendered.body.split())
        if COORDINATION_TOKEN not in description:
            description = f"{description} {COORDINATION_TOKEN}"
        plan.actions.append(CreateProject(pair="", name=program.settings.coordinator_project, title=rendered.title,
                                          description=description))
    if dashboard_issue.find_dashboard(view.coordination_issues) is None:
        members = tuple(dict.fromkeys(Member(h, "coordinator") for h in program.coordinator_handles(ctx.provider_kind)))
        plan.actions.append(SetMembers(pair="", project=view.coordination_path, members=members))
        opened = dashboard_issue.open_or_edit(plan, None, [], {})
        if opened is not None:
            plan.actions.append(opened)

