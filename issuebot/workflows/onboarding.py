"""Give a pair its private project, members, labels, kickoff, goals, tracker and first session."""

from __future__ import annotations

import re
from typing import Any

from issuebot import markers
from issuebot.models import Goal, GrantAccess, SetLabels, SetMembers
from issuebot.plan import WRITTEN, Plan, SessionRef, fingerprint, first_line, label_specs, members_of, state_date

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
            plan.open_issue(f"goal:{number}", "goal", due=goal.due, goal=goal_context, written=as_written(goal))
            keep_goal_current(plan, f"goal:{number}", goal)
    else:
        plan.open_issue("goal:define", "goals")

    if not any(SessionRef.is_key(key) for key in plan.state["issues"]):
        due = program.settings.cadence.after(pair.starts)
        plan.open_issue(SessionRef(1).key, "session", due=due, session={"number": 1, "due": due})


# ----------------------------------------------------------------------------- goals edited in the program file

_TASK_LINE_RE = re.compile(r"^[ \t]*[-*+][ \t]+\[[ xX]\][ \t]*(?P<text>.*?)[ \t\r]*$", re.MULTILINE)


def as_written(goal: Goal) -> dict[str, Any]:
    """The program file's fields of a goal as a goal issue's state block keeps them."""
    return {"goal": goal.title, "due": goal.due.isoformat() if goal.due else None, "actions": list(goal.actions)}


def keep_goal_current(plan: Plan, key: str, goal: Goal) -> None:
    """Carry a goal's new title, due date or actions from the program file into its open issue.

    A field changes only where the issue still shows what issuebot last wrote there (kept in the
    issue's state block); a field the pair changed wins, and the plan says so. New actions are
    added below the last checklist line, leaving every box as it is. An issue without that record
    (opened by an older issuebot) is left as it is. A due date taken out of the file leaves the
    issue's date alone."""
    issue = plan.view.open_issue(key)
    record = markers.read_state(issue.body).get(WRITTEN) if issue is not None else None
    wanted = as_written(goal)
    fields = [f for f in wanted if f != "due" or goal.due is not None]
    if issue is not None and not isinstance(record, dict) and plan.ctx.trigger == "sync":
        differences_left_alone(plan, issue.title, issue.due.isoformat() if issue.due else None, goal)
    if issue is None or not isinstance(record, dict) or all(record.get(f) == wanted[f] for f in fields):
        return  # the program file says what issuebot last wrote: nothing to carry over
    new = dict(record)
    shown_title = str(record.get("goal") or goal.title)  # what the issue is meant to show after this run
    shown_due = state_date(record.get("due"))
    title = due = None
    if record.get("goal") != goal.title:
        if issue.title == record.get("title"):
            shown_title = goal.title
        else:
            kept(plan, goal, "title", None, f"'{goal.title}'")
    if goal.due is not None and record.get("due") != wanted["due"]:
        current = issue.due.isoformat() if issue.due else None
        if current in (record.get("due"), wanted["due"]):
            due = shown_due = goal.due
            new["due"] = wanted["due"]
        else:
            kept(plan, goal, "due date", current, wanted["due"])
    rendered = plan.ctx.templates.render("goal", **plan.render_context(
        goal={"title": shown_title, "due": shown_due, "actions": list(goal.actions)}))
    if shown_title != record.get("goal"):
        title, new["goal"], new["title"] = rendered.title, goal.title, rendered.title
    body = issue.body
    heading = first_line(rendered.body)
    lines = body.split("\n")
    if (title or due) and record.get("heading") in lines and record.get("heading") != heading:
        lines[lines.index(str(record["heading"]))] = heading  # the pair left issuebot's first line as it was
        body, new["heading"] = "\n".join(lines), heading
    listed = {m.group("text") for m in _TASK_LINE_RE.finditer(body)}
    added = [a for a in goal.actions if a not in (record.get("actions") or []) and a not in listed]
    if added:
        body = with_actions(body, added)
    new["actions"] = list(goal.actions)
    if new != record:
        body = markers.write_state(body, {**markers.read_state(body), WRITTEN: new})
    plan.edit_issue(key, title=title, due=due, body=body, reason="goal changed in the program file")


def with_actions(body: str, actions: list[str]) -> str:
    """`body` with unticked checklist lines for `actions` below its last checklist line."""
    lines = "".join(f"\n- [ ] {action}" for action in actions)
    last = next(reversed(list(_TASK_LINE_RE.finditer(body))), None)
    if last is None:
        return body.rstrip("\n") + "\n" + lines.lstrip("\n") + "\n"
    return body[: last.end()] + lines + body[last.end():]


def kept(plan: Plan, goal: Goal, field: str, theirs: str | None, ours: str | None, unrecorded: bool = False) -> None:
    """Tell the coordinator that the pair's own change of a goal's field was kept (or, on an issue
    without a record of what issuebot wrote, that a difference was left alone)."""
    plan.notes.append(plan.ctx.templates.render("goal-kept", **plan.render_context(
        goal={"title": goal.title}, field=field, theirs=theirs, ours=ours, unrecorded=unrecorded)).body.strip())


def differences_left_alone(plan: Plan, title: str, due: str | None, goal: Goal) -> None:
    """`plan` names the fields where a goal issue without a record differs from the program file
    (only `sync` and `plan` tell, so a sweep renders nothing for it)."""
    rendered = plan.ctx.templates.render("goal", **plan.render_context(
        goal={"title": goal.title, "due": goal.due, "actions": list(goal.actions)}))
    if title != rendered.title:
        kept(plan, goal, "title", None, f"'{goal.title}'", unrecorded=True)
    if goal.due is not None and due != goal.due.isoformat():
        kept(plan, goal, "due date", due, goal.due.isoformat(), unrecorded=True)
