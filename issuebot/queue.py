"""The delivery queue: Huey (SQLite file or Redis), the task that handles one delivery, inbox sweepers."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from huey import RedisHuey, SqliteHuey, crontab
from huey.api import Huey, Task
from huey.consumer import Consumer
from huey.exceptions import RetryTask
from huey.storage import SqliteStorage

from issuebot.config import Program
from issuebot.events import handle_events
from issuebot.metrics import Metrics
from issuebot.models import Event
from issuebot.providers import make_provider, webhook_parser
from issuebot.providers.base import Provider, ProviderError, ProviderUnavailable, RateLimited
from issuebot.store import DONE, FAILED, IGNORED, Store
from issuebot.templates import Templates

logger = logging.getLogger(__name__)

Handler = Callable[..., Any]  # like issuebot.events.handle_event(program, provider, templates, event, *, now)
ProviderFactory = Callable[[Program], Provider]
Clock = Callable[[], datetime]

MAX_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 5.0
BACKOFF_MAX_SECONDS = 600.0
SKIPPED = "skipped"  # the task found the delivery finished or leased by another worker
HANDED_OVER = "handed over"  # another worker holds the pair and takes the delivery along
RETRYING = "retrying"


class QueueUnavailable(Exception):
    """The queue backend cannot be reached; the message names it (never a password)."""


class _InboxTaskStorage(SqliteStorage):
    """Huey's SQLite storage in the inbox's own file: a delivery's task is written in the transaction that
    stores the delivery, and Huey's own writes wait on the inbox writers' lock, not in SQLite's busy loop."""

    def __init__(self, *args: Any, store: Store, **kwargs: Any):
        self._store = store
        super().__init__(*args, **kwargs)

    @contextlib.contextmanager
    def db(self, commit: bool = False, close: bool = False) -> Iterator[Any]:
        with self._store.writers if commit else contextlib.nullcontext(), super().db(commit, close) as cursor:
            yield cursor
        if commit and self._store.checkpoints is not None:
            self._store.checkpoints.wrote()

    def _create_connection(self) -> Any:
        connection = super()._create_connection()
        connection.execute("PRAGMA wal_autocheckpoint=0")  # the inbox's checkpointer does it (store._Checkpointer)
        return connection

    def enqueue_on(self, cursor: Any, data: bytes, priority: float = 0) -> None:
        """SqliteStorage.enqueue, on the cursor of a transaction already open on this file."""
        cursor.execute("insert into task (queue, data, priority) values (?, ?, ?)", (self.name, data, priority))


def make_huey(program: Program, *, name: str = "issuebot", store: Store | None = None) -> Huey:
    """RedisHuey when `service.queue_url` is redis://..., SqliteHuey in the file it names; without one,
    Huey in `store`'s own SQLite file (tasks written with their deliveries), else in .issuebot/queue.db."""
    url = program.service.queue_url
    if url and url.startswith(("redis://", "rediss://", "unix://")):
        return RedisHuey(name, url=url, results=False, utc=True)
    inbox_file = store.sqlite_file if store is not None and not url else None
    if inbox_file is not None and store is not None:
        return Huey(name, results=False, utc=True, storage_class=_InboxTaskStorage, filename=str(inbox_file),
                    timeout=30, fsync=False, store=store)
    if url:
        path = Path(url.removeprefix("sqlite:///"))
        path = path if path.is_absolute() else program.base_dir / path
    else:
        path = program.base_dir / ".issuebot" / "queue.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    # No fsync per enqueue: the inbox row is the durable record and the lease sweeper re-enqueues
    # any task an OS crash loses, so the queue file only needs to be fast.
    return SqliteHuey(name, filename=str(path), results=False, utc=True, timeout=30, fsync=False)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def backoff_seconds(error: ProviderError, attempts: int) -> float:
    """How long to wait before retrying: the forge's Retry-After when it gave one, else doubling."""
    retry_after = getattr(error, "retry_after", None)
    if isinstance(retry_after, (int, float)) and retry_after > 0:
        return float(retry_after)
    return min(BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_MAX_SECONDS)


class DeliveryQueue:
    """Huey tasks over the inbox: `process_delivery(row id)` plus the periodic sweepers.

    Exactly-once effect comes from the inbox, not from Huey: a task runs only after claiming
    the row under a lease, so duplicate tasks and re-enqueued rows are harmless.
    """

    def __init__(
        self,
        huey: Huey,
        store: Store,
        program: Program,
        *,
        handler: Handler | None = None,
        provider_factory: ProviderFactory | None = None,
        templates: Templates | None = None,
        clock: Clock | None = None,
        metrics: Metrics | None = None,
    ):
        self.huey = huey
        self.store = store
        self.program = program
        self.handler = handler  # None: handle_events, a pair's waiting deliveries together
        self._retry_delays: dict[int, float] = {}
        self.provider_factory = provider_factory or (lambda program: make_provider(program))
        self.templates = templates
        self.clock = clock or _utcnow
        self.metrics = metrics or Metrics()
        self.lease_seconds = program.service.lease_seconds
        self.renew_every = self.lease_seconds / 3
        self._local = threading.local()
        self._held: dict[object, tuple[list[int], str, str]] = {}  # the batches being handled, by token
        self._held_guard = threading.Lock()
        self._renewer: threading.Thread | None = None
        self.process_task = huey.task(name="process_delivery")(self.process)
        self.process_many_task = huey.task(name="process_deliveries")(self.process_many)
        huey.periodic_task(crontab(minute="*"), name="requeue_expired_deliveries")(self.requeue_expired)
        huey.periodic_task(crontab(minute="23"), name="prune_inbox")(self.prune)
        # True when the inbox writes each delivery's task in the transaction that stores it: nothing
        # is left to hand over once a delivery is stored.
        self.queued_with_inbox = isinstance(huey.storage, _InboxTaskStorage)
        if self.queued_with_inbox:
            store.also_in_insert = self._enqueue_in_transaction

    # ------------------------------------------------------------------ producer side

    def enqueue(self, row_id: int) -> None:
        self.process_task(row_id)

    def enqueue_many(self, row_ids: list[int], projects: list[str] | None = None) -> None:
        """One task per project among rows stored together (each row its own without `projects`): a
        pair's deliveries go to one consumer together, different pairs' to consumers side by side."""
        for task in self._tasks_for(row_ids, projects):
            self.huey.enqueue(task)

    def _enqueue_in_transaction(self, cursor: Any, rows: list[tuple[int, str]]) -> None:
        storage = self.huey.storage
        assert isinstance(storage, _InboxTaskStorage)
        for task in self._tasks_for([row for row, _ in rows], [project for _, project in rows]):
            storage.enqueue_on(cursor, self.huey.serialize_task(task), task.priority or 0)

    def _tasks_for(self, row_ids: list[int], projects: list[str] | None) -> list[Task]:
        groups: dict[str, list[int]] = {}
        for index, row_id in enumerate(row_ids):
            groups.setdefault(projects[index] if projects is not None else str(row_id), []).append(row_id)
        return [self.process_task.s(rows[0]) if len(rows) == 1 else self.process_many_task.s(rows)
                for rows in groups.values()]

    def pending(self) -> int:
        return self.huey.pending_count()

    def ping(self) -> None:
        """Raise QueueUnavailable unless the queue backend answers."""
        try:
            self.huey.pending_count()
        except Exception as exc:  # redis.ConnectionError, sqlite3.Error...: backend-specific
            kind = "Redis" if isinstance(self.huey, RedisHuey) else "SQLite"
            raise QueueUnavailable(f"queue ({kind}): {exc.__class__.__name__}: {_first_line(exc)}") from None

    def consumer(self, *, workers: int = 2, periodic: bool = True) -> Consumer:
        """A thread-based consumer; a short poll interval keeps delivery-to-labels time low. Redis' pop
        blocks until a task comes; a SQLite queue is polled, at most 0.1 s apart once idle (a look at an
        empty table costs next to nothing, and a burst after a quiet spell waits no longer than that)."""
        return self.huey.create_consumer(
            workers=workers, periodic=periodic, worker_type="thread", initial_delay=0.02, backoff=1.3, max_delay=0.1,
        )

    # ------------------------------------------------------------------ worker side

    def _provider(self) -> Provider:
        provider = getattr(self._local, "provider", None)
        if provider is None:
            provider = self._local.provider = self.provider_factory(self.program)
        return provider

    def _templates(self) -> Templates:
        if self.templates is None:
            self.templates = Templates(self.program.templates_dir())
        return self.templates

    def process(self, row_id: int) -> str:
        """Handle one inbox delivery, and every other one of its pair waiting meanwhile; returns its
        final status, or raises RetryTask to come back."""
        return self._process(row_id, set())

    def _process(self, row_id: int, finished: set[int]) -> str:
        """`process`, adding to `finished` the id of every delivery it finished (its own and those
        of the pair it took along)."""
        now = self.clock()
        delivery = self.store.claim(row_id, now, self.lease_seconds)
        if delivery is None:
            logger.debug("delivery %s is finished or leased elsewhere; nothing to do", row_id)
            return SKIPPED
        read = self._event_of(delivery)
        if isinstance(read, str):
            return read
        event, provider = read
        owner = f"delivery-{delivery.id}"
        if not self.store.lock_pair(event.project, owner, now, self.lease_seconds):
            # Another worker holds the pair: it takes this delivery along before it lets go (see
            # _drain_pair), so nothing waits out a retry delay and no attempt is spent.
            self.store.release(delivery.id, retry_at=now, lease_seconds=self.lease_seconds, count_attempt=False)
            if not self.store.lock_pair(event.project, owner, now, self.lease_seconds):
                return HANDED_OVER
            claimed = self.store.claim(row_id, now, self.lease_seconds)  # the holder let go meanwhile
            if claimed is None:
                self._let_go(event.project, owner)
                return SKIPPED
            delivery = claimed
        try:
            return self._drain_pair(delivery, event, provider, owner, now, finished)
        finally:
            self._let_go(event.project, owner)

    def process_many(self, row_ids: list[int]) -> list[str]:
        """Handle deliveries of one pair stored together, each as `process` would (the first takes the
        others along); one the forge asks to wait for comes back as a task of its own."""
        statuses = []
        finished: set[int] = set()
        for row_id in row_ids:
            if row_id in finished:  # taken along by an earlier one: no need to look it up again
                statuses.append(SKIPPED)
                continue
            try:
                statuses.append(self._process(row_id, finished))
            except RetryTask as retry:
                self.process_task.schedule((row_id,), delay=retry.delay or 1.0)
                statuses.append(RETRYING)
        return statuses

    def _let_go(self, project: str, owner: str) -> None:
        """Unlock the pair; a delivery handed over after the holder's last look gets a task of its own."""
        self.store.unlock_pair(project, owner)
        left = self.store.waiting_for_pair(project, self.clock(), self.lease_seconds)
        if left:
            self.enqueue(left[0])

    def _event_of(self, delivery: Any) -> tuple[Event, Provider] | str:
        """The delivery's event and the provider to handle it with, or its final status once finished
        as ignored or failed."""
        try:
            parser = webhook_parser(delivery.provider)
        except KeyError:
            return self._finish(delivery, IGNORED, f"no webhook parser for {delivery.provider!r}")
        event = parser.parse(delivery.headers, delivery.body)
        if event is None:
            return self._finish(delivery, IGNORED, "no event issuebot acts on")
        try:
            provider = self._provider()
        except ProviderError as exc:  # e.g. a refused token: retrying cannot help; the sweep catches up
            return self._finish(delivery, FAILED, f"cannot reach the tracker: {exc}")
        if event.provider != provider.kind:
            reason = f"delivery from {event.provider}, but the program runs on {provider.kind}"
            return self._finish(delivery, IGNORED, reason)
        return event, provider

    def _drain_pair(self, first: Any, event: Event, provider: Provider, owner: str, now: datetime,
                    finished: set[int]) -> str:
        """With the pair locked: handle `first` with every delivery of the pair waiting, then again
        with those that arrived meanwhile, until none waits. Returns the status of `first`."""
        held = [first.id]
        with self._lease_kept(held, event.project, owner):
            batch = [(first, event)] + self._events_of(self.store.claim_pair(event.project, now, self.lease_seconds),
                                                       finished)
            held[:] = [delivery.id for delivery, _ in batch]
            status = self._run_batch(batch, provider, now, finished)[first.id]
            if status == RETRYING:
                raise RetryTask("the forge asked to wait", delay=self._retry_delays.pop(first.id, 1.0))
            while True:
                now = self.clock()
                batch = self._events_of(self.store.claim_pair(event.project, now, self.lease_seconds), finished)
                if not batch:
                    return status
                held[:] = [delivery.id for delivery, _ in batch]
                if RETRYING in self._run_batch(batch, provider, now, finished).values():
                    return status  # the forge is rate limiting: the retried rows have their own tasks

    def _events_of(self, deliveries: list[Any], finished: set[int]) -> list[tuple[Any, Event]]:
        """The events of `deliveries`; one without an event issuebot acts on is finished here (and
        added to `finished`)."""
        batch = []
        for delivery in deliveries:
            read = self._event_of(delivery)
            if isinstance(read, str):
                finished.add(delivery.id)
            else:
                batch.append((delivery, read[0]))
        return batch

    @contextlib.contextmanager
    def _lease_kept(self, row_ids: list[int], pair_key: str, owner: str) -> Iterator[None]:
        """Renew the leases of `row_ids` (the batch being handled; the caller updates the list)
        while the handler runs (a forge's rate-limit wait can be long), so the sweeper only takes
        back deliveries whose worker is really gone. One thread renews every batch of this queue."""
        token = object()
        with self._held_guard:
            self._held[token] = (row_ids, pair_key, owner)
            if self._renewer is None:
                self._renewer = threading.Thread(target=self._renew_leases, name="lease-renewer", daemon=True)
                self._renewer.start()
        try:
            yield
        finally:
            with self._held_guard:
                del self._held[token]

    def _renew_leases(self) -> None:
        while True:
            time.sleep(self.renew_every)
            with self._held_guard:
                held = [(list(row_ids), pair_key, owner) for row_ids, pair_key, owner in self._held.values()]
            for row_ids, pair_key, owner in held:
                try:
                    until = self.clock() + timedelta(seconds=self.lease_seconds)
                    for row_id in row_ids:
                        self.store.extend_lease(row_id, pair_key, owner, until)
                except Exception as exc:  # the lease then simply runs out; never kill the task
                    logger.warning("deliveries %s: lease not renewed: %s", row_ids, exc.__class__.__name__)

    def _handle_together(self, provider: Provider, events: list[Event], now: datetime) -> list[Any]:
        if self.handler is None:
            return handle_events(self.program, provider, self._templates(), events, now=now)
        return [self.handler(self.program, provider, self._templates(), event, now=now) for event in events]

    def _run_batch(self, batch: list[tuple[Any, Event]], provider: Provider, now: datetime,
                   finished: set[int]) -> dict[int, str]:
        """Handle a pair's deliveries together; the status of each by row id (those finished are
        added to `finished`, those coming back later are not)."""
        statuses = self._handle_batch(batch, provider, now)
        finished.update(row for row, status in statuses.items() if status != RETRYING)
        return statuses

    def _handle_batch(self, batch: list[tuple[Any, Event]], provider: Provider, now: datetime) -> dict[int, str]:
        """Handle the deliveries, then finish each or put it back for a retry; the status of each."""
        reads, writes = provider.meter.reads, provider.meter.writes
        started = time.perf_counter()
        deliveries = [delivery for delivery, _ in batch]
        try:
            outcomes = self._handle_together(provider, [event for _, event in batch], now)
        except (RateLimited, ProviderUnavailable) as exc:
            status = "rate_limited" if isinstance(exc, RateLimited) else "unavailable"
            self._count_calls(provider, reads, writes, status, len(batch))
            return {delivery.id: self._retry_later(delivery, exc, now, first=index == 0)
                    for index, delivery in enumerate(deliveries)}
        except ProviderError as exc:
            self._count_calls(provider, reads, writes, "error", len(batch))
            return self._finish_all(deliveries, FAILED, f"{exc.__class__.__name__}: {exc}")
        except Exception as exc:
            logger.exception("deliveries %s: event handling failed", [d.id for d in deliveries])
            return self._finish_all(deliveries, FAILED, f"{exc.__class__.__name__}: {_first_line(exc)}")
        self.metrics.handling_seconds.observe(time.perf_counter() - started)
        self._count_calls(provider, reads, writes, "ok", len(batch))
        finished = []
        for delivery, outcome in zip(deliveries, outcomes):
            ignored = getattr(outcome, "ignored", None)
            finished.append((delivery, IGNORED if ignored else DONE, ignored or None, getattr(outcome, "pair", None),
                             getattr(outcome, "writes", 0) or 0))
        return self._finish_each(finished)

    def _retry_later(self, delivery: Any, error: ProviderError, now: datetime, *, first: bool) -> str:
        if delivery.attempts >= MAX_ATTEMPTS:
            return self._finish(delivery, FAILED, f"gave up after {delivery.attempts} attempts: {error}")
        delay = backoff_seconds(error, delivery.attempts)
        self.store.release(delivery.id, retry_at=now + timedelta(seconds=delay), lease_seconds=self.lease_seconds,
                           error=f"{error.__class__.__name__}: {error}")
        logger.warning("delivery %s: %s; retrying in %.0fs", delivery.id, error.__class__.__name__, delay)
        self.metrics.processed.labels(outcome=RETRYING).inc()
        if first:
            self._retry_delays[delivery.id] = delay  # the running task raises RetryTask with it
        else:
            self.process_task.schedule((delivery.id,), delay=delay)
        return RETRYING

    def _count_calls(self, provider: Provider, reads: int, writes: int, status: str, deliveries: int = 1) -> None:
        made = (provider.meter.reads - reads) + (provider.meter.writes - writes)
        self.metrics.count_forge_calls(provider.kind, status, made, deliveries)

    def _finish(self, delivery: Any, status: str, reason: str | None, *, pair: str | None = None,
                writes: int = 0) -> str:
        return self._finish_each([(delivery, status, reason, pair, writes)])[delivery.id]

    def _finish_all(self, deliveries: list[Any], status: str, reason: str | None) -> dict[int, str]:
        return self._finish_each([(delivery, status, reason, None, 0) for delivery in deliveries])

    def _finish_each(self, finished: list[tuple[Any, str, str | None, str | None, int]]) -> dict[int, str]:
        """Mark deliveries finished in one transaction, each (delivery, status, reason, pair, writes)."""
        moment = self.clock()
        self.store.finish_many([(d.id, status, reason, pair, writes) for d, status, reason, pair, writes in finished],
                               moment)
        for delivery, status, reason, _, _ in finished:
            self.metrics.processed.labels(outcome=status).inc()
            self.metrics.delivery_seconds.observe(max((moment - delivery.received_at).total_seconds(), 0.0))
            logger.info("delivery %s (%s %s): %s%s", delivery.id, delivery.provider, delivery.event, status,
                        f" ({reason})" if reason else "")
        return {delivery.id: status for delivery, *_ in finished}

    # ------------------------------------------------------------------ periodic

    def requeue_expired(self, now: datetime | None = None) -> list[int]:
        """Re-enqueue deliveries whose lease ran out (their worker died) or that never reached the
        queue; Huey itself drops a task whose worker is killed."""
        moment = now or self.clock()
        taken = self.store.take_expired(moment, self.lease_seconds)
        self.enqueue_many(taken)
        self.store.drop_expired_locks(moment)
        if taken:
            logger.warning("re-enqueued %d deliveries whose lease expired", len(taken))
        return taken

    def prune(self, now: datetime | None = None) -> int:
        """Delete finished deliveries older than `service.retention`."""
        moment = now or self.clock()
        cutoff = moment - timedelta(days=self.program.service.retention.approx_days())
        return self.store.prune(cutoff)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__

