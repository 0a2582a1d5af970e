"""The receive path over HTTP: corpus replay, refusals with no side effect, dedupe, limits, status pages."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from issuebot.app import create_app
from issuebot.service import open_service
from issuebot.store import Store
from tests.service.helpers import (
    CORPUS,
    SECRET,
    SECRET_ENV,
    comment_body,
    github_files,
    github_headers,
    gitlab_files,
    gitlab_headers,
    local_headers,
)

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"webhook corpus not found at {CORPUS}")


@pytest.fixture
def client(either_receiver: Any) -> Any:
    return either_receiver


def inbox_total(service: Any) -> int:
    return sum(service.store.counts().values())


@pytest.mark.parametrize("folder", ["webhooks", "webhooks-ghes-3.5"])
def test_every_github_corpus_payload_gets_a_2xx(client: Any, service: Any, folder: str) -> None:
    files = github_files(folder)
    assert len(files) >= 25
    accepted = 0
    for path in files:
        body = path.read_bytes()
        event = path.name.split(".")[0]
        response = client.post("/hooks/github", data=body, headers=github_headers(event, body))
        assert 200 <= response.status_code < 300, (path.name, response.status_code, response.json)
        accepted += response.status_code == 202
        expected = event in ("issues", "issue_comment") and path.name.split(".")[1] in (
            "opened", "closed", "reopened", "labeled", "unlabeled", "edited", "created")
        assert (response.json["status"] == "accepted") == expected, path.name
    assert inbox_total(service) == accepted == service.queue.pending()


def test_every_gitlab_corpus_payload_gets_a_2xx_including_confidential_variants(client: Any, service: Any) -> None:
    statuses = {}
    for path, event in gitlab_files():
        response = client.post("/hooks/gitlab", data=path.read_bytes(), headers=gitlab_headers(event))
        assert 200 <= response.status_code < 300, (path.name, response.status_code)
        statuses[path.name] = response.json["status"]
    assert statuses == {
        "issue_hook.issue.open.json": "accepted", "issue_hook.legacy-doc-2019.json": "accepted",
        "note_hook.issue.json": "accepted", "note_hook.commit.json": "ignored",
        "note_hook.merge_request.json": "ignored", "note_hook.snippet.json": "ignored",
        "emoji_hook.award_on_issue_note.json": "ignored", "push_hook.json": "ignored",
    }
    webhooks = CORPUS / "gitlab" / "webhooks"
    for name, event in [("issue_hook.issue.open.json", "Confidential Issue Hook"),
                        ("note_hook.issue.json", "Confidential Note Hook")]:
        response = client.post("/hooks/gitlab", data=(webhooks / name).read_bytes(), headers=gitlab_headers(event))
        assert response.status_code == 202, name
    assert inbox_total(service) == 5 == service.queue.pending()


def test_github_ping_is_answered_without_storing(client: Any, service: Any) -> None:
    body = github_files()[0].parent.joinpath("ping.none.1.json").read_bytes()
    response = client.post("/hooks/github", data=body, headers=github_headers("ping", body))
    assert response.status_code == 200 and response.json["status"] == "ping"
    assert inbox_total(service) == 0


def _github_variants() -> list[tuple[str, Any]]:
    def one_byte_changed(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        changed = bytearray(body)
        changed[len(changed) // 2] ^= 0x01
        return bytes(changed), headers

    def wrong_secret(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        return body, github_headers("issue_comment", body, secret="not-the-secret")

    def no_header(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        headers = dict(headers)
        del headers["X-Hub-Signature-256"]
        return body, headers

    def sha1_only(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        import hashlib
        import hmac

        headers = dict(headers)
        del headers["X-Hub-Signature-256"]
        headers["X-Hub-Signature"] = "sha1=" + hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()
        return body, headers

    def upper_case_hex(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        headers = dict(headers)
        headers["X-Hub-Signature-256"] = "sha256=" + headers["X-Hub-Signature-256"].split("=", 1)[1].upper()
        return body, headers

    return [(f.__name__, f) for f in (one_byte_changed, wrong_secret, no_header, sha1_only, upper_case_hex)]


@pytest.mark.parametrize("name,variant", _github_variants())
def test_bad_github_signatures_get_401_and_leave_no_trace(client: Any, service: Any, name: str, variant: Any) -> None:
    for path in github_files():
        if not path.name.startswith("issue_comment.created"):
            continue
        body = path.read_bytes()
        sent_body, headers = variant(body, github_headers("issue_comment", body))
        response = client.post("/hooks/github", data=sent_body, headers=headers)
        assert response.status_code == 401, (name, path.name)
    assert inbox_total(service) == 0 and service.queue.pending() == 0


@pytest.mark.parametrize("token", [None, "", "wrong", SECRET + " "])
def test_bad_gitlab_tokens_get_401_and_leave_no_trace(client: Any, service: Any, token: str | None) -> None:
    for path, event in gitlab_files():
        headers = gitlab_headers(event)
        if token is None:
            del headers["X-Gitlab-Token"]
        else:
            headers["X-Gitlab-Token"] = token
        assert client.post("/hooks/gitlab", data=path.read_bytes(), headers=headers).status_code == 401
    assert inbox_total(service) == 0 and service.queue.pending() == 0


def test_the_same_delivery_ten_times_makes_one_row_and_one_task(client: Any, service: Any) -> None:
    body = comment_body()
    headers = github_headers("issue_comment", body, delivery="d-1")
    codes = [client.post("/hooks/github", data=body, headers=headers).status_code for _ in range(10)]
    assert codes == [202] + [200] * 9
    assert inbox_total(service) == 1 and service.queue.pending() == 1
    path, event = gitlab_files()[2]
    headers = gitlab_headers(event, key="k-1")
    codes = [client.post("/hooks/gitlab", data=path.read_bytes(), headers=headers).status_code for _ in range(10)]
    assert codes == [202] + [200] * 9
    assert inbox_total(service) == 2 and service.queue.pending() == 2


def test_gitlab_without_idempotency_key_dedupes_on_the_event_uuid(client: Any, service: Any) -> None:
    path, event = gitlab_files()[2]
    headers = gitlab_headers(event)
    del headers["Idempotency-Key"]
    for _ in range(3):
        headers["X-Gitlab-Webhook-UUID"] = f"new-{_}"  # new on every request, never an identity
        client.post("/hooks/gitlab", data=path.read_bytes(), headers=headers)
    row = service.store.get(1)
    assert inbox_total(service) == 1 and row.delivery_id == headers["X-Gitlab-Event-UUID"]
    assert "X-Gitlab-Token" not in row.headers


def test_oversized_body_gets_413_before_anything_else(client: Any, service: Any) -> None:
    body = b"{" + b" " * (service.program.service.max_body_bytes + 1) + b"}"
    response = client.post("/hooks/github", data=body, headers=github_headers("issue_comment", body))
    assert response.status_code == 413
    assert inbox_total(service) == 0


def test_signed_but_malformed_json_gets_400(client: Any, service: Any) -> None:
    body = b'{"action": "created", '
    response = client.post("/hooks/github", data=body, headers=github_headers("issue_comment", body))
    assert response.status_code == 400 and "not JSON" in response.json["error"]
    assert inbox_total(service) == 0


def test_unknown_endpoint_names_the_real_ones(client: Any) -> None:
    response = client.post("/hooks/bitbucket", data=b"{}")
    assert response.status_code == 404 and "github" in response.json["error"]


def test_local_tracker_deliveries_are_accepted(client: Any, service: Any) -> None:
    body = json.dumps({"kind": "comment_created", "project": "mentoring/mentoring-bob-alice", "issue_number": 4,
                       "actor": "bob", "comment_id": 9, "comment_body": "/session"}).encode()
    assert client.post("/hooks/local", data=body, headers=local_headers(body)).status_code == 202
    assert service.store.get(1).project == "mentoring/mentoring-bob-alice"


def test_insecure_mode_accepts_unsigned_deliveries(program: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    service = open_service(program, insecure_no_verify=True)
    body = comment_body()
    headers = github_headers("issue_comment", body)
    del headers["X-Hub-Signature-256"]
    assert create_app(service).test_client().post("/hooks/github", data=body, headers=headers).status_code == 202
    service.close()


def test_status_pages(client: Any, service: Any) -> None:
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    body = comment_body()
    client.post("/hooks/github", data=body, headers=github_headers("issue_comment", body))
    client.post("/hooks/github", data=body, headers=github_headers("issue_comment", body, secret="x"))
    text = client.get("/metrics").get_data(as_text=True)
    assert 'issuebot_webhook_deliveries_total{outcome="accepted",provider="github"} 1.0' in text
    assert 'issuebot_webhook_deliveries_total{outcome="unauthorized",provider="github"} 1.0' in text
    assert "issuebot_queue_depth 1.0" in text
    assert 'issuebot_inbox_deliveries{status="queued"} 1.0' in text


def test_readyz_reports_an_unreachable_database(service: Any) -> None:
    service.store = Store("postgresql+psycopg://postgres:hunter2@127.0.0.1:1/nowhere")
    response = create_app(service).test_client().get("/readyz")
    assert response.status_code == 503
    problem = response.json["problems"][0]
    assert "127.0.0.1:1" in problem and "hunter2" not in problem


def test_logs_carry_neither_the_secret_nor_pair_text(client: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    body = comment_body(text="my private worry about my manager")
    client.post("/hooks/github", data=body, headers=github_headers("issue_comment", body))
    client.post("/hooks/github", data=body, headers=github_headers("issue_comment", body, secret="wrong"))
    assert caplog.records
    assert SECRET not in caplog.text and "private worry" not in caplog.text


def test_a_delivery_and_its_task_are_written_in_one_transaction(client: Any, service: Any,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite3

    assert service.queue.queued_with_inbox  # the default: no queue_url, the inbox on SQLite

    def no_hand_over(*_: Any) -> None:
        raise AssertionError("a stored delivery was handed to the queue a second time")

    monkeypatch.setattr(service.queue, "enqueue_many", no_hand_over)
    body = comment_body()
    assert client.post("/hooks/github", data=body, headers=github_headers("issue_comment", body)).status_code == 202
    assert inbox_total(service) == 1 and service.queue.pending() == 1
    task = service.queue.huey.dequeue()
    assert task.name == "process_delivery" and task.args == (1,)

    def task_write_fails(*_: Any) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    # A task that cannot be written takes its delivery with it: refused, nothing stored, the forge redelivers.
    monkeypatch.setattr(service.queue.huey.storage, "enqueue_on", task_write_fails)
    answer = client.post("/hooks/github", data=body, headers=github_headers("issue_comment", body))
    assert answer.status_code == 503 and inbox_total(service) == 1 and service.queue.pending() == 0
    monkeypatch.undo()  # the write works again: the refused transaction left nothing open behind it
    answer = client.post("/hooks/github", data=body, headers=github_headers("issue_comment", body))
    assert answer.status_code == 202 and inbox_total(service) == 2 and service.queue.pending() == 1
