"""POST /hooks/<provider>: verify, store in the inbox, enqueue, answer within milliseconds."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from typing import cast

import orjson
from flask import Blueprint, Response, current_app, jsonify, request

from issuebot.providers import WEBHOOK_PARSERS, webhook_parser
from issuebot.providers._webhook import UnsupportedBody
from issuebot.service import Service
from issuebot.store import StoreUnavailable

logger = logging.getLogger(__name__)

blueprint = Blueprint("webhooks", __name__)


def _answer(service: Service, provider: str, outcome: str, code: int, **extra: object) -> Response:
    service.metrics.deliveries.labels(provider=provider, outcome=outcome).inc()
    return Response(orjson.dumps({"status": outcome, **extra}), status=code, mimetype="application/json")


@blueprint.post("/hooks/<provider>")
def receive(provider: str) -> Response | tuple[Response, int]:
    """Answers: 202 accepted, 200 duplicate/ignored/ping, 401 bad signature (nothing stored),
    400 malformed, 413 too large. Events issuebot does not act on get 200, never 4xx: GitLab
    permanently disables a hook after repeated 4xx answers.
    https://docs.gitlab.com/user/project/integrations/webhooks/#auto-disabled-webhooks
    """
    if provider not in WEBHOOK_PARSERS:
        return jsonify(status="error", error=f"no webhook endpoint for {provider!r}; "
                       f"use one of {', '.join(sorted(WEBHOOK_PARSERS))}"), 404
    service: Service = current_app.extensions["issuebot"]
    parser = webhook_parser(provider)
    limit = service.program.service.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        return _answer(service, provider, "too_large", 413, error=f"body over {limit} bytes")
    body = request.get_data(cache=False)
    # Werkzeug's Headers answers a Mapping's reads (case-insensitively) without subclassing it.
    headers = cast(Mapping[str, str], request.headers)
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
    try:
        row_id = service.store.add_delivery(
            provider=provider, delivery_id=delivery_id[:200], event=event_name[:100],
            headers=parser.stored_headers(headers), body=body, project=event.project,
            now=service.clock(), lease_seconds=service.program.service.lease_seconds,
        )
    except StoreUnavailable as exc:
        logger.error("inbox unavailable: %s", exc)
        return _answer(service, provider, "unavailable", 503, error="inbox unavailable; retry later")
    if row_id is None:
        return _answer(service, provider, "duplicate", 200, delivery=delivery_id)
    try:
        service.queue.enqueue(row_id)
    except Exception as exc:  # the row is safe in the inbox; the lease sweeper enqueues it later
        logger.warning("delivery %s stored but not enqueued (%s); the sweeper will retry",
                       row_id, exc.__class__.__name__)
    logger.info("%s %s delivery %s accepted as inbox row %s", provider, event_name, delivery_id, row_id)
    return _answer(service, provider, "accepted", 202, delivery=delivery_id)
