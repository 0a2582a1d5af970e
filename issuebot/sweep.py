"""The scheduled sweep: every pair reconciled from bulk reads, the dashboard refreshed, a summary."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from issuebot import markers
from issuebot.config import Program
from issuebot.models import Action, EditIssue, OpenIssue, PostComment
from issuebot.plan import Context, PairView
from issuebot.providers.base import Provider
from issuebot.reconcile import RunResult, reconcile_program
from issuebot.templates import Templates
from issuebot.workflows import nudges
from issuebot.workflows.program import dashboard_issue

log = logging.getLogger(__name__)


@dataclass
class SweepResult:
    """What one sweep did (or, dry-run, would do)."""

    run: RunResult
    dry_run: bool

    @property
    def errors(self) -> list[dict[str, str]]:
        return self.run.outcome.errors

    @property
    def stopped(self) -> bool:
        return self.run.outcome.stopped

    @property
    def dashboard_action(self) -> Action | None:
        return next((a for a in self.run.program.actions
                     if isinstance(a, OpenIssue | EditIssue) and a.key == dashboard_issue.KEY
                     and a in self.run.outcome.actions), None)

    @property
    def dashboard_note(self) -> str:
        note = self.run.program.notes.get(dashboard_issue.KEY, "")
        if self.stopped and self.dashboard_action is None:
            return "skipped (stopped at --max-writes); the next run refreshes it"
        if self.dry_run and note in ("updated", "created"):
            return "would be updated" if note == "updated" else "would be created"
        return note

    def actions(self) -> list[Action]:
        return [a for a in self.run.outcome.actions if not a.pair or a.pair not in self.failed_pairs]

    @property
    def failed_pairs(self) -> set[str]:
        return {e["pair"] for e in self.errors}

    def summary(self) -> dict[str, Any]:
        actions = self.actions()
        comments = [a for a in actions if isinstance(a, PostComment)]
        nudged = sorted({a.pair for a in comments if a.key.startswith(("nudge:", "first-session"))})
        escalated = sorted({a.pair for a in comments if a.key.startswith("escalation:")})
        return {
            "pairs": len(self.run.views),
            "nudged": nudged,
            "escalated": escalated,
            "opened": [f"{a.pair or 'program'}:{a.key}" for a in actions if isinstance(a, OpenIssue)],
            "end_requested": sorted({a.pair for a in comments if a.key.startswith("end-request:")}),
            "writes": self.run.outcome.writes,
            "errors": self.errors,
            "stopped_at_max_writes": self.stopped,
            "dry_run": self.dry_run,
            "dashboard": self.dashboard_note,
        }


def sweep(
    provider: Provider,
    program: Program,
    templates: Templates,
    *,
    now: datetime,
    dry_run: bool = False,
    max_writes: int | None = None,
    only: str | None = None,
    decide_only: Iterable[str] | None = None,
    on_pair: Callable[[str], None] | None = None,
) -> SweepResult:
    """Reconcile every pair (bulk observe, pure decide, budgeted apply), then refresh the dashboard.

    Reads: the coordinators' project (one call per 100 issues), the group's open issues (one call
    per 100), the comments of overdue session issues and of issues with comments issuebot has not
    seen (their quick commands are carried out as if delivered), and the dashboard again right
    before it is edited. `decide_only` reconciles only those pairs (a dashboard edit) but still shows all.
    """

    def prepare(views: dict[str, PairView], ctx: Context) -> Context:
        return replace(ctx, nudge_allowance=nudges.weekly_allowance(views, ctx))

    def read_comments(view: PairView, ctx: Context) -> list[str]:
        return nudges.issues_needing_comments(view, program, ctx.today, "nudge" in ctx.requests.get(view.pair.id, ()))

    run = reconcile_program(
        provider, program, templates, trigger="sweep", now=now, max_writes=max_writes, dry_run=dry_run, only=only,
        decide_only=decide_only, on_pair=on_pair, prepare=prepare, read_comments=read_comments, find_commands=True,
    )
    result = SweepResult(run=run, dry_run=dry_run)
    log.info("sweep of %d pairs: %d writes, %d errors; dashboard %s", len(run.views), run.outcome.writes,
             len(result.errors), result.dashboard_note)
    return result


def describe_with_text(action: Action) -> list[str]:
    """What `--dry-run` prints for one write: the summary line and the rendered text people would read."""
    lines = [action.describe()]
    body = action.body if isinstance(action, (OpenIssue, PostComment)) else None
    if isinstance(action, EditIssue) and action.key == dashboard_issue.KEY:
        body = action.body
    if body:
        lines += ["    " + line for line in markers.visible_text(body).splitlines()]
    return lines
