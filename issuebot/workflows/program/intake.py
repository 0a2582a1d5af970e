"""The intake project (`program.intake`): kept by `sync` with the call for participants and the sign-up form.

Everyone in `people` and `intake.readers` may read it and file a sign-up (Guest on GitLab, read on
GitHub); the form is written in the tracker's own convention, and `issuebot people import` reads the
sign-ups filed with it.
"""

from __future__ import annotations

from issuebot import markers
from issuebot.cohort import CALL_KEY
from issuebot.models import EnsureIssueForm, OpenIssue
from issuebot.people_import import SIGNUP_TEMPLATE, signup_form
from issuebot.plan import CHANNEL_TOKEN, INTAKE_TOKEN, ProgramPlan, program_context

triggers = frozenset({"sync"})
phase = "before"


def participants(plan: ProgramPlan, readers: list[str]) -> tuple[str, ...]:
    """The forge handles of everyone who reads a cohort-wide project: each person with a forge account
    and the extra readers, coordinators aside (they are members as coordinators)."""
    program, kind = plan.program, plan.ctx.provider_kind
    coordinators = set(program.coordinator_handles(kind))
    handles = [p.handle(kind) for p in program.people.values() if p.forge_account]
    return tuple(h for h in dict.fromkeys([*handles, *readers]) if h not in coordinators)


def decide(plan: ProgramPlan) -> None:
    """Create the intake project when missing, give the coordinators and participants access, open
    the call for participants once, and keep the sign-up form as the template says."""
    program, ctx, space = plan.program, plan.ctx, plan.view.intake
    intake = program.settings.intake
    if intake is None or space is None or plan.view.partial:
        return
    context = program_context(program)
    if not space.exists:
        # The private channels' project on GitLab and the embedded tracker when both have one
        # name: created as a channel, so either step finds it as its own.
        template, token = ("channel-project", CHANNEL_TOKEN) if space.shared_with_channels else ("intake-project", INTAKE_TOKEN)
        if not (space.shared_with_channels and space.path in plan.view.channels.values()):
            plan.create_space(intake.project, template, token)
    plan.coordinators_join(space.path, readers=participants(plan, intake.readers))
    form = ctx.templates.render(SIGNUP_TEMPLATE, program=context)
    if CALL_KEY not in space.items():
        call = ctx.templates.render(intake.call_template, program=context, form=intake.form, form_title=form.title,
                                    tracker=ctx.provider_kind)
        plan.actions.append(OpenIssue(pair="", project=space.path, key=CALL_KEY, title=call.title,
                                      body=markers.with_marker(call.body, CALL_KEY),
                                      labels=tuple(program.label(label) for label in call.labels)))
    plan.actions.append(EnsureIssueForm(pair="", project=space.path, name=intake.form, title=form.title,
                                        about=form.about, labels=form.labels, fields=signup_form(ctx.templates)))
