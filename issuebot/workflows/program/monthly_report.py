"""The monthly report issue in the coordinators' project (`reports.monthly`): the summary of every complete month, edited in place."""

from __future__ import annotations

from datetime import timedelta

from issuebot import markers
from issuebot.cohort import credits
from issuebot.models import EditIssue, OpenIssue
from issuebot.plan import ProgramPlan, index_issues, program_context, projected
from issuebot.summary import MONTH_COLUMNS, format_cell, headline_rows, summarize
from issuebot.workflows.program.rematch_requests import carried_out_requests

triggers = frozenset({"sweep"})
phase = "after"

KEY = "monthly-report"


def decide(plan: ProgramPlan) -> None:
    """Once a month has ended, the report covers it: one edit a month, none in between."""
    program, view = plan.program, plan.view
    if not program.settings.reports.monthly or view.partial or plan.stopped or not view.coordination_exists:
        return
    until = plan.ctx.today.replace(day=1) - timedelta(days=1)  # the last complete month
    if until < program.settings.starts:
        return
    existing = index_issues(view.coordination_issues).get(KEY)
    stamp = f"<!-- issuebot:{KEY}:{until.isoformat()} -->"
    if existing is not None and (stamp in existing.body or existing.state != "open"):
        plan.notes[KEY] = "up to date" if existing.state == "open" else "closed by a person: left alone"
        return
    views = {pair_id: projected(pair_view, plan.results[pair_id]) if plan.carried_out(pair_id) else pair_view
             for pair_id, pair_view in view.pairs.items()}
    summary = summarize(program, views, until,
                        rematched=carried_out_requests(program, view.coordination_issues + view.channel_issues,
                                                                       plan.ctx.provider_kind),
                        cohort=credits(program, view.cohort.issues, plan.ctx.provider_kind) if view.cohort else ())
    rendered = plan.ctx.templates.render(
        "monthly-report", program=program_context(program), until=until, figures=headline_rows(summary),
        columns=list(MONTH_COLUMNS), months=[[format_cell(getattr(m, c)) for c in MONTH_COLUMNS] for m in summary.months])
    body = f"{markers.with_marker(rendered.body, KEY)}\n{stamp}\n"
    labels = tuple(program.label(label) for label in rendered.labels)
    if existing is None:
        plan.actions.append(OpenIssue(pair="", project=view.coordination_path, key=KEY, title=rendered.title,
                                      body=body, labels=labels))
        plan.notes[KEY] = "created"
    else:
        plan.actions.append(EditIssue(pair="", project=view.coordination_path, number=existing.number, key=KEY,
                                      body=body, reason=f"report up to {until.isoformat()}"))
        plan.notes[KEY] = "updated"
