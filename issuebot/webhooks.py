"""Receiving a delivery: verify, route and answer; the row to store for the inbox; the Flask endpoint."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import orjson
from flask import Blueprint, Response, current_app, request

from issuebot.providers import WEBHOOK_PARSERS, webhook_parser
from issuebot.providers._webhook import UnsupportedBody
from issuebot.service import Service
from issuebot.store import NewDelivery, StoreUnavailable

logger = logging.getLogger(__name__)

blueprint = Blueprint("webhooks", __name__)


@dataclass(frozen=True)
class Answer:
    """The HTTP answer to a delivery: status code and JSON body."""

    code: int
    payload: dict[str, Any] = field(default_factory=dict)

    def body(self) -> bytes:
        return orjson.dumps(self.payload)


def _answer(service: Service, provider: str, outcome: str, code: int, **extra: object) -> Answer:
    service.metrics.count_delivery(provider, outcome)
    return Answer(code, {"status": outcome, **extra})


def triage(service: Service, provider: str, headers: Mapping[str, str], body: bytes | None,
           content_length: int | None) -> Answer | NewDelivery:
    """What a delivery gets without touching the inbox (an answer), or the inbox row it becomes.

    Answers: 404 unknown endpoint, 401 bad signature (nothing stored), 413 too large, 415/400 a body
    issuebot cannot read, 200 ping or ignored. Events issuebot does not act on get 200, never 4xx:
    GitLab permanently disables a hook after repeated 4xx answers.
    https://docs.gitlab.com/user/project/integrations/webhooks/#auto-disabled-webhooks
    `body` None means it was over the size limit while being read.
    """
    if provider not in WEBHOOK_PARSERS:
        return Answer(404, {"status": "error", "error": f"no webhook endpoint for {provider!r}; "
                                                        f"use one of {', '.join(sorted(WEBHOOK_PARSERS))}"})
    parser = webhook_parser(provider)
    limit = service.program.service.max_body_bytes
    if body is None or (content_length is not None and content_length > limit):
        return _answer(service, provider, "too_large", 413, error=f"body over {limit} bytes")
    if service.verifies and not parser.verify(headers, body, service.secret or ""):
        logger.warning("%s delivery refused: missing or invalid signature", provider)
        return _answer(service, provider, "unauthorized", 401, error="missing or invalid signature")
    event_name = parser.event_name(headers)
    if parser.is_ping(headers):
        return _answer(service, provider, "ping", 200)
    if not parser.acts_on(headers):  # pushes, pipelines...: answered without reading the body
        return _answer(service, provider, "ignored", 200, event=event_name[:100])
    try:
        payload = parser.decode(headers, body)
    except UnsupportedBody as exc:
        return _answer(service, provider, "unsupported", 415, error=str(exc))
    except ValueError as exc:
        return _answer(service, provider, "malformed", 400, error=str(exc))
    event = parser.event_from(headers, payload)
    if event is None:
        logger.debug("%s %r delivery ignored: nothing issuebot acts on", provider, event_name)
        return _answer(service, provider, "ignored", 200, event=event_name[:100])
    # A delivery without an id is identified by its bytes: the same body twice is one delivery.
    delivery_id = parser.delivery_id(headers) or "sha256:" + hashlib.sha256(body).hexdigest()
    return NewDelivery(provider=provider, delivery_id=delivery_id[:200], event=event_name[:100],
                       headers=parser.stored_headers(headers), body=body, project=event.project)


def stored(service: Service, delivery: NewDelivery, row_id: int | StoreUnavailable | None) -> Answer:
    """The answer once the inbox took the delivery (a new row id), had it already (None), or failed."""
    if isinstance(row_id, StoreUnavailable):
        logger.error("inbox unavailable: %s", row_id)
        return _answer(service, delivery.provider, "unavailable", 503, error="inbox unavailable; retry later")
    if row_id is None:
        return _answer(service, delivery.provider, "duplicate", 200, delivery=delivery.delivery_id)
    logger.info("%s %s delivery %s accepted as inbox row %s", delivery.provider, delivery.event,
                delivery.delivery_id, row_id)
    return _answer(service, delivery.provider, "accepted", 202, delivery=delivery.delivery_id)


def hand_to_queue(service: Service, rows: list[tuple[int, str]], *, again: bool = False) -> list[tuple[int, str]]:
    """Wake the worker for newly stored rows, each (row id, project); the rows the queue did not take
    (it is down), which are safe in the inbox: handed over again later, or by the lease sweeper.
    `again`: a retry, logged quietly."""
    if service.queue.queued_with_inbox:  # the inbox wrote their tasks in the transaction that stored them
        return []
    try:
        service.queue.enqueue_many([row for row, _ in rows], [project for _, project in rows])
    except Exception as exc:  # redis.ConnectionError, sqlite3.Error...: the backend's own
        logger.log(logging.DEBUG if again else logging.WARNING, "%d deliveries stored but not queued yet (%s)",
                   len(rows), exc.__class__.__name__)
        return rows
    return []


@blueprint.post("/hooks/<provider>")
def receive(provider: str) -> Response:
    """The Flask endpoint (tests and WSGI servers); `issuebot serve` answers /hooks on the event loop."""
    service: Service = current_app.extensions["issuebot"]
    limit = service.program.service.max_body_bytes
    too_large = request.content_length is not None and request.content_length > limit
    body = None if too_large else request.get_data(cache=False)
    # Werkzeug's Headers answers a Mapping's reads (case-insensitively) without subclassing it.
    verdict = triage(service, provider, cast(Mapping[str, str], request.headers), body, request.content_length)
    if isinstance(verdict, NewDelivery):
        try:
            row_id: int | StoreUnavailable | None = service.store.add_delivery(
                verdict, now=service.clock(), lease_seconds=service.program.service.lease_seconds)
        except StoreUnavailable as exc:
            row_id = exc
        verdict_answer = stored(service, verdict, row_id)
        if isinstance(row_id, int):
            hand_to_queue(service, [(row_id, verdict.project)])
    else:
        verdict_answer = verdict
    return Response(verdict_answer.body(), status=verdict_answer.code, mimetype="application/json")
