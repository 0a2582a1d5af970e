"""Handle one tracker event: find its pair or program-level project, carry out its quick commands, reconcile it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from issuebot import cohort, commands, markers
from issuebot.config import Program
from issuebot.locks import lock_folder, pair_lock
from issuebot.models import COMMENT_EVENTS, Action, EditIssue, Event, EventKind, Pair, PostComment
from issuebot.observe import observe_coordination, observe_pair, read_unlogged_sessions
from issuebot.plan import PairView, channel_people, handle_of, index_issues, projected
from issuebot.providers.base import ActsAsPerson, InvalidRequest, NotFound, Provider
from issuebot.reconcile import context_for, reconcile_cohort_space, reconcile_pair
from issuebot.sweep import sweep
from issuebot.templates import Templates
from issuebot.workflows.program.dashboard_issue import find_dashboard, tick_box, ticked_requests
from issuebot.workflows.program.rematch_requests import must_be_hidden, shared_paths

log = logging.getLogger(__name__)



@dataclass
class EventOutcome:
    """What handling one event did; `ignored` names the reason when it did nothing at all."""

    pair: str | None
    ignored: str | None = None
    writes: int = 0
    commands: list[str] = field(default_factory=list)  # the command lines found in the comment
    actions: list[str] = field(default_factory=list)  # the intended writes, described

    def as_dict(self) -> dict[str, object]:
        return {"pair": self.pair, "ignored": self.ignored, "writes": self.writes,
                "commands": self.commands, "actions": self.actions}


_pair_locks: dict[tuple[str, str], threading.Lock] = {}
_pair_locks_guard = threading.Lock()


def _pair_lock(provider: Provider, project: str) -> threading.Lock:
    """One lock per pair project in this process: threads of one worker take turns on a pair."""
    with _pair_locks_guard:
        return _pair_locks.setdefault((provider.kind, project), threading.Lock())


def handle_event(program: Program, provider: Provider, templates: Templates, event: Event, *,
                 now: datetime) -> EventOutcome:
    """Reconcile the pair that owns `event.project`, carrying out the comment's quick commands.

    Idempotent: the commands of a comment run once (issuebot's reply names the comment, and the
    tracker records the latest ones carried out), so redelivering the event, or delivering it ten
    times at once, has one effect. Commands of other comments that no delivery reported are
    carried out too, oldest first. Provider errors propagate so the caller can retry; nothing half-done is recorded.
    """
    return handle_events(program, provider, templates, [event], now=now)[0]


def handle_events(program: Program, provider: Provider, templates: Templates, events: Sequence[Event], *,
                  now: datetime) -> list[EventOutcome]:
    """Handle events that waited together, one outcome each in their order: the events of one pair
    share one observe of it, and each comment's commands are still carried out and answered once.

    Between two events of a pair the view carries the previous event's writes: edits are projected
    onto it, and only a new issue or an archive makes it read the pair again.
    """
    outcomes: list[EventOutcome | None] = [None] * len(events)
    by_pair: dict[str, tuple[Pair, str, list[int]]] = {}
    shared = shared_paths(provider.private_channel_path(program.surveys.channel, handle_of(program, u, provider.kind))
                          for u in channel_people(program))
    space = program.settings.cohort_space
    cohort_path = provider.project_path(space.project) if space is not None else None
    intake = program.settings.intake
    in_cohort: list[int] = []
    for index, event in enumerate(events):
        if event.project == provider.project_path(program.settings.coordinator_project):
            outcomes[index] = _carry_out_dashboard_requests(program, provider, templates, event, now=now)
            continue
        if event.project in shared:
            outcomes[index] = _hide_request(program, provider, event, shared)
            continue
        if event.project == cohort_path:
            in_cohort.append(index)
            continue
        if intake is not None and event.project == provider.project_path(intake.project):
            # The sweep does nothing there either: `issuebot people import` reads the sign-ups.
            outcomes[index] = EventOutcome(pair=None, ignored="sign-ups are read by `issuebot people import`")
            continue
        routed = _pair_of(program, provider, event)
        if isinstance(routed, EventOutcome):
            outcomes[index] = routed
            continue
        by_pair.setdefault(routed[1], (*routed, []))[2].append(index)
    if in_cohort:
        assert cohort_path is not None
        for index, outcome in zip(in_cohort, _record_in_cohort_space(
                program, provider, templates, [events[i] for i in in_cohort], cohort_path, now=now), strict=True):
            outcomes[index] = outcome
    for pair, project_path, indexes in by_pair.values():
        threads = [events[i].issue_number for i in indexes if events[i].kind in COMMENT_EVENTS]
        # The pair's locks alone (this process's threads, then this machine's processes), as on every
        # tracker: handlers of other pairs run side by side, and a sweep meanwhile finds the marker
        # of what was written right before it creates anything.
        with _pair_lock(provider, project_path), pair_lock(lock_folder(program.base_dir), provider.kind, pair.id):
            view = read_unlogged_sessions(provider, observe_pair(provider, program, pair, threads_of=threads))
            applied: list[Action] = []
            previous: EventOutcome | None = None
            for index in indexes:
                if previous is not None and not applied and _adds_nothing(events[index]):
                    # The same view decided again gives the same nothing: a burst of chatter costs one reconcile.
                    outcomes[index] = replace(previous, commands=[], actions=[], writes=0)
                    continue
                view = _view_after(provider, program, view, applied, threads)  # only when another event follows
                outcomes[index], applied = _reconcile_for(program, provider, templates, events[index], view, now=now)
                previous = outcomes[index]
    return [outcome for outcome in outcomes if outcome is not None]


def _record_in_cohort_space(program: Program, provider: Provider, templates: Templates, events: Sequence[Event],
                            path: str, *, now: datetime) -> list[EventOutcome]:
    """People commented, closed or assigned an activity in the cohort space: run the cohort space's
    step as the next sweep would (record hosts and attendees, credit the hosts of a closed one).
    The events that waited together share one run: it reads the whole space, so the first event's
    outcome carries its writes and the others find nothing more to do."""
    outcomes = []
    ran = False
    for event in events:
        said = [line.strip() for line in (event.comment_body or "").splitlines() if cohort.says_attended(line)]
        if event.actor.casefold() == provider.bot_username.casefold():
            outcomes.append(EventOutcome(pair=None, ignored="made by issuebot itself"))
            continue
        if ran:
            outcomes.append(EventOutcome(pair=None, commands=said))
            continue
        with _pair_lock(provider, path), provider.exclusive():
            actions, writes = reconcile_cohort_space(provider, program, templates, now=now, event=event)
        ran = True
        log.info("%s in the cohort space: %d writes", event.kind.value, writes)
        outcomes.append(EventOutcome(pair=None, writes=writes, commands=said, actions=[a.describe() for a in actions]))
    return outcomes


def _adds_nothing(event: Event) -> bool:
    """A comment without commands: deciding for it after a reconcile that wrote nothing finds nothing
    new (the commands of the thread were already looked at, and it closes no session)."""
    return event.kind in COMMENT_EVENTS and not commands.parse_commands(event.comment_body)


def _hide_request(program: Program, provider: Provider, event: Event, shared: set[str]) -> EventOutcome:
    """Someone filed or edited an issue in a shared private channel: a re-match request there that
    is not confidential is made so at once (the next sweep would do it too); nothing else is done
    here, the sweep and `rematch apply` carry requests out."""
    if event.actor.casefold() == provider.bot_username.casefold() or event.kind in COMMENT_EVENTS:
        return EventOutcome(pair=None, ignored="nothing to do in a private channel")
    issue = provider.get_issue(event.project, event.issue_number)
    if not must_be_hidden(program, issue, shared, provider.kind):
        return EventOutcome(pair=None, ignored="nothing to do in a private channel")
    provider.update_issue(issue.project, issue.number, confidential=True)
    log.info("re-match request %s#%d made confidential", issue.project, issue.number)
    return EventOutcome(pair=None, writes=1, actions=[f"edit #{issue.number} [rematch]: make confidential"])


def _pair_of(program: Program, provider: Provider, event: Event) -> tuple[Pair, str] | EventOutcome:
    """The pair and project an event concerns, or the outcome saying why it concerns none."""
    pair = program.pair_for_project(event.project)
    if pair is None:
        log.debug("event on %s ignored: not a pair project", event.project)
        return EventOutcome(pair=None, ignored="not a pair project of this program")
    project_path = provider.project_path(program.project_name(pair))
    if event.project != project_path:
        log.debug("event on %s ignored: outside %s", event.project, project_path)
        return EventOutcome(pair=None, ignored=f"not a pair project of this program (expected {project_path})")
    if event.actor.casefold() == provider.bot_username.casefold():
        return EventOutcome(pair=pair.id, ignored="made by issuebot itself")
    return pair, project_path


def _reconcile_for(program: Program, provider: Provider, templates: Templates, event: Event, view: PairView, *,
                   now: datetime) -> tuple[EventOutcome, list[Action]]:
    """Decide and apply for one event on `view`; its outcome and the actions carried out."""
    pair = view.pair
    found = []
    if event.kind in COMMENT_EVENTS:
        found = [item.line for item in commands.parse_commands(event.comment_body)]
    if view.project is None:  # every tracker answers NotFound for a missing project
        return EventOutcome(pair=pair.id, ignored="the pair project does not exist yet", commands=found), []
    ctx = context_for(provider, program, templates, "event", now, event=event)
    actions, writes = reconcile_pair(provider, view, ctx)
    log.info("%s on pair %s: %d commands, %d writes", event.kind.value, pair.id, len(found), writes)
    outcome = EventOutcome(pair=pair.id, writes=writes, commands=found, actions=[a.describe() for a in actions])
    return outcome, actions


def _view_after(provider: Provider, program: Program, view: PairView, actions: list[Action],
                threads: list[int]) -> PairView:
    """`view` with `actions` carried out: edits projected onto its issues, comments need nothing
    (replies are found by their markers); anything else (a new issue, an archive) is read again."""
    if not actions:
        return view
    if not all(isinstance(action, (EditIssue, PostComment)) for action in actions):
        return read_unlogged_sessions(provider, observe_pair(provider, program, view.pair, threads_of=threads))
    return projected(view, actions, author=provider.bot_username)


def _carry_out_dashboard_requests(program: Program, provider: Provider, templates: Templates, event: Event, *,
                                  now: datetime) -> EventOutcome:
    """A coordinator ticked boxes on the dashboard issue: reconcile the pairs whose boxes are ticked
    now, as the next sweep would, then refresh the dashboard (clearing only what was carried out)."""
    if event.kind != EventKind.ISSUE_EDITED:
        return EventOutcome(pair=None, ignored="not an edit of the dashboard")
    coordinators = {handle.casefold() for handle in program.coordinator_handles(provider.kind)}
    if event.actor.casefold() not in coordinators:
        return EventOutcome(pair=None, ignored="only coordinators act through the dashboard")
    _, _, issues = observe_coordination(provider, program)
    board = find_dashboard(issues)
    ticked = ticked_requests(board.body) if board is not None else {}
    if board is None or board.number != event.issue_number or board.state != "open" or not ticked:
        return EventOutcome(pair=None, ignored="no ticked box on the dashboard")
    result = sweep(provider, program, templates, now=now, decide_only=ticked)
    log.info("dashboard edit by a coordinator: %d pairs, %d writes", len(ticked), result.run.outcome.writes)
    return EventOutcome(pair=None, writes=result.run.outcome.writes, actions=[a.describe() for a in result.actions()])


def ask_through_dashboard(program: Program, provider: Provider, templates: Templates, *, pair_id: str, request: str,
                          coordinator: str, now: datetime) -> EventOutcome:
    """A coordinator asked for `request` (snooze, extend, end, nudge) on a pair from the web app: tick
    its box on the dashboard issue, then carry it out exactly as that edit's webhook event would be.

    Raises TrackerUsageError when the pair or the dashboard issue does not exist."""
    if pair_id not in {p.id for p in program.pairs}:
        raise TrackerUsageError(f"no pair {pair_id!r} in {program.path.name}")
    path, _, issues = observe_coordination(provider, program)
    board = find_dashboard(issues)
    if board is None or board.state != "open":
        raise TrackerUsageError(f"no open dashboard issue in {path}: run `issuebot sync` first")
    body = tick_box(board.body, pair_id, request)
    if body != board.body:
        provider.update_issue(path, board.number, body=body)
    log.info("coordinator %s asked to %s pair %s from the web app", coordinator, request, pair_id)
    event = Event(kind=EventKind.ISSUE_EDITED, provider=provider.kind, project=path, issue_number=board.number,
                  actor=coordinator, at=now)
    return _carry_out_dashboard_requests(program, provider, templates, event, now=now)


# ----------------------------------------------------------------------------- acting as a person


class TrackerUsageError(Exception):
    """`issuebot tracker` was asked for something that does not exist or cannot be done here."""


@dataclass
class TrackerAction:
    """A person's action on the embedded tracker, the event it produced and what handling it did."""

    event: Event
    outcome: EventOutcome
    replies: list[str] = field(default_factory=list)  # visible text of issuebot's answers


def act_on_tracker(program: Program, provider: Provider, templates: Templates, *, pair_id: str, issue: str,
                   user: str, now: datetime, comment: str | None = None, deliver: bool = True) -> TrackerAction:
    """Comment on (or, without `comment`, close) issue `issue` of a pair as `user`, then handle the
    resulting event exactly as a webhook delivery would be handled (`deliver=False`: not at all, as
    in a program run by the schedule alone; the next sweep finds it).

    `issue` is an issue number or a marker key such as `session:1` or `progress`; `user` is a program
    username or a tracker handle. Only the embedded tracker lets issuebot act as somebody else.
    """
    if not isinstance(provider, ActsAsPerson):
        raise TrackerUsageError(
            f"`issuebot tracker` acts on the embedded tracker only; this program uses {provider.kind}, "
            "where people act in the tracker itself"
        )
    path = project_of(program, provider, pair_id)
    project = next((p for p in provider.list_projects() if p.path == path), None)
    if project is None:
        raise TrackerUsageError(f"PAIR: {pair_id} has no project yet; run `issuebot sync` first")
    if project.archived:
        raise InvalidRequest(f"project {path} is archived (read-only)")
    number = _issue_number(provider, path, issue)
    person = program.people.get(user)
    handle = person.handle(provider.kind) if person else user
    actor = provider.as_user(handle)
    if comment is not None:
        if not comment.strip():
            raise TrackerUsageError("TEXT: a comment needs some text")
        written = actor.create_comment(path, number, comment)
        event = Event(kind=EventKind.COMMENT_CREATED, provider=provider.kind, project=path, issue_number=number,
                      actor=handle, comment_id=written.id, comment_body=written.body, at=now)
    else:
        actor.update_issue(path, number, state="closed")
        event = Event(kind=EventKind.ISSUE_CLOSED, provider=provider.kind, project=path, issue_number=number,
                      actor=handle, at=now)
    if not deliver:
        owner = program.pair_for_project(path)
        return TrackerAction(event=event, outcome=EventOutcome(pair=owner.id if owner else None,
                                                               ignored="not delivered (--no-webhook)"))
    outcome = handle_event(program, provider, templates, event, now=now)
    replies = []
    if event.comment_id is not None:
        keys = {f"ack:{event.comment_id}", f"usage:{event.comment_id}"}
        for answer in provider.list_comments(path, number):
            if answer.author == provider.bot_username and any(markers.has_marker(answer.body, k) for k in keys):
                replies.append(markers.visible_text(answer.body))
    return TrackerAction(event=event, outcome=outcome, replies=replies)


def project_of(program: Program, provider: Provider, pair_or_project: str) -> str:
    """The project path a `tracker` command names: a pair id, a project path (`mentoring/intake`)
    or a project's name in the group (`intake`, `coordination`)."""
    if any(p.id == pair_or_project for p in program.pairs):
        return provider.project_path(program.project_name(program.pair(pair_or_project)))
    paths = {p.path for p in provider.list_projects()}
    for candidate in (pair_or_project, provider.project_path(pair_or_project)):
        if candidate in paths:
            return candidate
    known = ", ".join(p.id for p in program.pairs) or "none"
    raise TrackerUsageError(f"PAIR: no pair {pair_or_project!r} and no such project in {program.path.name} "
                            f"(pairs: {known})")


def _issue_number(provider: Provider, path: str, issue: str) -> int:
    if issue.lstrip("#").isdigit():
        number = int(issue.lstrip("#"))
        try:
            provider.get_issue(path, number)
        except NotFound:
            raise TrackerUsageError(f"ISSUE: {path} has no issue #{number}") from None
        return number
    found = index_issues(provider.list_issues(path, state="all"))
    if issue not in found:
        keys = ", ".join(sorted(found)) or "none"
        raise TrackerUsageError(f"ISSUE: {path} has no issue {issue!r} (give a number or one of: {keys})")
    return found[issue].number
