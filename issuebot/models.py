"""Provider-neutral dataclasses: people, pairs, projects, issues, comments, events and write actions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import Any, Literal

# ----------------------------------------------------------------------------- program


@dataclass(frozen=True)
class Person:
    username: str
    name: str
    role: Literal["mentor", "mentee", "both"] = "both"
    handles: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    level: int | None = None
    department: str | None = None
    manager: str | None = None
    skills: tuple[str, ...] = ()
    interests: tuple[str, ...] = ()
    wants: tuple[str, ...] = ()
    capacity: int = 1
    timezone: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    email: str | None = None
    forge_account: bool = True  # false: notices reach the person by e-mail only

    def handle(self, forge: str) -> str:
        """The person's username on `forge` (local, gitlab, github)."""
        return self.handles.get(forge, self.username)


@dataclass(frozen=True)
class Goal:
    title: str
    due: date | None = None
    actions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Pair:
    id: str
    mentor: Person
    mentee: Person
    starts: date
    ends: date
    goals: tuple[Goal, ...] = ()

    def usernames(self) -> tuple[str, str]:
        return (self.mentor.username, self.mentee.username)


# ----------------------------------------------------------------------------- tracker


@dataclass(frozen=True)
class Project:
    path: str  # full path, e.g. "mentoring/mentoring-bob-alice"
    name: str
    description: str = ""
    private: bool = True
    archived: bool = False
    url: str = ""
    id: int | str | None = None


@dataclass(frozen=True)
class Issue:
    project: str
    number: int
    title: str
    body: str
    labels: tuple[str, ...] = ()
    state: Literal["open", "closed"] = "open"
    assignees: tuple[str, ...] = ()
    due: date | None = None
    author: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    closed_at: datetime | None = None
    url: str = ""
    confidential: bool = False
    comments: int | None = None  # how many comments the tracker's listing reports (None: it did not say)


@dataclass(frozen=True)
class Comment:
    id: int
    project: str
    issue_number: int
    author: str
    body: str
    created_at: datetime | None = None
    updated_at: datetime | None = None
    url: str = ""


class EventKind(str, Enum):
    ISSUE_OPENED = "issue_opened"
    ISSUE_CLOSED = "issue_closed"
    ISSUE_REOPENED = "issue_reopened"
    ISSUE_LABELED = "issue_labeled"
    ISSUE_UNLABELED = "issue_unlabeled"
    ISSUE_EDITED = "issue_edited"
    COMMENT_CREATED = "comment_created"
    COMMENT_EDITED = "comment_edited"


COMMENT_EVENTS = frozenset({EventKind.COMMENT_CREATED, EventKind.COMMENT_EDITED})


@dataclass(frozen=True)
class Event:
    """Something a person did in a tracker, normalised across forges."""

    kind: EventKind
    provider: str
    project: str  # full project path
    issue_number: int
    actor: str
    comment_id: int | None = None
    comment_body: str = ""
    at: datetime | None = None
    delivery_id: str = ""


# ----------------------------------------------------------------------------- writes


@dataclass(frozen=True)
class Member:
    """A project member: `pair` (reads and writes everything), `coordinator` (reads everything),
    `participant` (a private channel: reads only items that are theirs, e.g. GitLab's Guest)."""

    username: str
    role: Literal["pair", "coordinator", "participant"]


@dataclass(frozen=True)
class Action:
    """One intended write; `describe()` is what `plan` and `--dry-run` print."""

    pair: str

    def describe(self) -> str:  # pragma: no cover - every subclass overrides
        raise NotImplementedError


@dataclass(frozen=True)
class CreateProject(Action):
    name: str
    title: str
    description: str

    def describe(self) -> str:
        return f"create private project {self.name}"


@dataclass(frozen=True)
class SetMembers(Action):
    project: str
    members: tuple[Member, ...]

    def describe(self) -> str:
        return "ensure members " + ", ".join(f"{m.username} ({m.role})" for m in self.members)


@dataclass(frozen=True)
class SetLabels(Action):
    project: str | None  # None: at group/namespace level
    labels: tuple[tuple[str, str, str], ...]  # (name, color, description)

    def describe(self) -> str:
        where = f"in {self.project}" if self.project else "at group level"
        return f"ensure {len(self.labels)} labels {where}"


@dataclass(frozen=True)
class OpenIssue(Action):
    project: str
    key: str  # marker identity, e.g. "goal:1"
    title: str
    body: str
    labels: tuple[str, ...] = ()
    assignees: tuple[str, ...] = ()
    due: date | None = None
    confidential: bool = False

    def describe(self) -> str:
        extra = f" due {self.due}" if self.due else ""
        labels = f" labels {', '.join(self.labels)}" if self.labels else ""
        return f"open issue [{self.key}] {self.title!r}{labels}{extra}"


@dataclass(frozen=True)
class EditIssue(Action):
    project: str
    number: int
    key: str
    add_labels: tuple[str, ...] = ()
    remove_labels: tuple[str, ...] = ()
    body: str | None = None
    state: Literal["open", "closed"] | None = None
    due: date | None = None
    reason: str = ""
    confidential: bool | None = None  # True: hide the issue from everyone but its person and the coordinators
    title: str | None = None

    def describe(self) -> str:
        parts = []
        if self.title is not None:
            parts.append(f"retitle {self.title!r}")
        if self.confidential:
            parts.append("make confidential")
        if self.add_labels:
            parts.append("add " + ", ".join(self.add_labels))
        if self.remove_labels:
            parts.append("remove " + ", ".join(self.remove_labels))
        if self.body is not None:
            parts.append("update bot-owned text")
        if self.state:
            parts.append(f"set {self.state}")
        if self.due:
            parts.append(f"due {self.due}")
        why = f" ({self.reason})" if self.reason else ""
        return f"edit #{self.number} [{self.key}]: {'; '.join(parts)}{why}"


@dataclass(frozen=True)
class PostComment(Action):
    project: str
    number: int
    key: str  # comment marker identity, e.g. "nudge:2026-03-02:mentee"
    body: str

    def describe(self) -> str:
        return f"comment on #{self.number} [{self.key}]"


@dataclass(frozen=True)
class ArchiveProject(Action):
    project: str

    def describe(self) -> str:
        return f"archive {self.project} (read-only)"


@dataclass(frozen=True)
class EnsureBoard(Action):
    """The coordinators' board: one list per pair status label (where the tracker has boards)."""

    name: str
    labels: tuple[str, ...]

    def describe(self) -> str:
        return f"ensure board {self.name!r} with lists {', '.join(self.labels)}"


# ----------------------------------------------------------------------------- forms and access


@dataclass(frozen=True)
class FormField:
    """One question of a sign-up form, in no forge's format (each provider renders its own convention)."""

    id: str
    label: str
    kind: Literal["input", "textarea", "dropdown"] = "input"
    description: str = ""
    options: tuple[str, ...] = ()
    required: bool = False


@dataclass(frozen=True)
class EnsureIssueForm(Action):
    """A form people fill in to open an issue (GitHub issue form, GitLab description template)."""

    project: str
    name: str  # file name without extension, e.g. "sign-up"
    title: str
    about: str
    labels: tuple[str, ...]
    fields: tuple[FormField, ...]
    opening: str = ""  # text each filed issue starts with
    confidential: bool = False  # ask for a confidential issue (GitLab, the embedded tracker)

    def describe(self) -> str:
        kind = "confidential issue form" if self.confidential else "issue form"
        questions = f" ({len(self.fields)} questions)" if self.fields else ""
        return f"ensure {kind} {self.name!r}{questions} in {self.project}"


@dataclass(frozen=True)
class GrantAccess(Action):
    """People get at least `access` to a project (read for a cohort space, developer on a delivery project)."""

    project: str
    usernames: tuple[str, ...]
    access: Literal["guest", "reporter", "developer", "maintainer"]

    def describe(self) -> str:
        return f"give {', '.join(self.usernames)} {self.access} access to {self.project}"
