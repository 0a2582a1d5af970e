"""The coordinators' web dashboard: token required, metadata only, cached reads of the tracker."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from issuebot.app import create_app
from issuebot.config import load_program
from issuebot.providers import make_provider
from issuebot.reconcile import reconcile_program
from issuebot.service import open_service
from issuebot.templates import Templates
from tests.conftest import program_data, write_program
from tests.service.helpers import SECRET, SECRET_ENV

TOKEN = "dashboard-token-for-tests"
TOKEN_ENV = "ISSUEBOT_TEST_DASHBOARD_TOKEN"
PRIVATE_TEXT = "my manager keeps overruling me"


@pytest.fixture
def synced(tmp_path: Path, clock: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    path = write_program(tmp_path / "program.yml", program_data(
        service={"webhook_secret_env": SECRET_ENV, "dashboard_token_env": TOKEN_ENV, "dashboard_cache_seconds": 3600}))
    program = load_program(path)
    provider = make_provider(program, clock)
    reconcile_program(provider, program, Templates(program.templates_dir()), trigger="sync", now=clock())
    view_path = provider.project_path(program.project_name(program.pairs[0]))
    provider.as_user("bob").create_comment(view_path, 1, PRIVATE_TEXT)
    return program, provider


@pytest.fixture
def dashboard(synced: Any) -> Any:
    """A test client of the service's web app, built after each test has set its environment."""
    program, provider = synced
    services = []

    def open_client() -> Any:
        service = open_service(program, provider_factory=lambda _p: provider)
        services.append(service)
        return create_app(service).test_client()

    yield open_client
    for service in services:
        service.close()


def basic(token: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"carol:{token}".encode()).decode()}


def test_dashboard_is_off_without_a_token(dashboard: Any) -> None:
    client = dashboard()
    assert client.get("/dashboard").status_code == 404
    assert client.get("/api/pairs").status_code == 404


def test_wrong_or_missing_token_is_refused(dashboard: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    client = dashboard()
    missing = client.get("/api/pairs")
    assert missing.status_code == 401 and "Basic" in missing.headers["WWW-Authenticate"]
    assert client.get("/api/pairs", headers=basic("wrong")).status_code == 401
    assert client.get("/api/pairs", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/api/pairs", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_pages_show_metadata_and_never_pair_text(dashboard: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    client = dashboard()
    page = client.get("/dashboard", headers=basic(TOKEN))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "bob-alice" in html and "erin-dave" in html and "kickoff: 2" in html
    assert PRIVATE_TEXT not in html

    pairs = client.get("/api/pairs", headers=basic(TOKEN)).get_json()
    assert {p["pair"] for p in pairs} == {"bob-alice", "erin-dave"}
    assert all(p["status"] == "kickoff" and p["next_session_due"] == "2027-01-25" for p in pairs)
    assert PRIVATE_TEXT not in str(pairs)
    assert client.get("/api/pairs?status=active", headers=basic(TOKEN)).get_json() == []
    one = client.get("/api/pairs/bob-alice", headers=basic(TOKEN)).get_json()
    assert one["mentor"] == "alice" and one["goals_total"] == 1
    assert client.get("/api/pairs/nobody", headers=basic(TOKEN)).status_code == 404


def test_views_within_the_cache_period_read_the_tracker_once(synced: Any, dashboard: Any,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    client = dashboard()
    provider = synced[1]
    client.get("/api/pairs", headers=basic(TOKEN))
    reads = provider.meter.reads
    for _ in range(5):
        assert client.get("/dashboard", headers=basic(TOKEN)).status_code == 200
    assert provider.meter.reads == reads


def test_a_tracker_outage_answers_503_then_serves_the_last_rows(synced: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from issuebot.providers.base import RateLimited

    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    program, provider = synced
    outage = {"on": True}

    class Flaky:
        def __getattr__(self, name: str) -> Any:
            if outage["on"] and name == "list_issues":
                raise RateLimited("rate limit reached; try again later", retry_after=60)
            return getattr(provider, name)

    service = open_service(program, provider_factory=lambda _p: Flaky())
    client = create_app(service).test_client()
    try:
        down = client.get("/api/pairs", headers=basic(TOKEN))
        assert down.status_code == 503 and "rate limit" in down.get_json()["error"]
        client.application.extensions["issuebot.dashboard"].retry_at = float("-inf")
        outage["on"] = False
        assert len(client.get("/api/pairs", headers=basic(TOKEN)).get_json()) == 2
        snapshot = client.application.extensions["issuebot.dashboard"]
        snapshot.taken_at = -1e18  # expire the rows, then fail again: the last rows are served
        outage["on"] = True
        still = client.get("/api/pairs", headers=basic(TOKEN))
        assert still.status_code == 200 and len(still.get_json()) == 2
    finally:
        service.close()


def test_every_answer_carries_security_headers_and_pair_data_is_never_stored(dashboard: Any,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    client = dashboard()
    for path, headers in (("/dashboard", basic(TOKEN)), ("/api/pairs", basic(TOKEN)), ("/api/pairs/bob-alice", basic(TOKEN)),
                          ("/api/pairs", {}), ("/healthz", {}), ("/hooks/github", {})):
        answer = client.get(path, headers=headers)
        assert answer.headers["Cache-Control"] == "no-store", path
        assert answer.headers["X-Content-Type-Options"] == "nosniff", path
        assert answer.headers["X-Frame-Options"] == "DENY", path
        assert "default-src 'none'" in answer.headers["Content-Security-Policy"], path
        assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"], path


def test_an_unknown_status_filter_is_a_400_naming_the_choices(dashboard: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    answer = dashboard().get("/api/pairs?status=bogus", headers=basic(TOKEN))
    assert answer.status_code == 400
    assert answer.get_json()["error"] == ("unknown status 'bogus'; use one of: kickoff, active, stale, paused, "
                                          "wrapping-up, ended, not created")


def test_the_dashboard_off_page_says_how_to_turn_it_on(dashboard: Any) -> None:
    client = dashboard()
    page = client.get("/dashboard")
    assert page.status_code == 404 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "dashboard is off" in html and TOKEN_ENV in html
    assert "service.dashboard_token_env" in html
    api = client.get("/api/pairs")
    assert api.status_code == 404 and TOKEN_ENV in api.get_json()["error"]
