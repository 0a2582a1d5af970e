"""The pure decision model: a pair's view, the context of a decision, the plan of writes, state helpers."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
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
    Event,
    GrantAccess,
    Issue,
    Member,
    OpenIssue,
    Pair,
    Person,
    PostComment,
    Project,
    SetMembers,
)
from issuebot.templates import Templates

TRACKER = "progress"  # marker key of the pair's progress tracker issue
DATES = "dates"  # bot-owned section of the tracker showing the pair's dates
STATE_VERSION = 1
WRITTEN = "written"  # in a goal issue's state block: the title, due date, first line and actions issuebot wrote


def first_line(body: str) -> str:
    """The first non-blank line of a rendered body (a goal's heading line)."""
    return next((line for line in body.splitlines() if line.strip()), "")


@dataclass(frozen=True, order=True)
class SessionRef:
    """Session number N, addressed in the tracker by the marker key `session:N`."""

    number: int

    @property
    def key(self) -> str:
        return f"session:{self.number}"

    @classmethod
    def parse(cls, key: str) -> SessionRef | None:
        """SessionRef(3) for `session:3`; None for any other key (or a mangled number)."""
        prefix, _, number = key.partition(":")
        if prefix != "session" or not (number.isascii() and number.isdigit()):
            return None
        return cls(int(number))

    @classmethod
    def is_key(cls, key: str) -> bool:
        return cls.parse(key) is not None


@dataclass
class PairView:
    """What the tracker says about one pair (the forge is the source of truth)."""

    pair: Pair
    project_path: str
    project: Project | None
    issues: dict[str, Issue] = field(default_factory=dict)  # by marker key
    complete: bool = False  # closed issues were read too
    comments: dict[str, list[Comment]] = field(default_factory=dict)  # by marker key, only issues that need action
    listed: tuple[Issue, ...] = ()  # every open issue of the project as listed, bot-owned or not
    threads: dict[int, list[Comment]] = field(default_factory=dict)  # by issue number: read for their quick commands

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
        tracker = self.tracker
        if tracker is None:
            return "kickoff"
        cached = self.__dict__.get("_status")  # reports ask for it many times per pair
        if cached is not None and cached[0] is tracker and cached[1] is program:
            return cached[2]
        status = self._read_status(program, tracker)
        self.__dict__["_status"] = (tracker, program, status)
        return status

    def _read_status(self, program: Program, tracker: Issue) -> str:
        for label in tracker.labels:
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


def looked_counts(state: dict[str, Any]) -> dict[int, int]:
    """The state's `looked` map as {issue number: comments seen}; empty when absent or damaged."""
    value = state.get("looked")
    if not isinstance(value, dict):
        return {}
    found = {}
    for number, count in value.items():
        if str(number).isdigit() and isinstance(count, int):
            found[int(number)] = count
    return found


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


@dataclass(frozen=True)
class Context:
    """Everything a decision may depend on besides the pair's view."""

    program: Program
    templates: Templates
    now: datetime
    trigger: str  # "sync", "sweep" or "event"
    provider_kind: str = "local"
    bot_username: str = "issuebot"  # the account issuebot writes as
    labels_per_project: bool = False  # GitHub: labels live in each repository
    event: Event | None = None  # the person's action that triggered an "event" reconcile
    # The comments whose quick commands this reconcile carries out, in the order they were written
    # (the delivered one and any the tracker shows without a reply from issuebot); `decide` fills it.
    commands: tuple[Event, ...] = ()
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
            "wants": list(person.wants),
            "attributes": dict(person.attributes),
        }


def program_context(program: Program) -> dict[str, Any]:
    """The program as templates see it."""
    settings = program.settings
    return {
        "name": settings.name,
        "cadence": str(settings.cadence),
        "session_length": settings.session_length,
        "coordinators": list(settings.coordinators),
        "starts": settings.starts,
        "ends": settings.end_date,
        "timezone": settings.timezone,
        "coordinator_project": settings.coordinator_project,
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
      handled            the comments carried out by the latest reconcile that carried any out, with
                         the reply each is owed (older blocks: a list of ids); whether a comment was
                         carried out is read from issuebot's reply, which names it (`ack:<id>`)
      looked             comments per open issue when issuebot last read them ({number: count}):
                         an issue whose listed count differs has comments issuebot has not seen
      members, labels    fingerprints of what was last ensured
      nudges             sweep bookkeeping: last nudge/escalation dates per rule and person
      stale_on           dates the pair turned stale (the report's history)
      ended              {"on", "by", "reason"} once the pair ended
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
        self.notes: list[str] = []  # what `plan` tells the coordinator besides the writes (e.g. a kept edit)

    # -- helpers for workflows

    def render_context(self, **extra: Any) -> dict[str, Any]:
        pair = self.pair
        context = {
            "program": program_context(self.program),
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

    def open_issue(self, key: str, template: str, *, due: date | None = None, extra_labels: Iterable[str] = (), confidential: bool = False,
                   written: Mapping[str, Any] | None = None, **context: Any) -> None:
        """Open bot issue `key` from `template`, unless issuebot already created it. With `written`,
        the issue's state block keeps what issuebot wrote (those fields, its title and first line),
        so a later change of the program file can tell a person's edit from its own."""
        if self.view.known(key) or any(isinstance(a, OpenIssue) and a.key == key for a in self.actions):
            return
        rendered = self.ctx.templates.render(template, **self.render_context(**context))
        labels = tuple(dict.fromkeys(self.program.label(l) for l in (*rendered.labels, *extra_labels)))
        body = markers.with_marker(rendered.body, key)
        if written is not None:
            body = markers.write_state(body, {WRITTEN: {**written, "title": rendered.title, "heading": first_line(rendered.body)}})
        self.actions.append(
            OpenIssue(
                pair=self.pair.id, project=self.view.project_path, key=key, title=rendered.title,
                body=body, labels=labels,
                assignees=tuple(a for a in rendered.assignees if a), due=due, confidential=confidential,
            )
        )
        if key not in self.state["issues"]:
            self.state["issues"].append(key)

    def edit_issue(self, key: str, *, add: Iterable[str] = (), remove: Iterable[str] = (), state: str | None = None, due: date | None = None,
                   body: str | None = None, reason: str = "", title: str | None = None) -> None:
        """Change labels/state/due/body/title of open-or-closed bot issue `key`; no-op when nothing differs."""
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
        new_body = body if body is not None and body != issue.body else None
        new_title = title if title is not None and title != issue.title else None
        if add_names or remove_names or new_state or new_due or new_body or new_title:
            self.actions.append(
                EditIssue(pair=self.pair.id, project=self.view.project_path, number=issue.number, key=key,
                          add_labels=add_names, remove_labels=remove_names, body=new_body, state=new_state, due=new_due,  # type: ignore[arg-type]
                          reason=reason, title=new_title)
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

    def reply_after_tracker(self, number: int, comment_key: str, template: str, **context: Any) -> None:
        """Like `reply`, but posted after the tracker's write (and before the project is archived),
        so the tracker has recorded what the reply reports before anyone reads it."""
        self.reply(number, comment_key, template, **context)
        posted = self.actions.pop()
        archives = [i for i, a in enumerate(self.after_tracker) if isinstance(a, ArchiveProject)]
        self.after_tracker.insert(archives[0] if archives else len(self.after_tracker), posted)

    def coordinators(self) -> list[dict[str, Any]]:
        """The coordinators as template people (a coordinator outside `people` has only a handle)."""
        program = self.program
        return [self.ctx.person(program.people[c]) if c in program.people else {"handle": c, "name": c}
                for c in program.settings.coordinators]

    def bookkeeping(self) -> dict[str, Any]:
        """The plan's writable `nudges` state, repaired if a person's edit broke it."""
        value = self.state.get("nudges")
        if not isinstance(value, dict):
            value = self.state["nudges"] = {}
        return value

    def create_project(self) -> None:
        """Create the pair's private project, titled and described by the `pair-project` template."""
        token = owner_token(self.pair)
        rendered = self.ctx.templates.render("pair-project", **self.render_context(token=token))
        description = " ".join(rendered.body.split())
        if token not in description:  # the token proves ownership: a custom template cannot drop it
            description = f"{description} {token}".strip()
        self.actions.append(CreateProject(pair=self.pair.id, name=self.program.project_name(self.pair),
                                          title=rendered.title, description=description))

    def set_status(self, status: str) -> None:
        if status not in PAIR_STATUSES:
            raise ValueError(f"unknown pair status {status!r}")
        self.status = status

    # -- the tracker write

    def record_looked(self) -> None:
        """Remember how many comments each open issue has now that issuebot looked at it: what the
        listing showed plus the comments this plan posts. An issue whose new comments were not read
        (its count moved, its thread unread) keeps the old count, so a later run still reads them."""
        before = looked_counts(self.state)
        posted: dict[int, int] = {}
        closing: set[int] = set()  # closed by this plan: no longer listed next time
        for action in (*self.actions, *self.after_tracker):
            if isinstance(action, PostComment) and action.project == self.view.project_path:
                posted[action.number] = posted.get(action.number, 0) + 1
            elif isinstance(action, EditIssue) and action.state == "closed":
                closing.add(action.number)
        looked: dict[str, int] = {}
        for issue in self.view.listed:
            if issue.comments is None or issue.state != "open" or issue.number in closing:
                continue
            seen = issue.comments == before.get(issue.number, 0) or issue.number in self.view.threads
            count = (issue.comments if seen else before.get(issue.number, 0)) + posted.get(issue.number, 0)
            if count:
                looked[str(issue.number)] = count
        if looked or "looked" in self.state:
            self.state["looked"] = looked

    def show_dates(self, body: str) -> None:
        """Rewrite the dates the tracker shows once `/extend` or the dashboard moved the end
        (the tracker template's `dates` section); a tracker already showing the end is left alone."""
        shown = markers.get_section(body, DATES)
        if shown is None and "ends" not in self.state:
            return
        if self.ends.isoformat() in (markers.visible_text(body) if shown is None else shown):
            return
        rendered = self.ctx.templates.render(TRACKER, **self.render_context())
        dates = markers.get_section(rendered.body, DATES)
        if dates is not None:
            self.sections[DATES] = dates

    def finish(self) -> list[Action]:
        tracker = self.view.tracker
        if self.view.listed:
            self.record_looked()
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
        self.show_dates(body)
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




def projected(view: PairView, actions: list[Action], author: str = "issuebot") -> PairView:
    """The view as it will be once `actions` are applied (pure): what a run shows or decides next
    without reading again. A comment posted as `author` joins the thread read for that issue."""
    issues = dict(view.issues)
    threads = {number: list(comments) for number, comments in view.threads.items()}
    project = view.project
    for action in actions:
        if isinstance(action, PostComment) and action.number in threads:
            threads[action.number].append(Comment(id=0, project=action.project, issue_number=action.number,
                                                  author=author, body=action.body))
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
                                         title=action.title if action.title is not None else issue.title,
                                         state=action.state or issue.state, due=action.due or issue.due)
    projected = replace(view, project=project, issues=issues, threads=threads)
    parsed = view.__dict__.get("_parsed_state")
    if parsed is not None and projected.tracker is not None and projected.tracker.body is parsed[0]:
        projected.__dict__["_parsed_state"] = parsed  # the same tracker text: reuse its parsed state
    return projected


# ----------------------------------------------------------------------------- the program as a whole

COORDINATION_TOKEN = "[issuebot:coordination]"  # in the coordinator project's description
CHANNEL_TOKEN = "[issuebot:channel]"  # in the description of every private-channel project
INTAKE_TOKEN = "[issuebot:intake]"  # in the intake project's description (the call and the sign-ups)
COHORT_TOKEN = "[issuebot:cohort]"  # in the cohort space's description


@dataclass
class SpaceView:
    """A program-level project people share beyond the pairs: the intake project or the cohort space."""

    path: str
    exists: bool = False
    issues: list[Issue] = field(default_factory=list)
    comments: dict[int, list[Comment]] = field(default_factory=dict)
    shared_with_channels: bool = False  # the same project as the private channels (GitLab, embedded tracker)

    def items(self) -> dict[str, Issue]:
        """issuebot's issues there by marker key."""
        return index_issues(self.issues)


@dataclass
class ProgramView:
    """What the tracker says about the program beyond one pair: every pair's view and the coordinators' project."""

    pairs: dict[str, PairView]
    coordination_path: str
    coordination_exists: bool = False
    coordination_issues: list[Issue] = field(default_factory=list)  # open and closed, one listing
    orphans: list[Project] = field(default_factory=list)  # bot projects of pairs no longer in the file
    partial: bool = False  # only some pairs were observed (`--only`): no program-wide view
    # Private channels: username -> project path; which of those exist; their issues (all states);
    # the comments of the bot's open items there, by (path, number).
    channels: dict[str, str] = field(default_factory=dict)
    channel_projects: frozenset[str] = frozenset()
    channel_issues: list[Issue] = field(default_factory=list)
    channel_comments: dict[tuple[str, int], list[Comment]] = field(default_factory=dict)
    # The intake project (`program.intake`) and the cohort space (`program.cohort_space`): path,
    # whether it exists, its issues (all states); the comments of the cohort's activities that
    # may still change what is recorded (open ones, closed ones not yet credited), by number.
    intake: SpaceView | None = None
    cohort: SpaceView | None = None

    def coordination_issue(self, number: int) -> Issue | None:
        return next((i for i in self.coordination_issues if i.number == number), None)

    def channel_items(self) -> dict[str, Issue]:
        """issuebot's items in the private channels by marker key (keys name their person)."""
        return index_issues(self.channel_issues)


def channel_people(program: Program) -> list[str]:
    """The usernames of everyone who gets a private channel: both sides of every pair and the
    mentees' managers (a manager outside `people` keeps the name given), coordinators excepted;
    nobody when the program needs no channel (`surveys.channels: auto`, no survey, no manager's review)."""
    settings, reviews = program.surveys, program.settings.reviews
    managers_invited = bool(reviews.every and reviews.invite_managers and reviews.manager_access == "channel"
                            and any(p.mentee.manager for p in program.pairs))
    if settings.channels == "auto" and not settings.items and not managers_invited:
        return []
    found: dict[str, None] = {}
    for pair in program.pairs:
        for username in (pair.mentor.username, pair.mentee.username, pair.mentee.manager):
            if username and username not in program.settings.coordinators:
                found[username] = None
    return list(found)


def answers_by_form(person: Person | None) -> bool:
    """People without a forge account but with an e-mail address answer surveys through a personal
    link (survey_forms), not in a channel they could not open."""
    return person is not None and not person.forge_account and bool(person.email)


def handle_of(program: Program, username: str, provider_kind: str) -> str:
    """A person's handle on the tracker; a name outside `people` (e.g. a manager) is used as given."""
    person = program.people.get(username)
    return person.handle(provider_kind) if person is not None else username


class ProgramPlan:
    """The program-level writes of one run, built by the program steps around the pairs' plans.

    Steps of the `before` phase decide from the coordinators' project alone (labels, the project,
    what coordinators or participants asked for: `requests`); the pairs' workflows then carry out
    those requests; steps of the `after` phase decide from what the pairs' plans did (`results`).
    """

    def __init__(self, view: ProgramView, ctx: Context, decide_only: frozenset[str] | None = None):
        self.view = view
        self.ctx = ctx
        self.program = ctx.program
        self.actions: list[Action] = []
        self.requests: dict[str, frozenset[str]] = {}  # pair id -> what was asked for it
        self.decide_only = decide_only  # pair ids this run decides (None: every pair)
        self.results: dict[str, list[Action]] = {}  # pair id -> its writes this run (after phase)
        self.failed: set[str] = set()  # pairs whose writes failed or were never reached
        self.notes: dict[str, str] = {}  # step name -> what it did, for the run's summary
        self.stopped = False  # the write budget ran out before the after phase

    def ask(self, pair_id: str, request: str) -> None:
        """Ask the pair's workflows to carry out `request` (a dashboard box, a re-match)."""
        self.requests[pair_id] = self.requests.get(pair_id, frozenset()) | {request}

    def carried_out(self, pair_id: str) -> bool:
        """Whether this run decided the pair and applied all its writes."""
        return pair_id in self.results and pair_id not in self.failed

    def create_space(self, name: str, template: str, token: str, **context: Any) -> None:
        """Create program-level project `name`, described by `template` on one line that carries
        `token` (how the project is recognised as issuebot's)."""
        rendered = self.ctx.templates.render(template, program=program_context(self.program), token=token, **context)
        description = " ".join(rendered.body.split())
        if token not in description:
            description = f"{description} {token}"
        self.actions.append(CreateProject(pair="", name=name, title=rendered.title, description=description))

    def coordinators_join(self, path: str, *, readers: tuple[str, ...] = ()) -> None:
        """Make the coordinators members of program-level project `path`, and give `readers` Guest/read access."""
        handles = self.program.coordinator_handles(self.ctx.provider_kind)
        self.actions.append(SetMembers(pair="", project=path,
                                       members=tuple(dict.fromkeys(Member(h, "coordinator") for h in handles))))
        if readers:
            self.actions.append(GrantAccess(pair="", project=path, usernames=readers, access="guest"))

    def pair_plan(self, pair_id: str) -> Plan:
        """A fresh plan of one pair, for the render context of a program-level text about it."""
        return Plan(self.view.pairs[pair_id], self.ctx)
