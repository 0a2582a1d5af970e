"""Validly signed but odd webhook bodies: 400, 415 or 200 with a reason, never a 5xx or a traceback."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from issuebot.providers import webhook_parser
from tests.service.helpers import comment_body, github_headers, gitlab_headers, local_headers, sign

FUZZ = settings(max_examples=120, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70) | st.floats(allow_nan=False)
    | st.text(max_size=20) | st.sampled_from(["²", "١٢", "0" * 5000, "9" * 30, "created", "opened", "\x00"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)

# Where a mutation lands in a realistic issue_comment payload: the fields routing reads, and new ones.
PATHS = [("action",), ("issue",), ("issue", "number"), ("issue", "pull_request"), ("comment",), ("comment", "id"),
         ("comment", "body"), ("comment", "created_at"), ("repository",), ("repository", "full_name"),
         ("sender",), ("sender", "login"), ("kind",), ("project",), ("issue_number",), ("object_attributes",),
         ("object_kind",), ("user",), ("extra",)]


@pytest.fixture
def client(either_receiver: Any) -> Any:
    return either_receiver


def mutated(path: tuple[str, ...], value: Any) -> bytes:
    payload: Any = json.loads(comment_body())
    payload.update(kind="comment_created", project="octo/mentoring-bob-alice", issue_number=3, actor="bob",
                   object_kind="note", object_attributes={"noteable_type": "Issue", "note": "/help", "id": 1},
                   user={"username": "bob"})
    target = payload
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return json.dumps(payload).encode()


def signed_post(client: Any, provider: str, body: bytes, content_type: str = "application/json") -> Any:
    if provider == "github":
        headers = github_headers("issue_comment", body)
    elif provider == "gitlab":
        headers = gitlab_headers("Note Hook")
    else:
        headers = local_headers(body)
    headers["Content-Type"] = content_type
    return client.post(f"/hooks/{provider}", data=body, headers=headers)


def no_traceback(records: list[logging.LogRecord]) -> None:
    assert [r.getMessage() for r in records if r.exc_info or r.levelno >= logging.ERROR] == []


@pytest.mark.parametrize("name,headers", [
    ("github", {"X-GitHub-Event": "issue_comment", "Content-Type": "application/json"}),
    ("github", {"X-GitHub-Event": "issues", "Content-Type": "application/x-www-form-urlencoded"}),
    ("gitlab", {"X-Gitlab-Event": "Note Hook"}),
    ("gitlab", {"X-Gitlab-Event": "Issue Hook"}),
    ("local", {"X-Issuebot-Event": "event"}),
])
@FUZZ
@given(path=st.sampled_from(PATHS), value=json_values, raw=st.binary(max_size=64))
def test_parsers_are_total_over_arbitrary_bodies(name: str, headers: dict[str, str], path: tuple[str, ...],
                                                 value: Any, raw: bytes) -> None:
    parser = webhook_parser(name)
    body = mutated(path, value)
    if "form" in headers.get("Content-Type", ""):
        body = b"payload=" + quote(body).encode()
    for candidate in (body, raw, body[: len(raw)]):
        event = parser.parse(headers, candidate)  # never raises
        assert event is None or (event.project and event.issue_number >= 0 and event.actor)


@FUZZ
@given(provider=st.sampled_from(["github", "gitlab", "local"]), path=st.sampled_from(PATHS), value=json_values,
       raw=st.binary(max_size=64),
       content_type=st.sampled_from(["application/json", "application/x-www-form-urlencoded", "text/plain", ""]))
def test_endpoint_never_answers_5xx_to_a_signed_body(client: Any, caplog: pytest.LogCaptureFixture, provider: str,
                                                      path: tuple[str, ...], value: Any, raw: bytes,
                                                      content_type: str) -> None:
    caplog.clear()
    with caplog.at_level(logging.INFO):
        for body in (mutated(path, value), raw):
            response = signed_post(client, provider, body, content_type)
            assert response.status_code in (200, 202, 400, 415), (response.status_code, response.json)
            assert response.json["status"] in ("accepted", "duplicate", "ignored", "malformed", "unsupported")
    no_traceback(caplog.records)


# ----------------------------------------------------------------------------- the examples, one each


def test_deeply_nested_json_is_malformed(client: Any, caplog: pytest.LogCaptureFixture) -> None:
    body = b'{"action": "created", "issue": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    response = signed_post(client, "github", body)
    assert response.status_code == 400 and response.json["status"] == "malformed"
    assert "depth" in response.json["error"]
    no_traceback(caplog.records)


@pytest.mark.parametrize("action", [["created"], {"created": True}], ids=["list", "object"])
def test_an_action_that_is_not_a_string_is_ignored(client: Any, service: Any, action: Any,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    response = signed_post(client, "github", mutated(("action",), action))
    assert response.status_code == 200 and response.json["status"] == "ignored"
    assert sum(service.store.counts().values()) == 0
    no_traceback(caplog.records)


@pytest.mark.parametrize("digits", ["²", "0" * 5000], ids=["superscript-two", "5000-digits"])
def test_digit_strings_int_refuses_are_not_issue_numbers(client: Any, service: Any, digits: str) -> None:
    assert digits.isdigit()  # what the old check accepted
    response = signed_post(client, "github", mutated(("issue", "number"), digits))
    assert response.status_code == 200 and response.json["status"] == "ignored"
    assert sum(service.store.counts().values()) == 0


def test_a_5000_digit_json_number_is_malformed(client: Any) -> None:
    body = comment_body().replace(b'"number":3', b'"number":' + b"9" * 5000)
    response = signed_post(client, "github", body)
    assert response.status_code == 400 and response.json["status"] == "malformed"


@pytest.mark.parametrize("body", [
    comment_body().replace(b"octo/mentoring-bob-alice", b"octo/mentoring-\\ud800"),  # escaped lone surrogate
    comment_body().replace(b"octo/mentoring-bob-alice", b"octo/mentoring-\xed\xa0\x80"),  # its raw bytes
], ids=["escaped", "raw-bytes"])
def test_a_lone_surrogate_in_a_project_name_is_malformed(client: Any, service: Any, body: bytes,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    response = signed_post(client, "github", body)
    assert response.status_code == 400 and response.json["status"] == "malformed"
    assert sum(service.store.counts().values()) == 0
    no_traceback(caplog.records)


def test_githubs_form_encoded_payload_is_accepted_and_read_back_by_the_worker(client: Any, service: Any,
                                                                               handler: Any) -> None:
    form = b"payload=" + quote(comment_body(text="/help")).encode()
    headers = github_headers("issue_comment", form)
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    response = client.post("/hooks/github", data=form, headers=headers)
    assert response.status_code == 202
    service.queue.huey.execute(service.queue.huey.dequeue())
    assert [(e.project, e.issue_number, e.comment_body) for e in handler.events] == [
        ("octo/mentoring-bob-alice", 3, "/help")]


def test_a_form_without_payload_is_malformed(client: Any) -> None:
    response = signed_post(client, "github", b"other=1", "application/x-www-form-urlencoded")
    assert response.status_code == 400 and "payload" in response.json["error"]


@pytest.mark.parametrize("provider,content_type", [
    ("github", "text/plain"), ("github", "multipart/form-data; boundary=x"), ("gitlab", "application/xml"),
    ("gitlab", "application/x-www-form-urlencoded"), ("local", "text/html"),
])
def test_an_unknown_content_type_is_415(client: Any, service: Any, provider: str, content_type: str) -> None:
    response = signed_post(client, provider, comment_body(), content_type)
    assert response.status_code == 415 and response.json["status"] == "unsupported"
    assert "application/json" in response.json["error"]
    assert sum(service.store.counts().values()) == 0


def test_events_issuebot_never_acts_on_are_answered_without_reading_the_body(client: Any, service: Any) -> None:
    body = b"not even JSON"
    headers = github_headers("push", body)
    response = client.post("/hooks/github", data=body, headers=headers)
    assert response.status_code == 200 and response.json["status"] == "ignored"
    response = client.post("/hooks/gitlab", data=body, headers=gitlab_headers("Pipeline Hook"))
    assert response.status_code == 200 and response.json["status"] == "ignored"
    assert sum(service.store.counts().values()) == 0


def test_the_signature_is_checked_before_anything_else(client: Any) -> None:
    body = b"[" * 5000
    headers = github_headers("issue_comment", body)
    headers["X-Hub-Signature-256"] = sign(b"other")
    assert client.post("/hooks/github", data=body, headers=headers).status_code == 401
