"""Observe -> decide -> apply for pairs: bulk reads, pure decisions by the workflows, budgeted writes."""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from issuebot import markers
from issuebot.config import Program
from issuebot.labels import LABELS, PAIR_STATUSES, scope_of
from issuebot.models import (
    Action,
    ArchiveProject,
    Comment,
    CreateProject,
    EditIssue,
    EnsureBoard,
    Event,
    Issue,
    Member,
    OpenIssue,
    Pair,
    Person,
    PostComment,
    Project,
    SetLabels,
    SetMembers,
)
from issuebot.providers.base import NotFound, Provider, ProjectSpec, ProviderError, ProviderUnavailable, no_lock
from issuebot.templates import Templates

log = logging.getLogger(__name__)

TRACKER = "progress"  # marker key of the pair's progress tracker issue
STATE_VERSION = 1


# ----------------------------------------------------------------------------- observe


@dataclass
class PairView:
    """What the tracker says about one pair (the forge is the source of truth)."""

    pair: Pair
    project_path: str
    project: Project | None
    issues: dict[str, Issue] = field(default_factory=dict)  # by marker key
    complete: bool = False  # closed issues were read too
    comments: dict[str, list[Comment]] = field(default_factory=dict)  # by marker key, only issues that need action

    @property
    def tracker(self) -> Issue | None:
        return self.issues.get(TRACKER)

    @property
    def state(self) -> dict[str, Any]:
        """The tracker's state block, parsed once per body (a sweep asks for it many times per pair).
        Treat it as read-only: Plan works on a deep copy."""
        if self.tracker is None:
            return {}
        body = self.tracker.body
        cached = self.__dict__.get("_parsed_state")
        if cached is None or cached[0] is not body:
            cached = (body, markers.read_state(body))
            self.__dict__["_parsed_state"] = cached
        return cached[1]

    def known(self, key: str) -> bool:
        """Whether issuebot already created the issue `key` (open, closed or recorded)."""
        return key in self.issues or key in self.state.get("issues", [])

    def open_issue(self, key: str) -> Issue | None:
        issue = self.issues.get(key)
        return issue if issue is not None and issue.state == "open" else None

    def status(self, program: Program) -> str:
        """The pair status from the tracker's `pair::*` label (`kickoff` for a new pair)."""
        if self.tracker is None:
            return "kickoff"
        for label in self.tracker.labels:
            canonical = program.canonical_label(label)
            if canonical and canonical.startswith("pair::"):
                return canonical.split("::", 1)[1]
        return self.state.get("status", "kickoff")


def state_date(value: Any) -> date | None:
    """An ISO date kept in a state block, or None when absent or mangled by a hand edit."""
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def end_date(pair: Pair, state: dict[str, Any]) -> date:
    """The pair's end date, moved by `/extend` or the dashboard."""
    return state_date(state.get("ends")) or pair.ends


def owner_token(pair: Pair) -> str:
    """Written into a pair project's description: proves issuebot created it."""
    return f"[issuebot:{pair.id}]"


def index_issues(issues: Iterable[Issue]) -> dict[str, Issue]:
    """Bot-owned issues by marker key; on a duplicate the oldest (lowest number) wins."""
    found: dict[str, Issue] = {}
    for issue in issues:
        key = markers.find_marker(issue.body)
        if key is None:
            continue
        if key not in found or issue.number < found[key].number:
            found[key] = issue
    return found


def observe_program(
    provider: Provider,
    program: Program,
    only: str | None = None,
    *,
    read_comments: Callable[[PairView], Iterable[str]] | None = None,
    find_orphans: bool = True,
) -> tuple[dict[str, PairView], list[Project]]:
    """Every pair's view from bulk reads: all projects, then all open issues of the group.

    Cost: ceil(projects/100) + ceil(open issues/100) list calls, plus one per-project read of
    closed issues for a pair whose progress tracker is missing (new or interrupted pairs only).
    With `find_orphans=False` (the sweep) the project list is read only when some pair has no
    open issue, since an open issue already proves its project exists. `read_comments(view)`
    names the issues (marker keys) whose comments a decision needs: one read each.
    Returns the views and the bot projects of pairs no longer in the program file.
    """
    pairs = [p for p in program.pairs if only is None or p.id == only]
    paths = {provider.project_path(program.project_name(p)): p for p in pairs}
    by_project: dict[str, list[Issue]] = defaultdict(list)
    for issue in provider.list_issues(None, state="open"):
        if issue.project in paths:
            by_project[issue.project].append(issue)
    indexed = {path: index_issues(issues) for path, issues in by_project.items()}
    ended = program.label("pair::ended")
    ended_pairs = any(TRACKER in found and ended in found[TRACKER].labels for found in indexed.values())
    # Ended pairs need the project list too: its archived flag says whether `/end` finished.
    if find_orphans or ended_pairs or any(path not in by_project for path in paths):
        projects = {p.path: p for p in provider.list_projects()}
        # A project at a pair's path that issuebot did not create is someone else's: seen as
        # missing, so ensure_project refuses it (ProjectTaken) and nothing is written into it.
        projects = {path: p for path, p in projects.items() if path not in paths or owner_token(paths[path]) in p.description}
    else:
        projects = {path: Project(path=path, name=path.rsplit("/", 1)[-1]) for path in paths}
    views = {}
    for path, pair in paths.items():
        view = PairView(pair=pair, project_path=path, project=projects.get(path), issues=indexed.get(path, {}))
        if view.project is not None and view.project.archived:
            views[pair.id] = view  # read-only and over: nothing more to read or decide
            continue
        # A missing tracker or a state block a person damaged: closed issues must be seen too.
        if view.project is not None and (view.tracker is None or not view.state):
            view = _read_fully(provider, view)
        if view.project is not None:
            view = read_unlogged_sessions(provider, view)
        if read_comments is not None and view.project is not None:
            for key in read_comments(view):
                issue = view.issues.get(key)
                if issue is not None:
                    view.comments[key] = provider.list_comments(view.project_path, issue.number)
        views[pair.id] = view
    known_tokens = {owner_token(p) for p in program.pairs}
    coordination = provider.project_path(program.settings.coordinator_project)
    orphans = [
        p for p in projects.values()
        if "[issuebot:" in p.description and not any(t in p.description for t in known_tokens)
        and p.path != coordination
    ] if only is None and find_orphans else []
    return views, orphans


def observe_pair(provider: Provider, program: Program, pair: Pair) -> PairView:
    """One pair's view: its project's open issues, and closed ones too if the tracker is missing."""
    path = provider.project_path(program.project_name(pair))
    try:
        issues = list(provider.list_issues(path, state="open"))
        project: Project | None = Project(path=path, name=program.project_name(pair))
    except ProviderError:
        return PairView(pair=pair, project_path=path, project=None)
    view = PairView(pair=pair, project_path=path, project=project, issues=index_issues(issues))
    return view if view.tracker is not None and view.state else _read_fully(provider, view)


def _read_fully(provider: Provider, view: PairView) -> PairView:
    issues = index_issues(provider.list_issues(view.project_path, state="all"))
    return PairView(pair=view.pair, project_path=view.project_path, project=view.project, issues=issues, complete=True)


def read_unlogged_sessions(provider: Provider, view: PairView) -> PairView:
    """The view plus closed issues, when a session issue issuebot opened is neither open nor in the
    session log: a person closed it (held) and the event was lost or is being handled now.

    Cost: nothing in the usual case; one list call per 100 closed issues of the project otherwise.
    """
    if view.complete or view.project is None:
        return view
    logged = {f"session:{e.get('n')}" for e in view.state.get("sessions", [])}
    missing = [k for k in view.state.get("issues", []) if k.startswith("session:") and k not in logged and k not in view.issues]
    if not missing:
        return view
    closed = index_issues(provider.list_issues(view.project_path, state="closed"))
    issues = {**{k: i for k, i in closed.items() if k.startswith("session:")}, **view.issues}
    return PairView(pair=view.pair, project_path=view.project_path, project=view.project, issues=issues,
                    complete=False, comments=view.comments)


# ----------------------------------------------------------------------------- decide


@dataclass(frozen=True)
class Context:
    """Everything a decision may depend on besides the pair's view."""

    program: Program
    templates: Templates
    now: datetime
    trigger: str  # "sync", "sweep" or "event"
    provider_kind: str = "local"
    labels_per_project: bool = False  # GitHub: labels live in each repository
    event: Event | None = None  # the person's action that triggered an "event" reconcile
    requests: Mapping[str, frozenset[str]] = field(default_factory=dict)  # pair id -> dashboard boxes ticked
    nudge_allowance: Mapping[str, frozenset[str]] | None = None  # pair id -> who may be nudged (weekly cap)

    @property
    def today(self) -> date:
        return self.now.astimezone(ZoneInfo(self.program.settings.timezone)).date()

    def person(self, person: Person) -> dict[str, Any]:
        return {
            "username": person.username,
            "name": person.name,
            "handle": person.handle(self.provider_kind),
            "level": person.level,
            "department": person.department,
            "manager": person.manager,
            "role": person.role,
            "skills": list(person.skills),
            "interests": list(person.interests),
            "attributes": dict(person.attributes),
        }


def members_of(program: Program, pair: Pair, provider_kind: str) -> tuple[Member, ...]:
    people = [Member(pair.mentor.handle(provider_kind), "pair"), Member(pair.mentee.handle(provider_kind), "pair")]
    for handle in program.coordinator_handles(provider_kind):
        if handle not in {m.username for m in people}:
            people.append(Member(handle, "coordinator"))
    return tuple(people)


def label_specs(program: Program) -> tuple[tuple[str, str, str], ...]:
    return tuple((program.label(s.name), s.color, s.description) for s in LABELS.values())


def fingerprint(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:12]


class Plan:
    """The writes one reconcile of one pair intends, built up by the workflows in order.

    Workflows read `view`, change `state` and `status`, and add actions; `finish()` appends the
    single write of the progress tracker (created last, so its state only names what exists).

    The tracker's state block (`state`) holds what the forge cannot show by labels alone:
      v, pair            format version and pair id
      status             mirror of the `pair::*` label
      issues             marker keys of every issue issuebot created (open or closed)
      sessions           log: [{"n", "date", "minutes", "mode": sync|async, "outcome": held|skipped, "by"}]
      paused_until       ISO date while `/pause`d
      ends               ISO date when `/extend`ed past the program end
      handled            ids of comments whose quick commands were carried out (last 200)
      members, labels    fingerprints of what was last ensured
      nudges             sweep bookkeeping: last nudge/escalation dates per rule and person
    """

    def __init__(self, view: PairView, ctx: Context):
        self.view = view
        self.ctx = ctx
        self.program = ctx.program
        self.pair = view.pair
        self.actions: list[Action] = []
        self.original_state = view.state
        self.state: dict[str, Any] = copy.deepcopy(self.original_state) or {
            "v": STATE_VERSION,
            "pair": self.pair.id,
            "issues": [],
            "sessions": [],
        }
        self.state.setdefault("issues", [])
        self.state.setdefault("sessions", [])
        for key in view.issues:  # re-learn what a person's edit of the state block lost
            if key != TRACKER and key not in self.state["issues"]:
                self.state["issues"].append(key)
        self.original_status = view.status(ctx.program)
        self.status = self.original_status
        self.sections: dict[str, str] = {}
        self.after_tracker: list[Action] = []  # writes that must follow the tracker's (archive)

    # -- helpers for workflows

    def render_context(self, **extra: Any) -> dict[str, Any]:
        settings = self.program.settings
        pair = self.pair
        context = {
            "program": {
                "name": settings.name,
                "cadence": str(settings.cadence),
                "session_length": settings.session_length,
                "coordinators": list(settings.coordinators),
                "starts": settings.starts,
                "ends": settings.end_date,
                "timezone": settings.timezone,
                "coordinator_project": settings.coordinator_project,
            },
            "pair": {
                "id": pair.id,
                "starts": pair.starts,
                "ends": self.ends,
                "goals": [{"title": g.title, "due": g.due, "actions": list(g.actions)} for g in pair.goals],
            },
            "mentor": self.ctx.person(pair.mentor),
            "mentee": self.ctx.person(pair.mentee),
            "today": self.ctx.today,
            "status": self.status,
        }
        context.update(extra)
        return context

    @property
    def ends(self) -> date:
        """The pair's end date, moved by `/extend`."""
        return end_date(self.pair, self.state)

    def open_issue(self, key: str, template: str, *, due: date | None = None, extra_labels: Iterable[str] = (), confidential: bool = False, **context: Any) -> None:
        """Open bot issue `key` from `template`, unless issuebot already created it."""
        if self.view.known(key) or any(isinstance(a, OpenIssue) and a.key == key for a in self.actions):
            return
        rendered = self.ctx.templates.render(template, **self.render_context(**context))
        labels = tuple(dict.fromkeys(self.program.label(l) for l in (*rendered.labels, *extra_labels)))
        self.actions.append(
            OpenIssue(
                pair=self.pair.id, project=self.view.project_path, key=key, title=rendered.title,
                body=markers.with_marker(rendered.body, key), labels=labels,
                assignees=tuple(a for a in rendered.assignees if a), due=due, confidential=confidential,
            )
        )
        if key not in self.state["issues"]:
            self.state["issues"].append(key)

    def edit_issue(self, key: str, *, add: Iterable[str] = (), remove: Iterable[str] = (), state: str | None = None, due: date | None = None, reason: str = "") -> None:
        """Change labels/state/due of open-or-closed bot issue `key`; no-op when nothing differs."""
        issue = self.view.issues.get(key)
        if issue is None:
            return
        have = set(issue.labels)
        add_names = tuple(n for n in (self.program.label(l) for l in add) if n not in have)
        # Scoped labels are exclusive only on paid GitLab tiers: remove the siblings ourselves.
        scopes = {scope_of(c) for c in add if scope_of(c)}
        siblings = [l for l in issue.labels if scope_of(self.program.canonical_label(l) or "") in scopes]
        wanted = {self.program.label(l) for l in add}
        remove_all = [self.program.label(l) for l in remove] + [l for l in siblings if l not in wanted]
        remove_names = tuple(dict.fromkeys(n for n in remove_all if n in have))
        new_state = state if state is not None and state != issue.state else None
        new_due = due if due is not None and due != issue.due else None
        if add_names or remove_names or new_state or new_due:
            self.actions.append(
                EditIssue(pair=self.pair.id, project=self.view.project_path, number=issue.number, key=key,
                          add_labels=add_names, remove_labels=remove_names, state=new_state, due=new_due, reason=reason)  # type: ignore[arg-type]
            )

    def comment(self, issue_key: str, comment_key: str, template: str, **context: Any) -> bool:
        """Post comment `comment_key` from `template` on bot issue `issue_key` (once)."""
        issue = self.view.issues.get(issue_key)
        if issue is None:
            return False
        self.reply(issue.number, comment_key, template, **context)
        return True

    def reply(self, number: int, comment_key: str, template: str, **context: Any) -> None:
        """Post comment `comment_key` from `template` on issue `number` of the pair's project (once),
        e.g. the answer to a quick command written on an issue a person opened."""
        rendered = self.ctx.templates.render(template, **self.render_context(**context))
        self.actions.append(
            PostComment(pair=self.pair.id, project=self.view.project_path, number=number, key=comment_key,
                        body=markers.with_marker(rendered.body, comment_key))
        )

    def coordinators(self) -> list[dict[str, Any]]:
        """The coordinators as template people (a coordinator outside `people` has only a handle)."""
        program = self.program
        return [self.ctx.person(program.people[c]) if c in program.people else {"handle": c, "name": c}
                for c in program.settings.coordinators]

    def set_status(self, status: str) -> None:
        if status not in PAIR_STATUSES:
            raise ValueError(f"unknown pair status {status!r}")
        self.status = status

    # -- the tracker write

    def finish(self) -> list[Action]:
        tracker = self.view.tracker
        self.state["status"] = self.status
        status_label = self.program.label(f"pair::{self.status}")
        if tracker is None:
            if self.view.project is None and not any(isinstance(a, CreateProject) for a in self.actions):
                return self.actions
            rendered = self.ctx.templates.render(TRACKER, **self.render_context())
            body = markers.with_marker(rendered.body, TRACKER)
            for name, content in self.sections.items():
                body = markers.replace_section(body, name, content)
            labels = [self.program.label(l) for l in rendered.labels if not l.startswith("pair::")]
            self.actions.append(
                OpenIssue(pair=self.pair.id, project=self.view.project_path, key=TRACKER, title=rendered.title,
                          body=markers.write_state(body, self.state), labels=tuple([*labels, status_label]),
                          assignees=tuple(a for a in rendered.assignees if a))
            )
            return self.actions + self.after_tracker
        body = tracker.body
        for name, content in self.sections.items():
            body = markers.replace_section(body, name, content)
        if self.state != self.original_state:
            body = markers.write_state(body, self.state)
        add = (status_label,) if status_label not in tracker.labels else ()
        stale = tuple(
            l for l in tracker.labels
            if (self.program.canonical_label(l) or "").startswith("pair::") and l != status_label
        )
        if body != tracker.body or add or stale:
            self.actions.append(
                EditIssue(pair=self.pair.id, project=self.view.project_path, number=tracker.number, key=TRACKER,
                          add_labels=add, remove_labels=stale, body=body if body != tracker.body else None,
                          reason=f"status {self.status}" if add else "")
            )
        return self.actions + self.after_tracker


def decide(view: PairView, ctx: Context) -> list[Action]:
    """The writes that bring one pair to where the program says it should be (pure)."""
    from issuebot.workflows import WORKFLOWS

    if view.project is not None and view.project.archived:
        return []  # an archived project is read-only: the pair is over
    plan = Plan(view, ctx)
    if plan.original_status == "ended" and ctx.trigger != "sync":
        # end_pair archives right after the tracker write; finish it if a run stopped in between.
        return [ArchiveProject(pair=view.pair.id, project=view.project_path)] if view.project is not None else []
    for workflow in WORKFLOWS:
        if ctx.trigger in workflow.triggers:
            workflow.decide(plan)
    return plan.finish()


# ----------------------------------------------------------------------------- apply


class BudgetExhausted(Exception):
    """`--max-writes` reached: stop cleanly; the next run continues where this one stopped."""


@dataclass
class Outcome:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    writes: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    stopped: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "writes": self.writes,
            "errors": self.errors,
            "stopped_at_max_writes": self.stopped,
        }


class Applier:
    """Carries out actions on a provider, counting writes against an optional budget."""

    def __init__(self, provider: Provider, max_writes: int | None = None):
        self.provider = provider
        self.max_writes = max_writes
        self.start_writes = provider.meter.writes

    @property
    def writes(self) -> int:
        return self.provider.meter.writes - self.start_writes

    def _check_budget(self) -> None:
        if self.max_writes is not None and self.writes >= self.max_writes:
            raise BudgetExhausted()

    def _within_budget(self, items: Iterable[Any], ensure: Callable[[tuple[Any, ...]], Any]) -> None:
        """`ensure` over `items` in chunks no larger than the writes left, so `--max-writes N`
        never makes more than N writes (a verb writes at most once per item)."""
        items = tuple(items)
        while True:
            left = len(items) if self.max_writes is None else max(1, self.max_writes - self.writes)
            ensure(items[:left])
            items = items[left:]
            if not items:
                return
            self._check_budget()

    def apply(self, action: Action) -> None:
        self._check_budget()
        provider = self.provider
        if isinstance(action, CreateProject):
            provider.ensure_project(ProjectSpec(action.name, action.title, action.description, owner_token=_token_of(action.description)))
        elif isinstance(action, SetMembers):
            self._within_budget(action.members, lambda chunk: provider.ensure_members(action.project, chunk))
        elif isinstance(action, SetLabels):
            self._within_budget(action.labels, lambda chunk: provider.ensure_labels(chunk, action.project))
        elif isinstance(action, OpenIssue):
            self._create_once(
                lambda: provider.create_issue(action.project, action.title, action.body, labels=action.labels,
                                              assignees=action.assignees, due=action.due, confidential=action.confidential),
                lambda: self._issue_exists(action),
            )
        elif isinstance(action, EditIssue):
            body = action.body
            provider.update_issue(action.project, action.number, body=body, add_labels=action.add_labels,
                                  remove_labels=action.remove_labels, state=action.state,
                                  **({"due": action.due} if action.due else {}))
        elif isinstance(action, PostComment):
            # A rerun after an interrupted write finds the marker and does not post twice.
            if not self._comment_exists(action):
                self._create_once(lambda: provider.create_comment(action.project, action.number, action.body),
                                  lambda: self._comment_exists(action))
        elif isinstance(action, ArchiveProject):
            provider.archive_project(action.project)
        elif isinstance(action, EnsureBoard):
            provider.ensure_board(action.name, action.labels)
        else:  # pragma: no cover - guarded by the meta test over Action subclasses
            raise TypeError(f"no way to apply {type(action).__name__}")


    # A forge may answer 5xx after it carried out a create (a proxy timing out): issuebot never
    # retries a create blindly, it looks for the marker first, so the write happens exactly once.
    CREATE_ATTEMPTS = 3

    def _create_once(self, create: Callable[[], Any], exists: Callable[[], bool]) -> None:
        for attempt in range(1, self.CREATE_ATTEMPTS + 1):
            try:
                create()
                return
            except ProviderUnavailable:
                if exists():
                    return
                if attempt == self.CREATE_ATTEMPTS:
                    raise

    def _issue_exists(self, action: OpenIssue) -> bool:
        issues = self.provider.list_issues(action.project, state="all")
        return any(markers.find_marker(issue.body) == action.key for issue in issues)

    def _comment_exists(self, action: PostComment) -> bool:
        comments = self.provider.list_comments(action.project, action.number)
        return any(markers.has_marker(comment.body, action.key) for comment in comments)


def _token_of(description: str) -> str:
    start = description.index("[issuebot:")
    return description[start : description.index("]", start) + 1]


def pair_actions_for_project(program: Program, pair: Pair) -> list[Action]:
    """Project-level writes for a pair whose project is missing (used by onboarding)."""
    name = program.project_name(pair)
    return [CreateProject(pair=pair.id, name=name, title=f"Mentoring: {pair.mentee.name} & {pair.mentor.name}",
                          description=f"Mentoring space of {pair.mentee.name} and {pair.mentor.name} in {program.settings.name} {owner_token(pair)}")]


# ----------------------------------------------------------------------------- whole program


@dataclass
class RunResult:
    views: dict[str, PairView]
    outcome: Outcome
    orphans: list[Project]
    per_pair: dict[str, list[Action]]


def program_actions(program: Program, provider: Provider, ctx: Context) -> list[Action]:
    """Writes that belong to the program rather than to one pair: group labels, coordinator project."""
    actions: list[Action] = []
    if not ctx.labels_per_project:
        actions.append(SetLabels(pair="", project=None, labels=label_specs(program)))
    if ctx.trigger == "sync":
        from issuebot.workflows.dashboard import coordinator_space  # pure; the reads stay here

        path = provider.project_path(program.settings.coordinator_project)
        try:  # one listing tells both whether the project exists and what it holds
            existing, exists = list(provider.list_issues(path, state="all")), True
        except NotFound:
            existing, exists = [], False
        actions.extend(coordinator_space(program, ctx, path, exists, existing))
        # Coordinators see every pair by status on a board (GitLab); other trackers make no calls.
        actions.append(EnsureBoard(pair="", name=program.settings.name,
                                   labels=tuple(program.label(f"pair::{s}") for s in PAIR_STATUSES)))
    return actions


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
    on_pair: Callable[[str], None] | None = None,
    read_comments: Callable[[PairView], Iterable[str]] | None = None,
    prepare: Callable[[dict[str, PairView], Context], Context] | None = None,
) -> RunResult:
    """Observe every pair in bulk, decide each, apply (unless dry-run), stop at the write budget.

    The sweep passes `read_comments` (issues whose comments its decisions need) and `prepare`
    (program-wide inputs computed from all views, e.g. the weekly nudge cap, added to the Context).
    """
    now = now or datetime.now(timezone.utc)
    ctx = Context(program=program, templates=templates, now=now, trigger=trigger, provider_kind=provider.kind,
                  labels_per_project=provider.labels_per_project)
    outcome = Outcome()
    applier = Applier(provider, max_writes)
    # A dry run writes nothing, so it neither waits for a running sync nor creates a lock file.
    with (no_lock() if dry_run else provider.exclusive()):
        if not dry_run:
            provider.check_access()
        views, orphans = observe_program(provider, program, only, read_comments=read_comments,
                                         find_orphans=trigger != "sweep")
        if prepare is not None:
            ctx = prepare(views, ctx)
        per_pair: dict[str, list[Action]] = {}
        # Decide every pair before the first write: a template or program mistake (TemplateError)
        # then stops the run with nothing written, not half way through.
        first = program_actions(program, provider, ctx)
        decided: list[tuple[str, PairView, list[Action]]] = []
        for pair_id, view in views.items():
            if on_pair:
                on_pair(pair_id)
            decided.append((pair_id, view, decide(view, ctx)))  # pure: no tracker errors here
        try:
            for action in first:
                outcome.actions.append(action)
                if not dry_run:
                    applier.apply(action)
            for pair_id, view, actions in decided:
                per_pair[pair_id] = actions
                outcome.actions.extend(actions)
                bucket = outcome.created if view.project is None else (outcome.updated if actions else outcome.unchanged)
                if dry_run:
                    bucket.append(pair_id)
                    continue
                try:
                    for action in actions:
                        applier.apply(action)
                except ProviderError as exc:
                    outcome.errors.append({"pair": pair_id, "error": str(exc)})
                    continue
                bucket.append(pair_id)
        except BudgetExhausted:
            outcome.stopped = True
    outcome.writes = applier.writes
    return RunResult(views=views, outcome=outcome, orphans=orphans, per_pair=per_pair)
