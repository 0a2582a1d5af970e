"""Wiring shared by `issuebot serve` and `issuebot worker`: secret, inbox, queue, metrics, servers."""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

from issuebot.config import Program, secret

if TYPE_CHECKING:
    from issuebot.queue import DeliveryQueue
    from issuebot.store import Store

logger = logging.getLogger(__name__)

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class ServiceError(Exception):
    """The service cannot start: missing secret, unreachable database or queue. Exit code 2."""


class Metrics:
    """Prometheus metrics of one service, in their own registry (no global state)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.deliveries = Counter(
            "issuebot_webhook_deliveries", "Webhook deliveries received, by provider and outcome",
            ["provider", "outcome"], registry=self.registry,
        )
        self.processed = Counter(
            "issuebot_deliveries_processed", "Inbox deliveries the worker finished, by outcome",
            ["outcome"], registry=self.registry,
        )
        self.handling_seconds = Histogram(
            "issuebot_event_handling_seconds", "Time spent handling one event (quick commands + reconcile)",
            buckets=_LATENCY_BUCKETS, registry=self.registry,
        )
        self.delivery_seconds = Histogram(
            "issuebot_delivery_processing_seconds", "Time from receiving a delivery to finishing it",
            buckets=_LATENCY_BUCKETS, registry=self.registry,
        )
        self.forge_calls = Counter(
            "issuebot_forge_api_calls", "Forge API calls made by the worker, by provider and status",
            ["provider", "status"], registry=self.registry,
        )

    def watch(self, store: "Store", queue: "DeliveryQueue") -> None:
        """Queue depth and inbox rows by status, read at scrape time."""
        self.registry.register(_BacklogCollector(store, queue))


class _BacklogCollector:
    def __init__(self, store: "Store", queue: "DeliveryQueue"):
        self.store, self.queue = store, queue

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Any:
        depth = GaugeMetricFamily("issuebot_queue_depth", "Tasks waiting in the queue")
        inbox = GaugeMetricFamily("issuebot_inbox_deliveries", "Inbox rows by status", labels=["status"])
        try:
            depth.add_metric([], self.queue.pending())
            for status, total in self.store.counts().items():
                inbox.add_metric([status], total)
        except Exception as exc:  # a scrape must not fail because a backend blinked
            logger.warning("metrics: backlog unavailable: %s", exc.__class__.__name__)
        yield depth
        yield inbox


@dataclass
class Service:
    """Everything the web app and the worker share for one program file."""

    program: Program
    store: "Store"
    queue: "DeliveryQueue"
    metrics: Metrics
    secret: str | None = field(repr=False)  # None: signatures are not checked (--insecure-no-verify)
    clock: Callable[[], datetime]
    dashboard_token: str | None = field(default=None, repr=False)  # None: the web dashboard is off

    @property
    def verifies(self) -> bool:
        return self.secret is not None

    def ready(self) -> list[str]:
        """Problems that make the service unable to take deliveries (empty: ready)."""
        from issuebot.queue import QueueUnavailable
        from issuebot.store import StoreUnavailable

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
    store: "Store | None" = None,
    huey: Any = None,
) -> Service:
    """Build the service for `program`, checking the secret, database and queue before anything runs."""
    from issuebot.queue import DeliveryQueue, QueueUnavailable, make_huey
    from issuebot.store import Store, StoreUnavailable

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
        huey if huey is not None else make_huey(program), store, program,
        handler=handler, provider_factory=provider_factory, clock=clock, metrics=metrics,
    )
    try:
        queue.ping()
    except QueueUnavailable as exc:
        raise ServiceError(f"cannot reach the queue: {exc}") from None
    metrics.watch(store, queue)
    return Service(program=program, store=store, queue=queue, metrics=metrics, secret=value, clock=clock or _utcnow,
                   dashboard_token=secret(program.service.dashboard_token_env))


def serve(
    service: Service,
    *,
    host: str,
    port: int,
    with_worker: bool,
    threads: int = 16,
    workers: int = 2,
    announce: Callable[[str], None] = print,
) -> None:
    """Run the web app under waitress, and the queue consumer in this process unless told not to."""
    from waitress.server import create_server

    from issuebot.app import create_app

    app = create_app(service)
    try:
        server = create_server(app, host=host, port=port, threads=threads, ident="issuebot",
                               connection_limit=max(100, threads * 8), channel_timeout=30)
    except OSError as exc:
        raise ServiceError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    consumer = None
    if with_worker:
        consumer = service.queue.consumer(workers=workers, periodic=True)
        saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        consumer.start()
        # The consumer installs handlers meant for its own main loop; here waitress owns the main
        # thread, so restore ours and stop the consumer ourselves.
        for sig, handler in saved.items():
            signal.signal(sig, handler)

    def stop(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    announce(f"issuebot: listening on http://{host}:{server.effective_port}"
             + (f" with {workers} worker threads" if with_worker else " (no worker)"))
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        if consumer is not None:
            consumer.stop(graceful=True)
        service.close()


def run_worker(service: Service, *, workers: int = 2, periodic: bool = True,
               announce: Callable[[str], None] = print) -> None:
    """Run the queue consumer in the foreground (SIGINT stops it after the running tasks)."""
    consumer = service.queue.consumer(workers=workers, periodic=periodic)
    announce(f"issuebot: worker running with {workers} threads")
    try:
        consumer.run()
    finally:
        service.close()
