"""The coordinators' web dashboard: token required, metadata only, cached reads of the tracker."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from issuebot.app import create_app
from issuebot.config import load_program
from issuebot.markers import read_state, write_state
from issuebot.plan import TRACKER, index_issues
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
                                          "wrapping-up, ended, not created, needs-action")


def test_the_dashboard_off_page_says_how_to_turn_it_on(dashboard: Any) -> None:
    client = dashboard()
    page = client.get("/dashboard")
    assert page.status_code == 404 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "dashboard is off" in html and TOKEN_ENV in html
    assert "service.dashboard_token_env" in html
    api = client.get("/api/pairs")
    assert api.status_code == 404 and TOKEN_ENV in api.get_json()["error"]


# ----------------------------------------------------------------------------- the coordinators' web app

import re  # noqa: E402

from issuebot import markers  # noqa: E402
from issuebot.observe import observe_coordination, observe_program  # noqa: E402
from issuebot.workflows.program.dashboard_issue import find_dashboard  # noqa: E402
from tests.conftest import cohort  # noqa: E402
from tests.fakes import harness  # noqa: E402

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf(page: Any) -> str:
    return CSRF_RE.search(page.get_data(as_text=True)).group(1)  # type: ignore[union-attr]


@pytest.fixture
def web(synced: Any, clock: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A test client on the injected clock, with the dashboard token set."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    program, provider = synced
    service = open_service(program, provider_factory=lambda _p: provider, clock=clock)
    yield create_app(service).test_client(), provider
    service.close()


def sign_in(client: Any, username: str = "carol", token: str = TOKEN) -> Any:
    form = client.get("/signin")
    return client.post("/signin", data={"csrf_token": csrf(form), "username": username, "token": token, "next": "/dashboard"})


def test_browsers_are_sent_to_sign_in_and_only_coordinators_with_the_token_get_in(web: Any) -> None:
    client, _ = web
    page = client.get("/dashboard")
    assert page.status_code == 302 and page.headers["Location"].startswith("/signin?next=/dashboard")
    assert client.post("/signin", data={"username": "carol", "token": TOKEN}).status_code == 400  # no CSRF token
    assert sign_in(client, token="wrong").status_code == 401
    assert sign_in(client, username="bob").status_code == 401  # a mentee, not a coordinator
    done = sign_in(client)
    assert done.status_code == 302 and done.headers["Location"] == "/dashboard"
    html = client.get("/dashboard").get_data(as_text=True)
    assert "Signed in as <strong>carol</strong>" in html and "Bob Brown &amp; Alice Adams" in html
    assert PRIVATE_TEXT not in html
    out = client.post("/signout", data={"csrf_token": csrf(client.get("/dashboard"))})
    assert out.status_code == 302 and client.get("/dashboard").status_code == 302


def test_a_pair_page_shows_metadata_and_its_actions_go_through_the_dashboard_issue(web: Any, clock: Any) -> None:
    client, provider = web
    program = client.application.extensions["issuebot"].program
    token_only = client.get("/dashboard/pairs/bob-alice", headers=basic(TOKEN))
    assert token_only.status_code == 200 and "Sign in as a coordinator" in token_only.get_data(as_text=True)
    assert client.post("/dashboard/pairs/bob-alice/snooze", headers=basic(TOKEN),
                       data={"csrf_token": "x"}).status_code == 400
    sign_in(client)
    page = client.get("/dashboard/pairs/bob-alice")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Goal 1" in html and "Ship a service" not in html and PRIVATE_TEXT not in html
    assert client.post("/dashboard/pairs/bob-alice/snooze", data={}).status_code == 400  # CSRF
    done = client.post("/dashboard/pairs/bob-alice/snooze", data={"csrf_token": csrf(page)})
    assert done.status_code == 302
    view = observe_program(provider, program)[0]["bob-alice"]
    assert view.state["nudges"]["snoozed_until"] == "2027-01-25"  # 14 days from the clock's day
    _, _, issues = observe_coordination(provider, program)
    board = find_dashboard(issues)
    assert board is not None and "- [ ] snooze reminders 14 days <!-- issuebot:do:snooze:bob-alice -->" in board.body
    after = client.get("/dashboard/pairs/bob-alice").get_data(as_text=True)
    assert "Snooze reminders 14 days: done for bob-alice" in after and "reminders snoozed until 2027-01-25" in after
    assert markers.find_marker(board.body) == "dashboard"


@pytest.fixture
def cohort_web(tmp_path: Path, clock: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    data = cohort(60, {"kind": "local", "path": str(tmp_path / "tracker.db")},
                  service={"webhook_secret_env": SECRET_ENV, "dashboard_token_env": TOKEN_ENV})
    for i, pair in enumerate(data["pairs"]):
        if i % 3 == 0:
            pair["starts"] = "2026-12-01"  # long overdue by the clock's day: stale after a sweep
    program = load_program(write_program(tmp_path / "program.yml", data))
    provider = make_provider(program, clock)
    reconcile_program(provider, program, Templates(), trigger="sync", now=clock())
    from issuebot.sweep import sweep

    sweep(provider, program, Templates(), now=clock())
    service = open_service(program, provider_factory=lambda _p: provider, clock=clock)
    yield create_app(service).test_client()
    service.close()


def test_sixty_pairs_list_stale_ones_first_and_filter_search_sort_page_and_export(cohort_web: Any) -> None:
    client = cohort_web
    auth = basic(TOKEN)
    pairs = client.get("/api/pairs", headers=auth).get_json()
    assert len(pairs) == 60
    assert [p["status"] for p in pairs] == ["stale"] * 20 + ["kickoff"] * 40  # those needing action first
    assert all(p["act"] == "coordinators" for p in pairs[:20]) and all(p["act"] == "-" for p in pairs[20:])
    first = client.get("/dashboard", headers=auth).get_data(as_text=True)
    assert first.count('href="/dashboard/pairs/') == 50 and "Page 1 of 2" in first
    assert client.get("/dashboard?page=2", headers=auth).get_data(as_text=True).count('href="/dashboard/pairs/') == 10
    only = client.get("/dashboard?status=stale", headers=auth).get_data(as_text=True)
    assert only.count('href="/dashboard/pairs/') == 20 and 'aria-current="true">stale: 20' in only
    found = client.get("/dashboard?q=mentee17", headers=auth).get_data(as_text=True)
    assert found.count('href="/dashboard/pairs/') == 1 and "mentee17-mentor17" in found
    by_pair = client.get("/api/pairs?sort=pair&order=desc", headers=auth).get_json()
    assert [p["pair"] for p in by_pair] == sorted((p["pair"] for p in pairs), reverse=True)
    page = client.get("/api/pairs?status=stale&page=2&per_page=15", headers=auth)
    assert len(page.get_json()) == 5 and page.headers["X-Total-Count"] == "20"
    exported = client.get("/dashboard/pairs.csv?status=stale", headers=auth)
    lines = exported.get_data(as_text=True).splitlines()
    assert exported.mimetype == "text/csv" and len(lines) == 21 and lines[0].startswith("pair,mentor,mentee")
    summary = client.get("/api/summary", headers=auth).get_json()
    assert summary["pairs"] == 60 and summary["by_status"]["stale"] == 20 and summary["months"][0]["month"] == "2026-12"
    chart = client.get("/dashboard/summary", headers=auth).get_data(as_text=True)
    assert 'xlink:href="/dashboard?status=stale"' in chart and "<script" not in chart


@pytest.mark.parametrize("forge_kind", ["gitlab", "github"])
def test_coordinators_sign_in_with_the_forge_and_others_are_refused(synced: Any, clock: Any, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch, forge_kind: str) -> None:
    from tests.fakes.github import HOST
    from tests.fakes.gitlab import URL

    program, provider = synced
    url = URL if forge_kind == "gitlab" else HOST
    authorize = f"{url}/oauth/authorize?" if forge_kind == "gitlab" else f"{url}/login/oauth/authorize?"
    data = program_data(service={"webhook_secret_env": SECRET_ENV, "dashboard_token_env": TOKEN_ENV,
                                 "oauth": {"kind": forge_kind, "url": url, "client_id_env": "T_OAUTH_ID",
                                           "client_secret_env": "T_OAUTH_SECRET"}})
    data["program"]["provider"] = {"kind": "local", "path": str(program.local_db_path())}
    forged = load_program(write_program(tmp_path / "oauth.yml", data))
    monkeypatch.setenv("T_OAUTH_ID", "app-id")
    monkeypatch.setenv("T_OAUTH_SECRET", "app-secret")
    with harness(forge_kind, tmp_path, clock) as forge:
        forge.fake.oauth.add_app("app-id", "app-secret")
        service = open_service(forged, provider_factory=lambda _p: provider, clock=clock)
        try:
            for who, expected in (("dave", 403), ("carol", 302)):
                client = create_app(service).test_client()
                assert f"Sign in with {'GitLab' if forge_kind == 'gitlab' else 'GitHub'}" in client.get("/signin").get_data(as_text=True)
                start = client.get("/signin/forge?next=/dashboard/summary")
                assert start.status_code == 302 and start.headers["Location"].startswith(authorize)
                state = re.search(r"state=([^&]+)", start.headers["Location"]).group(1)  # type: ignore[union-attr]
                back = client.get(f"/signin/callback?code={forge.fake.approve_oauth(who)}&state={state}")
                assert back.status_code == expected, back.get_data(as_text=True)
            assert back.headers["Location"] == "/dashboard/summary"
            assert client.get("/dashboard/summary").status_code == 200
            replay = client.get(f"/signin/callback?code=code-1-dave&state={state}")
            assert replay.status_code == 401  # a used code and state are refused, without a traceback
        finally:
            service.close()


def test_ending_a_pair_from_its_page_needs_a_confirmation_then_ends_it(web: Any) -> None:
    client, provider = web
    program = client.application.extensions["issuebot"].program
    sign_in(client)
    token = csrf(client.get("/dashboard/pairs/erin-dave"))
    client.post("/dashboard/pairs/erin-dave/end", data={"csrf_token": token})
    assert observe_program(provider, program)[0]["erin-dave"].status(program) == "kickoff"
    assert "I am sure" in client.get("/dashboard/pairs/erin-dave").get_data(as_text=True)
    client.post("/dashboard/pairs/erin-dave/end", data={"csrf_token": token, "confirm": "yes"})
    assert observe_program(provider, program)[0]["erin-dave"].status(program) == "ended"
    assert "ended (by coordinators)" in client.get("/dashboard/pairs/erin-dave").get_data(as_text=True)


def test_ended_pairs_have_no_next_due_and_paused_pairs_show_until_when(synced: Any, dashboard: Any, clock: Any,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    program, provider = synced
    for pair, status, extra in ((program.pairs[0], "paused", {"paused_until": "2027-03-01"}), (program.pairs[1], "ended", {})):
        path = provider.project_path(program.project_name(pair))
        tracker = index_issues(provider.list_issues(path, state="all"))[TRACKER]
        provider.update_issue(path, tracker.number, body=write_state(tracker.body, read_state(tracker.body) | extra),
                              add_labels=[f"pair::{status}"], remove_labels=["pair::kickoff"])
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    client = dashboard()
    pairs = {p["pair"]: p for p in client.get("/api/pairs", headers=basic(TOKEN)).get_json()}
    assert pairs["bob-alice"]["next_due"] == "paused until 2027-03-01" and pairs["bob-alice"]["next_session_due"] is None
    assert pairs["erin-dave"]["next_due"] == "-" and pairs["erin-dave"]["next_session_due"] is None
    html = client.get("/dashboard", headers=basic(TOKEN)).get_data(as_text=True)
    assert "paused until 2027-03-01" in html and "2027-01-25" not in html


def test_an_overdue_feedback_round_shows_as_overdue_on_the_web_dashboard(tmp_path: Path, clock: Any,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import datetime, timezone

    from issuebot.sweep import sweep

    monkeypatch.setenv(SECRET_ENV, SECRET)
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    path = write_program(tmp_path / "program.yml", program_data(
        service={"webhook_secret_env": SECRET_ENV, "dashboard_token_env": TOKEN_ENV}, feedback={"first_after": "4w"}))
    program = load_program(path)
    provider = make_provider(program, clock)
    reconcile_program(provider, program, Templates(), trigger="sync", now=clock())
    clock.set(datetime(2027, 2, 8, 9, tzinfo=timezone.utc))  # round 1 opens, due 2027-02-22
    sweep(provider, program, Templates(), now=clock())
    clock.set(datetime(2027, 2, 25, 9, tzinfo=timezone.utc))
    service = open_service(program, provider_factory=lambda _p: provider, clock=clock)
    try:
        client = create_app(service).test_client()
        page = client.get("/dashboard", headers=basic(TOKEN)).get_data(as_text=True)
        assert "<td>feedback:1</td>" in page
        pairs = client.get("/api/pairs", headers=basic(TOKEN)).get_json()
        assert [p["overdue"] for p in pairs] == [["feedback:1"], ["feedback:1"]]
    finally:
        service.close()
