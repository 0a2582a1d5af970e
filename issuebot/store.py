"""The service's own database: the webhook inbox (deliveries and their leases), pair locks, audit log, survey form answers."""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # not POSIX: SQLite's busy wait alone serialises writers across processes
    fcntl = None  # type: ignore[assignment]

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, make_url

from issuebot.survey_results import FormAnswer

logger = logging.getLogger(__name__)

QUEUED, PROCESSING, DONE, FAILED, IGNORED = "queued", "processing", "done", "failed", "ignored"
STATUSES = (QUEUED, PROCESSING, DONE, FAILED, IGNORED)
FINISHED = (DONE, FAILED, IGNORED)
# The columns a new inbox row is written with (the rest take their defaults).
INBOX_ROW = ("provider", "delivery_id", "event", "headers", "body", "project", "received_at", "status", "attempts",
             "lease_until")


class StoreUnavailable(Exception):
    """The database cannot be reached or used; the message names it without its password."""


@dataclass
class _PendingDelivery:
    """A delivery waiting for the next group commit; `done` once a commit took it."""

    row: dict[str, Any]
    row_id: int | None = None
    error: StoreUnavailable | None = None
    done: bool = False


@dataclass(frozen=True)
class NewDelivery:
    """A delivery the web side accepted, before the inbox gives it a row."""

    provider: str
    delivery_id: str
    event: str
    headers: Mapping[str, str]
    body: bytes
    project: str


@dataclass(frozen=True)
class Delivery:
    """One inbox row."""

    id: int
    provider: str
    delivery_id: str
    event: str
    headers: dict[str, str]
    body: bytes
    project: str
    received_at: datetime
    status: str
    attempts: int
    lease_until: datetime | None
    error: str | None
    done_at: datetime | None


def database_url(url: str | None, default_path: Path) -> str:
    """The SQLAlchemy URL for `service.database_url`: psycopg 3 for PostgreSQL, else SQLite."""
    if not url:
        return f"sqlite:///{default_path}"
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def shown_url(url: str) -> str:
    """The URL safe to print: the password masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "(unparseable database URL)"


def _naive_utc(moment: datetime) -> datetime:
    """Stored times are naive UTC on every backend, so comparisons mean the same everywhere."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=timezone.utc) if moment is not None else None


# A pooled PostgreSQL connection idle this long is checked before use (_ping_after_idle).
IDLE_PING_SECONDS = 1.0
# The PostgreSQL advisory lock processes take turns on while they make the tables (any fixed number).
SCHEMA_LOCK_KEY = 0x15_5E_B0_7D


class Store:
    """Inbox, pair locks and audit log over one SQLAlchemy engine (SQLite or PostgreSQL).

    `prefix` names the tables (`<prefix>inbox`...), so several stores can share one database.
    Every write is a single statement, so SQLite's one-writer rule never deadlocks a transaction
    and PostgreSQL's row locks make claims atomic.
    """

    def __init__(self, url: str, *, prefix: str = "", pool_size: int = 10):
        self.url = url
        self.shown_url = shown_url(url)
        self.prefix = prefix
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        database = parsed.database
        # The SQLite database file, or None (PostgreSQL, or SQLite in memory).
        self.sqlite_file = Path(database) if self.dialect == "sqlite" and database and database != ":memory:" else None
        options: dict[str, Any] = {}
        if self.dialect == "sqlite":
            if self.sqlite_file is not None:
                self.sqlite_file.parent.mkdir(parents=True, exist_ok=True)
            options["connect_args"] = {"timeout": 30, "check_same_thread": False}
            options["pool_size"] = pool_size
        else:
            options.update(pool_size=pool_size, max_overflow=pool_size)
        try:
            self.engine: Engine = sa.create_engine(url, **options)
        except (sa.exc.ArgumentError, ImportError) as exc:
            raise StoreUnavailable(f"database {self.shown_url}: {exc}") from None
        self.idle_ping_seconds = IDLE_PING_SECONDS  # PostgreSQL: how long idle before a check (tests set it)
        if self.dialect == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            _ping_after_idle(self)
        # A single statement needs no transaction around it. On PostgreSQL it runs in autocommit:
        # a transaction costs two more round trips (psycopg sends BEGIN on its own, then COMMIT or
        # ROLLBACK), and a pair's task runs about ten such statements. The same pool either way.
        self._single: Engine = (self.engine.execution_options(isolation_level="AUTOCOMMIT")
                                if self.dialect == "postgresql" else self.engine)
        # SQLite takes one writer at a time and a blocked writer polls with growing sleeps (up to
        # 100 ms each); queueing every writer, of this process and the others, on a lock instead
        # wakes the next one at once (better p99).
        self._write_lock = (_WriterQueue(parsed.database) if self.dialect == "sqlite" else None)
        # Writes made in each inbox insert's own transaction, given the driver's cursor and the new
        # rows (id, project): the queue's tasks when the queue lives in this SQLite file.
        self.also_in_insert: Callable[[Any, list[tuple[int, str]]], None] | None = None
        self._inserter: sqlite3.Connection | None = None  # the SQLite file's inbox inserts (_insert_on_driver)
        # The WAL is copied back into the database file by a thread of its own, never inside a
        # writer's commit: there it held every writer of the file up for its fsyncs.
        self.checkpoints = _Checkpointer(self.sqlite_file) if self.sqlite_file is not None else None
        # Group commit: deliveries that arrive while a commit runs wait for it, then go in one together.
        self._commit_lock = threading.Lock()
        self._pending_guard = threading.Lock()
        self._pending: list[_PendingDelivery] = []
        self.metadata = sa.MetaData()
        self.inbox = sa.Table(
            f"{prefix}inbox",
            self.metadata,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("provider", sa.String(20), nullable=False),
            sa.Column("delivery_id", sa.String(200), nullable=False),
            sa.Column("event", sa.String(100), nullable=False),
            sa.Column("headers", sa.Text, nullable=False),
            sa.Column("body", sa.LargeBinary, nullable=False),
            sa.Column("project", sa.String(300), nullable=False, default=""),
            sa.Column("received_at", sa.DateTime, nullable=False),
            sa.Column("status", sa.String(20), nullable=False),
            sa.Column("attempts", sa.Integer, nullable=False, default=0),
            # queued: when the sweeper re-enqueues it if nobody claimed it; processing: the lease.
            sa.Column("lease_until", sa.DateTime, nullable=True),
            sa.Column("error", sa.Text, nullable=True),
            sa.Column("done_at", sa.DateTime, nullable=True),
            sa.UniqueConstraint("provider", "delivery_id", name=f"{prefix}uq_inbox_delivery"),
            sa.Index(f"{prefix}ix_inbox_status_lease", "status", "lease_until"),
            sa.Index(f"{prefix}ix_inbox_project_status", "project", "status"),  # a pair's waiting deliveries
        )
        self.locks = sa.Table(
            f"{prefix}pair_locks",
            self.metadata,
            sa.Column("key", sa.String(300), primary_key=True),
            sa.Column("owner", sa.String(100), nullable=False),
            sa.Column("lease_until", sa.DateTime, nullable=False),
        )
        self.audit_log = sa.Table(
            f"{prefix}audit",
            self.metadata,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("at", sa.DateTime, nullable=False),
            sa.Column("delivery", sa.Integer, nullable=True),
            sa.Column("pair", sa.String(200), nullable=True),
            sa.Column("outcome", sa.String(20), nullable=False),
            sa.Column("writes", sa.Integer, nullable=False, default=0),
            sa.Column("detail", sa.Text, nullable=False, default=""),
        )
        # Answers given through a personal survey link (people without a forge account): they live
        # here and nowhere else, never on the forge; one row per person, pair, survey and round.
        self.survey_answers = sa.Table(
            f"{prefix}survey_answers",
            self.metadata,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("survey", sa.String(100), nullable=False),
            sa.Column("round", sa.Integer, nullable=False),
            sa.Column("pair", sa.String(200), nullable=False),
            sa.Column("person", sa.String(200), nullable=False),
            sa.Column("answers", sa.Text, nullable=False),
            sa.Column("answered_at", sa.DateTime, nullable=False),
            sa.UniqueConstraint("survey", "round", "pair", "person", name=f"{prefix}uq_survey_answer"),
        )

        # The hot statements, built once: every delivery and every task runs them.
        t = self.inbox
        # With RETURNING, SQLAlchemy sends many audit lines as one multi-row INSERT ("insertmanyvalues"),
        # not one INSERT per line as the driver's executemany does.
        self._audit_insert = sa.insert(self.audit_log).returning(self.audit_log.c.id)
        self._claim_statement = (
            sa.update(t)
            .where(t.c.id == sa.bindparam("b_id"))
            .where(sa.or_(t.c.status == QUEUED,
                          sa.and_(t.c.status == PROCESSING, t.c.lease_until < sa.bindparam("b_now"))))
            .values(status=PROCESSING, attempts=t.c.attempts + 1, lease_until=sa.bindparam("b_until"))
            .returning(*t.c)
        )
        self._add_statement = (
            self._insert(t).on_conflict_do_nothing(index_elements=["provider", "delivery_id"])
            .returning(t.c.id, t.c.provider, t.c.delivery_id)
        )
        if self.dialect == "sqlite":
            compiled = self._add_statement.compile(dialect=self.engine.dialect, column_keys=list(INBOX_ROW))
            columns = list(compiled.positiontup or ())
            processors = {name: processor for name in columns
                          if (processor := t.c[name].type.bind_processor(self.engine.dialect)) is not None}
            self._add_raw = (str(compiled), columns, processors)
        self._seen_statement = sa.select(t.c.status, t.c.lease_until).where(t.c.id == sa.bindparam("b_id"))
        waiting = sa.and_(t.c.status == QUEUED, t.c.project == sa.bindparam("b_project"),
                          t.c.lease_until <= sa.bindparam("b_due"))
        self._waiting_statement = sa.select(t.c.id).where(waiting).order_by(t.c.id)
        self._claim_pair_statement = (
            sa.update(t).where(t.c.id.in_(self._waiting_statement.limit(sa.bindparam("b_limit"))), waiting)
            .values(status=PROCESSING, attempts=t.c.attempts + 1, lease_until=sa.bindparam("b_until"))
            .returning(*t.c)
        )
        locks = self.locks
        lock = self._insert(locks).values(key=sa.bindparam("b_key"), owner=sa.bindparam("b_owner"),
                                         lease_until=sa.bindparam("b_until"))
        self._lock_statement = lock.on_conflict_do_update(
            index_elements=["key"], set_={"owner": lock.excluded.owner, "lease_until": lock.excluded.lease_until},
            where=sa.or_(locks.c.lease_until < sa.bindparam("b_now"), locks.c.owner == sa.bindparam("b_owner")),
        ).returning(locks.c.key)
        self._unlock_statement = sa.delete(locks).where(locks.c.key == sa.bindparam("b_key"),
                                                        locks.c.owner == sa.bindparam("b_owner"))
        self._finish_statement = (
            sa.update(t).where(t.c.id.in_(sa.bindparam("b_ids", expanding=True)))
            .values(status=sa.bindparam("b_status"), error=sa.bindparam("b_error"),
                    done_at=sa.bindparam("b_done"), lease_until=None)
        )

    @classmethod
    def for_program(cls, program: Any) -> Store:
        """The store `service.database_url` names; SQLite under .issuebot/ beside the program file."""
        default = program.base_dir / ".issuebot" / "service.db"
        return cls(database_url(program.service.database_url, default))

    # ------------------------------------------------------------------ lifecycle

    def create_schema(self) -> None:
        """Make the tables and indexes that are missing. Processes starting together (a serve and its
        worker on a new database) take turns: each looks for a table and makes it in one transaction
        under a lock, else the slower one fails on a name the faster one took in between."""
        try:
            with self.writers, self.engine.begin() as conn:
                if self.dialect == "postgresql":
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
                self.metadata.create_all(conn)
                for index in self.inbox.indexes:  # an index added since the tables were made
                    index.create(conn, checkfirst=True)
                if self.dialect == "postgresql":
                    self._compress_bodies_with_lz4(conn)
        except sa.exc.SQLAlchemyError as exc:
            raise StoreUnavailable(f"database {self.shown_url}: {_reason(exc)}") from None

    def _compress_bodies_with_lz4(self, conn: Any) -> None:
        """Bodies stored from now on are compressed with lz4 where the server has it (PostgreSQL 14 and
        later, built with it): the default, pglz, spent about 300 µs of the server's CPU on each
        13 kB delivery, lz4 about 120. Rows already stored keep theirs."""
        table = self.inbox.name
        try:
            with conn.begin_nested():  # before PostgreSQL 14 there is no attcompression: nothing to choose
                current = conn.execute(sa.text(
                    "SELECT attcompression FROM pg_attribute"
                    " WHERE attrelid = CAST(:table AS regclass) AND attname = 'body'"), {"table": table}).scalar()
                if current != "l":
                    conn.execute(sa.text(f'ALTER TABLE "{table}" ALTER COLUMN body SET COMPRESSION lz4'))
        except sa.exc.DBAPIError as exc:  # an older server, or one built without lz4: pglz it stays
            logger.info("database %s: inbox bodies stay compressed with pglz (%s)", self.shown_url, _reason(exc))

    def drop_schema(self) -> None:
        self.metadata.drop_all(self.engine)

    def ping(self) -> None:
        """Raise StoreUnavailable unless the database answers."""
        try:
            with self._reading() as conn:
                conn.execute(sa.select(sa.func.count()).select_from(self.locks))
        except sa.exc.SQLAlchemyError as exc:
            raise StoreUnavailable(f"database {self.shown_url}: {_reason(exc)}") from None

    def dispose(self) -> None:
        if self.checkpoints is not None:
            self.checkpoints.stop()
        with self.writers:
            if self._inserter is not None:
                self._inserter.close()
                self._inserter = None
        self.engine.dispose()
        if self._write_lock is not None:
            self._write_lock.close()

    @property
    def writers(self) -> contextlib.AbstractContextManager[None]:
        """The lock every writer of this SQLite file holds (this process's threads, other processes)."""
        return self._write_lock or contextlib.nullcontext()

    @contextlib.contextmanager
    def _writing(self, *, one_statement: bool = False) -> Iterator[Any]:
        """A write transaction, serialised in-process on SQLite; `one_statement`: a write made of a
        single statement, atomic by itself (see _single)."""
        with self.writers, (self._single if one_statement else self.engine).begin() as conn:
            yield conn
        if self.checkpoints is not None:
            self.checkpoints.wrote()

    def _reading(self) -> contextlib.AbstractContextManager[Any]:
        """A connection for one read statement (see _single)."""
        return self._single.connect()

    def _insert(self, table: sa.Table) -> Any:
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)

    # ------------------------------------------------------------------ inbox

    def add_delivery(self, delivery: NewDelivery, *, now: datetime, lease_seconds: int) -> int | None:
        """Insert-if-absent: the new row's id, or None when this delivery is already in the inbox.

        Returns once the row is committed. Concurrent callers share one transaction (group
        commit): whoever finds no commit running commits everything waiting, so a burst of
        deliveries costs one durable write, not one each.
        """
        item = _PendingDelivery(self._row(delivery, now, lease_seconds))
        with self._pending_guard:
            self._pending.append(item)
        with self._commit_lock:
            if not item.done:
                with self._pending_guard:
                    batch, self._pending = self._pending, []
                self._commit_together(batch)
        if item.error is not None:
            raise item.error
        return item.row_id

    def add_deliveries(self, deliveries: list[NewDelivery], *, now: datetime,
                       lease_seconds: int) -> list[int | None]:
        """Insert-if-absent, all in one transaction: each one's new row id, or None if already stored;
        StoreUnavailable when the transaction fails (then none is stored)."""
        batch = [_PendingDelivery(self._row(delivery, now, lease_seconds)) for delivery in deliveries]
        self._commit_together(batch)
        for item in batch:
            if item.error is not None:
                raise item.error
        return [item.row_id for item in batch]

    @staticmethod
    def _row(delivery: NewDelivery, now: datetime, lease_seconds: int) -> dict[str, Any]:
        return {
            "provider": delivery.provider, "delivery_id": delivery.delivery_id, "event": delivery.event,
            "headers": json.dumps(dict(delivery.headers)), "body": delivery.body, "project": delivery.project,
            "received_at": _naive_utc(now), "status": QUEUED, "attempts": 0,
            "lease_until": _naive_utc(now + timedelta(seconds=lease_seconds)),
        }

    def _commit_together(self, batch: list[_PendingDelivery]) -> None:
        """One INSERT ... ON CONFLICT DO NOTHING RETURNING for the batch, in one transaction (one round
        trip and one commit on PostgreSQL); the first of two copies in a batch gets the row."""
        firsts: dict[tuple[str, str], dict[str, Any]] = {}
        for item in batch:
            firsts.setdefault((item.row["provider"], item.row["delivery_id"]), item.row)
        try:
            if self.sqlite_file is not None:
                new = self._insert_on_driver(firsts)
            else:
                # An executemany with RETURNING: SQLAlchemy sends it as one multi-row statement per
                # page of rows ("insertmanyvalues"), compiled once; a burst within one page is one
                # statement, atomic without a transaction around it: one round trip.
                one_statement = len(firsts) <= self.engine.dialect.insertmanyvalues_page_size
                with self._writing(one_statement=one_statement) as conn:
                    returned = conn.execute(self._add_statement, list(firsts.values()))
                    new = {(provider, delivery_id): row_id for row_id, provider, delivery_id in returned}
            for item in batch:
                item.row_id = new.pop((item.row["provider"], item.row["delivery_id"]), None)
        except (sa.exc.SQLAlchemyError, sqlite3.Error) as exc:  # sqlite3: the driver's connection, used directly
            error = StoreUnavailable(f"database {self.shown_url}: {_reason(exc)}")
            for item in batch:
                item.row_id, item.error = None, error
        finally:
            for item in batch:
                item.done = True

    def _insert_on_driver(self, firsts: dict[tuple[str, str], dict[str, Any]]) -> dict[tuple[str, str], int]:
        """A SQLite file's inbox inserts (the hottest write): the statement compiled once, run on a
        driver connection kept for them, with no pool or SQLAlchemy transaction around each batch."""
        sql, columns, processors = self._add_raw
        with self.writers:
            if self._inserter is None:
                self._inserter = sqlite3.connect(str(self.sqlite_file), timeout=30, isolation_level=None,
                                                 check_same_thread=False)  # used under the writers' lock only
                _sqlite_pragmas(self._inserter, None)
            connection = self._inserter
            cursor = connection.cursor()
            try:
                cursor.execute("BEGIN IMMEDIATE")
                new = {}
                for key, row in firsts.items():
                    values = [processors[c](row[c]) if c in processors else row[c] for c in columns]
                    found = cursor.execute(sql, values).fetchone()
                    if found is not None:
                        new[key] = found[0]
                if new and self.also_in_insert is not None:
                    self.also_in_insert(cursor, [(row_id, firsts[key]["project"]) for key, row_id in new.items()])
                cursor.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        connection.execute("ROLLBACK")
                raise
            finally:
                cursor.close()
        if self.checkpoints is not None:
            self.checkpoints.wrote(sum(len(row["body"]) + _PAGE for row in firsts.values()))
        return new

    def get(self, row_id: int) -> Delivery | None:
        with self._reading() as conn:
            row = conn.execute(sa.select(self.inbox).where(self.inbox.c.id == row_id)).first()
        return _delivery(row) if row is not None else None

    def claim(self, row_id: int, now: datetime, lease_seconds: int) -> Delivery | None:
        """Take the delivery for processing under a lease; None when it is finished or leased."""
        at = _naive_utc(now)
        with self._reading() as conn:  # a read first: the task of a row its pair's worker took along
            seen = conn.execute(self._seen_statement, {"b_id": row_id}).first()
        if seen is None or not (seen.status == QUEUED or (seen.status == PROCESSING and seen.lease_until < at)):
            return None
        params = {"b_id": row_id, "b_now": at, "b_until": at + timedelta(seconds=lease_seconds)}
        with self._writing(one_statement=True) as conn:
            row = conn.execute(self._claim_statement, params).first()
        return _delivery(row) if row is not None else None

    def claim_pair(self, project: str, now: datetime, lease_seconds: int, limit: int = 100) -> list[Delivery]:
        """Take every delivery of `project` that waits and is due (not held back for a retry), oldest
        first: the worker holding a pair takes its new deliveries along instead of leaving them to wait."""
        at = _naive_utc(now)
        until = at + timedelta(seconds=lease_seconds)
        params = {"b_project": project, "b_due": until}
        with self._reading() as conn:  # a read first: most looks find nothing new
            if conn.execute(self._waiting_statement.limit(1), params).first() is None:
                return []
        with self._writing(one_statement=True) as conn:
            rows = conn.execute(self._claim_pair_statement, {**params, "b_limit": limit, "b_until": until}).all()
        return sorted((_delivery(row) for row in rows), key=lambda delivery: delivery.id)

    def waiting_for_pair(self, project: str, now: datetime, lease_seconds: int) -> list[int]:
        """Ids of the deliveries of `project` that wait and are due."""
        params = {"b_project": project, "b_due": _naive_utc(now) + timedelta(seconds=lease_seconds)}
        with self._reading() as conn:
            return list(conn.execute(self._waiting_statement, params).scalars())

    def release(self, row_id: int, *, retry_at: datetime, lease_seconds: int, error: str | None = None,
                count_attempt: bool = True) -> None:
        """Put a claimed delivery back in the queue, to be retried at `retry_at`."""
        t = self.inbox
        values: dict[str, Any] = {
            "status": QUEUED, "error": error,
            "lease_until": _naive_utc(retry_at + timedelta(seconds=lease_seconds)),
        }
        if not count_attempt:
            values["attempts"] = t.c.attempts - 1
        with self._writing(one_statement=True) as conn:
            conn.execute(sa.update(t).where(t.c.id == row_id, t.c.status == PROCESSING).values(**values))

    def finish(self, row_id: int, status: str, now: datetime, *, error: str | None = None,
               pair: str | None = None, writes: int = 0) -> None:
        """Mark the delivery finished and write its audit line, in one transaction."""
        self.finish_many([(row_id, status, error, pair, writes)], now)

    def finish_many(self, finished: list[tuple[int, str, str | None, str | None, int]], now: datetime) -> None:
        """Mark deliveries finished, each (id, status, error, pair, writes), with their audit lines, in one transaction."""
        if not finished:
            return
        at = _naive_utc(now)
        assert all(status in FINISHED for _, status, _, _, _ in finished), finished
        # One update per outcome, not one per delivery (each a round trip and a plan on PostgreSQL), and
        # one insert of the audit lines.
        alike: dict[tuple[str, str | None], list[int]] = {}
        for row_id, status, error, _, _ in finished:
            alike.setdefault((status, error), []).append(row_id)
        with self._writing() as conn:
            for (status, error), row_ids in alike.items():
                conn.execute(self._finish_statement, {"b_ids": row_ids, "b_status": status, "b_error": error,
                                                      "b_done": at})
            conn.execute(self._audit_insert, [
                {"at": at, "delivery": row_id, "pair": pair, "outcome": status, "writes": writes, "detail": error or ""}
                for row_id, status, error, pair, writes in finished])

    def extend_lease(self, row_id: int, pair_key: str, owner: str, until: datetime) -> bool:
        """Keep a delivery (and its pair lock) leased while its handler still runs."""
        at = _naive_utc(until)
        with self._writing() as conn:
            extended = conn.execute(
                sa.update(self.inbox).where(self.inbox.c.id == row_id, self.inbox.c.status == PROCESSING)
                .values(lease_until=at)
            ).rowcount
            conn.execute(
                sa.update(self.locks).where(self.locks.c.key == pair_key, self.locks.c.owner == owner)
                .values(lease_until=at)
            )
        return extended == 1

    def take_expired(self, now: datetime, lease_seconds: int, limit: int = 500) -> list[int]:
        """Deliveries nobody finished in time (a worker died, or the task never reached the queue),
        made claimable again; each returned id must be enqueued once more."""
        t = self.inbox
        at = _naive_utc(now)
        expired = sa.and_(t.c.status.in_((QUEUED, PROCESSING)), t.c.lease_until < at)
        # One statement: the outer condition re-checks each row, so a row a worker claimed in the
        # meantime is left alone, on SQLite and PostgreSQL alike.
        oldest = sa.select(t.c.id).where(expired).order_by(t.c.id).limit(limit)
        statement = (
            sa.update(t).where(t.c.id.in_(oldest), expired)
            .values(status=QUEUED, lease_until=at + timedelta(seconds=lease_seconds))
            .returning(t.c.id)
        )
        with self._writing(one_statement=True) as conn:
            return sorted(conn.execute(statement).scalars())

    def prune(self, older_than: datetime) -> int:
        """Delete finished deliveries (and audit rows) older than `older_than`; returns rows deleted."""
        t = self.inbox
        at = _naive_utc(older_than)
        with self._writing() as conn:
            deleted = conn.execute(sa.delete(t).where(t.c.status.in_(FINISHED), t.c.done_at < at)).rowcount
            conn.execute(sa.delete(self.audit_log).where(self.audit_log.c.at < at))
        return deleted

    def counts(self) -> dict[str, int]:
        """Inbox rows by status."""
        t = self.inbox
        with self._reading() as conn:
            rows = conn.execute(sa.select(t.c.status, sa.func.count()).group_by(t.c.status)).all()
        counts = dict.fromkeys(STATUSES, 0)
        counts.update({status: total for status, total in rows})
        return counts

    # ------------------------------------------------------------------ pair locks

    def lock_pair(self, key: str, owner: str, now: datetime, lease_seconds: int) -> bool:
        """Hold `key` for `owner` until the lease ends; the same owner may take it again (a retry
        of the same delivery after its worker died), anyone else only once the lease expired."""
        at = _naive_utc(now)
        params = {"b_key": key, "b_owner": owner, "b_now": at, "b_until": at + timedelta(seconds=lease_seconds)}
        with self._writing(one_statement=True) as conn:
            return conn.execute(self._lock_statement, params).first() is not None

    def unlock_pair(self, key: str, owner: str) -> None:
        with self._writing(one_statement=True) as conn:
            conn.execute(self._unlock_statement, {"b_key": key, "b_owner": owner})

    def drop_expired_locks(self, now: datetime) -> int:
        with self._writing(one_statement=True) as conn:
            return conn.execute(sa.delete(self.locks).where(self.locks.c.lease_until < _naive_utc(now))).rowcount

    # ------------------------------------------------------------------ survey answers from the form

    def add_survey_answer(self, answer: FormAnswer) -> bool:
        """Record one person's answer to one round; False (nothing changed) when they already answered:
        an answer is final, as a complete reply on the forge is."""
        t = self.survey_answers
        statement = self._insert(t).values(
            survey=answer.survey, round=answer.round, pair=answer.pair, person=answer.person,
            answers=json.dumps(answer.answers, sort_keys=True), answered_at=_naive_utc(answer.answered_at),
        ).on_conflict_do_nothing(index_elements=["survey", "round", "pair", "person"]).returning(t.c.id)
        with self._writing(one_statement=True) as conn:
            return conn.execute(statement).first() is not None

    def has_survey_answer(self, survey: str, round_number: int, pair: str, person: str) -> bool:
        t = self.survey_answers
        query = sa.select(t.c.id).where(t.c.survey == survey, t.c.round == round_number, t.c.pair == pair,
                                        t.c.person == person)
        with self._reading() as conn:
            return conn.execute(query).first() is not None

    def survey_answer_rows(self) -> list[FormAnswer]:
        """Every answer given through the form, oldest first."""
        t = self.survey_answers
        with self._reading() as conn:
            rows = conn.execute(sa.select(t).order_by(t.c.id)).all()
        return [FormAnswer(survey=r.survey, round=r.round, pair=r.pair, person=r.person, answers=json.loads(r.answers),
                           answered_at=_aware(r.answered_at) or r.answered_at) for r in rows]

    # ------------------------------------------------------------------ audit

    def audit(self, *, now: datetime, delivery: int | None, pair: str | None, outcome: str, writes: int = 0,
              detail: str = "") -> None:
        """One line of what the service did (metadata only: never pair text)."""
        with self._writing(one_statement=True) as conn:
            conn.execute(self._audit_insert, {"at": _naive_utc(now), "delivery": delivery, "pair": pair,
                                              "outcome": outcome, "writes": writes, "detail": detail})

    def audit_rows(self, delivery: int | None = None) -> list[dict[str, Any]]:
        query = sa.select(self.audit_log).order_by(self.audit_log.c.id)
        if delivery is not None:
            query = query.where(self.audit_log.c.delivery == delivery)
        with self._reading() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]


class _WriterQueue:
    """One SQLite writer at a time: this process's threads on a lock, other processes on an flock."""

    def __init__(self, database: str | None):
        self._threads = threading.Lock()
        self._path = f"{database}.writer-lock" if database and database != ":memory:" else None
        self._file: Any = None

    def __enter__(self) -> None:
        self._threads.acquire()
        if self._path is None or fcntl is None:
            return
        try:
            if self._file is None:
                self._file = open(self._path, "a")
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX)
        except OSError:  # a read-only folder: SQLite's own busy wait still serialises writers
            self._path = None

    def __exit__(self, *_: object) -> None:
        try:
            if self._file is not None and self._path is not None:
                fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def close(self) -> None:
        with self._threads:
            if self._file is not None:
                self._file.close()
                self._file = None


_PAGE = 4096
_WAL_KEPT_BYTES = 64 * 1024 * 1024  # a log grown in a burst is cut back to this once checkpointed


class _Checkpointer:
    """Copies a SQLite file's write-ahead log back into the database from a thread of its own, once
    some megabytes were written or a second after the last write, so no commit waits for it.

    Every connection of the file turns SQLite's own checkpoint off (`_sqlite_pragmas`); a PASSIVE
    checkpoint runs beside writers and readers, and two processes' checkpoints simply take turns.
    """

    EVERY_BYTES = 16 * 1024 * 1024  # four times SQLite's own 1000 pages: fewer copies of pages written again
    AFTER_SECONDS = 1.0

    def __init__(self, database: Path):
        self.database = database
        self._written = 0  # bytes committed since the last checkpoint began
        self._changed = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def wrote(self, size: int = _PAGE) -> None:
        """A commit of about `size` bytes (a page or so by default) went into the log."""
        with self._changed:
            first = self._written == 0
            self._written += size
            if self._thread is None and not self._stopping:
                self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
                self._thread.start()
            if first or self._written >= self.EVERY_BYTES:
                self._changed.notify()

    def stop(self) -> None:
        """Checkpoint what is left and end the thread."""
        with self._changed:
            self._stopping, thread = True, self._thread
            self._changed.notify()
        if thread is not None:
            thread.join()

    def _due(self) -> bool:
        """Wait until the log is due a checkpoint; False once stopping with nothing written."""
        with self._changed:
            while not self._written and not self._stopping:
                self._changed.wait()
            deadline = time.monotonic() + self.AFTER_SECONDS
            while self._written < self.EVERY_BYTES and not self._stopping:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            due, self._written = self._written > 0, 0
            return due

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None
        try:
            while True:
                if self._due():
                    try:
                        if connection is None:
                            connection = sqlite3.connect(str(self.database), timeout=30, isolation_level=None)
                            _sqlite_pragmas(connection, None)
                        connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    except sqlite3.Error as exc:  # a full disk, a locked file: tried again a second later
                        logger.warning("the inbox's log was not copied into %s (tried again): %s",
                                       self.database.name, exc)
                        if not self._stopping:
                            self.wrote()
                with self._changed:
                    if self._stopping and not self._written:
                        return
        finally:
            if connection is not None:
                connection.close()


def _delivery(row: Any) -> Delivery:
    return Delivery(
        id=row.id, provider=row.provider, delivery_id=row.delivery_id, event=row.event,
        headers=json.loads(row.headers), body=bytes(row.body), project=row.project,
        received_at=_aware(row.received_at), status=row.status, attempts=row.attempts,  # type: ignore[arg-type]
        lease_until=_aware(row.lease_until), error=row.error, done_at=_aware(row.done_at),
    )


def _reason(exc: Exception) -> str:
    """The driver's first line, which names the problem without echoing the URL's password."""
    original = getattr(exc, "orig", None) or exc
    return str(original).strip().splitlines()[0] if str(original).strip() else exc.__class__.__name__


def _ping_after_idle(store: Store) -> None:
    """Check a pooled server connection before use when it sat idle `store.idle_ping_seconds` or more:
    a server restarted meanwhile costs a reconnect, not a failed write. A connection in steady use is
    not pinged (SQLAlchemy's pool_pre_ping pings at every checkout: a round trip per statement)."""
    engine = store.engine

    def connected(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    def checked_out(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("idle_since", 0.0) < store.idle_ping_seconds:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
        except Exception:  # the driver's own error for a closed socket or a terminated backend
            alive = False
        if not alive:
            raise sa.exc.DisconnectionError("the database closed this connection")  # the pool connects anew

    sa.event.listen(engine, "connect", connected)
    sa.event.listen(engine, "checkin", connected)
    sa.event.listen(engine, "checkout", checked_out)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets the web threads insert while workers read; NORMAL sync is durable across process
    # crashes (only an OS crash can lose the last commits). https://sqlite.org/wal.html
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA wal_autocheckpoint=0")  # the file's _Checkpointer does it, outside every commit
    cursor.execute(f"PRAGMA journal_size_limit={_WAL_KEPT_BYTES}")
    cursor.close()
