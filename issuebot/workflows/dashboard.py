"""The coordinators' dashboard issue: a metadata table of every pair and per-pair checkboxes carried out by the sweep."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace
from datetime import date
from typing import Any

from issuebot import markers, report
from issuebot.config import Program, add_months
from issuebot.models import Action, CreateProject, EditIssue, Issue, Member, OpenIssue, Project, SetMembers
from issuebot.reconcile import Context, PairView, Plan, end_date
from issuebot.templates import Templates
from issuebot.workflows import offboarding
from issuebot.workflows.nudges import book, bookkeeping, current_session, exempt_until, last_recipients, overdue_session

triggers = frozenset({"sweep"})

KEY = "dashboard"
COORDINATION = "coordination"  # owner token of the coordinator project
# GitHub refuses issue bodies over 65,536 characters (GitLab allows 1,048,576); stay below both.
# ("body is too long (maximum is 65536 characters)": https://github.com/PyGithub/PyGithub/issues/1906)
MAX_BODY_CHARS = 60_000
MIN_ROW_CHARS = 250  # a table row plus its four checkboxes is never shorter
SNOOZE_DAYS = 14
# What each checkbox asks for; the label is shown by the template.
REQUESTS = ("snooze", "extend", "end", "nudge")
_BOX_RE = re.compile(r"^[ \t]*[-*+][ \t]+\[([ xX])\][^\n]*?<!--\s*issuebot:do:(" + "|".join(REQUESTS) + r"):([a-z0-9][a-z0-9._-]*)\s*-->",
                     re.MULTILINE)


# ----------------------------------------------------------------------------- checkboxes (pure)


def ticked_requests(body: str | None) -> dict[str, frozenset[str]]:
    """pair id -> the requests whose boxes are ticked in the dashboard body."""
    found: dict[str, set[str]] = {}
    for mark, request, pair_id in _BOX_RE.findall(body or ""):
        if mark in "xX":
            found.setdefault(pair_id, set()).add(request)
    return {pair_id: frozenset(requests) for pair_id, requests in found.items()}


def remaining_requests(fresh_body: str | None, carried_out: dict[str, frozenset[str]]) -> dict[str, frozenset[str]]:
    """Boxes ticked now minus those the sweep carried out: a tick made during the sweep survives."""
    left = {}
    for pair_id, requests in ticked_requests(fresh_body).items():
        rest = requests - carried_out.get(pair_id, frozenset())
        if rest:
            left[pair_id] = rest
    return left


# ----------------------------------------------------------------------------- per-pair requests


def decide(plan: Plan) -> None:
    """Carry out the boxes coordinators ticked for this pair (snooze, extend, end; nudge: see nudges)."""
    requests = plan.ctx.requests.get(plan.pair.id, frozenset())
    if not requests or plan.view.tracker is None or plan.status == "ended":
        return
    today = plan.ctx.today
    done = book(plan.state).get("requests_done", {})
    done = done if isinstance(done, dict) else {}

    def first_time_today(request: str) -> bool:
        # A sweep that stopped before clearing the box must not extend twice on its rerun.
        return done.get(request) != today.isoformat()

    carried = {}
    if "snooze" in requests and first_time_today("snooze"):
        bookkeeping(plan)["snoozed_until"] = date.fromordinal(today.toordinal() + SNOOZE_DAYS).isoformat()
        carried["snooze"] = today.isoformat()
    if "extend" in requests and first_time_today("extend"):
        plan.state["ends"] = add_months(plan.ends, 1).isoformat()
        carried["extend"] = today.isoformat()
    if "end" in requests:
        offboarding.end_pair(plan, "ended by the program coordinators", by="coordinators")
    if carried:
        bookkeeping(plan)["requests_done"] = {**done, **carried}


# ----------------------------------------------------------------------------- the issue


def projected_view(view: PairView, actions: list[Action]) -> PairView:
    """The view as it will be once `actions` are applied (pure): the dashboard shows the result of this sweep."""
    issues = dict(view.issues)
    project = view.project
    for action in actions:
        if isinstance(action, CreateProject) and project is None:
            project = Project(path=view.project_path, name=action.name)
        elif isinstance(action, OpenIssue):
            issues[action.key] = Issue(project=action.project, number=0, title=action.title, body=action.body,
                                       labels=action.labels, due=action.due)
        elif isinstance(action, EditIssue) and action.key in issues:
            issue = issues[action.key]
            labels = tuple(l for l in issue.labels if l not in action.remove_labels) + tuple(
                l for l in action.add_labels if l not in issue.labels)
            issues[action.key] = replace(issue, labels=labels, body=action.body if action.body is not None else issue.body,
                                         state=action.state or issue.state, due=action.due or issue.due)
    projected = replace(view, project=project, issues=issues)
    parsed = view.__dict__.get("_parsed_state")
    if parsed is not None and projected.tracker is not None and projected.tracker.body is parsed[0]:
        projected.__dict__["_parsed_state"] = parsed  # the same tracker text: reuse its parsed state
    return projected


def who_acts(program: Program, view: PairView, ctx: Context) -> str:
    """Who needs to do something next, from metadata only."""
    status = view.status(program)
    state = view.state
    if view.project is None:
        return "coordinators (run sync)"
    if status == "ended" or exempt_until(state, status, ctx.today) is not None:
        return "-"
    if status == "stale" or ctx.today >= end_date(view.pair, state):
        return "coordinators"
    overdue = overdue_session(view, state, program, ctx.today)
    if overdue is not None:
        # From the nudge bookkeeping, not from comments: comments are read only on days a nudge is due.
        sides = [side for side, person in (("mentee", view.pair.mentee), ("mentor", view.pair.mentor))
                 if person.username in last_recipients(state)]
        return " & ".join(sides) if sides else "mentee"
    if current_session(view) is None and status != "wrapping-up":
        return "coordinators"
    return "-"


def rows(program: Program, views: dict[str, PairView], ctx: Context) -> list[dict[str, Any]]:
    table = []
    for pair in program.pairs:
        view = views.get(pair.id)
        if view is None:
            continue
        row = report.pair_row(program, view)
        table.append({**row.as_dict(), "act": who_acts(program, view, ctx),
                      "url": view.tracker.url if view.tracker is not None and view.tracker.number else row.url})
    return table


def render_body(templates: Templates, program: Program, table: list[dict[str, Any]], ticked: dict[str, frozenset[str]],
                max_chars: int = MAX_BODY_CHARS) -> tuple[str, str, tuple[str, ...]]:
    """(title, body with marker, labels) of the dashboard; ticked boxes stay ticked.

    When every pair does not fit in one issue body, the pairs on track are counted instead of
    listed (those where someone must act, or with a ticked box, always stay listed)."""
    for row in table:
        row["ticked"] = sorted(ticked.get(row["pair"], frozenset()))

    def render(shown: list[dict[str, Any]]) -> tuple[str, str, tuple[str, ...]]:
        left = [r for r in table if r not in shown]
        rendered = templates.render(
            KEY, program={"name": program.settings.name, "coordinators": list(program.settings.coordinators)},
            rows=shown, requests=list(REQUESTS), not_listed=len(left),
            not_listed_by_status=sorted(Counter(r["status"] for r in left).items()))
        return rendered.title, markers.with_marker(rendered.body, KEY), tuple(program.label(l) for l in rendered.labels)

    if len(table) * MIN_ROW_CHARS <= max_chars:  # skip rendering all rows when they cannot fit
        result = render(table)
        if len(result[1]) <= max_chars:
            return result
    shown = [r for r in table if r["act"] != "-" or r["ticked"]]
    result = render(shown)
    while len(result[1]) > max_chars and shown:
        per_row = max(1, len(result[1]) // max(1, len(shown)))
        keep = max(0, min(len(shown) - 1, len(shown) - (len(result[1]) - max_chars) // per_row - 1))
        shown = shown[:keep]
        result = render(shown)
    return result


def find_dashboard(issues: list[Issue]) -> Issue | None:
    """The dashboard issue by its marker (the oldest if a person duplicated it)."""
    found = [i for i in issues if markers.find_marker(i.body) == KEY]
    return min(found, key=lambda i: i.number) if found else None


def dashboard_action(program: Program, templates: Templates, project: str, existing: Issue | None,
                     table: list[dict[str, Any]], ticked: dict[str, frozenset[str]]) -> Action | None:
    """Open the dashboard, or edit it when its content changed; None when it is current."""
    title, body, labels = render_body(templates, program, table, ticked)
    if existing is None:
        return OpenIssue(pair="", project=project, key=KEY, title=title, body=body, labels=labels)
    if existing.body == body:
        return None
    return EditIssue(pair="", project=project, number=existing.number, key=KEY, body=body, reason="dashboard refreshed")



def coordinator_space(program: Program, ctx: Context, path: str, exists: bool, issues: list[Issue]) -> list[Action]:
    """Sync's program-level writes: the coordinator project, its members, and the dashboard issue."""
    name = program.settings.coordinator_project
    actions: list[Action] = []
    if not exists:
        actions.append(CreateProject(pair="", name=name, title=f"Coordination: {program.settings.name}",
                                     description=f"Coordinators' space of {program.settings.name} [issuebot:{COORDINATION}]"))
    members = tuple(dict.fromkeys(Member(handle, "coordinator") for handle in program.coordinator_handles(ctx.provider_kind)))
    if find_dashboard(issues) is None:
        actions.append(SetMembers(pair="", project=path, members=members))
        actions.append(dashboard_action(program, ctx.templates, path, None, [], {}))
    return actions
