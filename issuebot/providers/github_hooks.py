"""GitHub webhook deliveries: X-Hub-Signature-256 check, delivery id, and issues/issue_comment -> Event."""

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
    sha256_signature_ok,
    text,
)

name = "github"

# https://docs.github.com/en/webhooks/webhook-events-and-payloads#delivery-headers
EVENT_HEADER = "X-GitHub-Event"
DELIVERY_HEADER = "X-GitHub-Delivery"
SIGNATURE_HEADER = "X-Hub-Signature-256"
_KEPT = (EVENT_HEADER, DELIVERY_HEADER, "X-GitHub-Hook-ID", "Content-Type")

_ISSUE_ACTIONS = {
    "opened": EventKind.ISSUE_OPENED,
    "closed": EventKind.ISSUE_CLOSED,
    "reopened": EventKind.ISSUE_REOPENED,
    "labeled": EventKind.ISSUE_LABELED,
    "unlabeled": EventKind.ISSUE_UNLABELED,
    "edited": EventKind.ISSUE_EDITED,
}
_COMMENT_ACTIONS = {"created": EventKind.COMMENT_CREATED, "edited": EventKind.COMMENT_EDITED}
_EVENTS = frozenset({"issues", "issue_comment"})


def verify(headers: Mapping[str, str], body: bytes, secret: str) -> bool:
    """Only the SHA-256 signature counts; the legacy SHA-1 `X-Hub-Signature` alone is rejected.

    https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
    """
    return sha256_signature_ok(header(headers, SIGNATURE_HEADER), body, secret)


def delivery_id(headers: Mapping[str, str]) -> str | None:
    return header(headers, DELIVERY_HEADER) or None


def event_name(headers: Mapping[str, str]) -> str:
    return header(headers, EVENT_HEADER) or ""


def is_ping(headers: Mapping[str, str]) -> bool:
    return event_name(headers) == "ping"


def acts_on(headers: Mapping[str, str]) -> bool:
    """Only issue and issue-comment events can concern a pair; the rest is answered unread."""
    return event_name(headers) in _EVENTS


def decode(headers: Mapping[str, str], body: bytes) -> Any:
    """JSON, or the `payload` field of a form-encoded delivery (a hook option GitHub offers).

    https://docs.github.com/en/webhooks/using-webhooks/creating-webhooks#content-type
    """
    return decode_body(headers, body, form_field="payload")


def event_from(headers: Mapping[str, str], payload: Any) -> Event | None:
    event = event_name(headers)
    action = text(dig(payload, "action")) or ""
    issue = dig(payload, "issue")
    if not isinstance(issue, dict):
        return None
    if event == "issues":
        kind = _ISSUE_ACTIONS.get(action)
        comment: dict[str, Any] = {}
    elif event == "issue_comment":
        kind = _COMMENT_ACTIONS.get(action)
        comment = dig(payload, "comment") or {}
        # Comments on pull requests arrive as issue_comment too; pair issues are never PRs.
        # https://docs.github.com/en/webhooks/webhook-events-and-payloads#issue_comment
        if issue.get("pull_request") is not None or not isinstance(comment, dict):
            return None
    else:
        return None
    project = project_path(dig(payload, "repository", "full_name"))
    issue_number = number(issue.get("number"))
    actor = text(dig(payload, "sender", "login")) or text(dig(issue, "user", "login"))
    if kind is None or project is None or issue_number is None or actor is None:
        return None
    at = moment(comment.get("updated_at") or comment.get("created_at")) if comment else moment(issue.get("updated_at"))
    return Event(
        kind=kind,
        provider=name,
        project=project,
        issue_number=issue_number,
        actor=actor,
        comment_id=number(comment.get("id")) if comment else None,
        comment_body=(comment.get("body") or "") if comment and isinstance(comment.get("body"), str) else "",
        at=at,
        delivery_id=delivery_id(headers) or "",
    )


parse = make_parse(decode, event_from)
stored_headers = make_stored_headers(_KEPT)
