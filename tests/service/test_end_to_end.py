"""Delivery to labels on the embedded tracker with the real event handling: one effect per comment."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from issuebot.app import create_app
from issuebot.models import Event, EventKind
from issuebot.providers import make_provider
from issuebot.providers.local_hooks import event_payload
from issuebot.queue import SKIPPED
from issuebot.reconcile import reconcile_program
from issuebot.service import Service, open_service
from issuebot.store import DONE
from issuebot.templates import Templates
from tests.service.helpers import SECRET, SECRET_ENV, local_headers


@pytest.fixture
def live(program: Any, clock: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Service, Any]]:
    """A synced program on the embedded tracker and a service whose worker runs the real handler."""
    monkeypatch.setenv(SECRET_ENV, SECRET)
    tracker = make_provider(program, clock)
    reconcile_program(tracker, program, Templates(program.templates_dir()), trigger="sync", now=clock())
    service = open_service(program, provider_factory=lambda p: make_provider(p, clock), clock=clock)
    yield service, tracker
    service.close()


def run_queued(service: Service) -> list[Any]:
    results = []
    while service.queue.pending():
        results.append(service.queue.huey.execute(service.queue.huey.dequeue()))
    return results


def test_a_session_comment_delivered_ten_times_labels_once_and_acknowledges_once(
        live: tuple[Service, Any], program: Any, clock: Any) -> None:
    service, tracker = live
    pair = program.pairs[0]
    project = tracker.project_path(program.project_name(pair))
    session_label, held = program.label("kind::session"), program.label("session::held")
    [session] = tracker.list_issues(project, labels=[session_label])
    clock.advance(days=2)
    comment = tracker.as_user(pair.mentee.username).create_comment(project, session.number, "/session 45m")
    event = Event(kind=EventKind.COMMENT_CREATED, provider="local", project=project, issue_number=session.number,
                  actor=pair.mentee.username, comment_id=comment.id, comment_body=comment.body, at=comment.created_at)
    body = json.dumps(event_payload(event)).encode()
    client = create_app(service).test_client()
    codes = [client.post("/hooks/local", data=body, headers=local_headers(body, delivery=f"d-{n}")).status_code
             for n in range(10)]  # ten distinct deliveries of the same comment
    codes += [client.post("/hooks/local", data=body, headers=local_headers(body, delivery="d-0")).status_code]
    assert codes == [202] * 10 + [200]
    # The first task takes the nine waiting copies along; their own tasks find nothing left to do.
    assert run_queued(service) == [DONE] + [SKIPPED] * 9
    assert service.store.counts()[DONE] == 10

    assert held in tracker.get_issue(project, session.number).labels
    bot_replies = [c for c in tracker.list_comments(project, session.number) if c.author == tracker.bot_username]
    assert len(bot_replies) == 1
    writes = [row["writes"] for row in service.store.audit_rows()]
    assert writes[0] > 0 and writes[1:] == [0] * 9  # run twice (ten times): later ones write nothing
    open_sessions = [i for i in tracker.list_issues(project, labels=[session_label]) if held not in i.labels]
    assert len(open_sessions) == 1 and open_sessions[0].number != session.number
