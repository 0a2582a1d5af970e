"""Give a pair its private project, members, labels, kickoff, goals, tracker and first session."""

from __future__ import annotations

from issuebot.models import GrantAccess, SetLabels, SetMembers
from issuebot.plan import Plan, SessionRef, fingerprint, label_specs, members_of

triggers = frozenset({"sync", "sweep", "event"})


def decide(plan: Plan) -> None:
    view, program, pair, ctx = plan.view, plan.program, plan.pair, plan.ctx
    if view.project is None:
        if ctx.trigger != "sync":
            return  # only `sync` creates workspaces; sweeps and events wait for it
        plan.create_project()

    members = members_of(program, pair, ctx.provider_kind)
    members_print = fingerprint([(m.username, m.role) for m in members])
    if plan.state.get("members") != members_print:
        plan.actions.append(SetMembers(pair=pair.id, project=view.project_path, members=members))
        plan.state["members"] = members_print

    delivery = program.settings.delivery_project
    project = pair.mentee.attributes.get(delivery.attribute) if delivery is not None else None
    if delivery is not None and project:  # PAL: the mentor works in the mentee's delivery project
        grant = GrantAccess(pair=pair.id, project=str(project), usernames=(pair.mentor.handle(ctx.provider_kind),),
                            access=delivery.access)
        grant_print = fingerprint([grant.project, grant.usernames, grant.access])
        if plan.state.get("delivery") != grant_print:
            plan.actions.append(grant)
            plan.state["delivery"] = grant_print

    if ctx.labels_per_project:
        labels = label_specs(program)
        labels_print = fingerprint(labels)
        if plan.state.get("labels") != labels_print:
            plan.actions.append(SetLabels(pair=pair.id, project=view.project_path, labels=labels))
            plan.state["labels"] = labels_print

    plan.open_issue("kickoff", "kickoff")
    for extra in program.settings.onboarding_issues:  # e.g. KPI issues, a code of conduct to sign
        due = extra.due_after.after(pair.starts) if extra.due_after else None
        plan.open_issue(f"extra:{extra.key}", extra.template, due=due, confidential=extra.confidential)
    if pair.goals:
        for number, goal in enumerate(pair.goals, start=1):
            goal_context = {"title": goal.title, "due": goal.due, "actions": list(goal.actions)}
            plan.open_issue(f"goal:{number}", "goal", due=goal.due, goal=goal_context)
    else:
        plan.open_issue("goal:define", "goals")

    if not any(SessionRef.is_key(key) for key in plan.state["issues"]):
        due = program.settings.cadence.after(pair.starts)
        plan.open_issue(SessionRef(1).key, "session", due=due, session={"number": 1, "due": due})
