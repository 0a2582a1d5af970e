"""Prometheus metrics of one service: deliveries, processing, forge calls per delivery, backlog gauges."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

logger = logging.getLogger(__name__)

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
_CALL_BUCKETS = (0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 100)


class Metrics:
    """Prometheus metrics of one service, in their own registry (no global state)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.deliveries = Counter(
            "issuebot_webhook_deliveries", "Webhook deliveries received, by provider and outcome",
            ["provider", "outcome"], registry=self.registry,
        )
        self._delivery_counters: dict[tuple[str, str], Any] = {}
        self.processed = Counter(
            "issuebot_deliveries_processed", "Inbox deliveries the worker finished, by outcome",
            ["outcome"], registry=self.registry,
        )
        self.handling_seconds = Histogram(
            "issuebot_event_handling_seconds", "Time spent handling one batch of a pair's events "
            "(quick commands + reconcile)", buckets=_LATENCY_BUCKETS, registry=self.registry,
        )
        self.delivery_seconds = Histogram(
            "issuebot_delivery_processing_seconds", "Time from receiving a delivery to finishing it",
            buckets=_LATENCY_BUCKETS, registry=self.registry,
        )
        self.forge_calls = Counter(
            "issuebot_forge_api_calls", "Forge API calls made by the worker, by provider and status",
            ["provider", "status"], registry=self.registry,
        )
        self.forge_calls_per_delivery = Histogram(
            "issuebot_forge_api_calls_per_delivery", "Forge API calls spent per finished delivery (a batch's "
            "calls shared among its deliveries)", ["provider"], buckets=_CALL_BUCKETS, registry=self.registry,
        )

    def count_delivery(self, provider: str, outcome: str) -> None:
        """One delivery received and answered with `outcome` (its labelled counter found once, then kept)."""
        counter = self._delivery_counters.get((provider, outcome))
        if counter is None:
            counter = self._delivery_counters[(provider, outcome)] = self.deliveries.labels(provider=provider,
                                                                                            outcome=outcome)
        counter.inc()

    def count_forge_calls(self, provider: str, status: str, calls: int, deliveries: int) -> None:
        """Record `calls` forge calls made for `deliveries` deliveries handled together."""
        if calls or status != "ok":
            self.forge_calls.labels(provider=provider, status=status).inc(max(calls, 1 if status != "ok" else 0))
        share = calls / max(deliveries, 1)
        for _ in range(deliveries):
            self.forge_calls_per_delivery.labels(provider=provider).observe(share)

    def watch(self, queue_depth: Callable[[], int], inbox_counts: Callable[[], dict[str, int]]) -> None:
        """Queue depth and inbox rows by status, read at scrape time."""
        self.registry.register(_BacklogCollector(queue_depth, inbox_counts))


class _BacklogCollector:
    def __init__(self, queue_depth: Callable[[], int], inbox_counts: Callable[[], dict[str, int]]):
        self.queue_depth, self.inbox_counts = queue_depth, inbox_counts

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        depth = GaugeMetricFamily("issuebot_queue_depth", "Tasks waiting in the queue")
        inbox = GaugeMetricFamily("issuebot_inbox_deliveries", "Inbox rows by status", labels=["status"])
        try:
            depth.add_metric([], self.queue_depth())
        except Exception as exc:  # a scrape must not fail because a backend blinked
            logger.warning("metrics: queue depth unavailable: %s", exc.__class__.__name__)
        try:
            for status, total in self.inbox_counts().items():
                inbox.add_metric([status], total)
        except Exception as exc:
            logger.warning("metrics: inbox counts unavailable: %s", exc.__class__.__name__)
        yield depth
        yield inbox
