"""A stateful fake GitLab REST API (v4) on `responses`, driven by the real python-gitlab client.

Users, groups, projects, members, labels, issues (iid per project), notes, boards and repository
files (description templates); it paginates, filters and fails the way https://docs.gitlab.com/ee/api/rest/
documents.

Every token belongs to one user, and each call is answered as that user would be answered: a
private project the user is no member of (directly or through the group) is 404, and so is a
confidential issue unless the user wrote it, is assigned to it or has Reporter access or more
(https://docs.gitlab.com/ee/user/project/issues/confidential_issues.html#who-can-see-confidential-issues);
listings leave out what the user cannot see, and a Guest may not edit somebody else's issue. A
private project's files are hidden from Guests, and only Developers and above write files.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import os
import re
import types
from collections.abc import Callable, Iterator
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import gitlab.utils
import responses

from issuebot.providers.gitlab import GitLabProvider
from tests.fakes.oauth import FakeOAuth

URL = "https://gitlab.fake.test"
API = URL + "/api/v4"
TOKEN_ENV = "ISSUEBOT_TEST_GITLAB_TOKEN"
BOT = "issuebot"
GUEST = 10
REPORTER = 20
DEVELOPER = 30
OWNER = 50
# https://docs.gitlab.com/ee/user/reserved_names.html#rules-for-usernames-project-and-group-names-and-slugs
NAME_RE = re.compile(r"^[\w][\w.+\- ]*$")
PATH_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


class HttpError(Exception):
    def __init__(self, status: int, message: Any, headers: dict[str, str] | None = None):
        self.status = status
        self.message = message
        self.headers = headers or {}


Handler = Callable[..., tuple[int, Any] | tuple[int, Any, dict[str, str]]]


class FakeGitLab:
    """The state of one GitLab instance and the HTTP handlers that read and change it."""

    def __init__(self, clock: Callable[[], datetime], group: str = "mentoring"):
        self.clock = clock
        self.reads = 0
        self.writes = 0
        self.log: list[tuple[str, str]] = []  # (method, path) of every call
        self._ids = iter(range(1000, 10**9))
        self.users: dict[int, dict[str, Any]] = {}
        self.tokens: dict[str, int] = {}
        self.groups: dict[int, dict[str, Any]] = {}
        self.group_members: dict[int, dict[int, int]] = {}
        self.projects: dict[int, dict[str, Any]] = {}
        self.project_ids: dict[str, int] = {}  # path_with_namespace -> id
        self.members: dict[int, dict[int, int]] = {}
        self.labels: dict[tuple[str, int], dict[str, dict[str, Any]]] = {}
        self.issues: dict[int, dict[str, Any]] = {}
        self.issue_ids: dict[tuple[int, int], int] = {}  # (project id, iid) -> id
        self.notes: dict[int, list[dict[str, Any]]] = {}
        self.boards: dict[int, list[dict[str, Any]]] = {}
        self.failures: list[tuple[int, int | str | None] | None] = []  # None: answer that call normally
        self.lost_answers = 0  # writes that are carried out but answered with a 502
        self.after_issue_read: list[Callable[[], Any]] = []  # people acting right after a read
        self.oauth = FakeOAuth(self._oauth_token)  # https://docs.gitlab.com/api/oauth2/
        self.denied: list[tuple[str, re.Pattern[str]]] = []
        self.actor: int | None = None  # the user of the call being answered (None: the test itself)
        self.bot_token = self.add_user(BOT)
        self.group = self.add_group(group)
        self.group_members[self.group["id"]][self.tokens[self.bot_token]] = OWNER
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = [
            (m, re.compile("^" + p + "$"), h) for m, p, h in (
                ("GET", r"/user", self.get_current_user),
                ("GET", r"/users", self.list_users),
                ("GET", r"/groups/([^/]+)", self.get_group),
                ("GET", r"/groups/([^/]+)/projects", self.list_group_projects),
                ("GET", r"/groups/([^/]+)/issues", self.list_group_issues),
                ("GET", r"/groups/([^/]+)/members/all/(\d+)", self.get_group_member),
                ("GET", r"/groups/([^/]+)/labels", self.list_group_labels),
                ("POST", r"/groups/([^/]+)/labels", self.create_group_label),
                ("PUT", r"/groups/([^/]+)/labels(?:/([^/]+))?", self.update_group_label),
                ("GET", r"/groups/([^/]+)/boards", self.list_boards),
                ("POST", r"/groups/([^/]+)/boards", self.create_board),
                ("GET", r"/groups/([^/]+)/boards/(\d+)/lists", self.list_board_lists),
                ("POST", r"/groups/([^/]+)/boards/(\d+)/lists", self.create_board_list),
                ("POST", r"/projects", self.create_project),
                ("GET", r"/projects/([^/]+)", self.get_project),
                ("POST", r"/projects/([^/]+)/archive", self.archive_project),
                ("GET", r"/projects/([^/]+)/members/all", self.list_all_members),
                ("POST", r"/projects/([^/]+)/members", self.add_member),
                ("PUT", r"/projects/([^/]+)/members/(\d+)", self.update_member),
                ("GET", r"/projects/([^/]+)/labels", self.list_project_labels),
                ("POST", r"/projects/([^/]+)/labels", self.create_project_label),
                ("PUT", r"/projects/([^/]+)/labels(?:/([^/]+))?", self.update_project_label),
                ("GET", r"/projects/([^/]+)/issues", self.list_project_issues),
                ("POST", r"/projects/([^/]+)/issues", self.create_issue),
                ("GET", r"/projects/([^/]+)/issues/(\d+)", self.get_issue),
                ("PUT", r"/projects/([^/]+)/issues/(\d+)", self.update_issue),
                ("GET", r"/projects/([^/]+)/issues/(\d+)/notes", self.list_notes),
                ("POST", r"/projects/([^/]+)/issues/(\d+)/notes", self.create_note),
                ("GET", r"/projects/([^/]+)/repository/files/([^/]+)", self.get_file),
                ("POST", r"/projects/([^/]+)/repository/files/([^/]+)", self.create_file),
                ("PUT", r"/projects/([^/]+)/repository/files/([^/]+)", self.update_file),
            )
        ]
        self.routes += self._diagnostic_routes()

    # ------------------------------------------------------------------ knobs

    def _next_id(self) -> int:
        return next(self._ids)

    def now(self) -> str:
        moment = self.clock().astimezone(timezone.utc)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"

    def add_user(self, username: str) -> str:
        """A GitLab account; returns its personal access token."""
        for uid, user in self.users.items():
            if user["username"] == username:
                return next(t for t, u in self.tokens.items() if u == uid)
        uid = self._next_id()
        self.users[uid] = {"id": uid, "username": username, "name": username.title(), "state": "active",
                           "avatar_url": None, "web_url": f"{URL}/{username}"}
        token = f"glpat-fake-{username}-{uid}"
        self.tokens[token] = uid
        return token

    def add_group(self, path: str) -> dict[str, Any]:
        gid = self._next_id()
        group = {"id": gid, "name": path, "path": path, "full_path": path, "full_name": path,
                 "visibility": "private", "web_url": f"{URL}/groups/{path}", "parent_id": None}
        self.groups[gid] = group
        self.group_members[gid] = {}
        self.labels[("group", gid)] = {}
        self.boards[gid] = []
        return group

    def approve_oauth(self, username: str) -> str:
        """`username` approves the web app on GitLab's authorize page: the code it is sent back with."""
        return self.oauth.approve(self.tokens[self.add_user(username)], username)

    def _oauth_token(self, uid: int) -> str:
        token = f"oauth-{self._next_id()}"
        self.tokens[token] = uid
        return token

    def lose_next_answer(self, times: int = 1) -> None:
        """Carry out the next `times` writes but answer each with a 502, as a proxy timing out would."""
        self.lost_answers += times

    def fail_next(self, status: int, retry_after: int | str | None = None, times: int = 1, after: int = 0) -> None:
        """Answer `status` to `times` calls, once `after` more calls were answered normally."""
        self.failures.extend([None] * after + [(status, retry_after)] * times)

    def deny(self, method: str, path_pattern: str) -> None:
        """Answer 403 to every `method` call whose API path matches `path_pattern` (a regex)."""
        self.denied.append((method.upper(), re.compile(path_pattern)))

    def project_by_path(self, path: str) -> dict[str, Any] | None:
        pid = self.project_ids.get(path)
        return self.projects[pid] if pid is not None else None

    # ------------------------------------------------------------------ dispatch

    def handle(self, request: Any) -> tuple[int, dict[str, str], str]:
        split = urlsplit(request.url)
        raw_path = split.path[len(urlsplit(API).path):]
        method = request.method.upper()
        self.log.append((method, unquote(raw_path)))
        if method in ("GET", "HEAD"):
            self.reads += 1
        else:
            self.writes += 1
        headers = {"Content-Type": "application/json"}
        try:
            failure = self.failures.pop(0) if self.failures else None
            if failure is not None:
                status, retry_after = failure
                extra = {"Retry-After": str(retry_after)} if retry_after is not None else {}
                raise HttpError(status, f"{status} injected failure", extra)
            bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
            uid = self.tokens.get(request.headers.get("PRIVATE-TOKEN", "") or bearer)
            if uid is None:
                raise HttpError(401, "401 Unauthorized")
            self.actor = uid
            for denied_method, pattern in self.denied:
                if denied_method == method and pattern.search(unquote(raw_path)):
                    raise HttpError(403, "403 Forbidden")
            query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
            body = json.loads(request.body or b"{}") if method in ("POST", "PUT") else {}
            for route_method, pattern, handler in self.routes:
                match = pattern.match(raw_path)
                if route_method == method and match:
                    args = [unquote(g) if g is not None else None for g in match.groups()]
                    result = handler(*args, query=query, body=body, actor=uid, url=split)
                    status, payload = result[0], result[1]
                    if self.lost_answers and method not in ("GET", "HEAD") and status < 300:
                        self.lost_answers -= 1
                        raise HttpError(502, "502 Bad Gateway")  # done, but the answer was lost
                    if len(result) == 3:
                        headers.update(result[2])  # type: ignore[misc]
                    text = json.dumps(payload)
                    if handler == self.get_issue and self.after_issue_read:
                        self.after_issue_read.pop(0)()  # the answer is on its way: the reader misses this
                    return status, headers, text
            raise HttpError(404, "404 Not Found")
        except HttpError as exc:
            headers.update(exc.headers)
            return exc.status, headers, json.dumps({"message": exc.message})
        finally:
            self.actor = None

    def page(self, items: list[dict[str, Any]], query: dict[str, str], url: Any,
             render: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> tuple[int, Any, dict[str, str]]:
        """One page the way GitLab's offset pagination answers (per_page at most 100)."""
        per_page = max(1, min(int(query.get("per_page") or 20), 100))
        number = max(1, int(query.get("page") or 1))
        total = len(items)
        pages = max(1, math.ceil(total / per_page))
        chunk = items[(number - 1) * per_page : number * per_page]
        if render is not None:
            chunk = [render(item) for item in chunk]

        def link(to: int) -> str:
            params = dict(query, page=str(to), per_page=str(per_page))
            return f"{URL}{url.path}?{urlencode(params)}"

        rels = [(number - 1, "prev")] if number > 1 else []
        rels += [(number + 1, "next")] if number < pages else []
        rels += [(1, "first"), (pages, "last")]
        headers = {
            "X-Total": str(total), "X-Total-Pages": str(pages), "X-Per-Page": str(per_page),
            "X-Page": str(number), "X-Next-Page": str(number + 1) if number < pages else "",
            "X-Prev-Page": str(number - 1) if number > 1 else "",
            "Link": ", ".join(f'<{link(n)}>; rel="{rel}"' for n, rel in rels),
        }
        return 200, chunk, headers

    # ------------------------------------------------------------------ lookups

    def _group(self, ident: str) -> dict[str, Any]:
        found = self.groups.get(int(ident)) if ident.isdigit() else next(
            (g for g in self.groups.values() if g["full_path"] == ident), None)
        if found is None:
            raise HttpError(404, "404 Group Not Found")
        return found

    def _project(self, ident: str) -> dict[str, Any]:
        found = self.projects.get(int(ident)) if ident.isdigit() else self.project_by_path(ident)
        if found is None or not self.sees_project(found, self.actor):
            raise HttpError(404, "404 Project Not Found")  # a private project is 404 to non-members
        return found

    def _issue(self, project: dict[str, Any], iid: str) -> dict[str, Any]:
        found = self.issues.get(self.issue_ids.get((project["id"], int(iid)), -1))
        if found is None or not self.sees_issue(found, self.actor):
            raise HttpError(404, "404 Issue Not Found")  # a confidential issue is 404 to whom it is hidden
        return found

    # ------------------------------------------------------------------ who may see what

    def level(self, project: dict[str, Any], uid: int) -> int:
        """The user's access level in the project: direct or through the group, the higher."""
        return max(self.members[project["id"]].get(uid, 0), self.group_members[project["namespace"]["id"]].get(uid, 0))

    def sees_project(self, project: dict[str, Any], uid: int | None) -> bool:
        return uid is None or project["visibility"] != "private" or self.level(project, uid) >= GUEST

    def sees_issue(self, issue: dict[str, Any], uid: int | None) -> bool:
        project = self.projects[issue["project_id"]]
        if uid is None:
            return True
        if not self.sees_project(project, uid):
            return False
        return (not issue["confidential"] or issue["author_id"] == uid or uid in issue["assignee_ids"]
                or self.level(project, uid) >= REPORTER)

    def _user_basic(self, uid: int) -> dict[str, Any]:
        user = self.users[uid]
        return {k: user[k] for k in ("id", "username", "name", "state", "avatar_url", "web_url")}

    def _user_by_name(self, username: str) -> int | None:
        return next((uid for uid, u in self.users.items() if u["username"].lower() == username.lower()), None)

    # ------------------------------------------------------------------ users, groups

    def get_current_user(self, *, actor: int, **_: Any) -> tuple[int, Any]:
        return 200, dict(self.users[actor], is_admin=False)

    def list_users(self, *, query: dict[str, str], url: Any, **_: Any) -> tuple[int, Any, dict[str, str]]:
        users = list(self.users.values())
        if "username" in query:
            users = [u for u in users if u["username"].lower() == query["username"].lower()]
        return self.page([self._user_basic(u["id"]) for u in users], query, url)

    def get_group(self, ident: str, **_: Any) -> tuple[int, Any]:
        return 200, self._group(ident)

    def list_group_projects(self, ident: str, *, query: dict[str, str], url: Any, **_: Any) -> Any:
        group = self._group(ident)
        found = [p for p in self.projects.values() if p["namespace"]["id"] == group["id"] and self.sees_project(p, self.actor)]
        if query.get("archived") in ("true", "false"):
            found = [p for p in found if p["archived"] == (query["archived"] == "true")]
        found.sort(key=lambda p: p["id"], reverse=query.get("sort", "desc") == "desc")
        return self.page(found, query, url)

    # ------------------------------------------------------------------ projects

    def _project_json(self, project: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in project.items() if not k.startswith("_")}

    def create_project(self, *, body: dict[str, Any], actor: int, **_: Any) -> tuple[int, Any]:
        name, path = str(body.get("name") or body.get("path") or ""), str(body.get("path") or "")
        if not path:
            path = re.sub(r"[^A-Za-z0-9_.\-]+", "-", name).strip("-").lower()
        errors: dict[str, list[str]] = {}
        if not NAME_RE.match(name):
            errors["name"] = ["can contain only letters, digits, emojis, '_', '.', '+', dashes, or spaces. "
                              "It must start with a letter, digit, emoji, or '_'."]
        if not PATH_RE.match(path):
            errors["path"] = ["can contain only letters, digits, '_', '-' and '.'"]
        group = self.groups.get(int(body.get("namespace_id") or 0))
        if group is None:
            raise HttpError(404, "404 Namespace Not Found")
        full = f"{group['full_path']}/{path}"
        if self.project_by_path(full) is not None:
            errors["path"] = ["has already been taken"]
        if errors:
            raise HttpError(400, errors)
        return 201, self._project_json(self.add_project(group, name, path, str(body.get("description") or ""),
                                                         str(body.get("visibility") or "private"), actor))

    def add_project(self, group: dict[str, Any], name: str, path: str, description: str, visibility: str, creator: int) -> dict[str, Any]:
        pid = self._next_id()
        full = f"{group['full_path']}/{path}"
        project = {
            "id": pid, "name": name, "path": path, "path_with_namespace": full,
            "name_with_namespace": f"{group['full_name']} / {name}", "description": description,
            "visibility": visibility, "archived": False, "issues_enabled": True, "issues_access_level": "enabled",
            "namespace": {"id": group["id"], "name": group["name"], "path": group["path"], "kind": "group",
                          "full_path": group["full_path"]},
            "web_url": f"{URL}/{full}", "created_at": self.now(), "last_activity_at": self.now(),
            "creator_id": creator, "_next_iid": 1, "default_branch": None, "_files": {},
        }
        self.projects[pid] = project
        self.project_ids[full] = pid
        self.members[pid] = {}
        self.labels[("project", pid)] = {}
        return project

    def get_project(self, ident: str, **_: Any) -> tuple[int, Any]:
        return 200, self._project_json(self._project(ident))

    def archive_project(self, ident: str, **_: Any) -> tuple[int, Any]:
        project = self._project(ident)
        project["archived"] = True
        return 201, self._project_json(project)

    # ------------------------------------------------------------------ members

    def list_all_members(self, ident: str, *, query: dict[str, str], url: Any, **_: Any) -> Any:
        project = self._project(ident)
        levels = dict(self.group_members[project["namespace"]["id"]])
        for uid, level in self.members[project["id"]].items():
            levels[uid] = max(level, levels.get(uid, 0))
        found = [dict(self._user_basic(uid), access_level=level, expires_at=None) for uid, level in sorted(levels.items())]
        return self.page(found, query, url)

    def add_member(self, ident: str, *, body: dict[str, Any], **_: Any) -> tuple[int, Any]:
        project = self._project(ident)
        uid = int(body.get("user_id") or 0)
        if uid not in self.users:
            raise HttpError(404, "404 User Not Found")
        if uid in self.members[project["id"]]:
            raise HttpError(409, "Member already exists")
        level = int(body["access_level"])
        self.members[project["id"]][uid] = level
        return 201, dict(self._user_basic(uid), access_level=level, expires_at=None)

    def update_member(self, ident: str, user_id: str, *, body: dict[str, Any], **_: Any) -> tuple[int, Any]:
        project = self._project(ident)
        if int(user_id) not in self.members[project["id"]]:
            raise HttpError(404, "404 Member Not Found")
        self.members[project["id"]][int(user_id)] = int(body["access_level"])
        return 200, dict(self._user_basic(int(user_id)), access_level=int(body["access_level"]), expires_at=None)

    # ------------------------------------------------------------------ repository files
    # https://docs.gitlab.com/ee/api/repository_files.html

    def _file_json(self, project: dict[str, Any], path: str, ref: str) -> dict[str, Any]:
        text = project["_files"][path].encode("utf-8")
        return {"file_name": path.rsplit("/", 1)[-1], "file_path": path, "size": len(text), "encoding": "base64",
                "content": base64.b64encode(text).decode("ascii"), "ref": ref, "blob_id": f"b{len(text)}",
                "commit_id": "c1", "last_commit_id": "c1"}

    def get_file(self, ident: str, path: str, *, query: dict[str, str], actor: int, **_: Any) -> tuple[int, Any]:
        project = self._project(ident)
        if self.level(project, actor) < REPORTER and project["visibility"] == "private":
            raise HttpError(403, "403 Forbidden")  # Guests of a private project do not read its code
        if path not in project["_files"] or query.get("ref") not in (project["default_branch"], None):
            raise HttpError(404, "404 File Not Found")
        return 200, self._file_json(project, path, query["ref"])

    def _write_file(self, ident: str, path: str, body: dict[str, Any], actor: int, *, new: bool) -> tuple[int, Any]:
        project = self._project(ident)
        self._writable(project)
        if self.level(project, actor) < DEVELOPER:
            raise HttpError(403, "403 Forbidden")
        branch = str(body.get("branch") or "")
        if not branch or "content" not in body or not body.get("commit_message"):
            raise HttpError(400, "branch, content and commit_message are required")
        if project["default_branch"] is None:
            project["default_branch"] = branch  # the first commit of an empty repository makes the branch
        if new == (path in project["_files"]):
            raise HttpError(400, "A file with this name already exists" if new else "A file with this name doesn't exist")
        content = str(body["content"])
        if body.get("encoding") == "base64":
            content = base64.b64decode(content).decode("utf-8")
        project["_files"][path] = content
        return (201 if new else 200), {"file_path": path, "branch": branch}

    def create_file(self, ident: str, path: str, *, body: dict[str, Any], actor: int, **_: Any) -> tuple[int, Any]:
        return self._write_file(ident, path, body, actor, new=True)

    def update_file(self, ident: str, path: str, *, body: dict[str, Any], actor: int, **_: Any) -> tuple[int, Any]:
        return self._write_file(ident, path, body, actor, new=False)

    def member_levels(self, path: str) -> dict[str, int]:
        """Direct members of a project by username (for assertions)."""
        project = self.project_by_path(path)
        assert project is not None
        return {self.users[uid]["username"]: level for uid, level in self.members[project["id"]].items()}

    # ------------------------------------------------------------------ labels

    def _create_label(self, scope: tuple[str, int], body: dict[str, Any]) -> tuple[int, Any]:
        name = str(body.get("name") or "")
        color = str(body.get("color") or "")
        if not name or not re.match(r"^#[0-9A-Fa-f]{6}$", color):
            raise HttpError(400, {"color": ["must be a valid color code"]} if name else "400 Bad request - name is missing")
        if name in self.labels[scope]:
            raise HttpError(409, "Label already exists")
        label = {"id": self._next_id(), "name": name, "color": color, "description": body.get("description") or None,
                 "text_color": "#FFFFFF", "is_project_label": scope[0] == "project"}
        self.labels[scope][name] = label
        return 201, label

    def _update_label(self, scope: tuple[str, int], label_id: str | None, body: dict[str, Any]) -> tuple[int, Any]:
        labels = self.labels[scope]
        key = label_id if label_id is not None else str(body.get("name") or "")
        label = labels.get(key) or next((l for l in labels.values() if str(l["id"]) == key), None)
        if label is None:
            raise HttpError(404, "404 Label Not Found")
        if "color" in body:
            label["color"] = body["color"]
        if "description" in body:
            label["description"] = body["description"] or None
        return 200, label

    def _label_listing(self, scopes: list[tuple[str, int]]) -> list[dict[str, Any]]:
        return [dict(l) for scope in scopes for l in sorted(self.labels[scope].values(), key=lambda l: l["name"])]

    def list_group_labels(self, ident: str, *, query: dict[str, str], url: Any, **_: Any) -> Any:
        return self.page(self._label_listing([("group", self._group(ident)["id"])]), query, url)

    def get_group_member(self, ident: str, uid: str, **_: Any) -> tuple[int, Any]:
        level = self.group_members[self._group(ident)["id"]].get(int(uid))
        if level is None:
            raise HttpError(404, "404 Not found")
        return 200, dict(self._user_basic(int(uid)), access_level=level, expires_at=None)

    def _needs_group_role(self, group: dict[str, Any], actor: int, level: int) -> None:
        if self.group_members[group["id"]].get(actor, 0) < level:
            raise HttpError(403, "403 Forbidden")

    def create_group_label(self, ident: str, *, body: dict[str, Any], actor: int, **_: Any) -> tuple[int, Any]:
        group = self._group(ident)
        self._needs_group_role(group, actor, REPORTER)  # group labels: Reporter or higher
        return self._create_label(("group", group["id"]), body)

    def update_group_label(self, ident: str, label_id: str | None, *, body: dict[str, Any], actor: int,
                           **_: Any) -> tuple[int, Any]:
        group = self._group(ident)
        self._needs_group_role(group, actor, REPORTER)
        return self._update_label(("group", group["id"]), label_id, body)

    def list_project_labels(self, ident: str, *, query: dict[str, str], url: Any, **_: Any) -> Any:
        project = self._project(ident)
        scopes = [("project", project["id"])]
        if query.get("include_ancestor_groups", "true") != "false":
            scopes.append(("group", project["namespace"]["id"]))
        return self.page(self._label_listing(scopes), query, url)

    def create_project_label(self, ident: str, *, body: dict[str, Any], **_: Any) -> tuple[int, Any]:
        return self._create_label(("project", self._project(ident)["id"]), body)

    def update_project_label(self, ident: str, label_id: str | None, *, body: dict[str, Any], **_: Any) -> tuple[int, Any]:
        return self._update_label(("project", self._project(ident)["id"]), label_id, body)

    def label_names(self, project: str | None = None) -> set[str]:
        if project is None:
            return set(self.labels[("group", self.group["id"])])
        found = self.project_by_path(project)
        assert found is not None
        return set(self.labels[("project", found["id"])])

    def _known_label(self, project: dict[str, Any], name: str) -> None:
        """Issue labels that exist nowhere become project labels, as GitLab does."""
        if name not in self.labels[("project", project["id"])] and name not in self.labels[("group", project["namespace"]["id"])]:
            self._create_label(("project", project["id"]), {"name": name, "color": "#6699cc"})

    # ------------------------------------------------------------------ issues

    def _issue_json(self, issue: dict[str, Any]) -> dict[str, Any]:
        project = self.projects[issue["project_id"]]
        assignees = [self._user_basic(uid) for uid in issue["assignee_ids"]]
        return {
            "id": issue["id"], "iid": issue["iid"], "project_id": issue["project_id"], "title": issue["title"],
            "description": issue["description"], "state": issue["state"], "created_at": issue["created_at"],
            "updated_at": issue["updated_at"], "closed_at": issue["closed_at"],
            "closed_by": self._user_basic(issue["closed_by"]) if issue["closed_by"] else None,
            "labels": list(issue["labels"]), "milestone": None, "assignees": assignees,
            "assignee": assignees[0] if assignees else None, "author": self._user_basic(issue["author_id"]),
            "type": "ISSUE", "user_notes_count": sum(1 for n in self.notes[issue["id"]] if not n["system"]),
            "due_date": issue["due_date"], "confidential": issue["confidential"], "discussion_locked": None,
            "issue_type": "issue", "web_url": f"{project['web_url']}/-/issues/{issue['iid']}",
            "references": {"short": f"#{issue['iid']}", "relative": f"#{issue['iid']}",
                           "full": f"{project['path_with_namespace']}#{issue['iid']}"},
        }

    def _filter_issues(self, found: list[dict[str, Any]], query: dict[str, str]) -> list[dict[str, Any]]:
        state = query.get("state", "all")
        if state in ("opened", "closed"):
            found = [i for i in found if i["state"] == state]
        if query.get("labels"):
            wanted = {l.strip() for l in query["labels"].split(",") if l.strip()}
            found = [i for i in found if wanted <= set(i["labels"])]
        if query.get("updated_after"):
            cutoff = _parse_time(query["updated_after"])
            found = [i for i in found if _parse_time(i["updated_at"]) >= cutoff]  # inclusive, as documented
        order = query.get("order_by", "created_at")
        order = order if order in ("created_at", "updated_at") else "created_at"
        found.sort(key=lambda i: (i[order], i["id"]), reverse=query.get("sort", "desc") == "desc")
        return found

    def list_group_issues(self, ident: str, *, query: dict[str, str], url: Any, **_: Any) -> Any:
        group = self._group(ident)
        include_archived = query.get("non_archived", "true").lower() == "false"
        found = [
            i for i in self.issues.values()
            if self.projects[i["project_id"]]["namespace"]["id"] == group["id"]
            and (include_archived or not self.projects[i["project_id"]]["archived"])
            and self.sees_issue(i, self.actor)
        ]
        return self.page(self._filter_issues(found, query), query, url, self._issue_json)

    def list_project_issues(self, ident: str, *, query: dict[str, str], url: Any, actor: int, **_: Any) -> Any:
        project = self._project(ident)
        found = [i for i in self.issues.values() if i["project_id"] == project["id"] and self.sees_issue(i, self.actor)]
        return self.page(self._filter_issues(found, query), query, url, self._issue_json)

    def get_issue(self, ident: str, iid: str, **_: Any) -> tuple[int, Any]:
        return 200, self._issue_json(self._issue(self._project(ident), iid))

    def _writable(self, project: dict[str, Any]) -> None:
        if project["archived"]:
            raise HttpError(403, "403 Forbidden - project is archived")

    def _assignees(self, body: dict[str, Any]) -> list[int]:
        ids = [int(a) for a in body.get("assignee_ids") or [] if int(a) != 0]
        for uid in ids:
            if uid not in self.users:
                raise HttpError(404, "404 User Not Found")
        return ids

    def create_issue(self, ident: str, *, body: dict[str, Any], actor: int, **_: Any) -> tuple[int, Any]:
        project = self._project(ident)
        self._writable(project)
        if not str(body.get("title") or "").strip():
            raise HttpError(400, "title is missing")
        labels = [l.strip() for l in str(body.get("labels") or "").split(",") if l.strip()]
        for name in labels:
            self._known_label(project, name)
        now = self.now()
        iid = project["_next_iid"]
        project["_next_iid"] += 1
        # The `/confidential` quick action: GitLab drops the line and carries it out for Reporters
        # and up only; a Guest's is dropped with no effect (https://gitlab.com/gitlab-org/gitlab/-/issues/276388),
        # though a Guest may tick "confidential" (the API's `confidential`) when creating an issue.
        lines = str(body.get("description") or "").split("\n")
        asked = any(line.strip() == "/confidential" for line in lines)
        description = "\n".join(line for line in lines if line.strip() != "/confidential")
        issue = {
            "id": self._next_id(), "iid": iid, "project_id": project["id"], "title": body["title"],
            "description": description, "state": "opened", "created_at": now, "updated_at": now,
            "closed_at": None, "closed_by": None, "labels": list(dict.fromkeys(labels)),
            "assignee_ids": self._assignees(body), "author_id": actor, "due_date": _due(body.get("due_date")),
            "confidential": bool(body.get("confidential")) or (asked and self.level(project, actor) >= REPORTER),
        }
        self.issues[issue["id"]] = issue
        self.issue_ids[(project["id"], iid)] = issue["id"]
        self.notes[issue["id"]] = []
        return 201, self._issue_json(issue)

    def update_issue(self, ident: str, iid: str, *, body: dict[str, Any], actor: int, **_: Any) -> tuple[int, Any]:
        project = self._project(ident)
        issue = self._issue(project, iid)
        self._writable(project)
        if issue["author_id"] != actor and self.level(project, actor) < REPORTER:
            raise HttpError(403, "403 Forbidden")  # a Guest edits only the issues they wrote
        before = dict(issue, labels=list(issue["labels"]))
        labels = list(issue["labels"])
        if "labels" in body:
            labels = [l.strip() for l in str(body["labels"] or "").split(",") if l.strip()]
        for name in (l.strip() for l in str(body.get("add_labels") or "").split(",") if l.strip()):
            if name not in labels:
                labels.append(name)
        removed = {l.strip() for l in str(body.get("remove_labels") or "").split(",") if l.strip()}
        labels = [l for l in labels if l not in removed]
        for name in labels:
            self._known_label(project, name)
        issue["labels"] = labels
        if "title" in body:
            if not str(body["title"] or "").strip():
                raise HttpError(400, {"title": ["can't be blank"]})
            issue["title"] = body["title"]
        if "description" in body:
            issue["description"] = body["description"] or ""
        if "due_date" in body:
            issue["due_date"] = _due(body["due_date"])
        if "assignee_ids" in body:
            issue["assignee_ids"] = self._assignees(body)
        if "confidential" in body:
            issue["confidential"] = bool(body["confidential"])
        event = body.get("state_event")
        if event == "close" and issue["state"] == "opened":
            issue.update(state="closed", closed_at=self.now(), closed_by=actor)
        elif event == "reopen" and issue["state"] == "closed":
            issue.update(state="opened", closed_at=None, closed_by=None)
        if issue != before:
            issue["updated_at"] = self.now()
            self._system_notes(issue, before, actor)
        return 200, self._issue_json(issue)

    def _system_notes(self, issue: dict[str, Any], before: dict[str, Any], actor: int) -> None:
        """GitLab records label and state changes as system notes on the issue."""
        added = [l for l in issue["labels"] if l not in before["labels"]]
        removed = [l for l in before["labels"] if l not in issue["labels"]]
        if added or removed:
            parts = ([f"added {' '.join('~' + l for l in added)} label"] if added else [])
            parts += ([f"removed {' '.join('~' + l for l in removed)} label"] if removed else [])
            self._add_note(issue, actor, " and ".join(parts), system=True)
        if issue["state"] != before["state"]:
            self._add_note(issue, actor, "closed" if issue["state"] == "closed" else "reopened", system=True)

    # ------------------------------------------------------------------ notes

    def _add_note(self, issue: dict[str, Any], actor: int, body: str, system: bool = False) -> dict[str, Any]:
        now = self.now()
        note = {"id": self._next_id(), "type": None, "body": body, "author": self._user_basic(actor),
                "created_at": now, "updated_at": now, "system": system, "noteable_id": issue["id"],
                "noteable_type": "Issue", "noteable_iid": issue["iid"], "confidential": False, "internal": False}
        self.notes[issue["id"]].append(note)
        return note

    def list_notes(self, ident: str, iid: str, *, query: dict[str, str], url: Any, **_: Any) -> Any:
        issue = self._issue(self._project(ident), iid)
        order = query.get("order_by", "created_at")
        order = order if order in ("created_at", "updated_at") else "created_at"
        found = sorted(self.notes[issue["id"]], key=lambda n: (n[order], n["id"]), reverse=query.get("sort", "desc") == "desc")
        return self.page(found, query, url)

    def create_note(self, ident: str, iid: str, *, body: dict[str, Any], actor: int, **_: Any) -> tuple[int, Any]:
        project = self._project(ident)
        issue = self._issue(project, iid)
        self._writable(project)
        if not str(body.get("body") or "").strip():
            raise HttpError(400, "400 Bad request - body is missing")
        note = self._add_note(issue, actor, str(body["body"]))
        issue["updated_at"] = note["created_at"]  # a comment touches its issue
        return 201, note

    # ------------------------------------------------------------------ boards

    def list_boards(self, ident: str, *, query: dict[str, str], url: Any, **_: Any) -> Any:
        group = self._group(ident)
        return self.page(self.boards[group["id"]], query, url)

    def create_board(self, ident: str, *, body: dict[str, Any], **_: Any) -> tuple[int, Any]:
        group = self._group(ident)
        if not body.get("name"):
            raise HttpError(400, "400 Bad request - name is missing")
        board = {"id": self._next_id(), "name": body["name"], "hide_backlog_list": False, "hide_closed_list": False,
                 "group": {"id": group["id"], "name": group["name"], "web_url": group["web_url"]},
                 "milestone": None, "lists": []}
        self.boards[group["id"]].append(board)
        return 201, board

    def _board(self, group: dict[str, Any], board_id: str) -> dict[str, Any]:
        board = next((b for b in self.boards[group["id"]] if b["id"] == int(board_id)), None)
        if board is None:
            raise HttpError(404, "404 Board Not Found")
        return board

    def list_board_lists(self, ident: str, board_id: str, *, query: dict[str, str], url: Any, **_: Any) -> Any:
        return self.page(self._board(self._group(ident), board_id)["lists"], query, url)

    def create_board_list(self, ident: str, board_id: str, *, body: dict[str, Any], **_: Any) -> tuple[int, Any]:
        group = self._group(ident)
        board = self._board(group, board_id)
        label = next((l for l in self.labels[("group", group["id"])].values() if l["id"] == int(body.get("label_id") or 0)), None)
        if label is None:
            raise HttpError(400, {"label": ["not found"]})
        if any(lst["label"]["id"] == label["id"] for lst in board["lists"]):
            raise HttpError(400, {"label": ["is already taken"]})
        entry = {"id": self._next_id(), "label": {k: label[k] for k in ("id", "name", "color", "description")},
                 "position": len(board["lists"]), "list_type": "label", "max_issue_count": 0}
        board["lists"].append(entry)
        return 201, entry


    # ------------------------------------------------------------------ diagnosis (issuebot doctor): read-only routes

    def _diagnostic_routes(self) -> list[tuple[str, re.Pattern[str], Handler]]:
        self.scopes: dict[int, list[str]] = {}  # user id -> token scopes (default: api)
        self.group_hooks: list[dict[str, Any]] = []
        return [(m, re.compile("^" + p + "$"), h) for m, p, h in (
            ("GET", r"/personal_access_tokens/self", self.get_token_self),
            ("GET", r"/groups/([^/]+)/members/all", self.list_group_members),
            ("GET", r"/groups/([^/]+)/hooks", self.list_group_hooks),
        )]

    def add_group_hook(self, url: str, *, alert_status: str = "executable", **events: bool) -> dict[str, Any]:
        """A group webhook (https://docs.gitlab.com/ee/api/group_webhooks.html); every issue/note event on."""
        hook = {"id": self._next_id(), "url": url, "group_id": self.group["id"], "alert_status": alert_status,
                "issues_events": True, "note_events": True, "confidential_issues_events": True,
                "confidential_note_events": True, "push_events": False, **events}
        self.group_hooks.append(hook)
        return hook

    def get_token_self(self, *, actor: int, **_: Any) -> tuple[int, Any]:
        return 200, {"id": actor, "name": "issuebot", "revoked": False, "active": True, "user_id": actor,
                     "scopes": self.scopes.get(actor, ["api"]), "expires_at": None}

    def list_group_members(self, ident: str, *, query: dict[str, str], url: Any, **_: Any) -> Any:
        group = self._group(ident)
        members = [dict(self._user_basic(uid), access_level=level)
                   for uid, level in sorted(self.group_members[group["id"]].items())]
        return self.page(members, query, url)

    def list_group_hooks(self, ident: str, *, query: dict[str, str], url: Any, actor: int, **_: Any) -> Any:
        group = self._group(ident)
        self._needs_group_role(group, actor, OWNER)
        return self.page([h for h in self.group_hooks if h["group_id"] == group["id"]], query, url)


def _parse_time(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace(" ", "+"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _due(value: Any) -> str | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise HttpError(400, {"due_date": ["is invalid"]}) from None


class GitLabHarness:
    """The fake GitLab plus providers that talk to it through the real python-gitlab client."""

    name = "gitlab"
    supports_injected_errors = True

    def __init__(self, fake: FakeGitLab, group: str = "mentoring", **provider_options: Any):
        self.fake = fake
        self.group = group
        self.provider_options = provider_options
        self.sleeps: list[float] = []
        self.env: dict[str, str | None] = {}  # variables set for the harness's life, and their old values
        self.provider = self._provider_for(fake.bot_token)

    def _provider_for(self, token: str) -> GitLabProvider:
        return GitLabProvider(URL, token, self.group, **self.provider_options)

    def provider_config(self) -> dict[str, Any]:
        """The `program.provider` mapping that points a program file at this fake."""
        return {"kind": "gitlab", "url": URL, "token_env": TOKEN_ENV, "group": self.group}

    def as_user(self, username: str) -> GitLabProvider:
        return self._provider_for(self.fake.add_user(username))

    def person_token_env(self, username: str) -> str:
        """The variable (set until the harness closes) that holds `username`'s own token, for
        `provider.person_tokens` in a program file."""
        variable = f"ISSUEBOT_TEST_GITLAB_TOKEN_{re.sub(r'[^A-Za-z0-9]', '_', username).upper()}"
        self.env.setdefault(variable, os.environ.get(variable))
        os.environ[variable] = self.fake.add_user(username)
        return variable

    def add_user(self, username: str) -> None:
        self.fake.add_user(username)

    def create_foreign_project(self, name: str) -> None:
        someone = self.fake.tokens[self.fake.add_user("someone")]
        self.fake.add_project(self.fake.group, name, name, "a project somebody made by hand", "public", someone)

    def lose_next_answer(self, times: int = 1) -> None:
        self.fake.lose_next_answer(times)

    def after_next_issue_read(self, action: Callable[[], Any]) -> None:
        """Run `action` (a person's edit) right after GitLab answers the next read of one issue."""
        self.fake.after_issue_read.append(action)

    def clear_failures(self) -> None:
        """Drop injected failures not used up yet: the forge is healthy again."""
        self.fake.failures.clear()

    def fail_next(self, status: int, *, retry_after: int | str | None = None, times: int = 1, after: int = 0) -> None:
        self.fake.fail_next(status, retry_after=retry_after, times=times, after=after)

    def members(self, project: str) -> dict[str, str]:
        """Direct members by username, as the roles ("pair", "coordinator") their access level means."""
        roles = {int(level): role for role, level in self.provider.access.items()}
        return {user: roles.get(level, str(level)) for user, level in self.fake.member_levels(project).items()}

    def label_names(self, project: str | None = None) -> set[str]:
        return self.fake.label_names(project)

    @property
    def reads(self) -> int:
        return self.fake.reads

    @property
    def writes(self) -> int:
        return self.fake.writes


@contextlib.contextmanager
def gitlab_harness(tmp_path: Path, clock: Callable[[], datetime], *, group: str = "mentoring", **provider_options: Any) -> Iterator[GitLabHarness]:
    """The fake GitLab on `responses`; python-gitlab's retry sleeps are recorded, never slept, and
    the token variable named by `provider_config()` is set until the harness closes."""
    fake = FakeGitLab(clock, group)
    made = GitLabHarness(fake, group, **provider_options)
    # python-gitlab sleeps through gitlab.utils' `time` module (Retry.handle_retry_on_status).
    fake_time = types.SimpleNamespace(sleep=made.sleeps.append, time=__import__("time").time)
    previous = os.environ.get(TOKEN_ENV)
    os.environ[TOKEN_ENV] = fake.bot_token
    try:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked, \
                mock.patch.object(gitlab.utils, "time", fake_time):
            def handle(request: Any) -> tuple[int, dict[str, str], str]:
                # `responses` keeps every request and response it served; the fake keeps its own
                # slim log, so drop theirs, or a long benchmark measures the mock, not the client.
                mocked.calls.reset()
                return fake.handle(request)

            for method in ("GET", "POST", "PUT", "DELETE", "HEAD"):
                mocked.add_callback(method, re.compile(re.escape(API) + r"(/.*)?(\?.*)?$"), callback=handle)
            mocked.add_callback("POST", URL + "/oauth/token", callback=fake.oauth.exchange)
            yield made
    finally:
        for name, value in [*made.env.items(), (TOKEN_ENV, previous)]:
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
