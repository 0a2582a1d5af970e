"""The Provider protocol every tracker implements, its optional capabilities, its errors, and API-call metering."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal, Protocol, runtime_checkable

from issuebot.models import Comment, Event, FormField, Issue, Member, Project

IssueState = Literal["open", "closed", "all"]
UNSET: object = object()


class ProviderError(Exception):
    """A tracker refused or failed; the message is safe to show (no secrets, no pair text)."""


class NotFound(ProviderError):
    pass


class Forbidden(ProviderError):
    pass


class AuthenticationFailed(Forbidden):
    """The token is missing, invalid or expired."""


class RateLimited(ProviderError):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class ProviderUnavailable(ProviderError):
    pass


class InvalidRequest(ProviderError):
    pass


class ProjectTaken(InvalidRequest):
    """The project path exists but issuebot did not create it: refuse and touch nothing."""


@dataclass
class Meter:
    """API calls made, by kind (`read` or `write`) and by verb."""

    reads: int = 0
    writes: int = 0
    by_verb: Counter[str] = field(default_factory=Counter)

    def read(self, verb: str, calls: int = 1) -> None:
        self.reads += calls
        self.by_verb[verb] += calls

    def write(self, verb: str, calls: int = 1) -> None:
        self.writes += calls
        self.by_verb[verb] += calls


@dataclass(frozen=True)
class ProjectSpec:
    name: str  # short name inside the group/org/namespace
    title: str
    description: str
    owner_token: str  # written into the description; proves issuebot created the project


@runtime_checkable
class Provider(Protocol):
    """Domain verbs over one tracker; every method documents its API calls.

    Projects are addressed by full path, issues by (project path, number). Every verb means the
    same on every tracker (tests/providers/test_contract.py runs the same scenarios on each):
    labels change by delta, so a person's concurrent label edit survives; adding a scoped label
    removes its siblings; access is never lowered; a blank title is refused before any call; an
    archived project refuses every write. What only some trackers can do is a capability below.
    """

    kind: str  # "local", "gitlab" or "github": which `Person.handles` entry applies
    meter: Meter
    bot_username: str  # the account issuebot writes as; its own events are ignored
    labels_per_project: bool  # GitHub: labels live in each repository, not at org level

    def check_access(self) -> None:
        """Verify credentials and the group/org before any write (raises AuthenticationFailed)."""

    def exclusive(self) -> contextlib.AbstractContextManager[None]:
        """Serialise writers of this tracker across processes where the tracker allows it."""

    def project_path(self, name: str) -> str:
        """The full path of pair project `name` in this provider's group/org."""

    def list_projects(self) -> list[Project]:
        """Every project in the group/org (bulk, paginated)."""

    def ensure_project(self, spec: ProjectSpec) -> tuple[Project, bool]:
        """The private project `spec.name`, created if missing: (project, created)."""

    def ensure_members(self, project: str, members: Sequence[Member]) -> int:
        """Add missing members with the configured access; returns writes made."""

    def ensure_labels(self, labels: Sequence[tuple[str, str, str]], project: str | None = None) -> int:
        """Create or fix (name, color, description) labels at group level or in `project`."""

    def list_issues(
        self,
        project: str | None = None,
        *,
        labels: Sequence[str] = (),
        state: IssueState = "open",
        updated_after: datetime | None = None,
    ) -> Iterator[Issue]:
        """Issues of one project or of the whole group/org, every page, 100 per page."""

    def get_issue(self, project: str, number: int) -> Issue: ...

    def create_issue(
        self,
        project: str,
        title: str,
        body: str,
        *,
        labels: Sequence[str] = (),
        assignees: Sequence[str] = (),
        due: date | None = None,
        confidential: bool = False,
    ) -> Issue: ...

    def update_issue(
        self,
        project: str,
        number: int,
        *,
        title: str | None = None,
        body: str | None = None,
        add_labels: Sequence[str] = (),
        remove_labels: Sequence[str] = (),
        state: Literal["open", "closed"] | None = None,
        due: date | object | None = UNSET,
        assignees: Sequence[str] | None = None,
        confidential: bool | None = None,
    ) -> Issue:
        """Change only what is given. `confidential`: hide (or show) the issue from members below
        `pair`, where the tracker has confidential issues; GitHub has none (a private channel there
        is a repository of its own), so it ignores it."""

    def list_comments(self, project: str, number: int, since: datetime | None = None) -> list[Comment]: ...

    def create_comment(self, project: str, number: int, body: str) -> Comment: ...

    def archive_project(self, project: str) -> bool:
        """Make the project read-only; returns whether it changed."""

    def ensure_board(self, name: str, labels: Sequence[str]) -> bool:
        """A coordinator board with one list per label; returns whether anything changed.

        A verb every tracker answers: one without boards (GitHub, the embedded tracker) answers
        False with no call, so callers never ask which tracker they have."""

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> Event | None:
        """A verified delivery's payload as an Event, or None when issuebot has nothing to do."""

    # -- cohort: sign-up forms and access beyond the pair

    def ensure_issue_form(self, project: str, name: str, title: str, about: str, labels: Sequence[str],
                          fields: Sequence[FormField], *, opening: str = "", confidential: bool = False) -> bool:
        """A form people fill in to open an issue in `project`, in the forge's own convention;
        returns whether it was written. `opening`: text each filed issue starts with (e.g. an
        issuebot command); `confidential`: the form asks for a confidential issue where the
        tracker has them. A form may have only an opening and no questions."""

    def ensure_access(self, project: str, usernames: Sequence[str], access: str) -> int:
        """Give each person at least `access` (guest, reporter, developer, maintainer) to `project`
        (a full path, or a name inside the group/org); nobody's access is lowered. Returns writes made."""


    # -- private channels (surveys, answers, re-match requests)

    def private_channel_path(self, channel: str, handle: str) -> str:
        """The full path of the project where person `handle` and the coordinators alone read that
        person's items (0 calls): a shared project of confidential items, or one of the person's own."""

@runtime_checkable
class ActsAsPerson(Protocol):
    """Capability: the tracker lets issuebot act as a named person, with that person's own
    permissions, so what they may read and write is the tracker's answer, not issuebot's guess.

    The embedded tracker acts as anyone (`issuebot tracker` and `rematch request --as` stand in for
    the web interface a forge has); GitLab and GitHub act with the person's own token, from the
    variable `provider.person_tokens` names, and raise AuthenticationFailed without one.
    """

    def as_user(self, username: str) -> Provider:
        """The same tracker, with every call made as `username`."""


@runtime_checkable
class WebhookParser(Protocol):
    """Pure reading of one forge's webhook deliveries: verification, identity, normalisation.

    Implementations are modules under issuebot/providers/ (see WEBHOOK_PARSERS); none does I/O
    and none raises on an odd payload.
    """

    name: str  # "github", "gitlab" or "local": the /hooks/<name> endpoint

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
        """Whether the delivery carries a valid signature or token for `secret` (constant time)."""

    def delivery_id(self, headers: Mapping[str, str]) -> str | None:
        """The forge's identifier of this delivery, stable across its retries, if it sent one."""

    def event_name(self, headers: Mapping[str, str]) -> str:
        """The forge's event type header value ("" when absent)."""

    def is_ping(self, headers: Mapping[str, str]) -> bool:
        """A hook-configuration test delivery that only needs a 2xx."""

    def acts_on(self, headers: Mapping[str, str]) -> bool:
        """Whether deliveries of this event type can ever become an Event (else: answered unread)."""

    def decode(self, headers: Mapping[str, str], body: bytes) -> object:
        """The payload as JSON data; raises ValueError when the body is malformed (its subclass
        UnsupportedBody when the Content-Type is not one the forge sends)."""

    def event_from(self, headers: Mapping[str, str], payload: object) -> Event | None:
        """A decoded payload as an Event, or None for anything issuebot does not act on."""

    def parse(self, headers: Mapping[str, str], body: bytes) -> Event | None:
        """decode + event_from; None for malformed or unhandled deliveries, never an exception."""

    def stored_headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """The headers worth keeping with a delivery (never its token or signature)."""


@contextlib.contextmanager
def no_lock() -> Iterator[None]:
    yield


# --------------------------------------------------------------------------- read-only diagnosis (`issuebot doctor`)


@dataclass(frozen=True)
class AccessReport:
    """What the credentials may do in the group/org, as the forge reports it (no secrets)."""

    account: str  # the token's user, or the App's slug
    role: str  # its role where the pair projects live, in the forge's words ("Owner", "admin", "app")
    missing: tuple[str, ...] = ()  # each scope, role or permission the program needs and lacks, worded for people


@dataclass(frozen=True)
class HookReport:
    """The forge's webhook for one URL in the group/org."""

    url: str
    active: bool
    missing_events: tuple[str, ...]  # events issuebot acts on that the hook does not send (forge names)
    last_delivery_ok: bool | None  # the most recent delivery got a 2xx; None when the forge shows none


@runtime_checkable
class Diagnosable(Protocol):
    """Read-only verbs that `issuebot doctor` asks before the first write; none of them writes."""

    def access_report(self) -> AccessReport:
        """The token's (or App's) account, role and missing scopes or permissions for this program."""

    def member_usernames(self) -> list[str]:
        """Usernames of the group's/org's members (bulk, paginated): the near-miss candidates."""

    def missing_usernames(self, usernames: Sequence[str]) -> list[str]:
        """Those of `usernames` that name no account on the forge (one read each)."""

    def hook_report(self, url: str) -> HookReport | None:
        """The group's/org's webhook that delivers to `url`, None when there is none."""
