"""The scheduled sweep: every pair reconciled from bulk reads, the dashboard refreshed, a summary."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from issuebot import markers
from issuebot.config import Program
from issuebot.models import Action, EditIssue, Issue, OpenIssue, PostComment
from issuebot.providers.base import NotFound, Provider, ProviderError
from issuebot.reconcile import Applier, BudgetExhausted, Context, PairView, RunResult, reconcile_program
from issuebot.templates import Templates
from issuebot.workflows import dashboard, nudges

log = logging.getLogger(__name__)


@dataclass
class SweepResult:
    """What one sweep did (or, dry-run, would do)."""

    run: RunResult
    dry_run: bool
    dashboard_action: Action | None = None
    dashboard_note: str = ""
    errors: list[dict[str, str]] = field(default_factory=list)

    @property
    def stopped(self) -> bool:
        return self.run.outcome.stopped

    def actions(self) -> list[Action]:
        done = [a for a in self.run.outcome.actions if a.pair not in self.failed_pairs]
        return done + ([self.dashboard_action] if self.dashboard_action else [])

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


def _today(program: Program, now: datetime) -> date:
    return now.astimezone(ZoneInfo(program.settings.timezone)).date()


def read_dashboard(provider: Provider, program: Program) -> tuple[bool, Issue | None]:
    """(coordinator project exists, its dashboard issue): one list call."""
    path = provider.project_path(program.settings.coordinator_project)
    try:
        return True, dashboard.find_dashboard(list(provider.list_issues(path, state="all")))
    except NotFound:
        return False, None


def sweep(
    provider: Provider,
    program: Program,
    templates: Templates,
    *,
    now: datetime,
    dry_run: bool = False,
    max_writes: int | None = None,
    only: str | None = None,
    on_pair: Callable[[str], None] | None = None,
) -> SweepResult:
    """Reconcile every pair (bulk observe, pure decide, budgeted apply), then refresh the dashboard.

    Reads: the group's open issues (one call per 100), the dashboard (one call), the comments of
    overdue session issues only, and the dashboard again right before it is edited.
    """
    today = _today(program, now)
    has_space, board = (False, None) if only else read_dashboard(provider, program)
    requests = dashboard.ticked_requests(board.body) if board is not None and board.state == "open" else {}

    def prepare(views: dict[str, PairView], ctx: Context) -> Context:
        ctx = replace(ctx, requests=requests)
        return replace(ctx, nudge_allowance=nudges.weekly_allowance(views, ctx))

    run = reconcile_program(
        provider, program, templates, trigger="sweep", now=now, max_writes=max_writes, dry_run=dry_run, only=only,
        on_pair=on_pair, prepare=prepare,
        read_comments=lambda view: nudges.issues_needing_comments(view, program, today,
                                                                  "nudge" in requests.get(view.pair.id, ())),
    )
    result = SweepResult(run=run, dry_run=dry_run, errors=list(run.outcome.errors))
    if only is not None:
        result.dashboard_note = "skipped (--only)"
    elif run.outcome.stopped:
        result.dashboard_note = "skipped (stopped at --max-writes); the next run refreshes it"
    elif not has_space:
        result.dashboard_note = f"no project {program.settings.coordinator_project!r}: run `issuebot sync` to create it"
    elif board is not None and board.state != "open":
        result.dashboard_note = "closed by a person: left alone"
    else:
        refresh_dashboard(provider, program, templates, run, board, requests, result, max_writes, now)
    log.info("sweep of %d pairs: %d writes, %d errors; dashboard %s", len(run.views), run.outcome.writes,
             len(result.errors), result.dashboard_note)
    return result


def refresh_dashboard(provider: Provider, program: Program, templates: Templates, run: RunResult, board: Issue | None,
                      requests: dict[str, frozenset[str]], result: SweepResult, max_writes: int | None, now: datetime) -> None:
    """Rewrite the dashboard when its content changed; clear only the boxes this sweep carried out."""
    outcome = run.outcome
    applied = set(outcome.updated) | set(outcome.unchanged) | set(outcome.created)
    applied -= result.failed_pairs
    carried = {pair_id: reqs for pair_id, reqs in requests.items() if pair_id in applied}
    views = {pid: dashboard.projected_view(view, run.per_pair.get(pid, [])) if pid in applied else view
             for pid, view in run.views.items()}
    ctx = Context(program=program, templates=templates, now=now, trigger="sweep", provider_kind=provider.kind)
    table = dashboard.rows(program, views, ctx)
    path = provider.project_path(program.settings.coordinator_project)
    action = dashboard.dashboard_action(program, templates, path, board, table,
                                        dashboard.remaining_requests(board.body if board else "", carried))
    if action is None:
        result.dashboard_note = "up to date"
        return
    if isinstance(action, EditIssue) and not result.dry_run:
        # Re-read right before writing: a box ticked while this sweep ran must survive.
        fresh = provider.get_issue(path, action.number)
        action = dashboard.dashboard_action(program, templates, path, fresh, table,
                                            dashboard.remaining_requests(fresh.body, carried))
        if action is None:
            result.dashboard_note = "up to date"
            return
    result.dashboard_action = action
    if result.dry_run:
        result.dashboard_note = "would be updated" if board else "would be created"
        return
    remaining = None if max_writes is None else max(0, max_writes - outcome.writes)
    applier = Applier(provider, remaining)
    try:
        applier.apply(action)
    except BudgetExhausted:
        result.dashboard_action = None
        outcome.stopped = True
        result.dashboard_note = "skipped (stopped at --max-writes); the next run refreshes it"
        return
    except ProviderError as exc:
        result.dashboard_action = None
        result.errors.append({"pair": "dashboard", "error": str(exc)})
        return
    outcome.writes += applier.writes
    result.dashboard_note = "updated" if board else "created"


def describe_with_text(action: Action) -> list[str]:
    """What `--dry-run` prints for one write: the summary line and the rendered text people would read."""
    lines = [action.describe()]
    body = action.body if isinstance(action, (OpenIssue, PostComment)) else None
    if isinstance(action, EditIssue) and action.key == dashboard.KEY:
        body = action.body
    if body:
        lines += ["    " + line for line in markers.visible_text(body).splitlines()]
    return lines
