"""Wiring shared by `issuebot serve` and `issuebot worker`: secret, inbox, queue, metrics, the worker loop."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from issuebot.config import Program, secret
from issuebot.metrics import Metrics
from issuebot.queue import DeliveryQueue, QueueUnavailable, make_huey
from issuebot.store import Store, StoreUnavailable

logger = logging.getLogger(__name__)


class ServiceError(Exception):
    """The service cannot start: missing secret, unreachable database or queue. Exit code 2."""


@dataclass
class Service:
    """Everything the web app and the worker share for one program file."""

    program: Program
    store: Store
    queue: DeliveryQueue
    metrics: Metrics
    secret: str | None = field(repr=False)  # None: signatures are not checked (--insecure-no-verify)
    clock: Callable[[], datetime]
    dashboard_token: str | None = field(default=None, repr=False)  # None: the web dashboard is off

    @property
    def verifies(self) -> bool:
        return self.secret is not None

    def ready(self) -> list[str]:
        """Problems that make the service unable to take deliveries (empty: ready)."""
        problems = []
        try:
            self.store.ping()
        except StoreUnavailable as exc:
            problems.append(str(exc))
        try:
            self.queue.ping()
        except QueueUnavailable as exc:
            problems.append(str(exc))
        return problems

    def close(self) -> None:
        self.store.dispose()


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def open_service(
    program: Program,
    *,
    need_secret: bool = True,
    insecure_no_verify: bool = False,
    handler: Callable[..., Any] | None = None,
    provider_factory: Callable[[Program], Any] | None = None,
    clock: Callable[[], datetime] | None = None,
    store: Store | None = None,
    huey: Any = None,
    need_queue: bool = True,
) -> Service:
    """Build the service for `program`, checking the secret, database and queue before anything runs
    (without `need_queue`, an unreachable queue is only a warning: the web side can still take
    deliveries into the inbox)."""
    env = program.service.webhook_secret_env
    value = None if insecure_no_verify else secret(env)
    if need_secret and value is None and not insecure_no_verify:
        raise ServiceError(
            f"no webhook secret: set the environment variable {env} (named by service.webhook_secret_env "
            f"in {program.path.name}), or pass --insecure-no-verify to accept unsigned deliveries"
        )
    try:
        store = store or Store.for_program(program)
        store.create_schema()
    except StoreUnavailable as exc:
        raise ServiceError(f"cannot open the inbox: {exc}") from None
    metrics = Metrics()
    queue = DeliveryQueue(
        huey if huey is not None else make_huey(program, store=store), store, program,
        handler=handler, provider_factory=provider_factory, clock=clock, metrics=metrics,
    )
    try:
        queue.ping()
    except QueueUnavailable as exc:
        if need_queue:
            raise ServiceError(f"cannot reach the queue: {exc}") from None
        # The inbox is the record: deliveries are still taken, and queued once the queue is back.
        logger.warning("the queue does not answer (%s); deliveries are stored and queued once it is back", exc)
    metrics.watch(queue.pending, store.counts)
    return Service(program=program, store=store, queue=queue, metrics=metrics, secret=value, clock=clock or _utcnow,
                   dashboard_token=secret(program.service.dashboard_token_env))


def run_worker(service: Service, *, workers: int = 2, periodic: bool = True,
               announce: Callable[[str], None] = print) -> None:
    """Run the queue consumer in the foreground (SIGINT stops it after the running tasks)."""
    consumer = service.queue.consumer(workers=workers, periodic=periodic)
    announce(f"issuebot: worker running with {workers} threads")
    try:
        consumer.run()
    finally:
        service.close()
