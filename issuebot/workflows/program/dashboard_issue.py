"""The coordinators' dashboard issue: a metadata table of every pair, with checkboxes the pairs' workflows carry out."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from issuebot import markers, pairstate, report
from issuebot.config import Program
from issuebot.models import Action, EditIssue, Issue, OpenIssue
from issuebot.plan import Context, PairView, ProgramPlan, projected
from issuebot.templates import Templates

triggers = frozenset({"sweep"})
phase = "after"

KEY = "dashboard"
# GitHub refuses issue bodies over 65,536 characters (GitLab allows 1,048,576); stay below both.
# ("body is too long (maximum is 65536 characters)": https://github.com/PyGithub/PyGithub/issues/1906)
MAX_BODY_CHARS = 60_000
MIN_ROW_CHARS = 250  # a table row plus its four checkboxes is never shorter
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


def tick_box(body: str, pair_id: str, request: str) -> str:
    """The dashboard body with the box of `request` for `pair_id` ticked, as a coordinator would tick
    it by hand; a pair not listed (a dashboard too big for one issue) gets its box added at the end."""
    if request not in REQUESTS:
        raise ValueError(f"unknown dashboard request {request!r}")
    if request in ticked_requests(body).get(pair_id, frozenset()):
        return body
    marker = f"<!-- issuebot:do:{request}:{pair_id} -->"
    box = re.compile(r"^([ \t]*[-*+][ \t]+)\[ \]([^\n]*?" + re.escape(marker) + ")", re.MULTILINE)
    ticked, found = box.subn(r"\1[x]\2", body, count=1)
    return ticked if found else f"{body.rstrip()}\n- [x] {request} {pair_id} {marker}\n"


# ----------------------------------------------------------------------------- the issue




def rows(program: Program, views: dict[str, PairView], ctx: Context) -> list[dict[str, Any]]:
    table = []
    for pair in program.pairs:
        view = views.get(pair.id)
        if view is None:
            continue
        row = report.pair_row(program, view)
        table.append({**row.as_dict(), "act": pairstate.who_acts(program, view, ctx.today),
                      "overdue": pairstate.overdue_items(program, view, ctx.today),
                      "url": view.tracker.url if view.tracker is not None and view.tracker.number else row.url})
    return table


def render_body(templates: Templates, program: Program, table: list[dict[str, Any]], ticked: dict[str, frozenset[str]],
                max_chars: int = MAX_BODY_CHARS) -> tuple[str, str, tuple[str, ...]]:
    """(title, body with marker, labels) of the dashboard; ticked boxes stay ticked.

    When every pair does not fit in one issue body, the pairs on track are counted instead of
    listed (those where someone must act, with an overdue item or a ticked box always stay listed)."""
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
    shown = [r for r in table if r["act"] != "-" or r["ticked"] or r.get("overdue")]
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


def open_or_edit(plan: ProgramPlan, existing: Issue | None, table: list[dict[str, Any]],
                 ticked: dict[str, frozenset[str]]) -> Action | None:
    """Open the dashboard, or edit it when its content changed; None when it is current."""
    program = plan.program
    title, body, labels = render_body(plan.ctx.templates, program, table, ticked)
    path = plan.view.coordination_path
    if existing is None:
        return OpenIssue(pair="", project=path, key=KEY, title=title, body=body, labels=labels)
    if existing.body == body:
        return None
    return EditIssue(pair="", project=path, number=existing.number, key=KEY, body=body, reason="dashboard refreshed")


def decide(plan: ProgramPlan) -> None:
    """Show every pair as this run leaves it; clear only the boxes this run carried out (a box
    ticked meanwhile survives: the loop re-reads the issue before it writes)."""
    view, program = plan.view, plan.program
    board = find_dashboard(view.coordination_issues)
    if view.partial:
        plan.notes[KEY] = "skipped (--only)"
        return
    if plan.stopped:
        plan.notes[KEY] = "skipped (stopped at --max-writes); the next run refreshes it"
        return
    if not view.coordination_exists:
        plan.notes[KEY] = f"no project {program.settings.coordinator_project!r}: run `issuebot sync` to create it"
        return
    if board is not None and board.state != "open":
        plan.notes[KEY] = "closed by a person: left alone"
        return
    carried = {pair_id: asked for pair_id, asked in plan.requests.items() if plan.carried_out(pair_id)}
    views = {pair_id: projected(pair_view, plan.results[pair_id]) if plan.carried_out(pair_id) else pair_view
             for pair_id, pair_view in view.pairs.items()}
    table = rows(program, views, plan.ctx)
    action = open_or_edit(plan, board, table, remaining_requests(board.body if board else "", carried))
    if action is None:
        plan.notes[KEY] = "up to date"
        return
    plan.actions.append(action)
    plan.notes[KEY] = "updated" if board else "created"
