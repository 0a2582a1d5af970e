"""GitLab adapter: the Provider protocol over python-gitlab (group labels and boards, iid numbers)."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import gitlab
import requests
from gitlab.const import AccessLevel
from gitlab.exceptions import GitlabError, GitlabGetError

from issuebot.config import secret
from issuebot.models import Comment, Event, FormField, Issue, Member, Project
from issuebot.providers.base import (
    UNSET,
    AccessReport,
    AuthenticationFailed,
    Forbidden,
    HookReport,
    InvalidRequest,
    IssueState,
    Meter,
    NotFound,
    ProjectSpec,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    no_lock,
)
from issuebot.providers.shared import (
    is_updated_after,
    label_change,
    labels_for_new_issue,
    labels_to_write,
    parse_time,
    person_token,
    refuse_unless_created_by_issuebot,
    require_title,
)

log = logging.getLogger(__name__)

PAGE = 100  # GitLab's largest page: https://docs.gitlab.com/ee/api/rest/#pagination
MAX_RETRIES = 3  # python-gitlab retries 10 times by default; a sync should fail faster
ACCESS_LEVELS = {
    "guest": AccessLevel.GUEST,
    "reporter": AccessLevel.REPORTER,
    "developer": AccessLevel.DEVELOPER,
    "maintainer": AccessLevel.MAINTAINER,
}
# GitLab project names: letters, digits, emoji, '_', '.', '+', '-' and spaces, starting with a
# letter, digit, emoji or '_' (https://docs.gitlab.com/ee/user/reserved_names.html).
_NAME_UNSAFE = re.compile(r"[^\w.+\- ]+")


class _BoundedGitlab(gitlab.Gitlab):
    """python-gitlab that obeys rate limits and retries transient errors, at most `max_retries` times.

    Retries: https://python-gitlab.readthedocs.io/en/stable/api-usage-advanced.html#rate-limits
    """

    max_retries = MAX_RETRIES

    def http_request(self, verb: str, path: str, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("max_retries", self.max_retries)
        kwargs.setdefault("obey_rate_limit", True)
        return super().http_request(verb, path, *args, **kwargs)


class GitLabProvider:
    """Pair projects in one GitLab group. Every HTTP call (retries included) is metered as a read
    (GET) or a write (anything else) by a response hook on the client's session."""

    kind = "gitlab"
    labels_per_project = False

    def __init__(
        self,
        url: str,
        token: str,
        group: str,
        *,
        pair_access: str = "developer",
        coordinator_access: str = "reporter",
        max_retry_wait: float = 60,
        person_tokens: Mapping[str, str] | None = None,
    ):
        self.group = group.strip("/")
        self._url = url
        self._options = {"pair_access": pair_access, "coordinator_access": coordinator_access,
                         "max_retry_wait": max_retry_wait}
        self.person_tokens = dict(person_tokens or {})
        self.meter = Meter()
        self.max_retry_wait = max_retry_wait
        # A participant of a private channel is a Guest: confidential issues not theirs stay hidden.
        self.access = {"pair": ACCESS_LEVELS[pair_access], "coordinator": ACCESS_LEVELS[coordinator_access],
                       "participant": ACCESS_LEVELS["guest"]}
        self._session = requests.Session()
        self._session.hooks["response"].append(self._on_response)
        self.gl = _BoundedGitlab(
            url.rstrip("/"), private_token=token, session=self._session,
            retry_transient_errors=True, per_page=PAGE,
        )
        self._verb = "request"
        self._bot: str | None = None
        self._group_id: int | None = None
        self._user_ids: dict[str, int] = {}
        self._last_retry_after: float | None = None
        # Set when the token may not manage group labels: they go into each project instead.
        self._project_label_specs: tuple[tuple[str, str, str], ...] | None = None
        self._labelled_projects: set[str] = set()
        self._group_handle: Any = None
        self._project_handles: dict[str, Any] = {}

    # ------------------------------------------------------------------ plumbing

    def _on_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        """Count the call; refuse a rate-limit wait longer than `max_retry_wait` instead of sleeping.

        python-gitlab sleeps for the whole Retry-After (or until RateLimit-Reset) before retrying
        a 429 (gitlab/utils.py, Retry.handle_retry_on_status); raising here stops that sleep.
        Headers: https://docs.gitlab.com/ee/administration/settings/user_and_ip_rate_limits.html#response-headers
        """
        if response.request.method in ("GET", "HEAD"):
            self.meter.read(self._verb)
        else:
            self.meter.write(self._verb)
        if response.status_code == 429:
            wait = _retry_after(response.headers)
            self._last_retry_after = wait
            if wait is not None and wait > self.max_retry_wait:
                raise RateLimited(
                    f"GitLab rate limit reached; it asks to wait {wait:.0f}s, longer than "
                    f"max_retry_wait ({self.max_retry_wait:g}s); run again later to continue",
                    retry_after=wait,
                )
            # python-gitlab reads Retry-After with int(): the HTTP-date form would crash its retry.
            if not (response.headers.get("Retry-After") or "0").strip().isdigit():
                raise RateLimited("GitLab rate limit reached; run again later to continue", retry_after=wait)
        return response

    @contextlib.contextmanager
    def _api(self, verb: str, what: str) -> Iterator[None]:
        """Meter calls under `verb` and turn python-gitlab errors into the protocol's errors."""
        self._verb = verb
        self._last_retry_after = None
        try:
            yield
        except GitlabError as exc:
            raise self._translate(exc, what) from None
        except requests.RequestException as exc:
            raise ProviderUnavailable(f"GitLab did not answer while {what} ({exc.__class__.__name__})") from None

    def _translate(self, exc: GitlabError, what: str) -> ProviderError:
        code = exc.response_code
        detail = _detail(exc)
        if code == 401:
            return AuthenticationFailed(
                f"GitLab rejected the access token while {what} ({detail}); check that it is valid, "
                "not expired, and has the api scope"
            )
        if code == 403:
            return Forbidden(f"GitLab refused {what}: the token's user lacks the permission ({detail})")
        if code == 404:
            return NotFound(f"GitLab found nothing while {what} (it does not exist or the token cannot see it)")
        if code == 429:
            return RateLimited(
                f"GitLab rate limit reached while {what} after {self.gl.max_retries} retries; run again later",
                retry_after=self._last_retry_after or 60.0,
            )
        if code is None or code >= 500:
            return ProviderUnavailable(f"GitLab is unavailable ({code or 'no answer'}) while {what}; try again later")
        return InvalidRequest(f"GitLab rejected {what} ({code}): {detail}")

    def exclusive(self) -> contextlib.AbstractContextManager[None]:
        """GitLab has no cross-process lock to take; writes are idempotent through markers."""
        return no_lock()

    def project_path(self, name: str) -> str:
        return f"{self.group}/{name}"

    def _group(self) -> Any:
        if self._group_handle is None:
            self._group_handle = self.gl.groups.get(self.group, lazy=True)
        return self._group_handle

    def _project(self, path: str) -> Any:
        """A lazy project handle (no call); cached, as python-gitlab builds ~80 managers for each."""
        handle = self._project_handles.get(path)
        if handle is None:
            handle = self._project_handles[path] = self.gl.projects.get(path, lazy=True)
        return handle

    def _issue(self, project: str, number: int) -> Any:
        return self._project(project).issues.get(number, lazy=True)

    @property
    def bot_username(self) -> str:
        """The token's user (GET /user once, cached)."""
        return self._authenticate()

    def _authenticate(self) -> str:
        if self._bot is None:
            with self._api("whoami", "reading the token's user"):
                self.gl.auth()
                self._bot = self.gl.user.username  # type: ignore[union-attr]
        return self._bot

    def check_access(self) -> None:
        """GET /user (is the token valid), GET /groups/:path (does the group exist for it)."""
        self._authenticate()
        self._group_id = None  # asked again on every check: access may have changed
        try:
            self._namespace_id()
        except NotFound:
            raise NotFound(
                f"GitLab group {self.group} does not exist or {self._bot} cannot see it; "
                "check provider.group in the program file"
            ) from None
        except Forbidden:
            raise Forbidden(f"{self._bot} may not read GitLab group {self.group}; give it access to the group") from None

    def _namespace_id(self) -> int:
        """The group's numeric id (GET /groups/:path once, cached)."""
        if self._group_id is None:
            with self._api("get_group", f"reading group {self.group}"):
                self._group_id = self.gl.groups.get(self.group).id
        return self._group_id

    # ------------------------------------------------------------------ projects

    def list_projects(self) -> list[Project]:
        """GET /groups/:path/projects, one call per 100 projects (shared projects excluded)."""
        with self._api("list_projects", f"listing the projects of group {self.group}"):
            listing = self._group().projects.list(iterator=True, with_shared="false", order_by="id", sort="asc")
            return [_project(p.attributes) for p in listing]

    def ensure_project(self, spec: ProjectSpec) -> tuple[Project, bool]:
        """GET /projects/:path; POST /projects when missing (private, issues on, in the group).

        A project at that path whose description lacks `spec.owner_token` is refused untouched.
        """
        path = self.project_path(spec.name)
        with self._api("get_project", f"reading project {path}"):
            try:
                existing = self.gl.projects.get(path)
            except GitlabError as exc:
                if exc.response_code != 404:
                    raise
                existing = None
        if existing is not None:
            refuse_unless_created_by_issuebot(spec, path, existing.attributes.get("description") or "")
            return _project(existing.attributes), False
        namespace_id = self._namespace_id()
        with self._api("create_project", f"creating project {path}"):
            created = self.gl.projects.create({
                "name": _display_name(spec.title, spec.name),
                "path": spec.name,
                "namespace_id": namespace_id,
                "visibility": "private",
                "issues_access_level": "enabled",
                "description": spec.description,
            })
        return _project(created.attributes), True

    def archive_project(self, project: str) -> bool:
        """GET /projects/:path; POST /projects/:path/archive when not archived yet."""
        with self._api("get_project", f"reading project {project}"):
            current = self.gl.projects.get(project)
        if current.attributes.get("archived"):
            return False
        with self._api("archive_project", f"archiving project {project}"):
            current.archive()
        return True

    # ------------------------------------------------------------------ members

    def _user_id(self, username: str) -> int:
        """GET /users?username= once per username (cached)."""
        if username not in self._user_ids:
            with self._api("find_user", f"looking up user {username}"):
                found = self.gl.users.list(username=username, get_all=False)
            if not found:
                raise NotFound(
                    f"GitLab has no user {username!r}; check that person's username "
                    "(or handles.gitlab) in the program file"
                )
            self._user_ids[username] = found[0].id
        return self._user_ids[username]

    def ensure_members(self, project: str, members: Sequence[Member]) -> int:
        """GET /projects/:path/members/all (inherited members count); per missing member one user
        lookup (cached) and POST /projects/:path/members, or PUT when already a direct member.

        Access never goes down: someone with more access (e.g. a group owner) is left alone.
        """
        return self._grant(project, [(m.username, int(self.access[m.role])) for m in members])

    def _grant(self, project: str, wanted: Sequence[tuple[str, int]]) -> int:
        with self._api("list_members", f"listing members of {project}"):
            have = {m.username: m.access_level for m in self._project(project).members_all.list(iterator=True)}
        writes = 0
        for username, level in wanted:
            if have.get(username, 0) >= level:
                continue
            user_id = self._user_id(username)
            with self._api("add_member", f"adding {username} to {project}"):
                try:
                    self._project(project).members.create({"user_id": user_id, "access_level": level})
                except GitlabError as exc:
                    if exc.response_code != 409:  # already a direct member: raise the level
                        raise
                    self._project(project).members.update(user_id, {"access_level": level})
            writes += 1
        return writes

    # ------------------------------------------------------------------ labels

    def ensure_labels(self, labels: Sequence[tuple[str, str, str]], project: str | None = None) -> int:
        """GET the group's (or project's) labels; POST each missing one, PUT each changed one.

        Group labels need the Reporter role or higher in the group; before its first group-label
        write, GET /groups/:path/members/all/:user_id checks that. Without it a warning is logged
        and the labels are created in each pair project on its first issue write instead, so a
        rerun makes no failed write either. https://docs.gitlab.com/ee/user/permissions.html
        """
        if project is not None:
            return self._ensure_labels_in(self._project(project), labels, f"project {project}")
        if self._project_label_specs is not None:
            self._project_label_specs = tuple(labels)
            return 0
        where = f"group {self.group}"
        changes = self._label_changes(self._group(), labels, where, ancestors=False)
        if not changes:
            return 0
        try:
            if self._may_manage_group_labels():
                return self._write_labels(self._group(), changes, where)
        except Forbidden:
            pass
        log.warning(
            "the GitLab token may not manage the labels of group %s; creating them in each pair "
            "project instead (give it the Reporter role or higher in the group to avoid this)",
            self.group,
        )
        self._project_label_specs = tuple(labels)
        return 0

    def _may_manage_group_labels(self) -> bool:
        """GET /groups/:path/members/all/:user_id (1 read): Reporter or higher. An instance admin
        need not be a member (404): then GitLab decides on the write itself."""
        self._authenticate()
        try:
            with self._api("get_member", f"reading the token's role in group {self.group}"):
                member = self._group().members_all.get(self.gl.user.id)  # type: ignore[union-attr]
        except NotFound:
            return True
        return int(member.access_level) >= int(AccessLevel.REPORTER)

    def _ensure_labels_in(self, owner: Any, labels: Sequence[tuple[str, str, str]], where: str, ancestors: bool = True) -> int:
        return self._write_labels(owner, self._label_changes(owner, labels, where, ancestors), where)

    def _label_changes(self, owner: Any, labels: Sequence[tuple[str, str, str]], where: str,
                       ancestors: bool = True) -> list[tuple[str, dict[str, str], bool]]:
        """(name, wanted attributes, exists already) of each label that is missing or differs (1 read)."""
        with self._api("list_labels", f"listing labels of {where}"):
            extra = {} if ancestors else {"include_ancestor_groups": "false"}
            have = {l.name: (l.attributes.get("color") or "", l.attributes.get("description") or "")
                    for l in owner.labels.list(iterator=True, **extra)}
        return [(name, {"color": "#" + color, "description": description}, exists)
                for name, color, description, exists in labels_to_write(have, labels)]

    def _write_labels(self, owner: Any, changes: Sequence[tuple[str, dict[str, str], bool]], where: str) -> int:
        for name, wanted, exists in changes:
            if exists:
                with self._api("save_label", f"updating label {name} in {where}"):
                    owner.labels.update(name, dict(wanted))
            else:
                with self._api("save_label", f"creating label {name} in {where}"):
                    owner.labels.create({"name": name, **wanted})
        return len(changes)

    def _project_labels_ready(self, project: str) -> None:
        """In the group-label fallback, the project's own labels before its first issue write."""
        if self._project_label_specs is not None and project not in self._labelled_projects:
            self._ensure_labels_in(self._project(project), self._project_label_specs, f"project {project}")
            self._labelled_projects.add(project)

    # ------------------------------------------------------------------ issues

    def list_issues(
        self,
        project: str | None = None,
        *,
        labels: Sequence[str] = (),
        state: IssueState = "open",
        updated_after: datetime | None = None,
    ) -> Iterator[Issue]:
        """GET /groups/:path/issues (project=None) or /projects/:path/issues, 100 per page, every
        page by the Link header. Labels filter with AND. GitLab's `updated_after` includes the
        instant itself; the protocol does not, so such issues are skipped here.
        Issues of archived projects are included, as for a project listing."""
        params: dict[str, Any] = {"order_by": "created_at", "sort": "asc"}
        if state != "all":
            params["state"] = "opened" if state == "open" else "closed"
        if labels:
            params["labels"] = ",".join(labels)
        if updated_after is not None:
            params["updated_after"] = _iso(updated_after)
        return self._iter_issues(project, params, updated_after)

    def _iter_issues(self, project: str | None, params: dict[str, Any], cutoff: datetime | None) -> Iterator[Issue]:
        what = f"listing issues of {project or f'group {self.group}'}"
        # The metering verb is held only while a page is fetched: between items the caller may
        # make calls of its own, which must not be counted as this listing's.
        with self._api("list_issues", what):
            if project is None:
                # Group issues API: https://docs.gitlab.com/ee/api/issues.html#list-group-issues
                listing = iter(self._group().issues.list(iterator=True, scope="all", non_archived="false", **params))
            else:
                listing = iter(self._project(project).issues.list(iterator=True, **params))
        while True:
            with self._api("list_issues", what):
                item = next(listing, None)
            if item is None:
                return
            issue = _issue(item.attributes, project)
            if is_updated_after(issue, cutoff):
                yield issue

    def get_issue(self, project: str, number: int) -> Issue:
        """GET /projects/:path/issues/:iid."""
        with self._api("get_issue", f"reading issue {project}#{number}"):
            return _issue(self._project(project).issues.get(number).attributes, project)

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
    ) -> Issue:
        """POST /projects/:path/issues (plus one cached user lookup per new assignee)."""
        require_title(title)
        data: dict[str, Any] = {"title": title, "description": body}
        if labels:
            self._project_labels_ready(project)
            data["labels"] = ",".join(labels_for_new_issue(labels))
        if assignees:
            data["assignee_ids"] = [self._user_id(a) for a in assignees]
        if due is not None:
            data["due_date"] = due.isoformat()
        if confidential:
            data["confidential"] = True
        with self._api("create_issue", f"creating an issue in {project}"):
            # No transient retry: a 5xx may come after GitLab created the issue, and a blind retry
            # would open it twice. The caller looks for the issue's marker instead.
            created = self._project(project).issues.create(data, retry_transient_errors=False)
        return _issue(created.attributes, project)

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
        """GET /projects/:path/issues/:iid, then one PUT with only what differs (none if nothing).

        Labels use add_labels/remove_labels so a person's concurrent label edits survive. Adding a
        scoped label removes its siblings: scoped labels are exclusive only on paid tiers
        (https://docs.gitlab.com/ee/user/project/labels.html#scoped-labels).
        """
        with self._api("get_issue", f"reading issue {project}#{number}"):
            current = self._project(project).issues.get(number).attributes
        change = label_change(current.get("labels") or [], add_labels, remove_labels)
        changes: dict[str, Any] = {}
        if change.added:
            self._project_labels_ready(project)
            changes["add_labels"] = ",".join(change.added)
        if change.removed:
            changes["remove_labels"] = ",".join(change.removed)
        if title is not None and title != current.get("title"):
            require_title(title)
            changes["title"] = title
        if body is not None and body != (current.get("description") or ""):
            changes["description"] = body
        if state is not None and state != _state(current):
            changes["state_event"] = "close" if state == "closed" else "reopen"
        if due is not UNSET:
            new_due = due.isoformat() if isinstance(due, date) else None
            if new_due != current.get("due_date"):
                changes["due_date"] = new_due
        if assignees is not None and list(assignees) != [a["username"] for a in current.get("assignees") or []]:
            changes["assignee_ids"] = [self._user_id(a) for a in assignees] or [0]
        if confidential is not None and confidential != bool(current.get("confidential")):
            changes["confidential"] = confidential
        if not changes:
            return _issue(current, project)
        with self._api("update_issue", f"updating issue {project}#{number}"):
            updated = self._project(project).issues.update(number, changes)
        return _issue(updated, project)

    # ------------------------------------------------------------------ comments

    def list_comments(self, project: str, number: int, since: datetime | None = None) -> list[Comment]:
        """GET /projects/:path/issues/:iid/notes, one call per 100 notes; system notes skipped.

        The notes API has no `since` filter, so it is applied here."""
        with self._api("list_comments", f"reading comments of {project}#{number}"):
            notes = self._issue(project, number).notes.list(iterator=True, order_by="created_at", sort="asc")
            found = [n.attributes for n in notes]
        comments = [_comment(n, project, number) for n in found if not n.get("system")]
        if since is not None:
            comments = [c for c in comments if c.updated_at is None or c.updated_at >= since]
        return comments

    def create_comment(self, project: str, number: int, body: str) -> Comment:
        """POST /projects/:path/issues/:iid/notes."""
        with self._api("create_comment", f"commenting on {project}#{number}"):
            note = self._issue(project, number).notes.create({"body": body}, retry_transient_errors=False)
        return _comment(note.attributes, project, number)

    # ------------------------------------------------------------------ board

    def ensure_board(self, name: str, labels: Sequence[str]) -> bool:
        """GET /groups/:path/boards (lists included: 1 call when the board is already right);
        otherwise GET /groups/:path/labels for label ids, POST the board when none is called
        `name`, and POST one list per missing label.

        GitLab Free allows one group board (https://docs.gitlab.com/ee/user/project/issue_board.html#multiple-issue-boards):
        when creating a second one is refused, the existing board gets the lists. Without the
        labels at group level (the project-label fallback) there is no board: a warning says so.
        """
        group = self._group()
        with self._api("list_boards", f"listing boards of group {self.group}"):
            boards = list(group.boards.list(iterator=True))
        board = next((b for b in boards if b.attributes.get("name") == name), None)
        lists = board.attributes.get("lists") or [] if board is not None else []
        listed = {(lst.get("label") or {}).get("name") for lst in lists}
        if board is not None and all(label in listed for label in labels):
            return False
        with self._api("list_labels", f"listing labels of group {self.group}"):
            label_ids = {l.name: l.id for l in group.labels.list(iterator=True)}
        missing = [l for l in labels if l not in label_ids]
        if missing:
            log.warning("no board %r in GitLab group %s: its labels are not group labels (%s)",
                        name, self.group, ", ".join(missing))
            return False
        changed = False
        if board is None:
            try:
                with self._api("create_board", f"creating board {name!r} in group {self.group}"):
                    board = group.boards.create({"name": name})
                changed = True
            except (Forbidden, NotFound):
                if len(boards) != 1:
                    raise
                board = boards[0]
                log.warning("GitLab allows one board in group %s here; using board %r for the pair lists",
                            self.group, board.attributes.get("name"))
        have = {(lst.get("label") or {}).get("id") for lst in board.attributes.get("lists") or []}
        for label in labels:
            if label_ids[label] in have:
                continue
            with self._api("add_board_list", f"adding list {label} to board {name!r}"):
                board.lists.create({"label_id": label_ids[label]})
            changed = True
        return changed

    # ------------------------------------------------------------------ events

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> Event | None:
        """A GitLab delivery as an Event (0 calls; pure parsing lives in gitlab_hooks)."""
        from issuebot.providers import gitlab_hooks

        return gitlab_hooks.parse(headers, body)

    # ------------------------------------------------------------------ diagnosis (read-only: issuebot doctor)

    def access_report(self) -> AccessReport:
        """GET /user (cached), GET /personal_access_tokens/self (scopes; personal, group and project
        tokens alike), GET /groups/:path/members/all/:user_id (role). 2-3 reads.
        https://docs.gitlab.com/ee/api/personal_access_tokens.html#get-single-personal-access-token
        Creating projects in a group takes Maintainer by default and group labels Reporter:
        https://docs.gitlab.com/ee/user/permissions.html"""
        account = self._authenticate()
        missing: list[str] = []
        with self._api("token_scopes", "reading the token's scopes"):
            try:
                scopes = self.gl.http_get("/personal_access_tokens/self").get("scopes")  # type: ignore[union-attr]
            except GitlabError as exc:
                if exc.response_code != 404:  # before GitLab 16.0 there is no such endpoint
                    raise
                scopes = None
        if isinstance(scopes, list) and "api" not in scopes:
            missing.append(f"the api scope (the token has {', '.join(map(str, scopes)) or 'none'})")
        if getattr(self.gl.user, "is_admin", False):
            return AccessReport(account=account, role="Administrator", missing=tuple(missing))
        level = 0
        with self._api("get_member", f"reading the token's role in group {self.group}"):
            try:
                level = int(self._group().members_all.get(self.gl.user.id).access_level)  # type: ignore[union-attr]
            except GitlabError as exc:
                if exc.response_code != 404:
                    raise
        role = _ROLE_NAMES.get(level, "no role")
        if level < int(AccessLevel.MAINTAINER):
            missing.append(f"the Maintainer role in group {self.group} to create pair projects and group labels "
                           f"(it has {role})")
        return AccessReport(account=account, role=role, missing=tuple(missing))

    def member_usernames(self) -> list[str]:
        """GET /groups/:path/members/all: one read per 100 members (inherited ones included)."""
        with self._api("list_group_members", f"listing the members of group {self.group}"):
            return [str(m.username) for m in self._group().members_all.list(iterator=True)]

    def missing_usernames(self, usernames: Sequence[str]) -> list[str]:
        """GET /users?username= per username (cached, as for adding members)."""
        missing = []
        for username in usernames:
            try:
                self._user_id(username)
            except NotFound:
                missing.append(username)
        return missing

    def hook_report(self, url: str) -> HookReport | None:
        """GET /groups/:path/hooks: one read (group hooks are a Premium feature; elsewhere none is found).
        A hook GitLab stopped calling after failures has `alert_status` disabled or temporarily_disabled:
        https://docs.gitlab.com/ee/user/project/integrations/webhooks.html#auto-disabled-webhooks"""
        with self._api("list_hooks", f"listing the webhooks of group {self.group}"):
            try:
                hooks = [h.attributes for h in self._group().hooks.list(get_all=True)]
            except GitlabError as exc:
                if exc.response_code not in (403, 404):
                    raise
                return None
        for hook in hooks:
            if str(hook.get("url", "")).rstrip("/") == url.rstrip("/"):
                status = hook.get("alert_status")
                return HookReport(
                    url=url, active=status in (None, "executable"),
                    missing_events=tuple(e for e in _HOOK_EVENTS if not hook.get(e)),
                    last_delivery_ok=None if status is None else status == "executable",
                )
        return None

    # ------------------------------------------------------------------ cohort: forms and access

    def ensure_issue_form(self, project: str, name: str, title: str, about: str, labels: Sequence[str],
                          fields: Sequence[FormField], *, opening: str = "", confidential: bool = False) -> bool:
        """A description template `.gitlab/issue_templates/<name>.md` (GitLab's convention:
        https://docs.gitlab.com/ee/user/project/description_templates.html): GET the file on the
        default branch, then POST (new) or PUT (changed) it; nothing when it is current.
        A filled-in template keeps one `### <label>` section per question."""
        # The quick action first: GitLab carries it out and drops the line, and before the first
        # question it is never read as part of an answer. It labels nothing when a Guest files the
        # issue (Guests may not set labels: https://gitlab.com/gitlab-org/gitlab/-/issues/27800), so
        # `people import` reads every issue people opened in the intake project, labelled or not.
        actions = [f'/label {" ".join("~" + json.dumps(label) for label in labels)}'] if labels else []
        if confidential:
            # Carried out for Reporters and up; for a Guest GitLab drops the line and does nothing
            # (https://gitlab.com/gitlab-org/gitlab/-/issues/276388), so the opening asks them to
            # tick "This issue is confidential" too, which Guests may do when they create an issue.
            actions.append("/confidential")
        lines = [f"<!-- {about} -->", *(actions or [""]), ""]
        if opening.strip():
            lines += [opening.strip(), ""]
        for item in fields:
            hint = "; ".join(x for x in (item.description, " / ".join(item.options), "required" if item.required else "") if x)
            lines += [f"### {item.label}", "", f"<!-- {hint} -->" if hint else "", ""]
        content = "\n".join(lines).rstrip() + "\n"
        path = f".gitlab/issue_templates/{name}.md"
        handle = self._project(project)
        with self._api("get_project", f"reading {project}"):
            branch = self.gl.projects.get(project).default_branch or "main"
        with self._api("get_file", f"reading {path} in {project}"):
            try:
                current = handle.files.get(file_path=path, ref=branch)
            except GitlabGetError as exc:
                if exc.response_code != 404:
                    raise
                current = None
        if current is not None and current.decode().decode("utf-8") == content:
            return False
        with self._api("write_file", f"writing {path} in {project}"):
            if current is None:
                handle.files.create({"file_path": path, "branch": branch, "content": content,
                                     "commit_message": f"issuebot: {title} form"})
            else:
                current.content = content
                current.save(branch=branch, commit_message=f"issuebot: {title} form")
        return True

    def ensure_access(self, project: str, usernames: Sequence[str], access: str) -> int:
        """As ensure_members, with one access level for everyone named (e.g. Guest on a cohort
        space, Developer on a delivery project outside the group when given as a full path)."""
        path = project if "/" in project else self.project_path(project)
        return self._grant(path, [(username, int(ACCESS_LEVELS[access])) for username in usernames])

    # ------------------------------------------------------------------ acting as a person

    def as_user(self, username: str) -> GitLabProvider:
        """The same group, every call made with `username`'s own token (the variable
        `provider.person_tokens` names for them), so GitLab applies that person's permissions
        (0 calls). Raises AuthenticationFailed when no token is named or set."""
        token = person_token(self.person_tokens, username, "GitLab")
        return GitLabProvider(self._url, token, self.group, person_tokens=self.person_tokens,
                              **self._options)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ private channels

    def private_channel_path(self, channel: str, handle: str) -> str:
        """One project `channel` in the group where participants are Guests: a Guest reads only the
        confidential issues they authored or are assigned, Reporters (coordinators) all of them
        (https://docs.gitlab.com/ee/user/project/issues/confidential_issues.html#who-can-see-confidential-issues).
        0 calls."""
        return self.project_path(channel)






# Events issuebot acts on (quick commands in comments, closed session issues, confidential requests).
_HOOK_EVENTS = ("issues_events", "note_events", "confidential_issues_events", "confidential_note_events")
_ROLE_NAMES = {10: "Guest", 15: "Planner", 20: "Reporter", 30: "Developer", 40: "Maintainer", 50: "Owner"}


# ---------------------------------------------------------------------- mapping

def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds GitLab asks to wait: Retry-After (seconds or HTTP date) or RateLimit-Reset (epoch)."""
    value = headers.get("Retry-After")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            with contextlib.suppress(TypeError, ValueError):
                return max(0.0, (parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds())
    reset = headers.get("RateLimit-Reset")
    if reset:
        with contextlib.suppress(ValueError):
            return max(0.0, float(reset) - time.time())
    return None


def _detail(exc: GitlabError) -> str:
    message = exc.error_message
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    if isinstance(message, dict):
        message = "; ".join(f"{k} {', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in message.items())
    return str(message)[:300]


def _display_name(title: str, fallback: str) -> str:
    name = " ".join(_NAME_UNSAFE.sub(" ", title).split())
    return name if name and (name[0].isalnum() or name[0] == "_") else fallback


def _iso(moment: datetime) -> str:
    moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _state(data: Mapping[str, Any]) -> Literal["open", "closed"]:
    return "closed" if data.get("state") == "closed" else "open"


def _project(data: Mapping[str, Any]) -> Project:
    return Project(
        path=data["path_with_namespace"], name=data["path"], description=data.get("description") or "",
        private=data.get("visibility") == "private", archived=bool(data.get("archived")),
        url=data.get("web_url") or "", id=data.get("id"),
    )


def _issue(data: Mapping[str, Any], project: str | None) -> Issue:
    if project is None:  # group listings: references.full is "group/project#iid" (GitLab 12.6+)
        full = (data.get("references") or {}).get("full")
        project = full.rsplit("#", 1)[0] if full else urlsplit(data.get("web_url") or "").path.split("/-/issues/")[0].strip("/")
    return Issue(
        project=project, number=int(data["iid"]), title=data.get("title") or "", body=data.get("description") or "",
        labels=tuple(data.get("labels") or ()), state=_state(data),
        assignees=tuple(a["username"] for a in data.get("assignees") or ()),
        due=date.fromisoformat(data["due_date"]) if data.get("due_date") else None,
        author=(data.get("author") or {}).get("username", ""),
        created_at=parse_time(data.get("created_at")), updated_at=parse_time(data.get("updated_at")),
        closed_at=parse_time(data.get("closed_at")), url=data.get("web_url") or "",
        confidential=bool(data.get("confidential")),
        # Comments people wrote (system notes such as label changes are not counted).
        comments=int(data["user_notes_count"]) if isinstance(data.get("user_notes_count"), int) else None,
    )


def _comment(data: Mapping[str, Any], project: str, number: int) -> Comment:
    return Comment(
        id=int(data["id"]), project=project, issue_number=number,
        author=(data.get("author") or {}).get("username", ""), body=data.get("body") or "",
        created_at=parse_time(data.get("created_at")), updated_at=parse_time(data.get("updated_at")),
        url=f"{project}#{number}/note_{data['id']}",
    )


def from_program(program: Any, clock: Callable[[], datetime] | None = None) -> GitLabProvider:
    """The GitLab group a program file names (`provider: {kind: gitlab, url, token_env, group}`).

    GitLab keeps its own timestamps, so `clock` is not needed here."""
    settings = program.settings.provider
    token = secret(settings.token_env)
    if not token:
        raise AuthenticationFailed(
            f"no GitLab token: set the environment variable {settings.token_env} "
            "(named by provider.token_env in the program file) to an access token with the api scope"
        )
    return GitLabProvider(
        settings.url, token, settings.group, pair_access=settings.pair_access,
        coordinator_access=settings.coordinator_access, max_retry_wait=settings.max_retry_wait,
        person_tokens=settings.person_tokens,
    )
