"""`issuebot serve`'s event-loop receive path: one commit per burst, body limits, shutdown, the web pages."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from issuebot.asgi import RequestHeaders
from issuebot.service import Service
from issuebot.store import StoreUnavailable
from tests.service.asgi_client import AsgiClient
from tests.service.helpers import comment_body, github_headers


def inbox_total(service: Service) -> int:
    return sum(service.store.counts().values())


@pytest.fixture
def asgi(service: Service) -> Any:
    client = AsgiClient(service)
    yield client
    client.close()


def test_a_burst_of_deliveries_is_committed_in_a_few_transactions(asgi: AsgiClient, service: Service,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    transactions: list[int] = []
    add_deliveries = service.store.add_deliveries

    def counted(deliveries: list[Any], **kwargs: Any) -> list[int | None]:
        transactions.append(len(deliveries))
        return add_deliveries(deliveries, **kwargs)

    monkeypatch.setattr(service.store, "add_deliveries", counted)
    body = comment_body()

    async def burst() -> list[Any]:
        return await asyncio.gather(*(asgi.request("POST", "/hooks/github", body, github_headers("issue_comment", body))
                                      for _ in range(50)))

    answers = asgi.loop.run_until_complete(burst())
    assert [a.status_code for a in answers] == [202] * 50
    assert inbox_total(service) == 50
    assert sum(transactions) == 50 and len(transactions) < 50, transactions
    # One queue task per transaction, and the worker handles each row once.
    assert service.queue.pending() == len(transactions)
    statuses = []
    while (task := service.queue.huey.dequeue()) is not None:
        result = task.execute()
        statuses.extend(result if isinstance(result, list) else [result])
    assert len(statuses) == 50 and set(statuses) <= {"done", "skipped"}  # skipped: taken along with its pair
    assert service.store.counts()["done"] == 50


def test_a_chunked_body_over_the_limit_is_refused_without_storing(service: Service) -> None:
    client = AsgiClient(service, chunks=8)  # no Content-Length: the size is only known while reading
    try:
        body = comment_body(text="x" * (service.program.service.max_body_bytes + 10))
        response = client.post("/hooks/github", data=body, headers=github_headers("issue_comment", body))
        assert response.status_code == 413 and response.json["status"] == "too_large"
        small = comment_body()
        assert client.post("/hooks/github", data=small, headers=github_headers("issue_comment", small)).status_code == 202
    finally:
        client.close()
    assert inbox_total(service) == 1


def test_an_unavailable_inbox_is_503_and_no_request_is_left_waiting(asgi: AsgiClient, service: Service,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    def down(*_: Any, **__: Any) -> list[int | None]:
        raise StoreUnavailable("database sqlite:///x: disk I/O error")

    monkeypatch.setattr(service.store, "add_deliveries", down)
    body = comment_body()
    response = asgi.post("/hooks/github", data=body, headers=github_headers("issue_comment", body))
    assert response.status_code == 503 and "retry later" in response.json["error"]
    assert service.queue.pending() == 0


def test_shutdown_commits_deliveries_still_waiting(asgi: AsgiClient, service: Service) -> None:
    body = comment_body()
    lifespan = [{"type": "lifespan.startup"}]
    sent: list[str] = []

    async def receive() -> dict[str, Any]:
        while not lifespan:
            await asyncio.sleep(0)
        return lifespan.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message["type"])

    async def run() -> list[Any]:
        life = asyncio.ensure_future(asgi.app({"type": "lifespan"}, receive, send))
        requests = [asyncio.ensure_future(asgi.request("POST", "/hooks/github", body, github_headers("issue_comment", body)))
                    for _ in range(10)]
        await asyncio.sleep(0)
        lifespan.append({"type": "lifespan.shutdown"})
        answers = await asyncio.gather(*requests)
        await life
        return answers

    answers = asgi.loop.run_until_complete(run())
    assert [a.status_code for a in answers] == [202] * 10
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert inbox_total(service) == 10


def test_the_web_pages_are_served_through_flask(asgi: AsgiClient) -> None:
    assert asgi.get("/healthz").json == {"status": "ok"}
    assert asgi.get("/readyz").status_code == 200
    assert "issuebot_webhook_deliveries_total" in str(asgi.get("/metrics").get_data(as_text=True))
    assert asgi.get("/hooks/github").status_code == 405  # only POST is a delivery


def test_request_headers_are_read_whatever_their_case() -> None:
    headers = RequestHeaders([(b"x-github-event", b"push"), (b"x-github-event", b"later"), (b"content-type", b"a/b")])
    assert headers["X-GitHub-Event"] == "push" and headers.get("Content-Type") == "a/b"
    assert headers.get("X-Missing") is None and len(headers) == 2 and set(headers) == {"x-github-event", "content-type"}


@pytest.mark.queue_apart
def test_deliveries_stored_while_the_queue_is_down_are_queued_once_it_answers(asgi: AsgiClient, service: Service,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    queued: list[int] = []
    down = threading.Event()
    down.set()
    all_queued = threading.Event()

    def enqueue_many(row_ids: list[int], projects: list[str] | None = None) -> None:
        if down.is_set():
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        queued.extend(row_ids)
        if len(queued) == 3:
            all_queued.set()

    monkeypatch.setattr(service.queue, "enqueue_many", enqueue_many)
    asgi.app.writer.RETRY_SECONDS = 0.0  # offered again at every turn of the writer, not a second later
    body = comment_body()
    answers = [asgi.post("/hooks/github", data=body, headers=github_headers("issue_comment", body)).status_code
               for _ in range(3)]
    assert answers == [202] * 3 and inbox_total(service) == 3 and queued == []  # stored, never refused
    down.clear()  # the queue is back: the writer offers the rows again by itself, no new delivery needed
    assert all_queued.wait(10), "the stored deliveries were not queued once the queue answered"
    assert sorted(queued) == [1, 2, 3]
