"""The reconcile loop: observe, decide with the per-pair and program-level registries, apply."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

from issuebot.apply import Applier, BudgetExhausted, Outcome
from issuebot.config import Program
from issuebot.locks import lock_folder, pair_lock
from issuebot.models import Action, ArchiveProject, EditIssue, Event, OpenIssue, PostComment, Project
from issuebot.observe import observe_channels, observe_cohort, observe_coordination, observe_intake, observe_program
from issuebot.plan import Context, PairView, Plan, ProgramPlan, ProgramView
from issuebot.providers.base import Provider, ProviderError, no_lock
from issuebot.templates import Templates
from issuebot.workflows import PROGRAM_STEPS, WORKFLOWS, sessions


def decide(view: PairView, ctx: Context) -> list[Action]:
    """The writes that bring one pair to where the program says it should be (pure)."""
    return decide_with_notes(view, ctx)[0]


def decide_with_notes(view: PairView, ctx: Context) -> tuple[list[Action], list[str]]:
    """`decide`, plus what the plan tells the coordinator besides its writes (e.g. a pair's edit it kept)."""
    if view.project is not None and view.project.archived:
        return [], []  # an archived project is read-only: the pair is over
    if view.threads or ctx.event is not None:
        ctx = replace(ctx, commands=sessions.commands_to_carry_out(view, ctx))
    plan = Plan(view, ctx)
    if plan.original_status == "ended" and ctx.trigger != "sync":
        # end_pair archives right after the tracker write; finish it if a run stopped in between
        # (posting first the reply that run still owed).
        if view.project is None:
            return [], []
        for reply in sessions.owed_replies(plan):
            plan.reply_after_tracker(reply.number, reply.key, reply.template, **reply.context)
        return [*plan.after_tracker, ArchiveProject(pair=view.pair.id, project=view.project_path)], []
    for workflow in WORKFLOWS:
        if ctx.trigger in workflow.triggers:
            workflow.decide(plan)
    return plan.finish(), plan.notes


def decide_program(plan: ProgramPlan, phase: str) -> list[Action]:
    """The program-level writes of one phase (pure): each step of PROGRAM_STEPS for this trigger, in order."""
    start = len(plan.actions)
    for step in PROGRAM_STEPS:
        if step.phase == phase and plan.ctx.trigger in step.triggers:
            step.decide(plan)
    return plan.actions[start:]


def context_for(provider: Provider, program: Program, templates: Templates, trigger: str, now: datetime,
                event: Event | None = None) -> Context:
    """The decision context of a run on `provider`: what the decisions need to know of the tracker."""
    return Context(program=program, templates=templates, now=now, trigger=trigger, provider_kind=provider.kind,
                   bot_username=provider.bot_username, labels_per_project=provider.labels_per_project, event=event)


@dataclass
class RunResult:
    """What one run observed, decided and wrote."""

    views: dict[str, PairView]
    outcome: Outcome
    orphans: list[Project]
    per_pair: dict[str, list[Action]]  # the writes decided for each pair
    program: ProgramPlan  # the program-level writes, requests and notes
    notes: dict[str, list[str]] = field(default_factory=dict)  # pair id -> what its plan tells the coordinator


def reconcile_program(
    provider: Provider,
    program: Program,
    templates: Templates,
    *,
    trigger: str,
    now: datetime | None = None,
    max_writes: int | None = None,
    dry_run: bool = False,
    only: str | None = None,
    decide_only: Iterable[str] | None = None,
    on_pair: Callable[[str], None] | None = None,
    read_comments: Callable[[PairView, Context], Iterable[str]] | None = None,
    prepare: Callable[[dict[str, PairView], Context], Context] | None = None,
    find_commands: bool = False,
) -> RunResult:
    """Observe in bulk, decide every step and pair, apply (unless dry-run), stop at the write budget.

    `only` observes and decides one pair and leaves program-wide views alone; `decide_only`
    observes every pair but decides only these (a dashboard edit). The sweep passes
    `read_comments` (issues whose comments its decisions need) and `prepare` (program-wide
    inputs computed from all views, e.g. the weekly nudge cap, added to the Context) and
    `find_commands` (carry out command comments no webhook reported).
    """
    now = now or datetime.now(timezone.utc)
    ctx = context_for(provider, program, templates, trigger, now)
    outcome = Outcome()
    applier = Applier(provider, max_writes)
    chosen = frozenset(decide_only) if decide_only is not None else None
    # A dry run writes nothing, so it neither waits for a running sync nor creates a lock file.
    with (no_lock() if dry_run else provider.exclusive()):
        if not dry_run:
            provider.check_access()
        path, exists, issues = ((provider.project_path(program.settings.coordinator_project), False, [])
                                if only else observe_coordination(provider, program))
        view = ProgramView(pairs={}, coordination_path=path, coordination_exists=exists,
                           coordination_issues=issues, partial=only is not None)
        if not only:
            view.channels, view.channel_projects, view.channel_issues, view.channel_comments = observe_channels(
                provider, program)
            view.intake = observe_intake(provider, program) if trigger == "sync" else None  # kept by `sync` alone
            view.cohort = observe_cohort(provider, program)
        plan = ProgramPlan(view, ctx, chosen)
        # Decide everything before the first write: a template or program mistake (TemplateError)
        # then stops the run with nothing written, not half way through.
        first = decide_program(plan, "before")
        ctx = replace(ctx, requests=plan.requests)
        view.pairs, orphans = observe_program(
            provider, program, only, find_orphans=trigger != "sweep", find_commands=find_commands,
            read_comments=(lambda v: read_comments(v, ctx)) if read_comments is not None else None)
        view.orphans = orphans
        if prepare is not None:
            ctx = prepare(view.pairs, ctx)
        plan.ctx = ctx
        decided: list[tuple[str, PairView, list[Action]]] = []
        notes: dict[str, list[str]] = {}
        for pair_id, pair_view in view.pairs.items():
            if chosen is not None and pair_id not in chosen:
                continue
            if on_pair:
                on_pair(pair_id)
            actions, said = decide_with_notes(pair_view, ctx)  # pure: no tracker errors here
            decided.append((pair_id, pair_view, actions))
            if said:
                notes[pair_id] = said
        per_pair: dict[str, list[Action]] = {}
        try:
            _apply_all(applier, outcome, first, dry_run)
            for pair_id, pair_view, actions in decided:
                per_pair[pair_id] = actions
                outcome.actions.extend(actions)
                bucket = (outcome.created if pair_view.project is None
                          else outcome.updated if actions else outcome.unchanged)
                try:
                    # Runs on one machine take turns on a pair; the marker check before each create
                    # then finds what the other run wrote (runs elsewhere: the CI templates queue them).
                    with pair_lock(None if dry_run or not actions else lock_folder(program.base_dir),
                                   provider.kind, pair_id):
                        _apply_all(applier, None, actions, dry_run)
                except ProviderError as exc:
                    outcome.errors.append({"pair": pair_id, "error": str(exc)})
                    plan.failed.add(pair_id)
                    continue
                bucket.append(pair_id)
                plan.results[pair_id] = actions
        except BudgetExhausted:
            outcome.stopped = plan.stopped = True
            plan.failed.update(pid for pid, _, _ in decided if pid not in plan.results)
        after_phase(provider, plan, applier, outcome, dry_run)
    outcome.writes = applier.writes
    return RunResult(views=view.pairs, outcome=outcome, orphans=view.orphans, per_pair=per_pair, program=plan,
                     notes=notes)


def after_phase(provider: Provider, plan: ProgramPlan, applier: Applier, outcome: Outcome, dry_run: bool) -> None:
    """Decide and apply the program steps that follow the pairs' writes.

    An edit of an issue in the coordinators' project is decided again on a fresh read of that
    issue right before it is written, so a box a coordinator ticked while this run went on survives.
    """
    before = len(plan.actions)
    actions = decide_program(plan, "after")
    edits = {a.number for a in actions if isinstance(a, EditIssue) and a.project == plan.view.coordination_path}
    if edits and not dry_run:
        fresh = {n: provider.get_issue(plan.view.coordination_path, n) for n in edits}
        plan.view.coordination_issues = [fresh.get(i.number, i) for i in plan.view.coordination_issues]
        del plan.actions[before:]
        actions = decide_program(plan, "after")
    for action in actions:
        try:
            _apply_all(applier, outcome, [action], dry_run)
        except BudgetExhausted:
            outcome.actions.remove(action)
            outcome.stopped = plan.stopped = True
            return
        except ProviderError as exc:
            outcome.actions.remove(action)
            outcome.errors.append({"pair": action.pair or _what(action), "error": str(exc)})


def _apply_all(applier: Applier, outcome: Outcome | None, actions: list[Action], dry_run: bool) -> None:
    for action in actions:
        if outcome is not None:
            outcome.actions.append(action)
        if not dry_run:
            applier.apply(action)


def reconcile_pair(provider: Provider, view: PairView, ctx: Context) -> tuple[list[Action], int]:
    """Decide and apply one pair already observed (events): (its actions, writes made)."""
    actions = decide(view, ctx)
    applier = Applier(provider)
    for action in actions:
        applier.apply(action)
    return actions, applier.writes



def reconcile_cohort_space(provider: Provider, program: Program, templates: Templates, *, now: datetime,
                           event: Event | None = None) -> tuple[list[Action], int]:
    """Decide and apply the program steps an event in the cohort space runs (those triggered by
    `event`: the cohort space's own step, as the sweep runs it), on a fresh read of that project
    alone: (their actions, writes made)."""
    ctx = context_for(provider, program, templates, "event", now, event=event)
    view = ProgramView(pairs={}, coordination_path=provider.project_path(program.settings.coordinator_project),
                       cohort=observe_cohort(provider, program))
    actions = decide_program(ProgramPlan(view, ctx), "before")
    applier = Applier(provider)
    for action in actions:
        applier.apply(action)
    return actions, applier.writes


def _what(action: Action) -> str:
    """A program-level write's name in a run's errors: its marker key (e.g. `dashboard`)."""
    if isinstance(action, OpenIssue | EditIssue | PostComment):
        return action.key
    return type(action).__name__
