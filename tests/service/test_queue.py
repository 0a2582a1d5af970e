"""The worker side on SQLite and Redis queues: claim, handle, retry with backoff, serialise, sweep."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from huey.exceptions import RetryTask

from issuebot.app import create_app
from issuebot.models import EventKind
from issuebot.providers.base import NotFound, ProviderUnavailable, RateLimited
from issuebot.queue import BACKOFF_BASE_SECONDS, HANDED_OVER, MAX_ATTEMPTS, SKIPPED
from issuebot.service import Service, open_service
from issuebot.store import DONE, FAILED, IGNORED, PROCESSING, QUEUED, NewDelivery
from issuebot.webhooks import hand_to_queue
from tests.service.helpers import SECRET, SECRET_ENV, comment_body, github_headers, local_headers


@pytest.fixture
def service(program: Any, handler: Any, provider: Any, clock: Any, huey: Any,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[Service]:
    """The service on each queue backend (SQLite file, Redis)."""
    monkeypatch.setenv(SECRET_ENV, SECRET)
    made = open_service(program, handler=handler, provider_factory=lambda _program: provider, clock=clock, huey=huey)
    yield made
    made.close()


def deliver(client: Any, body: bytes | None = None, delivery: str | None = None) -> int:
    body = body or comment_body()
    response = client.post("/hooks/github", data=body, headers=github_headers("issue_comment", body, delivery=delivery))
    assert response.status_code == 202
    return response.status_code


def run_queued(service: Service) -> list[Any]:
    """Execute every task waiting in the queue, as a consumer would (without its threads)."""
    results = []
    while service.queue.pending():  # checked first: Redis' dequeue would block on an empty queue
        results.append(service.queue.huey.execute(service.queue.huey.dequeue()))
    return results


def test_a_delivery_is_handled_once_and_marked_done(client: Any, service: Service, handler: Any) -> None:
    deliver(client)
    assert run_queued(service) == [DONE]
    [event] = handler.events
    assert event.kind is EventKind.COMMENT_CREATED and event.project == "octo/mentoring-bob-alice"
    assert event.comment_body == "/session 45m" and event.actor == "bob"
    row = service.store.get(1)
    assert row.status == DONE and row.attempts == 1 and row.done_at is not None
    assert service.store.audit_rows(1)[0]["writes"] == 1
    # A stray second task for the same row finds it finished and does nothing.
    service.queue.enqueue(1)
    assert run_queued(service) == [SKIPPED] and len(handler.events) == 1
    metrics = create_app(service).test_client().get("/metrics").get_data(as_text=True)
    assert 'issuebot_deliveries_processed_total{outcome="done"} 1.0' in metrics
    assert 'issuebot_forge_api_calls_total{provider="github",status="ok"} 1.0' in metrics
    assert "issuebot_delivery_processing_seconds_count 1.0" in metrics


def test_ten_identical_deliveries_have_one_effect(client: Any, service: Service, handler: Any) -> None:
    body = comment_body()
    for _ in range(10):
        client.post("/hooks/github", data=body, headers=github_headers("issue_comment", body, delivery="same"))
    assert run_queued(service) == [DONE] and len(handler.events) == 1


def test_rate_limits_retry_after_the_forges_retry_after(service: Service, client: Any, handler: Any, clock: Any) -> None:
    deliver(client)
    handler.fail_with = [RateLimited("secondary rate limit", retry_after=42)]
    with pytest.raises(RetryTask) as raised:
        service.queue.process(1)
    assert raised.value.delay == 42
    row = service.store.get(1)
    assert row.status == QUEUED and row.attempts == 1 and "RateLimited" in row.error
    assert row.lease_until == clock() + timedelta(seconds=42 + service.queue.lease_seconds)
    assert service.queue.process(1) == DONE and len(handler.events) == 1


def test_unavailable_forge_backs_off_and_finally_gives_up(service: Service, client: Any, handler: Any) -> None:
    deliver(client)
    delays = []
    handler.fail_with = [ProviderUnavailable("502 Bad Gateway") for _ in range(MAX_ATTEMPTS)]
    for _ in range(MAX_ATTEMPTS - 1):
        with pytest.raises(RetryTask) as raised:
            service.queue.process(1)
        delays.append(raised.value.delay)
    assert delays[:3] == [BACKOFF_BASE_SECONDS, 2 * BACKOFF_BASE_SECONDS, 4 * BACKOFF_BASE_SECONDS]
    assert service.queue.process(1) == FAILED
    row = service.store.get(1)
    assert row.status == FAILED and row.attempts == MAX_ATTEMPTS and "gave up" in row.error


def test_retry_goes_through_huey_schedule(service: Service, client: Any, handler: Any) -> None:
    deliver(client)
    handler.fail_with = [RateLimited("slow down", retry_after=30)]
    run_queued(service)
    assert service.queue.huey.scheduled_count() == 1 and service.store.get(1).status == QUEUED


def test_other_forge_errors_fail_the_delivery_without_retry(service: Service, client: Any, handler: Any) -> None:
    deliver(client)
    handler.fail_with = [NotFound("issue 3 not found")]
    assert service.queue.process(1) == FAILED
    assert service.store.get(1).error == "NotFound: issue 3 not found"
    deliver(client)
    handler.fail_with = [KeyError("bug")]
    assert service.queue.process(2) == FAILED and service.store.get(2).error.startswith("KeyError")


def test_work_on_one_pair_is_serialised(service: Service, client: Any, handler: Any, clock: Any) -> None:
    deliver(client)
    assert service.store.lock_pair("octo/mentoring-bob-alice", "delivery-99", clock(), 60)
    assert service.queue.process(1) == HANDED_OVER  # no retry delay: the holder takes it along
    row = service.store.get(1)
    assert row.status == QUEUED and row.attempts == 0 and handler.events == []
    service.store.unlock_pair("octo/mentoring-bob-alice", "delivery-99")
    assert service.queue.process(1) == DONE


def test_deliveries_waiting_for_a_pair_are_handled_by_the_worker_holding_it(
        service: Service, client: Any, handler: Any) -> None:
    deliver(client)
    handed: list[str] = []
    record = service.queue.handler

    def first_handler(program: Any, provider: Any, templates: Any, event: Any, *, now: Any) -> Any:
        if not handed:  # while the pair is held, a second delivery for it arrives at another worker
            deliver(client, comment_body(comment_id=78))
            handed.append(service.queue.process(2))
        return record(program, provider, templates, event, now=now)

    service.queue.handler = first_handler
    assert service.queue.process(1) == DONE
    assert handed == [HANDED_OVER]
    assert [e.comment_id for e in handler.events] == [77, 78]
    assert service.store.get(2).status == DONE and service.store.get(2).attempts == 1
    assert run_queued(service) == [SKIPPED, SKIPPED]  # both deliveries' own tasks: nothing left


def test_a_burst_for_one_pair_is_taken_by_its_first_task(service: Service, client: Any, handler: Any) -> None:
    for n in range(5):
        deliver(client, comment_body(comment_id=100 + n))
    deliver(client, comment_body(project="octo/mentoring-erin-dave", comment_id=200))
    assert run_queued(service) == [DONE, SKIPPED, SKIPPED, SKIPPED, SKIPPED, DONE]
    assert [e.comment_id for e in handler.events] == [100, 101, 102, 103, 104, 200]
    metrics = create_app(service).test_client().get("/metrics").get_data(as_text=True)
    assert 'issuebot_forge_api_calls_per_delivery_count{provider="github"} 6.0' in metrics


def test_a_burst_stored_together_is_one_task_per_pair_and_one_look_up(service: Service, handler: Any,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # As `serve` stores concurrent deliveries: one commit, one task per pair. The pair's first row takes
    # the others along, and the task does not look each of those up again to find it finished.
    projects = ["octo/mentoring-bob-alice"] * 5 + ["octo/mentoring-erin-dave"]
    burst = [NewDelivery(provider="github", delivery_id=f"burst-{n}", event="issue_comment",
                         headers=github_headers("issue_comment", b"{}"),
                         body=comment_body(project=project, comment_id=300 + n), project=project)
             for n, project in enumerate(projects)]
    rows = service.store.add_deliveries(burst, now=service.clock(), lease_seconds=60)
    assert not hand_to_queue(service, [(row, project) for row, project in zip(rows, projects) if row is not None])
    looked_up: list[int] = []
    claim = service.store.claim
    monkeypatch.setattr(service.store, "claim", lambda row, *args: looked_up.append(row) or claim(row, *args))
    assert sorted(map(str, run_queued(service))) == sorted(map(str, [[DONE] + [SKIPPED] * 4, DONE]))
    assert sorted(e.comment_id for e in handler.events) == list(range(300, 306))
    assert sorted(looked_up) == [rows[0], rows[5]]
    assert service.store.counts()[DONE] == 6


def test_ignored_outcomes(service: Service, client: Any, handler: Any, provider: Any) -> None:
    handler.ignore = "not a pair project of this program"
    deliver(client)
    assert service.queue.process(1) == IGNORED
    assert service.store.get(1).error == "not a pair project of this program"
    body = json.dumps({"kind": "comment_created", "project": "mentoring/x", "issue_number": 1, "actor": "bob"}).encode()
    assert client.post("/hooks/local", data=body, headers=local_headers(body)).status_code == 202
    assert service.queue.process(2) == IGNORED
    assert "program runs on github" in service.store.get(2).error


def test_sweeper_reenqueues_expired_leases_and_prunes(service: Service, client: Any, handler: Any, clock: Any) -> None:
    deliver(client)
    run_queued_before = service.queue.huey.dequeue()  # a worker took the task...
    assert service.store.claim(1, clock(), service.queue.lease_seconds) is not None  # ...and died mid-way
    assert run_queued_before is not None and service.queue.pending() == 0
    assert service.queue.requeue_expired() == []
    clock.advance(seconds=service.queue.lease_seconds + 1)
    assert service.queue.requeue_expired() == [1] and service.queue.pending() == 1
    assert run_queued(service) == [DONE] and len(handler.events) == 1
    assert service.store.get(1).attempts == 2
    clock.advance(days=13)
    assert service.queue.prune() == 0
    clock.advance(days=2)
    assert service.queue.prune() == 1 and service.store.get(1) is None


def test_a_delivery_stored_while_the_queue_was_down_is_enqueued_by_the_sweeper(
        service: Service, client: Any, handler: Any, clock: Any) -> None:
    queue = service.queue
    if queue.queued_with_inbox:
        pytest.skip("the queue in the inbox's file is written in the delivery's own transaction: never down alone")

    def broken(row_ids: list[int], projects: list[str] | None = None) -> None:
        raise ConnectionError("queue down")

    queue.enqueue_many = broken  # type: ignore[method-assign]
    deliver(client)
    assert service.store.get(1).status == QUEUED
    del queue.enqueue_many
    assert queue.pending() == 0
    clock.advance(seconds=queue.lease_seconds + 1)
    assert queue.requeue_expired() == [1]
    assert run_queued(service) == [DONE]


def test_processing_status_is_visible_while_a_handler_runs(service: Service, client: Any, handler: Any) -> None:
    seen = []

    def watching(program: Any, provider: Any, templates: Any, event: Any, *, now: Any) -> Any:
        seen.append(service.store.get(1).status)
        return handler(program, provider, templates, event, now=now)

    service.queue.handler = watching
    deliver(client)
    run_queued(service)
    assert seen == [PROCESSING]


def test_a_tracker_that_refuses_the_token_fails_the_delivery(
        program: Any, handler: Any, clock: Any, huey: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from issuebot.providers.base import AuthenticationFailed

    def refused(_program: Any) -> Any:
        raise AuthenticationFailed("401 Bad credentials")

    monkeypatch.setenv(SECRET_ENV, SECRET)
    service = open_service(program, handler=handler, provider_factory=refused, clock=clock, huey=huey)
    deliver(create_app(service).test_client())
    assert service.queue.process(1) == FAILED and handler.events == []
    assert service.store.get(1).error == "cannot reach the tracker: 401 Bad credentials"
    service.close()


def test_the_lease_is_renewed_while_a_slow_handler_runs(service: Service, client: Any, handler: Any, clock: Any) -> None:
    import threading

    renewed = threading.Event()
    extend = service.store.extend_lease

    def extend_and_tell(*args: Any) -> bool:
        result = extend(*args)
        renewed.set()
        return result

    service.store.extend_lease = extend_and_tell  # type: ignore[method-assign]
    service.queue.renew_every = 0.001
    leases = []

    def slow(program: Any, provider: Any, templates: Any, event: Any, *, now: Any) -> Any:
        leases.append(service.store.get(1).lease_until)
        clock.advance(seconds=service.queue.lease_seconds)  # the handler outlives its first lease...
        while service.store.get(1).lease_until <= leases[0]:  # renewals keep coming every millisecond
            renewed.clear()
            assert renewed.wait(30), "the lease was never renewed"
        leases.append(service.store.get(1).lease_until)
        return handler(program, provider, templates, event, now=now)

    service.queue.handler = slow
    deliver(client)
    assert run_queued(service) == [DONE]
    assert leases[1] > leases[0]  # ...and the sweeper would not take it back
