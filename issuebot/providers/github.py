"""GitHub adapter on PyGithub: pair repositories in an organisation, token or GitHub App auth, metered calls."""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime, timezone
from typing import Any, Literal
from urllib.parse import unquote, urlparse

import github
import requests
from github import Auth, GithubException, GithubIntegration, GithubRetry
from github.GithubException import BadCredentialsException, RateLimitExceededExceedsMaxWait
from github.GithubObject import GithubObject

from issuebot.config import GitHubProviderConfig, secret
from issuebot.models import Comment, Event, Issue, Member, Project
from issuebot.providers.base import (
    UNSET,
    AuthenticationFailed,
    Forbidden,
    InvalidRequest,
    IssueState,
    Meter,
    NotFound,
    ProjectSpec,
    ProjectTaken,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    no_lock,
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
        return super().new(**kw)  # type: ignore[return-value]

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
            if spec.owner_token not in existing.description:
                raise ProjectTaken(
                    f"repository {path} already exists and was not created by issuebot; rename it or choose "
                    f"another project_prefix"
                )
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
        for member in members:
            permission = {"pair": self.settings.pair_permission, "participant": PARTICIPANT_PERMISSION}.get(
                member.role, self.settings.coordinator_permission)
            if have.get(member.username.lower(), 0) >= _RANK[permission]:
                continue
            with self._api(f"add {member.username} to {project}", verb="add_member"):
                try:
                    repo.add_to_collaborators(member.username, permission)
                except GithubException as exc:
                    if exc.status == 404:
                        raise NotFound(
                            f"GitHub has no user {member.username!r} (people[].handles.github or people[].username "
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
            have = {str(_json(l)["name"]): l for l in repo.get_labels()}
        writes = 0
        for name, color, description in labels:
            color = color.lstrip("#").lower()
            current = have.get(name)
            with self._api(f"save label {name} in {project}", verb="save_label"):
                if current is None:
                    repo.create_label(name, color, description)
                elif (str(_json(current).get("color") or "").lower(), _json(current).get("description") or "") != (color, description):
                    current.edit(name, color, description)
                else:
                    continue
            writes += 1
        return writes

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
            if updated_after is not None and issue.updated_at is not None and issue.updated_at <= updated_after:
                continue  # GitHub's `since` includes the instant itself
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
        if not title.strip():
            raise InvalidRequest("an issue needs a title")
        extra: dict[str, Any] = {}
        if labels:
            extra["labels"] = list(labels)
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
        due: date | None | object = UNSET,
        assignees: Sequence[str] | None = None,
    ) -> Issue:
        """GET /repos/{o}/{r}/issues/{n} (1 read), then one PATCH carrying every change (title,
        body with its due block, the full label list, state, assignees), none when nothing differs."""
        with self._api(f"read issue {project}#{number}", verb="get_issue"):
            handle = self._repo(project).get_issue(number).complete()
            data = _json(handle)
        current = self._issue(data)
        raw_body = data.get("body") or ""
        changes: dict[str, Any] = {}
        new_due = current.due if due is UNSET else due
        new_body = join_due(current.body if body is None else body, new_due, self._due_line(new_due))  # type: ignore[arg-type]
        if new_body != raw_body and (body is not None or due is not UNSET):
            changes["body"] = new_body
        if title is not None and title != current.title:
            changes["title"] = title
        removed = set(remove_labels)
        labels = [l for l in current.labels if l not in removed]
        labels += [l for l in dict.fromkeys(add_labels) if l not in labels]
        if labels != list(current.labels):
            changes["labels"] = labels
        if state is not None and state != current.state:
            changes["state"] = state
        if assignees is not None and list(assignees) != list(current.assignees):
            changes["assignees"] = list(assignees)
        if not changes:
            return current
        with self._api(f"update issue {project}#{number}", verb="update_issue"):
            handle.edit(**changes)
            return self._issue_from_object(handle, project)

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

    # ------------------------------------------------------------------ conversions

    def _due_line(self, due: date | None) -> str:
        return self.templates.render("due-line", due=due).body if due is not None else ""

    def _issue(self, data: Mapping[str, Any]) -> Issue:
        body, due = split_due(data.get("body"))
        return Issue(
            project=_project_of(data), number=int(data["number"]), title=str(data.get("title") or ""), body=body,
            labels=tuple(str(l["name"]) for l in data.get("labels") or ()), state=data.get("state", "open"),
            assignees=tuple(str(a["login"]) for a in data.get("assignees") or ()), due=due,
            author=str((data.get("user") or {}).get("login") or ""), created_at=_dt(data.get("created_at")),
            updated_at=_dt(data.get("updated_at")), closed_at=_dt(data.get("closed_at")),
            url=str(data.get("html_url") or ""),
        )

    def _issue_from_object(self, issue: Any, project: str) -> Issue:
        """An issue PyGithub updated in place (its `raw_data` still holds the old JSON)."""
        body, due = split_due(issue.body)
        return Issue(
            project=project, number=issue.number, title=issue.title, body=body,
            labels=tuple(l.name for l in issue.labels), state=issue.state,
            assignees=tuple(a.login for a in issue.assignees), due=due, author=issue.user.login,
            created_at=issue.created_at, updated_at=issue.updated_at, closed_at=issue.closed_at, url=issue.html_url,
        )


# --------------------------------------------------------------------------- pure helpers

    # ------------------------------------------------------------------ private channels

    def private_channel_path(self, channel: str, handle: str) -> str:
        """GitHub has no confidential issues: each person gets a private repository
        `<channel>-<handle>` shared with the coordinators alone (0 calls)."""
        return self.project_path(f"{channel}-{handle.lower()}")



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


def _dt(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


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
        created_at=_dt(data.get("created_at")), updated_at=_dt(data.get("updated_at")),
        url=str(data.get("html_url") or ""),
    )


def from_program(program: Any, clock: Clock | None = None) -> GitHubProvider:
    """The GitHub provider a program file names (`provider: {kind: github, org, ...}`)."""
    return GitHubProvider(program.settings.provider, templates=Templates(program.templates_dir()), clock=clock or _utcnow)
