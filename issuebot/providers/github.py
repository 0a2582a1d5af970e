"""GitHub adapter on PyGithub: pair repositories in an organisation, token or GitHub App auth, metered calls."""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime, timezone
from typing import Any, Literal
from urllib.parse import quote, unquote, urlparse

import github
import requests
import yaml
from github import Auth, GithubException, GithubIntegration, GithubRetry
from github.GithubException import BadCredentialsException, RateLimitExceededExceedsMaxWait
from github.GithubObject import GithubObject

from issuebot.config import GitHubProviderConfig, secret
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
from issuebot.templates import Templates

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
PER_PAGE = 100  # GitHub's maximum page size
MAX_RETRIES = 5  # transient 5xx and short rate-limit waits; urllib3 backs off 0.5s, 1s, 2s, ...

# GitHub role names (collaborator listings) against the permission names PUT accepts.
# https://docs.github.com/en/rest/collaborators/collaborators#add-a-repository-collaborator
# The person in their own private-channel repository: reads, opens issues and comments.
PARTICIPANT_PERMISSION = "pull"
_RANK = {"pull": 1, "read": 1, "triage": 2, "push": 3, "write": 3, "maintain": 4, "admin": 5}

# The due date GitHub issues lack lives in a provider-owned block at the end of the body:
# the ISO date in the hidden opening marker, a visible line from the `due-line` template.
_DUE_BLOCK_RE = re.compile(
    r"(?:\r?\n)*<!--\s*issuebot:begin:due\s+(?P<date>\d{4}-\d{2}-\d{2})\s*-->.*?<!--\s*issuebot:end:due\s*-->[ \t]*(?:\r?\n)?",
    re.DOTALL,
)
_DUE_SUFFIX_RE = re.compile(
    r"\n\n<!-- issuebot:begin:due (?P<date>\d{4}-\d{2}-\d{2}) -->\n(?:(?!<!--).)*<!-- issuebot:end:due -->\n\Z", re.DOTALL
)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


# --------------------------------------------------------------------------- metering


class _Tally:
    """Counts HTTP calls into a Meter under the verb the provider is carrying out."""

    def __init__(self, meter: Meter):
        self.meter = meter
        self._lock = threading.Lock()
        self._local = threading.local()

    @contextlib.contextmanager
    def verb(self, name: str, *, as_read: bool = False) -> Iterator[None]:
        outer = getattr(self._local, "state", None)
        self._local.state = (name, as_read)
        try:
            yield
        finally:
            self._local.state = outer

    def count(self, method: str) -> None:
        name, as_read = getattr(self._local, "state", None) or ("github", False)
        with self._lock:
            if as_read or method.upper() in ("GET", "HEAD"):
                self.meter.read(name)
            else:
                self.meter.write(name)


class MeteredRetry(GithubRetry):
    """PyGithub's GithubRetry that also meters every HTTP response and caps Retry-After.

    urllib3 (and `responses`, which emulates it) consults `is_retry` exactly once per response
    it receives, retried attempts included, so counting there counts every call GitHub charges.
    A `Retry-After` longer than `max_rate_limit_wait` raises RateLimitExceededExceedsMaxWait at
    once instead of sleeping (GithubRetry itself caps only the X-RateLimit-Reset wait).
    """

    def __init__(self, tally: _Tally | None = None, **kwargs: Any):
        self.tally = tally
        super().__init__(**kwargs)

    def new(self, **kw: Any) -> MeteredRetry:
        kw["tally"] = self.tally
        return super().new(**kw)

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if self.tally is not None:
            self.tally.count(method)
        if method.upper() == "POST" and status_code >= 500:
            # A 5xx may come after GitHub created the issue or comment: a blind retry would post
            # it twice. The caller looks for the marker instead (rate limits are still retried).
            return False
        return super().is_retry(method, status_code, has_retry_after)

    def increment(self, method: str | None = None, url: str | None = None, response: Any = None, error: Exception | None = None,
                  _pool: Any = None, _stacktrace: Any = None) -> Any:
        if error is not None and (method or "").upper() == "POST" and self._is_read_error(error):
            # The request reached GitHub, which may be creating the comment or issue right now
            # (GithubRetry retries POSTs): the caller looks for the marker instead of posting twice.
            raise error.with_traceback(_stacktrace)
        if response is not None and self.max_rate_limit_wait is not None:
            wait = self.get_retry_after(response)
            if wait is not None and wait > self.max_rate_limit_wait:
                raise RateLimitExceededExceedsMaxWait(
                    response.status, {"message": "rate limit: Retry-After exceeds the allowed wait"},
                    dict(response.headers), wait=wait,
                )
        return super().increment(method, url, response, error, _pool, _stacktrace)


class _InstallationAuth(Auth.AppInstallationAuth):
    """AppInstallationAuth whose token exchange is metered as a read: minting a token changes
    nothing in the tracker, so a rerun that only refreshes its token still makes zero writes."""

    def __init__(self, app_auth: Auth.AppAuth, installation_id: int, tally: _Tally):
        self._tally = tally
        super().__init__(app_auth, installation_id)

    def _get_installation_authorization(self) -> Any:
        with self._tally.verb("installation_token", as_read=True):
            return super()._get_installation_authorization()


_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="next"')


def _next_link(headers: dict[str, Any]) -> str | None:
    """The URL of the next page from a `Link` header, or None on the last page."""
    link = next((v for k, v in headers.items() if k.lower() == "link"), None)
    match = _NEXT_LINK.search(link or "")
    return match.group(1) if match else None


def _json(obj: GithubObject) -> dict[str, Any]:
    """The JSON GitHub sent for `obj` as it came. (`raw_data` of a lazy PyGithub object fetches
    the object again; list elements lack keys such as `pull_request`, so reading them through
    attributes would cost one GET per issue.)"""
    return GithubObject.raw_data.fget(obj)  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- due dates in bodies


def split_due(raw: str | None) -> tuple[str, date | None]:
    """(body without the provider's due block, the due date it held). The block `join_due`
    appended comes off exactly; one a person moved or re-wrapped comes off with its blank lines."""
    text = raw or ""
    match = _DUE_SUFFIX_RE.search(text) or _DUE_BLOCK_RE.search(text)
    if match is None:
        return text, None
    try:
        due = date.fromisoformat(match.group("date"))
    except ValueError:
        due = None
    return text[: match.start()] + text[match.end():], due


def join_due(body: str, due: date | None, line: str) -> str:
    """`body` with the due block appended (nothing appended when `due` is None)."""
    if due is None:
        return body
    return f"{body}\n\n<!-- issuebot:begin:due {due.isoformat()} -->\n{line.strip()}\n<!-- issuebot:end:due -->\n"


# --------------------------------------------------------------------------- the provider


class GitHubProvider:
    """Pair repositories in one GitHub organisation, through PyGithub with `lazy=True`.

    Metering: `meter` counts every HTTP response (retries included) in the retry policy
    (MeteredRetry), as a read for GET and a write otherwise; installation-token exchanges count
    as reads. Retries: GithubRetry for 5xx and rate limits, bounded by `max_retry_wait`.
    """

    kind = "github"
    labels_per_project = True

    def __init__(self, settings: GitHubProviderConfig, *, templates: Templates | None = None, clock: Clock = _utcnow):
        self.settings = settings
        self.org = settings.org
        self.clock = clock
        self.templates = templates or Templates()
        self.meter = Meter()
        self._tally = _Tally(self.meter)
        self._retry = MeteredRetry(
            self._tally, total=MAX_RETRIES, backoff_factor=0.5, raise_on_status=False,
            max_rate_limit_wait=settings.max_retry_wait, secondary_rate_wait=min(60, settings.max_retry_wait),
        )
        self._client: github.Github | None = None
        self._bot_username: str | None = None
        self._app_auth: Auth.AppAuth | None = None  # set by _credentials for GitHub App sign-in
        self._org_listing = True  # False once GitHub refused GET /orgs/{org}/issues to this token

    # ------------------------------------------------------------------ plumbing

    def _credentials(self) -> Auth.Auth:
        """Token or GitHub App installation auth from the variables the program file names."""
        app = self.settings.app
        if app is None:
            token = secret(self.settings.token_env)
            if token is None:
                raise AuthenticationFailed(
                    f"environment variable {self.settings.token_env} is not set; it must hold a GitHub token "
                    f"(program.provider.token_env)"
                )
            return Auth.Token(token)
        key = secret(app.private_key_env)
        if key is None:
            raise AuthenticationFailed(
                f"environment variable {app.private_key_env} is not set; it must hold the GitHub App's private key "
                f"(program.provider.app.private_key_env)"
            )
        app_auth = self._app_auth = Auth.AppAuth(app.app_id, key)
        try:
            app_auth.create_jwt()  # signs locally: a bad key fails here, before any call
        except Exception as exc:  # PyJWT and cryptography raise several types for a bad key
            raise AuthenticationFailed(
                f"the private key in {app.private_key_env} cannot sign a GitHub App token "
                f"({exc.__class__.__name__}); paste the whole PEM file including its BEGIN/END lines"
            ) from None
        installation_id = app.installation_id
        if installation_id is None:
            with self._api("find the App's installation", verb="get_installation"):
                installation = self._integration(app_auth).get_org_installation(self.org)
                installation_id = installation.id
        return _InstallationAuth(app_auth, installation_id, self._tally)

    def _integration(self, app_auth: Auth.AppAuth) -> GithubIntegration:
        return GithubIntegration(auth=app_auth, base_url=self.settings.url, retry=self._retry, per_page=PER_PAGE,
                                 seconds_between_requests=self.settings.seconds_between_requests,
                                 seconds_between_writes=self.settings.seconds_between_writes)

    @property
    def gh(self) -> github.Github:
        """The PyGithub client, built on first use (building it reads the secrets)."""
        return self._connect()

    def _connect(self) -> github.Github:
        if self._client is None:
            self._client = github.Github(
                auth=self._credentials(), base_url=self.settings.url, per_page=PER_PAGE, lazy=True,
                retry=self._retry, seconds_between_requests=self.settings.seconds_between_requests,
                seconds_between_writes=self.settings.seconds_between_writes,
            )
        return self._client

    @contextlib.contextmanager
    def _api(self, what: str, *, verb: str | None = None) -> Iterator[None]:
        """Meter calls under `verb` and turn GitHub's failures into the protocol's errors."""
        with self._tally.verb(verb or what.split(" ")[0]):
            try:
                yield
            except ProviderError:
                raise
            except RateLimitExceededExceedsMaxWait as exc:
                wait = float(exc.wait or 0)
                raise RateLimited(
                    f"GitHub rate limit while trying to {what}: GitHub asks to wait {wait:.0f}s, longer than "
                    f"max_retry_wait ({self.settings.max_retry_wait}s); run again later, it resumes where it stopped",
                    retry_after=wait,
                ) from None
            except GithubException as exc:
                raise self._error(exc, what) from None
            except requests.RequestException as exc:
                raise ProviderUnavailable(
                    f"cannot reach GitHub at {self.settings.url} to {what} ({exc.__class__.__name__})"
                ) from None

    def _error(self, exc: GithubException, what: str) -> ProviderError:
        status = exc.status
        data = exc.data if isinstance(exc.data, dict) else {}
        message = str(data.get("message") or exc.message or "").strip()
        headers = {k.lower(): str(v) for k, v in (exc.headers or {}).items()}
        if status == 401 or isinstance(exc, BadCredentialsException):
            where = self.settings.app.private_key_env if self.settings.app else self.settings.token_env
            return AuthenticationFailed(
                f"GitHub refused the credentials from {where} (401 {message or 'Bad credentials'}) while trying to "
                f"{what}; the token may be expired or revoked"
            )
        if status == 429 or (status == 403 and (headers.get("x-ratelimit-remaining") == "0"
                                                 or "retry-after" in headers or "rate limit" in message.lower())):
            retry_after = _seconds(headers.get("retry-after"))
            if retry_after is None and headers.get("x-ratelimit-reset", "").isdigit():
                retry_after = max(0.0, int(headers["x-ratelimit-reset"]) - _utcnow().timestamp())
            return RateLimited(
                f"GitHub rate limit while trying to {what} ({status} {message}); run again later, it resumes "
                f"where it stopped", retry_after=retry_after,
            )
        if status == 403:
            return Forbidden(
                f"GitHub refused to {what} (403 {message}); the token or App needs more access to "
                f"organization {self.org} (repository administration, issues: write)"
            )
        if status in (404, 410):
            return NotFound(f"cannot {what}: GitHub answered {status} {message or 'Not Found'}")
        if status in (400, 422):
            details = "; ".join(
                " ".join(str(e.get(k)) for k in ("resource", "field", "code", "message") if e.get(k))
                for e in data.get("errors", []) if isinstance(e, dict)
            )
            return InvalidRequest(
                f"GitHub rejected the request to {what} ({status} {message}" + (f": {details}" if details else "") + ")"
            )
        if status >= 500:
            return ProviderUnavailable(f"GitHub is unavailable ({status}) while trying to {what}; try again later")
        return ProviderError(f"GitHub answered {status} {message} while trying to {what}")

    def exclusive(self) -> contextlib.AbstractContextManager[None]:
        """GitHub offers no lock; markers keep concurrent writers from duplicating issues."""
        return no_lock()

    def project_path(self, name: str) -> str:
        return f"{self.org}/{name}"

    def _repo(self, project: str) -> Any:
        return self.gh.get_repo(project)  # lazy: no call until an attribute is read

    # ------------------------------------------------------------------ identity

    @property
    def bot_username(self) -> str:
        """The token's login, or `<app slug>[bot]` for a GitHub App (one read, then cached)."""
        if self._bot_username is None:
            app = self.settings.app
            if app is None:
                with self._api("read the authenticated user", verb="get_user"):
                    self._bot_username = str(self.gh.get_user().login)
            else:
                self._connect()  # validates the key (keeping the app's sign-in) and resolves the installation
                with self._api("read the GitHub App", verb="get_app"):
                    assert self._app_auth is not None  # set by _connect for an App
                    slug = self._integration(self._app_auth).get_app().slug
                self._bot_username = f"{slug}[bot]"
        return self._bot_username

    def check_access(self) -> None:
        """The credentials and the organisation, before any write: GET /user (token) or GET /app
        (App; plus POST /app/installations/{id}/access_tokens), then GET /orgs/{org}. 2-3 reads."""
        log.debug("signed in to GitHub as %s", self.bot_username)
        with self._api(f"read organization {self.org}", verb="get_org"):
            try:
                self.gh.get_organization(self.org).complete()
            except GithubException as exc:
                if exc.status == 404:
                    raise NotFound(
                        f"organization {self.org} does not exist or {self.bot_username} cannot see it "
                        f"(program.provider.org)"
                    ) from None
                raise

    # ------------------------------------------------------------------ projects

    def list_projects(self) -> list[Project]:
        """GET /orgs/{org}/repos?type=all: one read per 100 repositories."""
        return [_project(data) for data in self._pages(f"/orgs/{self.org}/repos", {"type": "all"},
                                                       f"list the repositories of {self.org}", "list_projects")]

    def ensure_project(self, spec: ProjectSpec) -> tuple[Project, bool]:
        """GET /repos/{org}/{name} (1 read); when missing POST /orgs/{org}/repos (1 write): private,
        issues on, wiki and projects off. An existing repository without `spec.owner_token` in its
        description is refused untouched (ProjectTaken)."""
        path = self.project_path(spec.name)
        with self._api(f"read repository {path}", verb="get_project"):
            try:
                existing = _project(_json(self._repo(path).complete()))
            except GithubException as exc:
                if exc.status != 404:
                    raise
                existing = None
        if existing is not None:
            refuse_unless_created_by_issuebot(spec, path, existing.description, noun="repository")
            return existing, False
        with self._api(f"create repository {path}", verb="create_project"):
            created = self.gh.get_organization(self.org).create_repo(
                spec.name, description=spec.description, private=True, has_issues=True, has_wiki=False,
                has_projects=False,
            )
        return _project(_json(created)), True

    def ensure_members(self, project: str, members: Sequence[Member]) -> int:
        """GET /repos/{o}/{r}/collaborators and /invitations (1 read each per 100), then one
        PUT /repos/{o}/{r}/collaborators/{username} per person missing (201: invitation sent,
        204: added). Nobody's access is lowered; an unknown username raises NotFound naming it."""
        wanted = [(m.username, {"pair": self.settings.pair_permission, "participant": PARTICIPANT_PERMISSION}.get(
                      m.role, self.settings.coordinator_permission)) for m in members]
        return self._grant(project, wanted)

    def _grant(self, project: str, wanted: Sequence[tuple[str, str]]) -> int:
        repo = self._repo(project)
        with self._api(f"list the collaborators of {project}", verb="list_members"):
            have = {
                str(d["login"]).lower(): _RANK.get(str(d.get("role_name") or ""), _rank_of(d.get("permissions")))
                for d in (_json(u) for u in repo.get_collaborators(affiliation="all"))
            }
        with self._api(f"list the pending invitations of {project}", verb="list_members"):
            for invitation in repo.get_pending_invitations():
                data = _json(invitation)
                login = str((data.get("invitee") or {}).get("login") or "").lower()
                have[login] = max(have.get(login, 0), _RANK.get(str(data.get("permissions") or ""), 0))
        writes = 0
        for username, permission in wanted:
            if have.get(username.lower(), 0) >= _RANK[permission]:
                continue
            with self._api(f"add {username} to {project}", verb="add_member"):
                try:
                    repo.add_to_collaborators(username, permission)
                except GithubException as exc:
                    if exc.status == 404:
                        raise NotFound(
                            f"GitHub has no user {username!r} (people[].handles.github or people[].username "
                            f"in the program file)"
                        ) from None
                    raise
            writes += 1
        return writes

    def ensure_labels(self, labels: Sequence[tuple[str, str, str]], project: str | None = None) -> int:
        """GET /repos/{o}/{r}/labels (1 read per 100), then POST (create) or PATCH (fix colour or
        description) per label that differs: one write each. GitHub labels live in each repository."""
        if project is None:
            raise InvalidRequest("GitHub has no organisation labels: ensure_labels needs a repository")
        repo = self._repo(project)
        with self._api(f"list the labels of {project}", verb="list_labels"):
            handles = {str(_json(l)["name"]): l for l in repo.get_labels()}
        have = {name: (str(_json(l).get("color") or ""), str(_json(l).get("description") or "")) for name, l in handles.items()}
        changes = labels_to_write(have, labels)
        for name, color, description, exists in changes:
            with self._api(f"save label {name} in {project}", verb="save_label"):
                if exists:
                    handles[name].edit(name, color, description)
                else:
                    repo.create_label(name, color, description)
        return len(changes)

    def archive_project(self, project: str) -> bool:
        """GET /repos/{o}/{r} (1 read); PATCH archived=true (1 write) unless already archived."""
        with self._api(f"archive {project}", verb="archive_project"):
            repo = self._repo(project).complete()
            if _json(repo).get("archived"):
                return False
            repo.edit(archived=True)
        return True

    def ensure_board(self, name: str, labels: Sequence[str]) -> bool:
        """No board (0 calls): classic projects are sunset on GitHub
        (https://github.blog/changelog/2024-05-23-sunset-notice-projects-classic/) and Projects v2
        is GraphQL-only; coordinators filter the organisation's issues by the `pair::*` labels."""
        return False

    # ------------------------------------------------------------------ issues

    def list_issues(
        self,
        project: str | None = None,
        *,
        labels: Sequence[str] = (),
        state: IssueState = "open",
        updated_after: datetime | None = None,
    ) -> Iterator[Issue]:
        """Every page, 100 per page; pull requests are skipped.

        One repository: GET /repos/{o}/{r}/issues, one read per 100.
        The whole organisation: GET /orgs/{org}/issues?filter=all, one read per 100 matching
        issues of every repository the token can see, consistent right after a write (the search
        API is not: its index lags, caps results at 1,000 and allows 30 calls a minute, so a rerun
        could miss an issue issuebot just created). GitHub App installation tokens are refused
        that listing (403/404), and it can hit a pagination limit (422); then this falls back,
        once per provider, to GET /orgs/{org}/repos plus one listing per repository:
        ceil(repos/100) + one read per 100 issues of each repository.
        """
        params: dict[str, Any] = {"state": state, "sort": "created", "direction": "asc"}
        if labels:
            params["labels"] = ",".join(labels)  # comma-separated: issues carrying every one
        if updated_after is not None:
            params["since"] = updated_after.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        if project is not None:
            yield from self._listing(f"/repos/{project}/issues", params, f"list the issues of {project}", updated_after)
            return
        if self._org_listing:
            seen = 0
            try:
                for issue in self._listing(f"/orgs/{self.org}/issues", {"filter": "all", **params},
                                           f"list the issues of organization {self.org}", updated_after):
                    seen += 1
                    yield issue
                return
            except (Forbidden, NotFound, InvalidRequest):
                if seen:
                    raise  # mid-way: falling back would repeat what was already yielded
                self._org_listing = False
        for repo in self.list_projects():
            yield from self.list_issues(repo.path, labels=labels, state=state, updated_after=updated_after)

    def _listing(self, url: str, params: dict[str, Any], what: str, updated_after: datetime | None) -> Iterator[Issue]:
        """Issues of one listing URL, page by page, following GitHub's `Link: rel="next"`.

        Raw pages rather than PyGithub's PaginatedList: that keeps every object it yielded until
        the listing ends, which for a whole organisation is every open issue with a copy of its
        repository (about 250 MB per 1,000 pairs). Here one page at a time is alive.
        https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api
        """
        for data in self._pages(url, params, what, "list_issues"):
            if data.get("pull_request"):
                continue
            issue = self._issue(data)
            if is_updated_after(issue, updated_after):  # GitHub's `since` includes the instant itself
                yield issue

    def _pages(self, url: str, params: dict[str, Any], what: str, verb: str) -> Iterator[dict[str, Any]]:
        """The raw items of a listing, one page of 100 alive at a time; one read per page."""
        next_url: str | None = url
        parameters: dict[str, Any] | None = {**params, "per_page": PER_PAGE}
        while next_url is not None:
            with self._api(what, verb=verb):
                headers, page = self.gh.requester.requestJsonAndCheck("GET", next_url, parameters=parameters)
            parameters = None  # the next link carries the query
            next_url = _next_link(headers)
            yield from (item for item in (page if isinstance(page, list) else ()) if isinstance(item, dict))

    def get_issue(self, project: str, number: int) -> Issue:
        """GET /repos/{o}/{r}/issues/{n}: one read. A pull request's number is NotFound."""
        with self._api(f"read issue {project}#{number}", verb="get_issue"):
            data = _json(self._repo(project).get_issue(number).complete())
        if data.get("pull_request"):
            raise NotFound(f"{project}#{number} is a pull request, not an issue")
        return self._issue(data)

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
        """POST /repos/{o}/{r}/issues: one write. `due` goes into the body's due block; GitHub has
        no confidential issues (pair repositories are private instead)."""
        require_title(title)
        extra: dict[str, Any] = {}
        if labels:
            extra["labels"] = labels_for_new_issue(labels)
        if assignees:
            extra["assignees"] = list(assignees)
        repo = self._repo(project)
        text = join_due(body, due, self._due_line(due))
        with self._api(f"create an issue in {project}", verb="create_issue"):
            try:
                created = repo.create_issue(title, body=text, **extra)
            except GithubException as exc:
                if not (assignees and exc.status == 422 and _invalid_fields(exc) == {"assignees"}):
                    raise
                # A person who has not accepted the repository invitation yet cannot be assigned
                # (422 assignees invalid): open the issue with those who can be.
                with self._tally.verb("list_assignees"):
                    assignable = {str(_json(u)["login"]).lower() for u in repo.get_assignees()}
                extra["assignees"] = [a for a in assignees if a.lower() in assignable]
                left_out = [a for a in assignees if a.lower() not in assignable]
                log.warning("%s: not assigned yet (no access to the repository until they accept the invitation): %s",
                            project, ", ".join(left_out))
                created = repo.create_issue(title, body=text, **extra)
        return self._issue(_json(created))

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
        """GET /repos/{o}/{r}/issues/{n} (1 read); then, only for what differs: labels to add in one
        POST /repos/{o}/{r}/issues/{n}/labels, one DELETE /repos/{o}/{r}/issues/{n}/labels/{name}
        per label to remove, and one PATCH for title, body (with its due block), state and assignees.

        Labels change by delta, never by PATCHing the whole list, so a label a person adds between
        the read and the write survives. A DELETE answered 404 means the label is already gone.
        https://docs.github.com/en/rest/issues/labels#add-labels-to-an-issue
        https://docs.github.com/en/rest/issues/labels#remove-a-label-from-an-issue
        GitHub has no confidential issues, so `confidential` changes nothing (a private channel
        here is the person's own private repository).
        """
        with self._api(f"read issue {project}#{number}", verb="get_issue"):
            data = _json(self._repo(project).get_issue(number).complete())
        current = self._issue(data)
        raw_body = data.get("body") or ""
        changes: dict[str, Any] = {}
        new_due = current.due if due is UNSET else due
        new_body = join_due(current.body if body is None else body, new_due, self._due_line(new_due))  # type: ignore[arg-type]
        if new_body != raw_body and (body is not None or due is not UNSET):
            changes["body"] = new_body
        if title is not None and title != current.title:
            require_title(title)
            changes["title"] = title
        if state is not None and state != current.state:
            changes["state"] = state
        if assignees is not None and list(assignees) != list(current.assignees):
            changes["assignees"] = list(assignees)
        change = label_change(current.labels, add_labels, remove_labels)
        labels: list[dict[str, Any]] | None = None  # the issue's labels as GitHub last answered them
        url = f"/repos/{project}/issues/{number}"
        if change.added:
            with self._api(f"add labels to issue {project}#{number}", verb="update_issue"):
                _, labels = self.gh.requester.requestJsonAndCheck("POST", f"{url}/labels", input={"labels": change.added})
        for name in change.removed:
            with self._api(f"remove label {name} from issue {project}#{number}", verb="update_issue"):
                try:
                    _, labels = self.gh.requester.requestJsonAndCheck("DELETE", f"{url}/labels/{quote(name, safe='')}")
                except GithubException as exc:
                    if exc.status != 404:
                        raise
                    labels = None  # already gone: the answer says nothing about the rest
        if changes:
            with self._api(f"update issue {project}#{number}", verb="update_issue"):
                _, patched = self.gh.requester.requestJsonAndCheck("PATCH", url, input=changes)
            return self._issue(patched)
        if not change:
            return current
        if labels is None:
            return replace(current, labels=tuple(change.labels))
        return replace(current, labels=tuple(str(l["name"]) for l in labels if isinstance(l, dict)))

    # ------------------------------------------------------------------ comments

    def list_comments(self, project: str, number: int, since: datetime | None = None) -> list[Comment]:
        """GET /repos/{o}/{r}/issues/{n}/comments: one read per 100 comments."""
        with self._api(f"list the comments of {project}#{number}", verb="list_comments"):
            issue = self._repo(project).get_issue(number)
            pages = issue.get_comments(since=since.astimezone(timezone.utc)) if since else issue.get_comments()
            return [_comment(_json(c), project, number) for c in pages]

    def create_comment(self, project: str, number: int, body: str) -> Comment:
        """POST /repos/{o}/{r}/issues/{n}/comments: one write."""
        with self._api(f"comment on {project}#{number}", verb="create_comment"):
            created = self._repo(project).get_issue(number).create_comment(body)
            return _comment(_json(created), project, number)

    # ------------------------------------------------------------------ events

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> Event | None:
        """A delivery's issues/issue_comment payload as an Event (0 calls)."""
        from issuebot.providers.github_hooks import parse

        return parse(headers, body)

    # ------------------------------------------------------------------ diagnosis (read-only: issuebot doctor)

    def access_report(self) -> AccessReport:
        """A token: GET /user (its `X-OAuth-Scopes` header, classic tokens only), GET
        /orgs/{org}/memberships/{username} (owner is role `admin`). 2 reads.
        https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/scopes-for-oauth-apps
        https://docs.github.com/en/rest/orgs/members#get-organization-membership-for-a-user
        An App: GET /orgs/{org}/installation (its permissions, signed as the App). 1-2 reads."""
        if self.settings.app is not None:
            account = self.bot_username
            with self._api(f"read the App's installation on {self.org}", verb="get_installation"):
                assert self._app_auth is not None  # reading bot_username signed in as the App
                permissions = self._integration(self._app_auth).get_org_installation(self.org).permissions or {}
            missing = [f"{name} {level} permission" for name, level in _APP_PERMISSIONS
                       if _PERMISSION_RANK.get(str(permissions.get(name)), 0) < _PERMISSION_RANK[level]]
            return AccessReport(account=account, role="app", missing=tuple(missing))
        with self._api("read the authenticated user", verb="get_user"):
            headers, data = self.gh.requester.requestJsonAndCheck("GET", "/user")
        account = str(data.get("login") or "")
        missing = []
        scopes = {k.lower(): v for k, v in headers.items()}.get("x-oauth-scopes")
        if scopes is not None:  # fine-grained tokens send no scopes: GitHub checks each call instead
            have = {scope.strip() for scope in scopes.split(",") if scope.strip()}
            if "repo" not in have:
                missing.append(f"the repo scope (the token has {', '.join(sorted(have)) or 'none'})")
        with self._api(f"read {account}'s role in {self.org}", verb="get_membership"):
            try:
                _, membership = self.gh.requester.requestJsonAndCheck("GET", f"/orgs/{self.org}/memberships/{account}")
                role = str(membership.get("role") or "none") if membership.get("state") == "active" else "invited"
            except GithubException as exc:
                if exc.status not in (403, 404):
                    raise
                role = "none"
        if role != "admin":
            missing.append(f"the owner role in organization {self.org} (it is {role})")
        return AccessReport(account=account, role=role, missing=tuple(missing))

    def member_usernames(self) -> list[str]:
        """GET /orgs/{org}/members: one read per 100 members."""
        return [str(m.get("login")) for m in self._pages(f"/orgs/{self.org}/members", {},
                                                         f"list the members of {self.org}", "list_org_members")]

    def missing_usernames(self, usernames: Sequence[str]) -> list[str]:
        """GET /users/{username} per username."""
        missing = []
        for username in usernames:
            with self._api(f"look up user {username}", verb="get_user"):
                try:
                    self.gh.requester.requestJsonAndCheck("GET", f"/users/{username}")
                except GithubException as exc:
                    if exc.status != 404:
                        raise
                    missing.append(username)
        return missing

    def hook_report(self, url: str) -> HookReport | None:
        """GET /orgs/{org}/hooks (one read per 100 hooks) and, for the hook found,
        GET /orgs/{org}/hooks/{id}/deliveries?per_page=1 (its latest delivery). Needs admin:org_hook
        or the org's owner. https://docs.github.com/en/rest/orgs/webhooks"""
        try:
            hooks = list(self._pages(f"/orgs/{self.org}/hooks", {}, f"list the webhooks of {self.org}", "list_hooks"))
        except (NotFound, Forbidden):
            return None
        for hook in hooks:
            if str((hook.get("config") or {}).get("url", "")).rstrip("/") != url.rstrip("/"):
                continue
            events = set(hook.get("events") or ())
            missing = () if "*" in events else tuple(e for e in ("issues", "issue_comment") if e not in events)
            with self._api(f"read the deliveries of webhook {hook.get('id')}", verb="list_hook_deliveries"):
                _, deliveries = self.gh.requester.requestJsonAndCheck(
                    "GET", f"/orgs/{self.org}/hooks/{hook.get('id')}/deliveries", parameters={"per_page": 1})
            latest = deliveries[0] if isinstance(deliveries, list) and deliveries else None
            ok = None if latest is None else 200 <= int(latest.get("status_code") or 0) < 300
            return HookReport(url=url, active=bool(hook.get("active")), missing_events=missing, last_delivery_ok=ok)
        return None

    # ------------------------------------------------------------------ conversions

    def _due_line(self, due: date | None) -> str:
        return self.templates.render("due-line", due=due).body if due is not None else ""

    def _issue(self, data: Mapping[str, Any]) -> Issue:
        body, due = split_due(data.get("body"))
        return Issue(
            project=_project_of(data), number=int(data["number"]), title=str(data.get("title") or ""), body=body,
            labels=tuple(str(l["name"]) for l in data.get("labels") or ()), state=data.get("state", "open"),
            assignees=tuple(str(a["login"]) for a in data.get("assignees") or ()), due=due,
            author=str((data.get("user") or {}).get("login") or ""), created_at=parse_time(data.get("created_at")),
            updated_at=parse_time(data.get("updated_at")), closed_at=parse_time(data.get("closed_at")),
            url=str(data.get("html_url") or ""),
            comments=int(data["comments"]) if isinstance(data.get("comments"), int) else None,
        )


    # ------------------------------------------------------------------ cohort: forms and access

    def ensure_issue_form(self, project: str, name: str, title: str, about: str, labels: Sequence[str],
                          fields: Sequence[FormField], *, opening: str = "", confidential: bool = False) -> bool:
        """An issue form `.github/ISSUE_TEMPLATE/<name>.yml` (GitHub's convention:
        https://docs.github.com/en/communities/using-templates-to-encourage-useful-issues-and-pull-requests/syntax-for-issue-forms):
        GET /repos/{o}/{r}/contents/{path}, then PUT it when missing or different. A filled-in
        form arrives as an issue with one `### <label>` section per question; the opening is a
        first, prefilled question. GitHub has no confidential issues: `confidential` changes
        nothing (a private channel there is the person's own private repository)."""
        body: list[dict[str, Any]] = []
        if opening.strip():
            body.append({"type": "textarea", "id": "request", "attributes": {"label": title, "value": opening.strip()},
                         "validations": {"required": True}})
        for item in fields:
            attributes: dict[str, Any] = {"label": item.label}
            if item.description:
                attributes["description"] = item.description
            if item.options:
                attributes["options"] = list(item.options)
            body.append({"type": item.kind, "id": item.id, "attributes": attributes,
                         "validations": {"required": item.required}})
        form = {"name": title, "description": about, "title": title, "labels": list(labels), "body": body}
        content = yaml.safe_dump(form, sort_keys=False, allow_unicode=True)
        path = f".github/ISSUE_TEMPLATE/{name}.yml"
        repo = self._repo(project)
        with self._api(f"read {path} in {project}", verb="get_file"):
            try:
                current = repo.get_contents(path)
            except GithubException as exc:
                if exc.status != 404:
                    raise
                current = None
        if current is not None and not isinstance(current, list) and current.decoded_content.decode("utf-8") == content:
            return False
        with self._api(f"write {path} in {project}", verb="write_file"):
            if current is None or isinstance(current, list):
                repo.create_file(path, f"issuebot: {title} form", content)
            else:
                repo.update_file(path, f"issuebot: {title} form", content, current.sha)
        return True

    def ensure_access(self, project: str, usernames: Sequence[str], access: str) -> int:
        """As ensure_members, with one permission for everyone named: guest and reporter read
        (`pull`, `triage`), developer writes (`push`), maintainer maintains."""
        path = project if "/" in project else self.project_path(project)
        permission = {"guest": "pull", "reporter": "triage", "developer": "push", "maintainer": "maintain"}[access]
        return self._grant(path, [(username, permission) for username in usernames])

    # ------------------------------------------------------------------ acting as a person

    def as_user(self, username: str) -> GitHubProvider:
        """The same organisation, every call made with `username`'s own token (the variable
        `provider.person_tokens` names for them; never the App), so GitHub applies that person's
        permissions (0 calls). Raises AuthenticationFailed when no token is named or set."""
        person_token(self.settings.person_tokens, username, "GitHub")  # refuse now, not at the first call
        variable = next(v for k, v in self.settings.person_tokens.items() if k.casefold() == username.casefold())
        settings = self.settings.model_copy(update={"token_env": variable, "app": None})
        return GitHubProvider(settings, templates=self.templates, clock=self.clock)

    # ------------------------------------------------------------------ private channels

    def private_channel_path(self, channel: str, handle: str) -> str:
        """GitHub has no confidential issues: each person gets a private repository
        `<channel>-<handle>` shared with the coordinators alone (0 calls)."""
        return self.project_path(f"{channel}-{handle.lower()}")


# --------------------------------------------------------------------------- pure helpers

# What an App installation needs (README: Administration and Issues read/write, Members read).
_APP_PERMISSIONS = (("administration", "write"), ("issues", "write"), ("members", "read"))
_PERMISSION_RANK = {"read": 1, "write": 2, "admin": 3}


def _invalid_fields(exc: GithubException) -> set[str]:
    """The fields GitHub's 422 `errors[]` names."""
    data = exc.data if isinstance(exc.data, dict) else {}
    return {str(e.get("field")) for e in data.get("errors", []) if isinstance(e, dict) and e.get("field")}


def _rank_of(permissions: Any) -> int:
    if not isinstance(permissions, dict):
        return 0
    return max((_RANK[k] for k, v in permissions.items() if v and k in _RANK), default=0)


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _project_of(data: Mapping[str, Any]) -> str:
    """`owner/repo` from an issue's `repository_url` (present in every issue GitHub returns)."""
    parts = urlparse(str(data.get("repository_url") or "")).path.rstrip("/").split("/")
    return f"{unquote(parts[-2])}/{unquote(parts[-1])}"


def _project(data: Mapping[str, Any]) -> Project:
    return Project(
        path=str(data["full_name"]), name=str(data["name"]), description=str(data.get("description") or ""),
        private=bool(data.get("private")), archived=bool(data.get("archived")), url=str(data.get("html_url") or ""),
        id=data.get("id"),
    )


def _comment(data: Mapping[str, Any], project: str, number: int) -> Comment:
    return Comment(
        id=int(data["id"]), project=project, issue_number=number,
        author=str((data.get("user") or {}).get("login") or ""), body=str(data.get("body") or ""),
        created_at=parse_time(data.get("created_at")), updated_at=parse_time(data.get("updated_at")),
        url=str(data.get("html_url") or ""),
    )


def from_program(program: Any, clock: Clock | None = None) -> GitHubProvider:
    """The GitHub provider a program file names (`provider: {kind: github, org, ...}`)."""
    return GitHubProvider(program.settings.provider, templates=Templates(program.templates_dir()), clock=clock or _utcnow)
