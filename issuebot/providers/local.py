"""The embedded tracker: projects, members, labels, issues and comments in one SQLite file."""

from __future__ import annotations

import contextlib
import functools
import json
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal

import sqlalchemy as sa
from filelock import FileLock
from sqlalchemy.engine import Connection, Engine

from issuebot.models import Comment, Event, FormField, Issue, Member, Project
from issuebot.providers.base import UNSET, AccessReport, Forbidden, HookReport, IssueState, Meter, NotFound, ProjectSpec
from issuebot.providers.shared import (
    label_change,
    labels_for_new_issue,
    labels_to_write,
    parse_time,
    refuse_archived,
    refuse_unless_created_by_issuebot,
    require_title,
)

PAGE = 100
Clock = Callable[[], datetime]
# Members' roles by access: a pair member may do more than a coordinator; access never goes down.
ROLE_RANK = {"participant": 1, "coordinator": 2, "pair": 3}  # a Guest of a channel, a Reporter, a Developer
# Access given by `ensure_access` (a cohort space, a delivery project) ranks beside the roles above.
ACCESS_RANK = {**ROLE_RANK, "guest": 1, "reporter": 2, "developer": 3, "maintainer": 4}
GUEST_ROLES = frozenset({"participant", "guest"})  # read only the confidential items they wrote or are assigned

_meta = sa.MetaData()
projects_t = sa.Table(
    "projects",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("path", sa.String, nullable=False, unique=True),
    sa.Column("name", sa.String, nullable=False),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.Column("private", sa.Boolean, nullable=False, default=True),
    sa.Column("archived", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.String, nullable=False),
    sa.Column("next_number", sa.Integer, nullable=False, default=1),
)
members_t = sa.Table(
    "members",
    _meta,
    sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id"), primary_key=True),
    sa.Column("username", sa.String, primary_key=True),
    sa.Column("role", sa.String, nullable=False),
)
files_t = sa.Table(
    "files",
    _meta,
    sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id"), primary_key=True),
    sa.Column("path", sa.String, primary_key=True),
    sa.Column("content", sa.Text, nullable=False),
)
labels_t = sa.Table(
    "labels",
    _meta,
    sa.Column("scope", sa.String, primary_key=True),  # "" = the whole namespace
    sa.Column("name", sa.String, primary_key=True),
    sa.Column("color", sa.String, nullable=False),
    sa.Column("description", sa.String, nullable=False, default=""),
)
issues_t = sa.Table(
    "issues",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("title", sa.String, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("labels", sa.Text, nullable=False, default="[]"),
    sa.Column("assignees", sa.Text, nullable=False, default="[]"),
    sa.Column("state", sa.String, nullable=False, default="open"),
    sa.Column("due", sa.String, nullable=True),
    sa.Column("author", sa.String, nullable=False),
    sa.Column("confidential", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.String, nullable=False),
    sa.Column("updated_at", sa.String, nullable=False),
    sa.Column("closed_at", sa.String, nullable=True),
    sa.UniqueConstraint("project_id", "number"),
    sa.Index("ix_issues_state_updated", "state", "updated_at"),
)
comments_t = sa.Table(
    "comments",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("issue_id", sa.Integer, sa.ForeignKey("issues.id"), nullable=False, index=True),
    sa.Column("author", sa.String, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", sa.String, nullable=False),
    sa.Column("updated_at", sa.String, nullable=False),
)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class LocalProvider:
    """The embedded tracker. Every verb is one SQLite transaction; the meter counts one read per
    page of 100 and one write per changed object, mirroring what a forge would be charged."""

    kind = "local"
    labels_per_project = False

    def __init__(
        self,
        path: str | Path,
        *,
        group: str = "mentoring",
        actor: str = "issuebot",
        clock: Clock = _utcnow,
        engine: Engine | None = None,
    ):
        self.path = Path(path)
        self.group = group
        self.actor = actor
        self.bot_username = actor
        self.clock = clock
        self.meter = Meter()
        # A tracker file that does not exist yet is created by the first write, not by reading:
        # `plan`, `report` and `sync --dry-run` on a fresh program leave no file behind.
        self._pending = engine is None and not self.path.exists()
        if engine is not None:
            _meta.create_all(engine)
        elif self._pending:
            engine = sa.create_engine("sqlite://", poolclass=sa.pool.StaticPool)  # empty, in memory
            _meta.create_all(engine)
        self._engine = engine if engine is not None else self._open_file()

    @property
    def engine(self) -> Engine:
        if self._pending and self.path.exists():  # another process created it meanwhile
            self._engine = self._open_file()
        return self._engine

    def _open_file(self) -> Engine:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(f"sqlite:///{self.path}", connect_args={"timeout": 60})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        # Inside a write transaction: two processes opening a new file at once must not both
        # create the tables ("table projects already exists").
        with engine.connect() as conn:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            _meta.create_all(conn)
            conn.commit()
        self._pending = False
        return engine

    # ------------------------------------------------------------------ plumbing

    def as_user(self, username: str) -> LocalProvider:
        """The same tracker, acting as `username` (for people's actions from the CLI)."""
        other = LocalProvider.__new__(LocalProvider)
        other.__dict__.update(self.__dict__)
        other.actor = username
        other.meter = Meter()
        return other

    @contextlib.contextmanager
    def _tx(self) -> Iterator[Connection]:
        if self._pending:
            self._engine = self._open_file()
        with self.engine.connect() as conn:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """A file lock beside the database (flock on Unix, msvcrt on Windows, through `filelock`):
        concurrent `sync` runs of any processes take turns. Not reentrant across providers."""
        lock_path = self.path.with_suffix(self.path.suffix + ".lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        # thread_local=False: the lock belongs to this process, whichever thread releases it.
        with FileLock(lock_path, thread_local=False):
            yield

    def _now(self) -> str:
        return self.clock().astimezone(timezone.utc).isoformat()

    def check_access(self) -> None:
        """No credentials: the file only has to be writable (0 calls)."""

    def project_path(self, name: str) -> str:
        return f"{self.group}/{name}"

    def _project_id(self, conn: Connection, path: str) -> int:
        row = conn.execute(_PROJECT_ID_BY_PATH, {"path": path}).first()
        if row is None:
            raise NotFound(f"project {path} does not exist")
        return row.id

    # ------------------------------------------------------------------ projects

    def list_projects(self) -> list[Project]:
        """One read per 100 projects."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(projects_t).order_by(projects_t.c.id)).all()
        self.meter.read("list_projects", max(1, -(-len(rows) // PAGE)))
        return [_project(row) for row in rows]

    def ensure_project(self, spec: ProjectSpec) -> tuple[Project, bool]:
        """One read; one write when created. Refuses a path issuebot did not create."""
        path = self.project_path(spec.name)
        self.meter.read("get_project")
        with self._tx() as conn:
            row = conn.execute(sa.select(projects_t).where(projects_t.c.path == path)).first()
            if row is not None:
                refuse_unless_created_by_issuebot(spec, path, row.description)
                return _project(row), False
            conn.execute(
                projects_t.insert().values(
                    path=path,
                    name=spec.name,
                    description=spec.description,
                    private=True,
                    archived=False,
                    created_at=self._now(),
                    next_number=1,
                )
            )
            row = conn.execute(sa.select(projects_t).where(projects_t.c.path == path)).one()
        self.meter.write("create_project")
        return _project(row), True

    def create_foreign_project(self, name: str, description: str = "") -> Project:
        """A project issuebot did not create (as a person would): for tests and imports."""
        with self._tx() as conn:
            conn.execute(
                projects_t.insert().values(
                    path=self.project_path(name), name=name, description=description,
                    private=False, archived=False, created_at=self._now(), next_number=1,
                )
            )
            row = conn.execute(sa.select(projects_t).where(projects_t.c.path == self.project_path(name))).one()
        return _project(row)

    def ensure_members(self, project: str, members: Sequence[Member]) -> int:
        """One read; one write per member added or given more access. Access never goes down, as
        on the forges: a pair member also listed as coordinator stays a pair member."""
        self.meter.read("list_members")
        writes = 0
        with self._tx() as conn:
            pid = self._project_id(conn, project)
            have = {
                r.username: r.role
                for r in conn.execute(sa.select(members_t).where(members_t.c.project_id == pid))
            }
            for member in members:
                if ACCESS_RANK.get(have.get(member.username, ""), 0) >= ROLE_RANK[member.role]:
                    continue
                if member.username in have:
                    conn.execute(
                        members_t.update()
                        .where(members_t.c.project_id == pid, members_t.c.username == member.username)
                        .values(role=member.role)
                    )
                else:
                    conn.execute(members_t.insert().values(project_id=pid, username=member.username, role=member.role))
                have[member.username] = member.role
                writes += 1
        self.meter.write("add_member", writes)
        return writes

    def members(self, project: str) -> dict[str, str]:
        with self.engine.connect() as conn:
            pid = self._project_id(conn, project)
            return {r.username: r.role for r in conn.execute(sa.select(members_t).where(members_t.c.project_id == pid))}

    def ensure_labels(self, labels: Sequence[tuple[str, str, str]], project: str | None = None) -> int:
        """One read; one write per label created or fixed (colours compare without '#' or case)."""
        scope = project or ""
        self.meter.read("list_labels")
        with self._tx() as conn:
            have = {
                r.name: (r.color, r.description)
                for r in conn.execute(sa.select(labels_t).where(labels_t.c.scope == scope))
            }
            changes = labels_to_write(have, labels)
            for name, color, description, exists in changes:
                if exists:
                    conn.execute(
                        labels_t.update()
                        .where(labels_t.c.scope == scope, labels_t.c.name == name)
                        .values(color=color, description=description)
                    )
                else:
                    conn.execute(labels_t.insert().values(scope=scope, name=name, color=color, description=description))
        self.meter.write("save_label", len(changes))
        return len(changes)

    def label_names(self, project: str | None = None) -> set[str]:
        with self.engine.connect() as conn:
            return {r.name for r in conn.execute(sa.select(labels_t.c.name).where(labels_t.c.scope == (project or "")))}

    def archive_project(self, project: str) -> bool:
        """One read; one write when it changed."""
        self.meter.read("get_project")
        with self._tx() as conn:
            pid = self._project_id(conn, project)
            changed = conn.execute(
                projects_t.update().where(projects_t.c.id == pid, projects_t.c.archived.is_(False)).values(archived=True)
            ).rowcount
        if changed:
            self.meter.write("archive_project")
        return bool(changed)

    def ensure_board(self, name: str, labels: Sequence[str]) -> bool:
        """The embedded tracker has no boards; `report` is its board (0 calls)."""
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
        """One read per page of 100 matching issues (at least one); NotFound for a missing project,
        as on the forges."""
        counted = (sa.select(sa.func.count(comments_t.c.id)).where(comments_t.c.issue_id == issues_t.c.id)
                   .scalar_subquery().label("comment_count"))
        query = (sa.select(issues_t, projects_t.c.path, counted)
                 .join(projects_t, projects_t.c.id == issues_t.c.project_id))
        if project is not None:
            with self.engine.connect() as conn:
                query = query.where(issues_t.c.project_id == self._project_id(conn, project))
        else:
            query = query.where(projects_t.c.path.startswith(self.group + "/"))
        if state != "all":
            query = query.where(issues_t.c.state == state)
        if updated_after is not None:
            query = query.where(issues_t.c.updated_at > updated_after.astimezone(timezone.utc).isoformat())
        wanted = set(labels)
        roles = self._roles_of_actor()
        if project is not None and roles is not None and project not in roles:
            raise NotFound(f"project {project} does not exist")
        last_id = 0
        # One statement for every page (the id to continue after is a parameter): built and compiled once.
        page = query.where(issues_t.c.id > sa.bindparam("after")).order_by(issues_t.c.id).limit(PAGE)
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(page, {"after": last_id}).all()
            self.meter.read("list_issues")
            for row in rows:
                issue = _issue(row, row.path)
                if wanted <= set(issue.labels) and (roles is None or _may_read(issue, self.actor, roles)):
                    yield issue
            if len(rows) < PAGE:
                return
            last_id = rows[-1].id

    def get_issue(self, project: str, number: int) -> Issue:
        """One read."""
        self.meter.read("get_issue")
        with self.engine.connect() as conn:
            return _issue(self._issue_row(conn, project, number), project)

    def _issue_row(self, conn: Connection, project: str, number: int) -> Any:
        """The issue's row, NotFound when it does not exist or the acting person may not read it
        (as a forge answers 404, not 403, so that its existence does not leak)."""
        row = conn.execute(_ISSUE_BY_PATH_NUMBER, {"path": project, "number": number}).first()
        roles = self._roles_of_actor(conn)
        if row is None or (roles is not None and not _may_read(_issue(row, project), self.actor, roles)):
            raise NotFound(f"issue {project}#{number} does not exist")
        return row

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
        """One write."""
        require_title(title)
        now = self._now()
        with self._tx() as conn:
            row = conn.execute(_PROJECT_BY_PATH, {"path": project}).first()
            roles = self._roles_of_actor(conn)
            if row is None or (roles is not None and project not in roles):
                raise NotFound(f"project {project} does not exist")
            if row.archived:
                raise refuse_archived(project)
            number = row.next_number
            conn.execute(_NEXT_NUMBER, {"pid": row.id, "next": number + 1})
            values = dict(
                project_id=row.id, number=number, title=title, body=body,
                labels=json.dumps(labels_for_new_issue(labels)), assignees=json.dumps(list(assignees)),
                state="open", due=due.isoformat() if due else None, author=self.actor,
                confidential=confidential, created_at=now, updated_at=now, closed_at=None,
            )
            conn.execute(issues_t.insert(), values)
        self.meter.write("create_issue")
        # Built from what was written rather than read back: the hot path of a first sync.
        return _issue(SimpleNamespace(**values), project)

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
        """One write when anything changes, none otherwise; read and write are one transaction.
        Labels change by delta (see shared.label_change): adding a scoped label removes its siblings."""
        now = self._now()
        with self._tx() as conn:
            row = self._issue_row(conn, project, number)
            values: dict[str, Any] = {}
            change = label_change(json.loads(row.labels), add_labels, remove_labels)
            if change:
                values["labels"] = json.dumps(change.labels)
            if title is not None and title != row.title:
                require_title(title)
                values["title"] = title
            if body is not None and body != row.body:
                values["body"] = body
            if state is not None and state != row.state:
                values["state"] = state
                values["closed_at"] = now if state == "closed" else None
            if due is not UNSET:
                new_due = due.isoformat() if isinstance(due, date) else None
                if new_due != row.due:
                    values["due"] = new_due
            if assignees is not None and list(assignees) != json.loads(row.assignees):
                values["assignees"] = json.dumps(list(assignees))
            if confidential is not None and confidential != bool(row.confidential):
                values["confidential"] = confidential
            if values:
                if row.project_archived:
                    raise refuse_archived(project)
                values["updated_at"] = now
                conn.execute(issues_t.update().where(issues_t.c.id == row.id).values(**values))
                row = self._issue_row(conn, project, number)
        if values:
            self.meter.write("update_issue")
        return _issue(row, project)

    # ------------------------------------------------------------------ comments

    def list_comments(self, project: str, number: int, since: datetime | None = None) -> list[Comment]:
        """One read per 100 comments."""
        with self.engine.connect() as conn:
            row = self._issue_row(conn, project, number)
            query = sa.select(comments_t).where(comments_t.c.issue_id == row.id).order_by(comments_t.c.id)
            if since is not None:
                query = query.where(comments_t.c.updated_at >= since.astimezone(timezone.utc).isoformat())
            rows = conn.execute(query).all()
        self.meter.read("list_comments", max(1, -(-len(rows) // PAGE)))
        return [_comment(r, project, number) for r in rows]

    def create_comment(self, project: str, number: int, body: str) -> Comment:
        """One write; the issue's updated time moves, as on the forges. Refused in an archived project."""
        now = self._now()
        with self._tx() as conn:
            row = self._issue_row(conn, project, number)
            if row.project_archived:
                raise refuse_archived(project)
            result = conn.execute(
                comments_t.insert().values(issue_id=row.id, author=self.actor, body=body, created_at=now, updated_at=now)
            )
            conn.execute(issues_t.update().where(issues_t.c.id == row.id).values(updated_at=now))
            comment = conn.execute(sa.select(comments_t).where(comments_t.c.id == result.inserted_primary_key[0])).one()  # type: ignore[index]
        self.meter.write("create_comment")
        return _comment(comment, project, number)

    # ------------------------------------------------------------------ events

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> Event | None:
        """The embedded tracker's own events arrive as JSON `Event` fields (0 calls; see local_hooks)."""
        from issuebot.providers import local_hooks

        return local_hooks.parse(headers, body)

    # ------------------------------------------------------------------ diagnosis (read-only: issuebot doctor)

    def access_report(self) -> AccessReport:
        """The embedded tracker has no accounts to lack a permission (0 calls)."""
        return AccessReport(account=self.bot_username, role="owner")

    def member_usernames(self) -> list[str]:
        """Everyone may act on the embedded tracker (0 calls)."""
        return []

    def missing_usernames(self, usernames: Sequence[str]) -> list[str]:
        """Every username exists on the embedded tracker (0 calls)."""
        return []

    def hook_report(self, url: str) -> HookReport | None:
        """The embedded tracker delivers its events itself: as good as a hook sending all of them (0 calls)."""
        return HookReport(url=url, active=True, missing_events=(), last_delivery_ok=None)

    # ------------------------------------------------------------------ cohort: forms and access

    def ensure_issue_form(self, project: str, name: str, title: str, about: str, labels: Sequence[str],
                          fields: Sequence[FormField], *, opening: str = "", confidential: bool = False) -> bool:
        """One read; one write when the form differs. Kept as a Markdown issue template
        (`issue_templates/<name>.md`, `confidential: true` in its front matter when asked) with
        the opening, then one `### <label>` section per question."""
        lines = ["---", f"name: {json.dumps(title)}", f"about: {json.dumps(about)}", f"title: {json.dumps(title)}",
                 f"labels: {json.dumps(list(labels))}", *(["confidential: true"] if confidential else []), "---"]
        if opening.strip():
            lines += [opening.strip(), ""]
        for item in fields:
            hint = "; ".join(x for x in (item.description, " / ".join(item.options), "required" if item.required else "") if x)
            lines += [f"### {item.label}", "", f"<!-- {hint} -->" if hint else "", ""]
        content = "\n".join(lines) + "\n"
        path = f"issue_templates/{name}.md"
        self.meter.read("get_file")
        with self._tx() as conn:
            pid = self._project_id(conn, project)
            roles = self._roles_of_actor(conn)
            if roles is not None and ACCESS_RANK.get(roles.get(project, ""), 0) < ACCESS_RANK["developer"]:
                # As on the forges: people who may only read and open issues cannot change the form.
                if project not in roles:
                    raise NotFound(f"project {project} does not exist")
                raise Forbidden(f"{self.actor} may not change the issue forms of {project}")
            row = conn.execute(sa.select(files_t).where(files_t.c.project_id == pid, files_t.c.path == path)).first()
            if row is not None and row.content == content:
                return False
            if row is not None:
                conn.execute(files_t.update().where(files_t.c.project_id == pid, files_t.c.path == path).values(content=content))
            else:
                conn.execute(files_t.insert().values(project_id=pid, path=path, content=content))
        self.meter.write("write_file")
        return True

    def issue_form(self, project: str, name: str) -> str | None:
        """The stored form (for tests and `issuebot tracker`)."""
        with self.engine.connect() as conn:
            pid = self._project_id(conn, project)
            row = conn.execute(sa.select(files_t).where(files_t.c.project_id == pid,
                                                        files_t.c.path == f"issue_templates/{name}.md")).first()
        return row.content if row is not None else None

    def ensure_access(self, project: str, usernames: Sequence[str], access: str) -> int:
        """One read; one write per person added or raised. The embedded tracker has no projects
        of its own beyond issuebot's, so a delivery project it lacks is kept as a plain project."""
        project = project if "/" in project else self.project_path(project)
        name = project.rsplit("/", 1)[-1]
        with self.engine.connect() as conn:
            known = conn.execute(sa.select(projects_t.c.id).where(projects_t.c.path == project)).first() is not None
        if not known:
            self.create_foreign_project(name)
            project = self.project_path(name)
        have = self.members(project)
        self.meter.read("list_members")
        writes = 0
        with self._tx() as conn:
            pid = self._project_id(conn, project)
            for username in usernames:
                role = have.get(username)
                if role is not None and ACCESS_RANK.get(role, 0) >= ACCESS_RANK[access]:
                    continue
                if role is None:
                    conn.execute(members_t.insert().values(project_id=pid, username=username, role=access))
                else:
                    conn.execute(members_t.update().where(members_t.c.project_id == pid, members_t.c.username == username)
                                 .values(role=access))
                writes += 1
        self.meter.write("add_member", writes)
        return writes


    # ------------------------------------------------------------------ private channels

    def private_channel_path(self, channel: str, handle: str) -> str:
        """One shared project `channel` whose members are participants (they read only the
        confidential items they wrote or are assigned) and coordinators (0 calls)."""
        return self.project_path(channel)

    # ------------------------------------------------------------------ who may read what

    def _roles_of_actor(self, conn: Connection | None = None) -> dict[str, str] | None:
        """Project path -> the acting person's role there; None for issuebot itself, which reads all."""
        if self.actor == self.bot_username:
            return None
        query = (sa.select(projects_t.c.path, members_t.c.role)
                 .join(members_t, members_t.c.project_id == projects_t.c.id)
                 .where(members_t.c.username == self.actor))
        if conn is not None:
            return {r.path: r.role for r in conn.execute(query)}
        with self.engine.connect() as own:
            return {r.path: r.role for r in own.execute(query)}


# Statements built once: building SQLAlchemy statements per call dominated a first sync's CPU time.
_PROJECT_BY_PATH = sa.select(projects_t).where(projects_t.c.path == sa.bindparam("path"))
_PROJECT_ID_BY_PATH = sa.select(projects_t.c.id).where(projects_t.c.path == sa.bindparam("path"))
_ISSUE_BY_PATH_NUMBER = (
    sa.select(issues_t, projects_t.c.archived.label("project_archived"))
    .join(projects_t, projects_t.c.id == issues_t.c.project_id)
    .where(projects_t.c.path == sa.bindparam("path"), issues_t.c.number == sa.bindparam("number"))
)
_NEXT_NUMBER = (
    projects_t.update().where(projects_t.c.id == sa.bindparam("pid")).values(next_number=sa.bindparam("next"))
)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError:
        # Switching to WAL needs the file to itself (https://www.sqlite.org/wal.html) and fails with
        # "database is locked" while another process opens the same new file. WAL is stored in
        # the file, so that process sets it; this connection works either way.
        pass
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
    # Let SQLAlchemy's explicit BEGIN IMMEDIATE control transactions.
    dbapi_conn.isolation_level = None


def _may_read(issue: Issue, actor: str, roles: Mapping[str, str]) -> bool:
    """GitLab's rule for private projects: members read the issues; a confidential issue only
    members above Guest (`pair`, `coordinator`), its author and its assignees.
    https://docs.gitlab.com/ee/user/project/issues/confidential_issues.html"""
    role = roles.get(issue.project)
    if role is None:
        return False
    return not issue.confidential or role not in GUEST_ROLES or actor == issue.author or actor in issue.assignees


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _project(row: Any) -> Project:
    return Project(
        path=row.path, name=row.name, description=row.description, private=bool(row.private),
        archived=bool(row.archived), url=f"local:{row.path}", id=row.id,
    )


@functools.lru_cache(maxsize=4096)
def _names(stored: str) -> tuple[str, ...]:
    """A stored JSON list of labels or assignees; the same few lists recur on every issue of a program."""
    return tuple(json.loads(stored))


def _issue(row: Any, project: str) -> Issue:
    return Issue(
        project=project, number=row.number, title=row.title, body=row.body,
        labels=_names(row.labels), state=row.state, assignees=_names(row.assignees),
        due=date.fromisoformat(row.due) if row.due else None, author=row.author,
        created_at=parse_time(row.created_at), updated_at=parse_time(row.updated_at), closed_at=parse_time(row.closed_at),
        url=f"local:{project}#{row.number}", confidential=bool(row.confidential),
        comments=getattr(row, "comment_count", None),
    )


def _comment(row: Any, project: str, number: int) -> Comment:
    return Comment(
        id=row.id, project=project, issue_number=number, author=row.author, body=row.body,
        created_at=parse_time(row.created_at), updated_at=parse_time(row.updated_at), url=f"local:{project}#{number}/{row.id}",
    )


def from_program(program: Any, clock: Clock | None = None) -> LocalProvider:
    """The embedded tracker a program file names (`provider: {kind: local, path, group}`)."""
    settings = program.settings.provider
    return LocalProvider(program.local_db_path(), group=settings.group, clock=clock or _utcnow)
