"""One stateful fake GitHub REST API on `responses` callbacks, and the harness that points the real PyGithub at it.

The fake keeps users, one organisation, repositories, collaborators and invitations, labels,
issues (numbered per repository, pull requests among them), comments and file contents (issue
forms). A private repository does not exist for someone without access; reading it lets a person
open issues, writing files takes push access. It paginates like
GitHub (per_page up to 100, `Link` rel=next/prev/first/last), filters issues by state, labels
(comma = all of them) and since, stamps times from the harness clock, and fails on demand.
Every token belongs to one account, and calls are answered as GitHub answers that account: a
private repository it is no collaborator of (nor an organisation owner, nor the App) is 404
(https://docs.github.com/en/rest/using-the-rest-api/troubleshooting-the-rest-api#404-not-found-for-an-existing-resource),
and listings leave such repositories and their issues out. Organisation members get no access
of their own to repositories (`base_permission` None: the "No permission" base role issuebot
asks for; "read" models GitHub's default).
Response bodies carry the fields GitHub's OpenAPI description requires for each operation.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import math
import os
import re
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

import jwt
import responses

from issuebot.config import GitHubProviderConfig
from issuebot.providers.github import GitHubProvider
from tests.fakes.oauth import FakeOAuth

HOST = "https://github.example.test"
BASE = HOST + "/api/v3"  # a GitHub Enterprise Server style base URL
ORG = "mentoring"  # the same namespace as the embedded tracker's default group
BOT = "issuebot-bot"
DOCS = "https://docs.github.com/rest"

Json = dict[str, Any]
Reply = tuple[int, dict[str, str], Any]


class Refusal(Exception):
    """A handler's error answer."""

    def __init__(self, status: int, message: str, errors: list[Json] | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors
        self.headers = headers or {}


@dataclass
class Call:
    method: str
    template: str  # the operation's path template, e.g. /repos/{owner}/{repo}/issues
    path: str
    query: dict[str, list[str]]
    body: Any
    status: int = 0
    response: Any = None


@dataclass
class Repo:
    data: Json
    collaborators: dict[str, str] = field(default_factory=dict)  # login -> role name (read/triage/write/...)
    files: dict[str, str] = field(default_factory=dict)  # path -> text on the default branch
    invitations: dict[str, Json] = field(default_factory=dict)  # login -> invitation
    labels: dict[str, Json] = field(default_factory=dict)
    issues: dict[int, Json] = field(default_factory=dict)
    comments: dict[int, list[Json]] = field(default_factory=dict)
    next_number: int = 1


_ROLE = {"pull": "read", "triage": "triage", "push": "write", "maintain": "maintain", "admin": "admin"}
_PERMISSIONS = ("pull", "triage", "push", "maintain", "admin")
_ROLE_RANK = {"read": 1, "triage": 2, "write": 3, "maintain": 4, "admin": 5}


class FakeGitHub:
    """GitHub's REST API for one organisation, as far as issuebot uses it."""

    def __init__(self, clock: Callable[[], datetime], *, org: str = ORG, base: str = BASE):
        self.clock = clock
        self.base = base.rstrip("/")
        self.prefix = urlsplit(self.base).path
        self.org = org
        self.users: dict[str, Json] = {}
        self.outside: set[str] = set()  # logins that are not members of the organisation
        self.tokens: dict[str, str] = {}  # token -> login
        self.installation_tokens: dict[str, tuple[int, datetime]] = {}  # token -> (installation, expires)
        self.app: Json | None = None
        self.app_public_key: Any = None
        self.installation_id: int | None = None
        self.token_lifetime = timedelta(hours=1)
        self.repos: dict[str, Repo] = {}
        self.base_permission: str | None = None  # what every organisation member may do in every repository
        self.actor: Json | None = None  # who the call being answered is made by (None: the test itself)
        self.failures: deque[tuple[int, int | None, bool]] = deque()
        self.lost_answers = 0  # writes that are carried out but answered with a 502
        self.after_issue_read: deque[Callable[[], Any]] = deque()  # people acting right after a read
        self.calls: list[Call] = []
        self.reads = 0
        self.writes = 0
        self.token_exchanges = 0
        self._ids = itertools.count(1001)
        self.org_data = {"login": org, "id": next(self._ids), "node_id": "O_org", "url": f"{self.base}/orgs/{org}",
                         "repos_url": f"{self.base}/orgs/{org}/repos", "html_url": f"{HOST}/{org}",
                         "description": "Mentoring", "type": "Organization"}
        # https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps
        self.oauth = FakeOAuth(self._oauth_token)
        self._routes = [
            ("GET", "/user", self._get_authenticated),
            ("GET", "/users/{username}", self._get_user),
            ("GET", "/orgs/{org}", self._get_org),
            ("GET", "/orgs/{org}/repos", self._list_repos),
            ("POST", "/orgs/{org}/repos", self._create_repo),
            ("GET", "/orgs/{org}/issues", self._list_org_issues),
            ("GET", "/orgs/{org}/installation", self._get_org_installation),
            ("GET", "/app", self._get_app),
            ("POST", "/app/installations/{installation_id}/access_tokens", self._create_installation_token),
            ("GET", "/repos/{owner}/{repo}", self._get_repo),
            ("PATCH", "/repos/{owner}/{repo}", self._update_repo),
            ("GET", "/repos/{owner}/{repo}/collaborators", self._list_collaborators),
            ("GET", "/repos/{owner}/{repo}/collaborators/{username}", self._check_collaborator),
            ("PUT", "/repos/{owner}/{repo}/collaborators/{username}", self._add_collaborator),
            ("GET", "/repos/{owner}/{repo}/invitations", self._list_invitations),
            ("GET", "/repos/{owner}/{repo}/assignees", self._list_assignees),
            ("GET", "/repos/{owner}/{repo}/labels", self._list_labels),
            ("POST", "/repos/{owner}/{repo}/labels", self._create_label),
            ("GET", "/repos/{owner}/{repo}/labels/{name}", self._get_label),
            ("PATCH", "/repos/{owner}/{repo}/labels/{name}", self._update_label),
            ("GET", "/repos/{owner}/{repo}/issues", self._list_repo_issues),
            ("POST", "/repos/{owner}/{repo}/issues", self._create_issue),
            ("GET", "/repos/{owner}/{repo}/issues/{issue_number}", self._get_issue),
            ("PATCH", "/repos/{owner}/{repo}/issues/{issue_number}", self._update_issue),
            ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/labels", self._add_labels),
            ("DELETE", "/repos/{owner}/{repo}/issues/{issue_number}/labels/{name}", self._remove_label),
            ("GET", "/repos/{owner}/{repo}/issues/{issue_number}/comments", self._list_comments),
            ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments", self._create_comment),
            ("GET", "/repos/{owner}/{repo}/contents/{path}", self._get_contents),
            ("PUT", "/repos/{owner}/{repo}/contents/{path}", self._put_contents),
        ]
        self._routes = self._with_diagnostic_routes(self._routes)
        self._compiled = [
            # `{path}` (a file in a repository) spans slashes; every other parameter is one segment.
            (method, template, re.compile("^" + re.sub(r"\\\{(\w+)\\\}", lambda m: f"(?P<{m[1]}>{'.+' if m[1] == 'path' else '[^/]+'})",
                                                       re.escape(template)) + "$"), handler)
            for method, template, handler in self._routes
        ]

    # ------------------------------------------------------------------ wiring

    def install(self, mock: responses.RequestsMock) -> None:
        # PyGithub names the port (https://host:443/...); GitHub answers either form.
        parts = urlsplit(self.base)
        pattern = re.compile(re.escape(f"{parts.scheme}://{parts.hostname}") + r"(:443)?" + re.escape(parts.path) + r"(/.*)?(\?.*)?$")
        for method in ("GET", "POST", "PATCH", "PUT", "DELETE"):
            mock.add_callback(method, pattern, callback=self._dispatch)
        mock.add_callback("POST", f"{parts.scheme}://{parts.hostname}/login/oauth/access_token", callback=self.oauth.exchange)
        self._mock = mock

    def _dispatch(self, request: Any) -> tuple[int, dict[str, str], str]:
        # `responses` keeps every request and response it served; this fake keeps its own slim
        # call log, so drop theirs, or a long benchmark measures the mock instead of the client.
        # (Served over loopback HTTP, tests/fakes/github_server.py, there is no mock.)
        if getattr(self, "_mock", None) is not None:
            self._mock.calls.reset()
        parts = urlsplit(request.url)
        path = unquote(parts.path[len(self.prefix):]) or "/"
        raw = parts.path[len(self.prefix):]
        query = parse_qs(parts.query)
        body = json.loads(request.body) if request.body else None
        method = request.method.upper()
        for route_method, template, regex, handler in self._compiled:  # noqa: B007 (used after the break)
            match = regex.match(raw)
            if route_method == method and match:
                params = {k: unquote(v) for k, v in match.groupdict().items()}
                break
        else:
            template, handler, params = "", None, {}
        call = Call(method, template, path, query, body)
        self.calls.append(call)
        is_token_exchange = template.endswith("/access_tokens")
        if method in ("GET", "HEAD") or is_token_exchange:
            self.reads += 1
        else:
            self.writes += 1
        try:
            if handler is None:
                raise Refusal(404, "Not Found")
            if self.failures:
                self._inject_failure()
            actor = self._authenticate(request.headers.get("Authorization", ""), template)
            self.actor = actor
            try:
                status, headers, payload = handler(actor, params, query, body)
            finally:
                self.actor = None
            if self.lost_answers and method not in ("GET", "HEAD") and status < 300:
                self.lost_answers -= 1
                raise Refusal(502, "Server Error")  # done, but the answer never reached the client
        except Refusal as refusal:
            status, headers = refusal.status, refusal.headers
            payload = {"message": refusal.message, "documentation_url": DOCS, "status": str(refusal.status)}
            if refusal.errors:
                payload["errors"] = refusal.errors
        call.status, call.response = status, payload
        headers = {**self._rate_headers(), **headers}
        text = "" if payload is None else json.dumps(payload)
        if payload is not None:
            headers["Content-Type"] = "application/json; charset=utf-8"
        if template == "/repos/{owner}/{repo}/issues/{issue_number}" and method == "GET" and self.after_issue_read:
            self.after_issue_read.popleft()()  # the answer is on its way: what happens now, the reader misses
        return status, headers, text

    def _rate_headers(self) -> dict[str, str]:
        reset = int((self.clock() + timedelta(hours=1)).timestamp())
        return {"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "4999", "X-RateLimit-Reset": str(reset),
                "X-RateLimit-Used": "1", "X-RateLimit-Resource": "core", "X-GitHub-Api-Version-Selected": "2022-11-28"}

    @property
    def log(self) -> list[tuple[str, str]]:
        """(method, path) of every request received."""
        return [(call.method, call.path) for call in self.calls]

    # ------------------------------------------------------------------ test knobs

    def fail_next(self, status: int, *, retry_after: int | None = None, times: int = 1, rate_limited: bool = False,
                  after: int = 0) -> None:
        """After `after` more good answers, `times` requests fail with `status` (a 403 with
        `rate_limited` is GitHub's primary rate limit)."""
        self.failures.extend([(0, None, False)] * after)
        for _ in range(times):
            self.failures.append((status, retry_after, rate_limited))

    def lose_next_answer(self, times: int = 1) -> None:
        """Carry out the next `times` writes but answer each with a 502, as a proxy timing out would."""
        self.lost_answers += times

    def _inject_failure(self) -> None:
        status, retry_after, rate_limited = self.failures.popleft()
        if status == 0:
            return  # a good answer before the failures start
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        if status == 401:
            raise Refusal(401, "Bad credentials", headers=headers)
        if status == 403 and rate_limited:
            reset = int((datetime.now(timezone.utc) + timedelta(hours=1)).timestamp())
            headers.update({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)})
            raise Refusal(403, "API rate limit exceeded for installation ID 1.", headers=headers)
        if status == 403:
            raise Refusal(403, "Must have admin rights to Repository.", headers=headers)
        if status == 404:
            raise Refusal(404, "Not Found", headers=headers)
        if status == 429:
            raise Refusal(429, "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.", headers=headers)
        raise Refusal(status, "Server Error" if status >= 500 else "Error", headers=headers)

    def approve_oauth(self, login: str) -> str:
        """`login` approves the web app on GitHub's authorize page: the code it is sent back with."""
        return self.oauth.approve(self.add_user(login)["login"], login)

    def _oauth_token(self, login: str) -> str:
        token = f"gho_fake{next(self._ids)}"
        self.tokens[token] = login
        return token

    def add_user(self, login: str, *, token: str | None = None, kind: str = "User", outside: bool = False) -> Json:
        """A GitHub account; a member of the organisation unless `outside` (an outside collaborator)."""
        user = self.users.get(login.lower())
        if user is None:
            user = _user(login, next(self._ids), self.base, kind)
            self.users[login.lower()] = user
        if outside:
            self.outside.add(login.lower())
        if token:
            self.tokens[token] = login
        return user

    def add_app(self, app_id: int, slug: str, public_key: Any, installation_id: int) -> None:
        self.app = {"id": app_id, "slug": slug, "node_id": "A_app", "name": slug, "owner": self.org_data,
                    "description": "", "external_url": HOST, "html_url": f"{HOST}/apps/{slug}",
                    "created_at": _ts(self.clock()), "updated_at": _ts(self.clock()), "permissions": {"issues": "write"},
                    "events": ["issues", "issue_comment"]}
        self.app_public_key = public_key
        self.installation_id = installation_id
        self.add_user(f"{slug}[bot]", kind="Bot")

    def accept_invitations(self, login: str) -> None:
        """`login` accepts every pending invitation (as a person would in the web UI)."""
        for repo in self.repos.values():
            invitation = repo.invitations.pop(login.lower(), None)
            if invitation is not None:
                repo.collaborators[login.lower()] = invitation["permissions"]

    def create_foreign_repo(self, name: str, description: str = "") -> Json:
        return self._new_repo(name, description, private=False, owner_login=self.org)

    def create_pull_request(self, repo_name: str, title: str, author: str = BOT) -> Json:
        """A pull request: GitHub lists it among the issues with a `pull_request` key."""
        repo = self._repo(self.org, repo_name)
        issue = self._new_issue(repo, title, "", self.users[author.lower()], [], [])
        html = f"{repo.data['html_url']}/pull/{issue['number']}"
        issue["pull_request"] = {"url": f"{repo.data['url']}/pulls/{issue['number']}", "html_url": html,
                                 "diff_url": html + ".diff", "patch_url": html + ".patch", "merged_at": None}
        return issue

    def label_names(self, repo_name: str) -> set[str]:
        return set(self._repo(self.org, repo_name).labels)

    # ------------------------------------------------------------------ auth

    def _authenticate(self, header: str, template: str) -> Json:
        scheme, _, credential = header.partition(" ")
        if scheme.lower() == "bearer" and credential.count(".") == 2:
            if self.app is None or not template.startswith(("/app", "/orgs/{org}/installation")):
                raise Refusal(401, "A JSON web token could not be decoded")
            try:
                claims = jwt.decode(credential, self.app_public_key, algorithms=["RS256"],
                                    options={"verify_exp": False, "verify_iat": False})
            except jwt.PyJWTError:
                raise Refusal(401, "A JSON web token could not be decoded") from None
            if str(claims.get("iss")) != str(self.app["id"]):
                raise Refusal(401, "'Issuer' claim ('iss') must be an Integer")
            return {"kind": "app"}
        if scheme.lower() in ("token", "bearer"):
            if credential in self.tokens:
                return {"kind": "user", "user": self.users[self.tokens[credential].lower()]}
            if credential in self.installation_tokens:
                _, expires = self.installation_tokens[credential]
                if expires <= self.clock():
                    raise Refusal(401, "Bad credentials")
                return {"kind": "installation", "user": self.users[f"{self.app['slug']}[bot]"]}  # type: ignore[index]
        raise Refusal(401, "Requires authentication" if not header else "Bad credentials")

    @staticmethod
    def _needs_user(actor: Json) -> Json:
        if actor["kind"] == "app":
            raise Refusal(401, "A JSON web token could not be decoded")
        return actor["user"]

    # ------------------------------------------------------------------ users, org, app

    def _get_authenticated(self, actor: Json, params: Json, query: Any, body: Any) -> Reply:
        if actor["kind"] == "installation":
            raise Refusal(403, "Resource not accessible by integration")
        user = self._needs_user(actor)
        return 200, {}, {**user, **_private_user_fields(self.clock())}

    def _get_user(self, actor: Json, params: Json, query: Any, body: Any) -> Reply:
        self._needs_user(actor)
        user = self.users.get(params["username"].lower())
        if user is None:
            raise Refusal(404, "Not Found")
        return 200, {}, user

    def _check_org(self, org: str) -> None:
        if org.lower() != self.org.lower():
            raise Refusal(404, "Not Found")

    def _get_org(self, actor: Json, params: Json, query: Any, body: Any) -> Reply:
        self._needs_user(actor)
        self._check_org(params["org"])
        return 200, {}, self.org_data

    def _get_app(self, actor: Json, params: Json, query: Any, body: Any) -> Reply:
        if actor["kind"] != "app":
            raise Refusal(401, "A JSON web token could not be decoded")
        return 200, {}, self.app

    def _get_org_installation(self, actor: Json, params: Json, query: Any, body: Any) -> Reply:
        self._check_org(params["org"])
        if actor["kind"] != "app" or self.installation_id is None:
            raise Refusal(404, "Not Found")
        return 200, {}, {"id": self.installation_id, "account": self.org_data, "app_id": self.app["id"],  # type: ignore[index]
                         "app_slug": self.app["slug"], "target_type": "Organization", "permissions": {"issues": "write"},  # type: ignore[index]
                         "events": [], "repository_selection": "all", "access_tokens_url":
                         f"{self.base}/app/installations/{self.installation_id}/access_tokens"}

    def _create_installation_token(self, actor: Json, params: Json, query: Any, body: Any) -> Reply:
        if actor["kind"] != "app":
            raise Refusal(401, "A JSON web token could not be decoded")
        if int(params["installation_id"]) != self.installation_id:
            raise Refusal(404, "Not Found")
        self.token_exchanges += 1
        token = f"ghs_fake{self.token_exchanges:036d}"
        expires = self.clock() + self.token_lifetime
        self.installation_tokens[token] = (self.installation_id, expires)
        return 201, {}, {"token": token, "expires_at": _ts(expires), "permissions": {"issues": "write"},
                         "repository_selection": "all"}

    # ------------------------------------------------------------------ repositories

    def _repo(self, owner: str, name: str) -> Repo:
        repo = self.repos.get(f"{owner}/{name}".lower())
        if repo is None or not self.sees(repo, self.actor):
            raise Refusal(404, "Not Found")  # GitHub answers 404, not 403, for a private repository one cannot see
        return repo

    def sees(self, repo: Repo, actor: Json | None) -> bool:
        """Whether `actor` may read `repo`: public, or a collaborator (a pending invitation is not
        access yet), an organisation owner, the App's installation, or any member under a base role."""
        if actor is None or actor["kind"] != "user" or not repo.data["private"]:
            return True
        login = actor["user"]["login"].lower()
        if login in repo.collaborators or self.org_roles.get(login) == "admin":
            return True
        return self.base_permission is not None and login not in self.outside and login in self.users
    def _new_repo(self, name: str, description: str, *, private: bool, owner_login: str, has_issues: bool = True,
                  has_wiki: bool = True, has_projects: bool = True) -> Json:
        full = f"{owner_login}/{name}"
        if full.lower() in self.repos:
            raise Refusal(422, "Repository creation failed.",
                          [{"resource": "Repository", "code": "custom", "field": "name", "message": "name already exists on this account"}])
        now = _ts(self.clock())
        data = _repository(full, name, next(self._ids), self.base, self.org_data, description, private, now)
        data.update(has_issues=has_issues, has_wiki=has_wiki, has_projects=has_projects)
        self.repos[full.lower()] = Repo(data=data)
        return data

    def _list_repos(self, actor: Json, params: Json, query: Any, body: Any) -> Reply:
        self._needs_user(actor)
        self._check_org(params["org"])
        repos = [r.data for r in self.repos.values()
                 if r.data["owner"]["login"].lower() == self.org.lower() and self.sees(r, actor)]
        return self._paginated(repos, query, f"/orgs/{self.org}/repos")

    def _create_repo(self, actor: Json, params: Json, query: Any, body: Any) -> Reply:
        creator = self._needs_user(actor)
        self._check_org(params["org"])
        if not body or not body.get("name"):
            raise Refusal(422, "Validation Failed", [{"resource": "Repository", "code": "missing_field", "field": "name"}])
        data = self._new_repo(body["name"], body.get("description") or "", private=bool(body.get("private")),
                              owner_login=self.org, has_issues=body.get("has_issues", True),
                              has_wiki=body.get("has_wiki", True), has_projects=body.get("has_projects", True))
        self.repos[data["full_name"].lower()].collaborators[creator["login"].lower()] = "admin"
        return 201, {}, data

    def _get_repo(self, actor: Json, params: Json, query: Any, body: Any) -> Reply:
        self._needs_user(actor)
        return 200, {}, self._repo(params["owner"], params["repo"]).data

    def _update_repo(self, actor: Json, params: Json, query: Any, body: Any) -> Reply:
        self._needs_user(actor)
        repo = self._repo(params["owner"], params["repo"])
        for key in ("description", "private", "archived", "has_issues", "has_wiki", "has_projects"):
            if body and key in body:
                repo.data[key] = body[key]
        repo.data["updated_at"] = _ts(self.clock())
        return 200, {}, repo.data

    def _writable(self, repo: Repo) -> None:
        if repo.data["archived"]:
            raise Refusal(403, "Repository was archived so is read-only.")

    def _rank(self, actor: Json, repo: Repo) -> int:
        """The acting account's permission on `repo` (0: none): organisation owners and the App's
        installation administer every repository; a public one everybody reads."""
        if actor["kind"] == "installation":
            return _ROLE_RANK["admin"]
        login = actor["user"]["login"].lower()
        if self.org_roles.get(login) == "admin":
            return _ROLE_RANK["admin"]
        rank = _ROLE_RANK.get(repo.collaborators.get(login, ""), 0)
        return max(rank, 0 if repo.data["private"] else _ROLE_RANK["read"])

    # ------------------------------------------------------------------ contents
    # https://docs.github.com/en/rest/repos/contents

    def _content_json(self, repo: Repo, path: str) -> Json:
        text = repo.files[path].encode("utf-8")
        sha = hashlib.sha1(b"blob %d\0" % len(text) + text).hexdigest()
        url = f"{repo.data['url']}/contents/{quote(path)}"
        html = f"{repo.data['html_url']}/blob/main/{path}"
        return {"type": "file", "encoding": "base64", "size": len(text), "name": path.rsplit("/", 1)[-1], "path": path,
                "content": base64.b64encode(text).decode("ascii"), "sha": sha, "url": url, "git_url": url,
                "html_url": html, "download_url": html, "_links": {"self": url, "git": url, "html": html}}

    def _get_contents(self, actor: Json, params: Json, query: Any, body: Any) -> Reply:
        self._needs_user(actor)
        repo = self._repo(params["owner"], params["repo"])
        if params["path"] not in repo.files:
            raise Refusal(404, "Not Found")
        return 200, {}, self._content_json(repo, params["path"])

    def _put_contents(self, actor: Json, params: Json, query: Any, body: Any) -> Reply:
        user = self._needs_user(actor)
        repo = self._repo(params["owner"], params["repo"])
        if self._rank(actor, repo) < _ROLE_RANK["write"]:
            raise Refusal(403, "Resource not accessible by personal access token")
        self._writable(repo)
        path = params["path"]
        if not body or "message" not in body or "content" not in body:
            raise Refusal(422, "Invalid request.", [{"resource": "Content", "code": "missing_field", "field": "content"}])
        exists = path in repo.files
        if exists and body.get("sha") != self._content_json(repo, path)["sha"]:
            raise Refusal(409 if body.get("sha") else 422, "sha does not match" if body.get("sha") else '"sha" wasn\'t supplied.')
        repo.files[path] = base64.b64decode(body["content"]).decode("utf-8")
        commit = {"sha": hashlib.sha1(repr((path, repo.files[path])).encode()).hexdigest(), "message": body["message"],
                  "url": f"{repo.data['url']}/git/commits/1", "html_url": f"{repo.data['html_url']}/commit/1",
                  "author": {"name": user["login"], "email": "", "date": _ts(self.clock())}}
        return (200 if exists else 201), {}, {"content": self._content_json(repo, path), "commit": commit}

    # ------------------------------------------------------------------ collaborators

    def _list_collaborators(self, actor: Json, params: Json, query: Any, body: Any) -> Reply:
        self._needs_user(actor)
        repo = self._repo(params["owner"], params["repo"])
        people = []
        for login, role in repo.collaborators.items():
            rank = _ROLE_RANK[role]
            permissions = {p: _ROLE_RANK[_ROLE[p]] <= rank for p in _PERMISSIONS}
            people.append({**self.users[login], "permissions": permissions, "role_name": role})
        return self._paginated(people, query, f"/repos/{repo.data['full_name']}/collaborators")

    def _check_collaborator(self, actor: Json, params: Json, query: Any, body: Any) -> Reply:
        self._needs_user(actor)
        repo = self._repo(params["owner"], params["repo"])
        if params["username"].lower() in repo.collaborators:
            return 204, {}, None
        raise Refusal(404, "Not Found")

    def _add_collaborator(self, actor: Json, params: Json, query: Any, body: Any) -> Reply:
        inviter = self._needs_user(actor)
        repo = self._repo(params["owner"], params["repo"])
        login = params["username"].lower()
        user = self.users.get(login)
        if user is None:
            raise Refusal(404, "Not Found")
        permission = (body or {}).get("permission", "push")
        if permission not in _ROLE:
            raise Refusal(422, "Validation Failed", [{"resource": "Repository", "code": "invalid", "field": "permission"}])
        role = _ROLE[permission]
        if login in repo.collaborators:
            repo.collaborators[login] = role  # an existing collaborator's permission changes: 204
            return 204, {}, None
        if login in repo.invitations:
            repo.invitations[login]["permissions"] = role
            return 204, {}, None
        if login not in self.outside:
            repo.collaborators[login] = role  # an organisation member is added directly: 204
            return 204, {}, None
        invitation = {"id": next(self._ids), "node_id": "I_inv", "repository": _minimal_repo(repo.data),
                      "invitee": user, "inviter": inviter, "permissions": role, "created_at": _ts(self.clock()),
                      "expired": False, "url": f"{self.base}/user/repository_invitations/1",
                      "html_url": f"{repo.data['html_url']}/invitations"}
        repo.invitations[login] = invitation
        return 201, {}, invitation

    def _list_assignees(self, actor: Json, params: Json, query: Any, body: Any) -> Reply:
        self._needs_user(actor)
        repo = self._repo(params["owner"], params["repo"])
        people = [self.users[login] for login in repo.collaborators]
        return self._paginated(people, query, f"/repos/{repo.data['full_name']}/assignees")

    def _list_invitations(self, actor: Json, params: Json, query: Any, body: Any) -> Reply:
        self._needs_user(actor)
        repo = self._repo(params["owner"], params["repo"])
        return self._paginated(list(repo.invitations.values()), query, f"/repos/{repo.data['full_name']}/invitations")

    # ------------------------------------------------------------------ labels

    def _label(self, repo: Repo, name: str, color: str = "ededed", description: str | None = None) -> Json:
        label = repo.labels.get(name)
        if label is None:
            label = {"id": next(self._ids), "node_id": "LA_label", "url": f"{repo.data['url']}/labels/{quote(name)}",
                     "name": name, "description": description, "color": color, "default": False}
            repo.labels[name] = label
        return label

    def _list_labels(self, actor: Json, params: Json, query: Any, body: Any) -> Reply:
        self._needs_user(actor)
        repo = self._repo(params["owner"], params["repo"])
        return self._paginated(list(repo.labels.values()), query, f"/repos/{repo.data['full_name']}/labels")

    def _create_label(self, actor: Json, params: Json, query: Any, body: Any) -> Reply:
        self._needs_user(actor)
        repo = self._repo(params["owner"], params["repo"])
        name, color = (body or {}).get("name"), str((body or {}).get("color") or "")
        if not name:
            raise Refusal(422, "Validation Failed", [{"resource": "Label", "code": "missing_field", "field": "name"}])
        if not re.fullmatch(r"[0-9a-fA-F]{6}", color):
            raise Refusal(422, "Validation Failed", [{"resource": "Label", "code": "invalid", "field": "color"}])
        if name in repo.labels:
            raise Refusal(422, "Validation Failed", [{"resource": "Label", "code": "already_exists", "field": "name"}])
        return 201, {}, self._label(repo, name, color.lower(), body.get("description"))

    def _get_label(self, actor: Json, params: Json, query: Any, body: Any) -> Reply:
        self._needs_user(actor)
        repo = self._repo(params["owner"], params["repo"])
        if params["name"] not in repo.labels:
            raise Refusal(404, "Not Found")
        return 200, {}, repo.labels[params["name"]]

    def _update_label(self, actor: Json, params: Json, query: Any, body: Any) -> Reply:
        self._needs_user(actor)
        repo = self._repo(params["owner"], params["repo"])
        label = repo.labels.get(params["name"])
        if label is None:
            raise Refusal(404, "Not Found")
        body = body or {}
        if "color" in body and not re.fullmatch(r"[0-9a-fA-F]{6}", str(body["color"])):
            raise Refusal(422, "Validation Failed", [{"resource": "Label", "code": "invalid", "field": "color"}])
        new_name = body.get("new_name") or label["name"]
        label.update(color=str(body.get("color", label["color"])).lower(), description=body.get("description", label["description"]))
        if new_name != label["name"]:
            del repo.labels[label["name"]]
            label.update(name=new_name, url=f"{repo.data['url']}/labels/{quote(new_name)}")
            repo.labels[new_name] = label
        return 200, {}, label

    # ------------------------------------------------------------------ issues

    def _new_issue(self, repo: Repo, title: str, body: str | None, user: Json, labels: list[str], assignees: list[str]) -> Json:
        number = repo.next_number
        now = _ts(self.clock())
        url = f"{repo.data['url']}/issues/{number}"
        issue = {
            "id": next(self._ids), "node_id": f"I_{number}", "url": url, "repository_url": repo.data["url"],
            "labels_url": url + "/labels{/name}", "comments_url": url + "/comments", "events_url": url + "/events",
            "html_url": f"{repo.data['html_url']}/issues/{number}", "number": number, "state": "open",
            "state_reason": None, "title": title, "body": body, "user": user,
            "labels": [self._label(repo, name) for name in dict.fromkeys(labels)],
            "assignee": None, "assignees": [], "milestone": None, "locked": False, "active_lock_reason": None,
            "comments": 0, "closed_at": None, "created_at": now, "updated_at": now, "closed_by": None,
            "author_association": "MEMBER", "reactions": {"url": url + "/reactions", "total_count": 0},
        }
        self._assign(repo, issue, assignees)  # may refuse: the number is not used up then
        repo.next_number += 1
        repo.issues[number] = issue
        repo.comments[number] = []
        return issue

    def _assign(self, repo: Repo, issue: Json, logins: list[str]) -> None:
        # Assignees need access to the repository; a pending invitation is not access yet.
        invalid = [l for l in logins if l.lower() not in repo.collaborators]
        if invalid:
            raise Refusal(422, "Validation Failed", [
                {"value": l, "resource": "Issue", "field": "assignees", "code": "invalid"} for l in invalid])
        people = [self.users[l.lower()] for l in dict.fromkeys(logins)]
        issue["assignees"] = people
        issue["assignee"] = people[0] if people else None

    def _issue_of(self, params: Json) -> tuple[Repo, Json]:
        repo = self._repo(params["owner"], params["repo"])
        issue = repo.issues.get(int(params["issue_number"]))
        if issue is None:
            raise Refusal(404, "Not Found")
        return repo, issue

    def _filtered(self, issues: list[Json], query: dict[str, list[str]]) -> list[Json]:
        state = query.get("state", ["open"])[0]
        wanted = [l for l in query.get("labels", [""])[0].split(",") if l]
        since = query.get("since", [None])[0]
        out = []
        for issue in issues:
            if state != "all" and issue["state"] != state:
                continue
            names = {l["name"].lower() for l in issue["labels"]}
            if any(l.lower() not in names for l in wanted):
                continue
            if since and issue["updated_at"] < _ts(datetime.fromisoformat(since.replace("Z", "+00:00"))):
                continue
            out.append(issue)
        key = "updated_at" if query.get("sort", ["created"])[0] == "updated" else "created_at"
        reverse = query.get("direction", ["desc"])[0] == "desc"
        return sorted(out, key=lambda i: (i[key], i["id"]), reverse=reverse)

    def _list_repo_issues(self, actor: Json, params: Json, query: Any, body: Any) -> Reply:
        self._needs_user(actor)
        repo = self._repo(params["owner"], params["repo"])
        return self._paginated(self._filtered(list(repo.issues.values()), query), query, f"/repos/{repo.data['full_name']}/issues")

    def _list_org_issues(self, actor: Json, params: Json, query: Any, body: Any) -> Reply:
        if actor["kind"] == "installation":
            # "List organization issues assigned to the authenticated user" is for users, not installations.
            raise Refusal(403, "Resource not accessible by integration")
        self._needs_user(actor)
        self._check_org(params["org"])
        if query.get("filter", ["assigned"])[0] != "all":
            raise AssertionError("issuebot lists organisation issues with filter=all")
        # Filter and cut the page first, then attach each issue's repository: copying every issue
        # with its repository on every page request made the fake, not the client, dominate memory.
        owner: dict[int, Any] = {}
        issues = []
        for repo in self.repos.values():
            if not self.sees(repo, actor):
                continue
            for issue in repo.issues.values():
                owner[id(issue)] = repo
                issues.append(issue)
        status, headers, chunk = self._paginated(self._filtered(issues, query), query, f"/orgs/{self.org}/issues")
        return status, headers, [{**issue, "repository": owner[id(issue)].data} for issue in chunk]

    def _get_issue(self, actor: Json, params: Json, query: Any, body: Any) -> Reply:
        self._needs_user(actor)
        return 200, {}, self._issue_of(params)[1]

    def _create_issue(self, actor: Json, params: Json, query: Any, body: Any) -> Reply:
        user = self._needs_user(actor)
        repo = self._repo(params["owner"], params["repo"])
        self._writable(repo)
        if not body or not str(body.get("title") or "").strip():
            raise Refusal(422, "Validation Failed", [{"resource": "Issue", "code": "missing_field", "field": "title"}])
        issue = self._new_issue(repo, body["title"], body.get("body"), user, list(body.get("labels") or []),
                                list(body.get("assignees") or []))
        return 201, {"Location": issue["url"]}, issue

    def _update_issue(self, actor: Json, params: Json, query: Any, body: Any) -> Reply:
        user = self._needs_user(actor)
        repo, issue = self._issue_of(params)
        self._writable(repo)
        body = body or {}
        if "title" in body:
            issue["title"] = body["title"]
        if "body" in body:
            issue["body"] = body["body"]
        if "labels" in body:
            issue["labels"] = [self._label(repo, name) for name in dict.fromkeys(body["labels"])]
        if "assignees" in body:
            self._assign(repo, issue, list(body["assignees"]))
        if "state" in body and body["state"] != issue["state"]:
            if body["state"] not in ("open", "closed"):
                raise Refusal(422, "Validation Failed", [{"resource": "Issue", "code": "invalid", "field": "state"}])
            issue["state"] = body["state"]
            closed = body["state"] == "closed"
            issue["closed_at"] = _ts(self.clock()) if closed else None
            issue["closed_by"] = user if closed else None
            issue["state_reason"] = "completed" if closed else "reopened"
        issue["updated_at"] = _ts(self.clock())
        return 200, {}, issue

    def _add_labels(self, actor: Json, params: Json, query: Any, body: Any) -> Reply:
        """Add labels to an issue: the named labels join the issue's existing ones (a label that
        does not exist yet is created); the answer is every label the issue now has."""
        self._needs_user(actor)
        repo, issue = self._issue_of(params)
        self._writable(repo)
        names = (body or {}).get("labels")
        if not isinstance(names, list) or not names:  # minItems: 1
            raise Refusal(422, "Validation Failed", [{"resource": "Label", "code": "missing_field", "field": "labels"}])
        names = [n if isinstance(n, str) else (n or {}).get("name") for n in names]
        if not all(isinstance(n, str) and n for n in names):
            raise Refusal(422, "Validation Failed", [{"resource": "Label", "code": "invalid", "field": "labels"}])
        have = {l["name"] for l in issue["labels"]}
        issue["labels"] = issue["labels"] + [self._label(repo, n) for n in dict.fromkeys(names) if n not in have]
        issue["updated_at"] = _ts(self.clock())
        return 200, {}, issue["labels"]

    def _remove_label(self, actor: Json, params: Json, query: Any, body: Any) -> Reply:
        """Remove a label from an issue; the answer is the labels that remain. A label the issue
        does not carry is 404 "Label does not exist", as GitHub answers."""
        self._needs_user(actor)
        repo, issue = self._issue_of(params)
        self._writable(repo)
        name = params["name"]
        if name not in {l["name"] for l in issue["labels"]}:
            raise Refusal(404, "Label does not exist")
        issue["labels"] = [l for l in issue["labels"] if l["name"] != name]
        issue["updated_at"] = _ts(self.clock())
        return 200, {}, issue["labels"]

    # ------------------------------------------------------------------ comments

    def _list_comments(self, actor: Json, params: Json, query: Any, body: Any) -> Reply:
        self._needs_user(actor)
        repo, issue = self._issue_of(params)
        comments = repo.comments[issue["number"]]
        since = query.get("since", [None])[0]
        if since:
            cutoff = _ts(datetime.fromisoformat(since.replace("Z", "+00:00")))
            comments = [c for c in comments if c["updated_at"] >= cutoff]
        return self._paginated(comments, query, f"/repos/{repo.data['full_name']}/issues/{issue['number']}/comments")

    def _create_comment(self, actor: Json, params: Json, query: Any, body: Any) -> Reply:
        user = self._needs_user(actor)
        repo, issue = self._issue_of(params)
        self._writable(repo)
        if not body or not body.get("body"):
            raise Refusal(422, "Validation Failed", [{"resource": "IssueComment", "code": "missing_field", "field": "body"}])
        now = _ts(self.clock())
        comment_id = next(self._ids)
        comment = {"id": comment_id, "node_id": f"IC_{comment_id}", "url": f"{repo.data['url']}/issues/comments/{comment_id}",
                   "html_url": f"{issue['html_url']}#issuecomment-{comment_id}", "body": body["body"], "user": user,
                   "created_at": now, "updated_at": now, "issue_url": issue["url"], "author_association": "MEMBER"}
        repo.comments[issue["number"]].append(comment)
        issue["comments"] += 1
        issue["updated_at"] = now
        return 201, {"Location": comment["url"]}, comment

    # ------------------------------------------------------------------ pagination

    def _paginated(self, items: list[Json], query: dict[str, list[str]], path: str) -> Reply:
        """GitHub's page-number pagination: per_page (default 30, max 100) and a Link header."""
        per_page = max(1, min(int(query.get("per_page", ["30"])[0]), 100))
        page = max(1, int(query.get("page", ["1"])[0]))
        last = max(1, math.ceil(len(items) / per_page))
        chunk = items[(page - 1) * per_page: page * per_page]
        kept = {k: v[0] for k, v in query.items() if k != "page"}

        def link(number: int, rel: str) -> str:
            return f'<{self.base}{quote(path)}?{urlencode({**kept, "page": number})}>; rel="{rel}"'

        links = []
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        if page > 1:
            links += [link(page - 1, "prev"), link(1, "first")]
        return 200, ({"Link": ", ".join(links)} if links else {}), chunk


# --------------------------------------------------------------------------- JSON shapes


    # ------------------------------------------------------------------ diagnosis (issuebot doctor): read-only routes

    def _with_diagnostic_routes(self, routes: list[tuple[str, str, Any]]) -> list[tuple[str, str, Any]]:
        self.scopes: dict[str, str | None] = {}  # token -> X-OAuth-Scopes (None: a fine-grained token sends none)
        self.org_roles: dict[str, str] = {BOT.lower(): "admin"}  # login -> "admin" (owner) or "member"
        self.hooks: list[Json] = []
        self.deliveries: dict[int, list[Json]] = {}  # hook id -> deliveries, newest first
        self.installation_permissions: Json = {"administration": "write", "issues": "write", "members": "read"}
        # GET /user answers with the token's scopes, as GitHub does for classic tokens; the App's
        # installation with the permissions set here.
        replaced = {"/user": self._get_authenticated_with_scopes, "/orgs/{org}/installation": self._get_installation_permissions,
                    "/users/{username}": self._get_full_user}
        return [(m, t, replaced.get(t, h) if m == "GET" else h) for m, t, h in routes] + [
            ("GET", "/orgs/{org}/memberships/{username}", self._get_membership),
            ("GET", "/orgs/{org}/members", self._list_members),
            ("GET", "/orgs/{org}/hooks", self._list_hooks),
            ("GET", "/orgs/{org}/hooks/{hook_id}/deliveries", self._list_deliveries),
        ]

    def add_hook(self, url: str, *, events: tuple[str, ...] = ("issues", "issue_comment"), active: bool = True,
                 last_status: int | None = 200) -> Json:
        """An organisation webhook (https://docs.github.com/en/rest/orgs/webhooks) and its latest delivery."""
        hook = {"id": next(self._ids), "name": "web", "active": active, "events": list(events),
                "config": {"url": url, "content_type": "json", "insecure_ssl": "0"},
                "url": f"{self.base}/orgs/{self.org}/hooks/1", "ping_url": "", "deliveries_url": "",
                "created_at": _ts(self.clock()), "updated_at": _ts(self.clock()), "type": "Organization"}
        self.hooks.append(hook)
        self.deliveries[hook["id"]] = [] if last_status is None else [
            {"id": next(self._ids), "guid": "0b989ba4", "delivered_at": _ts(self.clock()), "redelivery": False,
             "duration": 0.1, "status": "OK" if last_status < 300 else "failed", "status_code": last_status,
             "event": "issues", "action": "opened", "installation_id": None, "repository_id": None}]
        return hook

    def _get_authenticated_with_scopes(self, actor: Json, params: Json, query: Any, body: Any) -> Reply:
        status, headers, payload = self._get_authenticated(actor, params, query, body)
        token = next((t for t, login in self.tokens.items() if login.lower() == actor["user"]["login"].lower()), "")
        scopes = self.scopes.get(token, "repo, read:org")
        return status, ({**headers, "X-OAuth-Scopes": scopes} if scopes is not None else headers), payload

    def _get_full_user(self, actor: Json, params: Json, query: Any, body: Any) -> Reply:
        """A user's profile with every field GitHub documents (GET /users/{username})."""
        status, headers, payload = self._get_user(actor, params, query, body)
        return status, headers, {**_private_user_fields(self.clock()), **payload}

    def _get_installation_permissions(self, actor: Json, params: Json, query: Any, body: Any) -> Reply:
        status, headers, payload = self._get_org_installation(actor, params, query, body)
        return status, headers, {**payload, "permissions": dict(self.installation_permissions)}

    def _org_owner(self, actor: Json) -> None:
        if actor["kind"] == "installation":
            return
        if self.org_roles.get(self._needs_user(actor)["login"].lower()) != "admin":
            raise Refusal(404, "Not Found")

    def _get_membership(self, actor: Json, params: Json, query: Any, body: Any) -> Reply:
        self._check_org(params["org"])
        login = params["username"].lower()
        if login not in self.users or login in self.outside:
            raise Refusal(404, "Not Found")
        return 200, {}, {"url": f"{self.base}/orgs/{self.org}/memberships/{login}", "state": "active",
                         "role": self.org_roles.get(login, "member"), "organization_url": self.org_data["url"],
                         "organization": self.org_data, "user": self.users[login]}

    def _list_members(self, actor: Json, params: Json, query: Any, body: Any) -> Reply:
        self._check_org(params["org"])
        members = [u for login, u in sorted(self.users.items()) if login not in self.outside and u["type"] == "User"]
        return self._paginated(members, query, f"/orgs/{self.org}/members")

    def _list_hooks(self, actor: Json, params: Json, query: Any, body: Any) -> Reply:
        self._check_org(params["org"])
        self._org_owner(actor)
        return self._paginated(list(self.hooks), query, f"/orgs/{self.org}/hooks")

    def _list_deliveries(self, actor: Json, params: Json, query: Any, body: Any) -> Reply:
        self._check_org(params["org"])
        self._org_owner(actor)
        deliveries = self.deliveries.get(int(params["hook_id"]))
        if deliveries is None:
            raise Refusal(404, "Not Found")
        return 200, {}, deliveries[: int(query.get("per_page", ["30"])[0])]


def _ts(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _user(login: str, user_id: int, base: str, kind: str) -> Json:
    url = f"{base}/users/{quote(login)}"
    return {
        "login": login, "id": user_id, "node_id": f"U_{user_id}", "avatar_url": f"{HOST}/avatars/{user_id}",
        "gravatar_id": "", "url": url, "html_url": f"{HOST}/{login}", "followers_url": url + "/followers",
        "following_url": url + "/following{/other_user}", "gists_url": url + "/gists{/gist_id}",
        "starred_url": url + "/starred{/owner}{/repo}", "subscriptions_url": url + "/subscriptions",
        "organizations_url": url + "/orgs", "repos_url": url + "/repos", "events_url": url + "/events{/privacy}",
        "received_events_url": url + "/received_events", "type": kind, "site_admin": False,
    }


def _private_user_fields(now: datetime) -> Json:
    return {"name": None, "company": None, "blog": "", "location": None, "email": None, "hireable": None, "bio": None,
            "public_repos": 0, "public_gists": 0, "followers": 0, "following": 0, "created_at": _ts(now),
            "updated_at": _ts(now), "private_gists": 0, "total_private_repos": 0, "owned_private_repos": 0,
            "disk_usage": 0, "collaborators": 0, "two_factor_authentication": True}


_REPO_URLS = ("archive", "assignees", "blobs", "branches", "collaborators", "comments", "commits", "compare", "contents",
              "contributors", "deployments", "downloads", "events", "forks", "git_commits", "git_refs", "git_tags",
              "hooks", "issue_comment", "issue_events", "issues", "keys", "labels", "languages", "merges",
              "milestones", "notifications", "pulls", "releases", "stargazers", "statuses", "subscribers",
              "subscription", "tags", "teams", "trees")


def _repository(full: str, name: str, repo_id: int, base: str, owner: Json, description: str, private: bool, now: str) -> Json:
    url = f"{base}/repos/{full}"
    data: Json = {f"{kind}_url": f"{url}/{kind.replace('_', '/')}" for kind in _REPO_URLS}
    data.update({
        "id": repo_id, "node_id": f"R_{repo_id}", "name": name, "full_name": full, "owner": owner, "private": private,
        "html_url": f"{HOST}/{full}", "description": description, "fork": False, "url": url,
        "clone_url": f"{HOST}/{full}.git", "git_url": f"git://github.example.test/{full}.git",
        "ssh_url": f"git@github.example.test:{full}.git", "svn_url": f"{HOST}/{full}", "mirror_url": None,
        "homepage": None, "language": None, "forks_count": 0, "forks": 0, "stargazers_count": 0, "watchers_count": 0,
        "watchers": 0, "size": 0, "default_branch": "main", "open_issues_count": 0, "open_issues": 0,
        "is_template": False, "topics": [], "has_issues": True, "has_projects": True, "has_wiki": True,
        "has_pages": False, "has_downloads": True, "has_discussions": False, "archived": False, "disabled": False,
        "visibility": "private" if private else "public", "pushed_at": now, "created_at": now, "updated_at": now,
        "permissions": {"admin": True, "maintain": True, "push": True, "triage": True, "pull": True},
        "license": None, "network_count": 0, "subscribers_count": 0,
    })
    return data


def _minimal_repo(data: Json) -> Json:
    return {k: data[k] for k in ("id", "node_id", "name", "full_name", "owner", "private", "html_url", "description",
                                 "fork", "url") + tuple(f"{kind}_url" for kind in _REPO_URLS)}


# --------------------------------------------------------------------------- the harness


class GitHubHarness:
    """The real GitHubProvider (PyGithub) against FakeGitHub; reads/writes are what the fake received."""

    name = "github"
    supports_injected_errors = True

    def __init__(self, tmp_path: Path, clock: Callable[[], datetime], mock: responses.RequestsMock, *,
                 app: bool = False, org: str = ORG):
        self.tmp_path = tmp_path
        self.clock = clock
        self.fake = FakeGitHub(clock, org=org)
        self.fake.install(mock)
        self._env: dict[str, str | None] = {}
        self.app_key_pem: str | None = None
        bot_token = "ghp_issuebot_fake_token"
        self.fake.add_user(BOT, token=bot_token)
        self._set_env("GITHUB_TOKEN", bot_token)
        self.config: dict[str, Any] = {
            "kind": "github", "url": BASE, "token_env": "GITHUB_TOKEN", "org": org,
            "seconds_between_requests": 0, "seconds_between_writes": 0, "max_retry_wait": 60,
        }
        if app:
            self.app_key_pem = self._make_app(app_id=4242, installation_id=77)
            self.config["app"] = {"app_id": 4242, "private_key_env": "GITHUB_APP_PRIVATE_KEY", "installation_id": 77}
        self.provider = GitHubProvider(GitHubProviderConfig.model_validate(self.config), clock=clock)

    def _make_app(self, app_id: int, installation_id: int) -> str:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
        self.fake.add_app(app_id, "issuebot-app", key.public_key(), installation_id)
        self._set_env("GITHUB_APP_PRIVATE_KEY", pem)
        return pem

    def _set_env(self, name: str, value: str) -> None:
        if name not in self._env:
            self._env[name] = os.environ.get(name)
        os.environ[name] = value

    def restore_env(self) -> None:
        for name, value in self._env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def provider_config(self) -> dict[str, Any]:
        """The `program.provider` mapping that points a program file at this fake."""
        return dict(self.config)

    def as_user(self, username: str) -> GitHubProvider:
        """A provider acting as `username` with a token of their own (as a person would)."""
        token = f"ghp_fake_{username}"
        self.fake.add_user(username, token=token)
        variable = f"ISSUEBOT_TEST_TOKEN_{re.sub(r'[^A-Za-z0-9]', '_', username).upper()}"
        self._set_env(variable, token)
        config = {k: v for k, v in self.config.items() if k != "app"}
        return GitHubProvider(GitHubProviderConfig.model_validate({**config, "token_env": variable}), clock=self.clock)

    def person_token_env(self, username: str) -> str:
        """The variable (set until the harness closes) that holds `username`'s own token, for
        `provider.person_tokens` in a program file."""
        token = f"ghp_fake_{username}"
        self.fake.add_user(username, token=token)
        variable = f"ISSUEBOT_TEST_TOKEN_{re.sub(r'[^A-Za-z0-9]', '_', username).upper()}"
        self._set_env(variable, token)
        return variable

    def add_user(self, username: str) -> None:
        self.fake.add_user(username)

    def create_foreign_project(self, name: str) -> None:
        self.fake.create_foreign_repo(name, "a repository somebody made by hand")

    def lose_next_answer(self, times: int = 1) -> None:
        self.fake.lose_next_answer(times)

    def after_next_issue_read(self, action: Callable[[], Any]) -> None:
        """Run `action` (a person's edit) right after GitHub answers the next read of one issue."""
        self.fake.after_issue_read.append(action)

    def clear_failures(self) -> None:
        """Drop injected failures not used up yet: the forge is healthy again."""
        self.fake.failures.clear()

    def fail_next(self, status: int, *, retry_after: int | None = None, times: int = 1, rate_limited: bool = False,
                  after: int = 0) -> None:
        self.fake.fail_next(status, retry_after=retry_after, times=times, rate_limited=rate_limited, after=after)

    @property
    def reads(self) -> int:
        return self.fake.reads

    @property
    def writes(self) -> int:
        return self.fake.writes


@contextlib.contextmanager
def github_harness(tmp_path: Path, clock: Callable[[], datetime], **options: Any) -> Iterator[GitHubHarness]:
    """The GitHub harness, with `responses` intercepting PyGithub's HTTP for its duration."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        made = GitHubHarness(tmp_path, clock, mock, **options)
        try:
            yield made
        finally:
            made.restore_env()
