"""Deliveries of the embedded tracker's events over HTTP: HMAC-signed JSON `Event` fields."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from issuebot.models import Event, EventKind
from issuebot.providers._webhook import (
    decode_body,
    header,
    make_parse,
    make_stored_headers,
    moment,
    number,
    project_path,
    sha256_signature_ok,
    text,
)

name = "local"

# The embedded tracker signs like GitHub does, under its own header names.
EVENT_HEADER = "X-Issuebot-Event"
DELIVERY_HEADER = "X-Issuebot-Delivery"
SIGNATURE_HEADER = "X-Issuebot-Signature-256"
_KEPT = (EVENT_HEADER, DELIVERY_HEADER, "Content-Type")


def verify(headers: Mapping[str, str], body: bytes, secret: str) -> bool:
    return sha256_signature_ok(header(headers, SIGNATURE_HEADER), body, secret)


def delivery_id(headers: Mapping[str, str]) -> str | None:
    return header(headers, DELIVERY_HEADER) or None


def event_name(headers: Mapping[str, str]) -> str:
    return header(headers, EVENT_HEADER) or "event"


def is_ping(headers: Mapping[str, str]) -> bool:
    return event_name(headers) == "ping"


def acts_on(headers: Mapping[str, str]) -> bool:
    """Every event the embedded tracker sends may concern a pair."""
    return True


def decode(headers: Mapping[str, str], body: bytes) -> Any:
    return decode_body(headers, body)


def event_from(headers: Mapping[str, str], payload: Any) -> Event | None:
    """The same JSON shape LocalProvider.parse_webhook reads: Event fields by name."""
    if not isinstance(payload, dict):
        return None
    try:
        kind = EventKind(text(payload.get("kind")))
    except ValueError:
        return None
    project, issue_number = project_path(payload.get("project")), number(payload.get("issue_number"))
    actor = text(payload.get("actor"))
    if project is None or issue_number is None or actor is None:
        return None
    body = payload.get("comment_body")
    return Event(
        kind=kind, provider=name, project=project, issue_number=issue_number, actor=actor,
        comment_id=number(payload.get("comment_id")), comment_body=body if isinstance(body, str) else "",
        at=moment(payload.get("at")), delivery_id=delivery_id(headers) or text(payload.get("delivery_id")) or "",
    )


parse = make_parse(decode, event_from)
stored_headers = make_stored_headers(_KEPT)


def event_payload(event: Event) -> dict[str, Any]:
    """The JSON body that delivers `event` to POST /hooks/local."""
    return {
        "kind": event.kind.value, "project": event.project, "issue_number": event.issue_number,
        "actor": event.actor, "comment_id": event.comment_id, "comment_body": event.comment_body,
        "at": event.at.isoformat() if event.at else None,
    }
