"""Each person's private channel: the project(s) where only that person and the coordinators read their items."""

from __future__ import annotations

from issuebot.models import EnsureIssueForm, Member, SetMembers
from issuebot.plan import CHANNEL_TOKEN, ProgramPlan, answers_by_form, handle_of, program_context
from issuebot.workflows.program.rematch_requests import shared_paths

REQUEST_FORM = "rematch-form"  # the template of the form a re-match request is filed with by hand

triggers = frozenset({"sync", "sweep"})
phase = "before"


def decide(plan: ProgramPlan) -> None:
    """Create missing channel projects; set their members on `sync` (and when created): the people
    as participants, who read only their own items, and the coordinators. `sync` also keeps, in a
    channel project people share, the form of a re-match request filed by hand, asking for a
    confidential issue, so that one is private from the start (the sweep and the service hide
    one filed otherwise)."""
    program, ctx, view = plan.program, plan.ctx, plan.view
    if view.partial or not view.channels:
        return
    coordinators = [Member(h, "coordinator") for h in program.coordinator_handles(ctx.provider_kind)]
    people: dict[str, list[Member]] = {}
    for username, path in view.channels.items():
        people.setdefault(path, [])
        if not answers_by_form(program.people.get(username)):  # no forge account: nobody to add
            people[path].append(Member(handle_of(program, username, ctx.provider_kind), "participant"))
    for path, members in people.items():
        created = path not in view.channel_projects
        if created:
            plan.create_space(path.rsplit("/", 1)[-1], "channel-project", CHANNEL_TOKEN)
        if created or ctx.trigger == "sync":
            plan.actions.append(SetMembers(pair="", project=path, members=tuple(dict.fromkeys([*members, *coordinators]))))
    if ctx.trigger == "sync":
        for path in sorted(shared_paths(view.channels.values())):
            form = ctx.templates.render(REQUEST_FORM, program=program_context(program))
            plan.actions.append(EnsureIssueForm(pair="", project=path, name="rematch", title=form.title, about=form.about,
                                                labels=form.labels, fields=(), opening=form.body.strip(),
                                                confidential=True))
