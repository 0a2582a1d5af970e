"""GitLab webhook deliveries: X-Gitlab-Token check, Idempotency-Key, and Issue/Note Hook -> Event."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from issuebot.models import Event, EventKind
from issuebot.providers._webhook import (
    decode_body,
    dig,
    header,
    make_parse,
    make_stored_headers,
    moment,
    number,
    project_path,
    text,
    token_ok,
)

name = "gitlab"

# https://docs.gitlab.com/user/project/integrations/webhooks/#delivery-headers
EVENT_HEADER = "X-Gitlab-Event"
TOKEN_HEADER = "X-Gitlab-Token"
# Idempotency-Key (GitLab 17.4+) stays the same across retries and "Resend Request";
# X-Gitlab-Event-UUID (14.8+) is the older per-event id. X-Gitlab-Webhook-UUID is new on every
# request, so it cannot de-duplicate anything and is not used.
DELIVERY_HEADERS = ("Idempotency-Key", "X-Gitlab-Event-UUID")
_KEPT = (EVENT_HEADER, *DELIVERY_HEADERS, "X-Gitlab-Webhook-UUID", "X-Gitlab-Instance", "Content-Type")

# X-Gitlab-Event is hook_name.singularize.titleize, so confidential issues and notes arrive as
# "Confidential Issue Hook" / "Confidential Note Hook" with the same payload shapes.
# https://docs.gitlab.com/user/project/integrations/webhook_events/
ISSUE_EVENTS = frozenset({"Issue Hook", "Confidential Issue Hook"})
NOTE_EVENTS = frozenset({"Note Hook", "Confidential Note Hook"})

_ISSUE_ACTIONS = {
    "open": EventKind.ISSUE_OPENED,
    "close": EventKind.ISSUE_CLOSED,
    "reopen": EventKind.ISSUE_REOPENED,
}
# Note `action` exists since GitLab 16.11; older notes are always creations.
_NOTE_ACTIONS = {None: EventKind.COMMENT_CREATED, "create": EventKind.COMMENT_CREATED, "update": EventKind.COMMENT_EDITED}


def verify(headers: Mapping[str, str], body: bytes, secret: str) -> bool:
    """GitLab sends the configured secret verbatim (no HMAC); compare it in constant time."""
    return token_ok(header(headers, TOKEN_HEADER), secret)


def delivery_id(headers: Mapping[str, str]) -> str | None:
    for name_ in DELIVERY_HEADERS:
        value = header(headers, name_)
        if value:
            return value
    return None


def event_name(headers: Mapping[str, str]) -> str:
    return header(headers, EVENT_HEADER) or ""


def is_ping(headers: Mapping[str, str]) -> bool:
    """GitLab's "Test" button sends a real sample event, never a dedicated ping."""
    return False


def acts_on(headers: Mapping[str, str]) -> bool:
    """Only issue and note events can concern a pair; pushes, pipelines and the rest are answered unread."""
    return event_name(headers) in ISSUE_EVENTS | NOTE_EVENTS


def decode(headers: Mapping[str, str], body: bytes) -> Any:
    """GitLab always sends JSON."""
    return decode_body(headers, body)


def label_change(changes: Any) -> EventKind | None:
    """ISSUE_LABELED / ISSUE_UNLABELED from `changes.labels` {previous, current}, if labels moved."""
    labels = dig(changes, "labels")
    if not isinstance(labels, dict):
        return None

    def titles(side: Any) -> set[str]:
        if not isinstance(side, list):
            return set()
        return {item["title"] for item in side if isinstance(item, dict) and isinstance(item.get("title"), str)}

    before, after = titles(labels.get("previous")), titles(labels.get("current"))
    if after - before:
        return EventKind.ISSUE_LABELED
    if before - after:
        return EventKind.ISSUE_UNLABELED
    return None


def _issue_event(payload: dict[str, Any]) -> tuple[EventKind, int] | None:
    attributes = dig(payload, "object_attributes")
    if not isinstance(attributes, dict):
        return None
    kind_of_object = text(payload.get("object_kind"))
    # Work items other than issues (tasks, epics, incidents...) arrive as object_kind work_item.
    if kind_of_object == "work_item" and attributes.get("type") != "Issue":
        return None
    if kind_of_object not in ("issue", "work_item"):
        return None
    action = text(attributes.get("action"))
    kind = _ISSUE_ACTIONS.get(action) if action is not None else None
    if action == "update":
        kind = label_change(payload.get("changes")) or EventKind.ISSUE_EDITED
    number_ = number(attributes.get("iid"))
    if kind is None or number_ is None:
        return None
    return kind, number_


def event_from(headers: Mapping[str, str], payload: Any) -> Event | None:
    if not isinstance(payload, dict):
        return None
    event = event_name(headers)
    project = project_path(dig(payload, "project", "path_with_namespace"))
    actor = text(dig(payload, "user", "username"))
    if project is None or actor is None:
        return None
    if event in ISSUE_EVENTS:
        found = _issue_event(payload)
        if found is None:
            return None
        kind, issue_number = found
        return Event(
            kind=kind, provider=name, project=project, issue_number=issue_number, actor=actor,
            at=moment(dig(payload, "object_attributes", "updated_at")), delivery_id=delivery_id(headers) or "",
        )
    if event in NOTE_EVENTS:
        attributes = dig(payload, "object_attributes")
        if not isinstance(attributes, dict) or attributes.get("noteable_type") != "Issue":
            return None
        action = attributes.get("action")
        note_kind = _NOTE_ACTIONS.get(action) if action is None or isinstance(action, str) else None
        note_issue = number(dig(payload, "issue", "iid"))
        if note_kind is None or note_issue is None:
            return None
        note = attributes.get("note")
        return Event(
            kind=note_kind, provider=name, project=project, issue_number=note_issue, actor=actor,
            comment_id=number(attributes.get("id")), comment_body=note if isinstance(note, str) else "",
            at=moment(attributes.get("updated_at") or attributes.get("created_at")),
            delivery_id=delivery_id(headers) or "",
        )
    return None


parse = make_parse(decode, event_from)
stored_headers = make_stored_headers(_KEPT)
