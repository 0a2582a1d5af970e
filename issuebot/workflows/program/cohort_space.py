"""The cohort space (`program.cohort_space`): a project every participant reads, with activities opened on their days.

`sync` creates the project and gives the coordinators and participants access (Guest on GitLab,
read on GitHub). `sync` and `sweep` open each activity's issue on its day (once: its marker names
the activity and the day), and keep in it a section recording the hosts (the `host` the program
names, else the issue's assignees) and the attendees (everyone who commented `/attended`). When the
issue is closed, the record is completed once with the minutes credited to each host; `report`
counts those minutes as mentor time. An event in the space (a webhook) runs this step at once, as
the next sweep would.
"""

from __future__ import annotations

from datetime import date

from issuebot import cohort, markers
from issuebot.config import CohortActivity
from issuebot.models import EditIssue, Issue, OpenIssue
from issuebot.plan import COHORT_TOKEN, ProgramPlan, program_context
from issuebot.workflows.program.intake import participants

# `event`: a comment, a close or an edit in the cohort space records at once what the sweep would.
triggers = frozenset({"sync", "sweep", "event"})
phase = "before"


def decide(plan: ProgramPlan) -> None:
    """Keep the space and its members (sync), open the activities due today, record hosts, attendees and credits."""
    program, ctx, space = plan.program, plan.ctx, plan.view.cohort
    settings = program.settings.cohort_space
    if settings is None or space is None or plan.view.partial:
        return
    if ctx.trigger == "sync":
        if not space.exists:
            plan.create_space(settings.project, "cohort-project", COHORT_TOKEN)
        plan.coordinators_join(space.path, readers=participants(plan, settings.readers))
    elif not space.exists:
        return  # `sync` creates the space; the sweep opens nothing in a project that is not there
    items = space.items()
    opened = 0
    for activity in settings.activities:
        day = cohort.due_occurrence(activity, program, ctx.today)
        if day is None or cohort.activity_key(activity.key, day) in items:
            continue
        plan.actions.append(open_activity(plan, activity, day))
        opened += 1
    by_key = {a.key: a for a in settings.activities}
    recorded = 0
    for key, issue in items.items():
        parsed = cohort.parse_activity_key(key)
        if parsed is None or issue.author != ctx.bot_username:
            continue
        edit = record_attendance(plan, by_key.get(parsed[0]), key, issue)
        if edit is not None:
            plan.actions.append(edit)
            recorded += 1
    plan.notes["cohort_space"] = f"{opened} opened, {recorded} records updated"


def open_activity(plan: ProgramPlan, activity: CohortActivity, day: date) -> OpenIssue:
    """The issue of one occurrence, from the activity's template."""
    program, ctx = plan.program, plan.ctx
    host = program.people[activity.host].handle(ctx.provider_kind) if activity.host in program.people else activity.host
    key = cohort.activity_key(activity.key, day)
    rendered = ctx.templates.render(
        activity.template, program=program_context(program),
        activity={"key": activity.key, "title": activity.title, "on": day, "host": host, "credit": activity.credit})
    # Recorded from the start, so the next run finds the record current and writes nothing.
    hosts = [host] if host else list(rendered.assignees)
    section = ctx.templates.render("cohort-attendance", hosts=hosts, attendees=[], credited=0).body.strip()
    body = markers.with_marker(rendered.body, key)
    body = markers.write_state(markers.replace_section(body, cohort.ATTENDANCE, section), {"hosts": hosts, "attendees": [], "seen": 0})
    assert plan.view.cohort is not None
    return OpenIssue(pair="", project=plan.view.cohort.path, key=key, title=rendered.title, body=body,
                     labels=tuple(program.label(label) for label in rendered.labels), assignees=rendered.assignees)


def record_attendance(plan: ProgramPlan, activity: CohortActivity | None, key: str, issue: Issue) -> EditIssue | None:
    """The edit that brings the issue's record up to date, or None when it is (a credited record is final)."""
    program, ctx, space = plan.program, plan.ctx, plan.view.cohort
    assert space is not None
    state = markers.read_state(issue.body)
    if "credited" in state:
        return None  # final: each host is credited once
    hosts = cohort.hosts(activity, issue, program, ctx.provider_kind)
    comments = space.comments.get(issue.number)  # not read: no comment since the record was written
    if comments is not None:
        attendees = cohort.attendees(comments, ctx.bot_username, hosts)
        seen = len(comments)
    else:
        attendees = [a for a in state.get("attendees", []) if a not in hosts]
        seen = state.get("seen", 0)
    wanted: dict[str, object] = {"hosts": hosts, "attendees": attendees, "seen": seen}
    closed = issue.state == "closed"
    if closed:
        wanted["credited"] = activity.credit if activity is not None and activity.credit else 0
    if all(state.get(k) == v for k, v in wanted.items()):
        return None
    section = ctx.templates.render("cohort-attendance", hosts=hosts, attendees=attendees,
                                   credited=wanted.get("credited") or 0).body.strip()
    body = markers.write_state(markers.replace_section(issue.body, cohort.ATTENDANCE, section), {**state, **wanted})
    reason = "credit the hosts" if closed else "record hosts and attendees"
    return EditIssue(pair="", project=space.path, number=issue.number, key=key, body=body, reason=reason)
