"""Builders the service tests share: signed requests, corpus files, a recording event handler."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from issuebot.models import Event
from issuebot.providers.base import Meter

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"  # ../shared/corpus beside the repo
SECRET = "s3cret-for-tests-only"
SECRET_ENV = "ISSUEBOT_TEST_WEBHOOK_SECRET"


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def github_headers(event: str, body: bytes, *, secret: str = SECRET, delivery: str | None = None) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/test",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(body, secret),
    }


def gitlab_headers(event: str, *, token: str = SECRET, key: str | None = None) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "GitLab/17.1.0-pre",
        "X-Gitlab-Event": event,
        "X-Gitlab-Token": token,
        "Idempotency-Key": key or str(uuid.uuid4()),
        "X-Gitlab-Event-UUID": str(uuid.uuid4()),
        "X-Gitlab-Webhook-UUID": str(uuid.uuid4()),
        "X-Gitlab-Instance": "https://gitlab.example.com",
    }


def local_headers(body: bytes, *, secret: str = SECRET, delivery: str | None = None) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Issuebot-Event": "event",
        "X-Issuebot-Delivery": delivery or str(uuid.uuid4()),
        "X-Issuebot-Signature-256": sign(body, secret),
    }


def github_files(folder: str = "webhooks") -> list[Path]:
    return sorted((CORPUS / "github" / folder).glob("*.json"))


def gitlab_files() -> list[tuple[Path, str]]:
    index = json.loads((CORPUS / "gitlab" / "index.json").read_text())
    return [(CORPUS / "gitlab" / entry["file"], entry["x_gitlab_event"]) for entry in index["files"]]


def comment_body(project: str = "octo/mentoring-bob-alice", number: int = 3, text: str = "/session 45m",
                 comment_id: int = 77, login: str = "bob") -> bytes:
    """A compact issue_comment.created payload, as GitHub sends it."""
    payload = {
        "action": "created",
        "issue": {"number": number, "title": "Session 1", "state": "open", "user": {"login": "issuebot"}},
        "comment": {"id": comment_id, "body": text, "user": {"login": login},
                    "created_at": "2027-01-12T10:00:00Z", "updated_at": "2027-01-12T10:00:00Z"},
        "repository": {"full_name": project, "private": True},
        "sender": {"login": login},
    }
    return json.dumps(payload, separators=(",", ":")).encode()


@dataclass
class Outcome:
    pair: str | None
    ignored: str | None = None
    writes: int = 0


@dataclass
class StandInProvider:
    """Just what the worker reads of a provider: its kind and its meter."""

    kind: str = "github"
    meter: Meter = field(default_factory=Meter)


class RecordingHandler:
    """An injected handle_event: records each event; `fail_with` raises instead, `times` times."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.fail_with: list[BaseException] = []
        self.ignore: str | None = None

    def __call__(self, program: Any, provider: Any, templates: Any, event: Event, *, now: Any) -> Outcome:
        if self.fail_with:
            raise self.fail_with.pop(0)
        self.events.append(event)
        provider.meter.read("get_issue")
        return Outcome(pair="bob-alice", ignored=self.ignore, writes=0 if self.ignore else 1)
