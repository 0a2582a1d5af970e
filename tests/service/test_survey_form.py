"""Personal survey links under `issuebot serve`: signed and expiring, answers only in the service's database, counted in
reports; and each pair's survey rounds on the coordinators' pair page (who was invited and answered, never what)."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from issuebot import markers
from issuebot.app import create_app
from issuebot.cli import main
from issuebot.config import load_program
from issuebot.notices import survey_form_notices
from issuebot.observe import observe_channels, observe_program
from issuebot.providers import make_provider
from issuebot.reconcile import context_for, reconcile_program
from issuebot.service import open_service
from issuebot.survey_forms import Invitation, form_token
from issuebot.templates import Templates
from tests.conftest import Clock, program_data, write_program
from tests.service.helpers import SECRET, SECRET_ENV

KEY_ENV = "ISSUEBOT_TEST_FORM_SECRET"
DASHBOARD_ENV = "ISSUEBOT_TEST_DASHBOARD_TOKEN"
DASHBOARD_TOKEN = "dashboard-token-for-tests"
KEY = "form-key-for-tests"
PUBLIC = "https://mentoring.example.org"
SENT = datetime(2027, 2, 11, 9, 0, tzinfo=timezone.utc)  # the first monthly round
FREE_TEXT = "Dave listens and the sessions changed how I plan my week"
CHANNEL = "mentoring/intake"


def survey_program(tmp_path: Path, privacy: str = "confidential") -> Path:
    data = program_data(service={"webhook_secret_env": SECRET_ENV, "public_url": PUBLIC, "form_secret_env": KEY_ENV,
                                 "dashboard_token_env": DASHBOARD_ENV, "dashboard_cache_seconds": 0})
    for person in data["people"]:
        if person["username"] == "erin":  # an external volunteer's mentee: no forge account, e-mail only
            person.update(forge_account=False, email="erin@example.org")
    data["surveys"] = {"min_group": 2, "items": [{
        "id": "pulse", "title": "Monthly pulse", "when": "every", "every": "1 month", "who": "mentee",
        "privacy": privacy, "closes_after": "14d", "remind_after": "7d",
        "questions": [{"text": "How useful were the sessions?", "kind": "scale"},
                      {"text": "Keep the pairing?", "kind": "choice", "choices": ["yes", "no"]},
                      {"text": "What worked?", "kind": "text", "required": False}]}]}
    return write_program(tmp_path / "program.yml", data)


class World:
    """A program whose first monthly survey round went out, and the service that serves its form."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, privacy: str = "confidential"):
        monkeypatch.setenv(SECRET_ENV, SECRET)
        monkeypatch.setenv(KEY_ENV, KEY)
        monkeypatch.setenv(DASHBOARD_ENV, DASHBOARD_TOKEN)
        self.path = survey_program(tmp_path, privacy)
        self.program = load_program(self.path)
        self.clock = Clock(datetime(2027, 1, 11, 9, 0, tzinfo=timezone.utc))
        self.provider = make_provider(self.program, self.clock)
        self.templates = Templates(self.program.templates_dir())
        reconcile_program(self.provider, self.program, self.templates, trigger="sync", now=self.clock())
        self.clock.set(SENT)
        reconcile_program(self.provider, self.program, self.templates, trigger="sweep", now=self.clock())
        self.service = open_service(self.program, provider_factory=lambda _p: self.provider, clock=self.clock)
        self.client = create_app(self.service).test_client()

    def items(self) -> dict[str, Any]:
        return {markers.find_marker(i.body): i for i in self.provider.list_issues(CHANNEL, state="all")}

    def link(self) -> str:
        """The path of erin's personal link, from the e-mail notice issuebot would send her."""
        views, _ = observe_program(self.provider, self.program)
        ctx = context_for(self.provider, self.program, self.templates, "sweep", self.clock())
        channel_issues = observe_channels(self.provider, self.program)[2]
        notices = [n for v in views.values() for n in survey_form_notices(v, ctx, channel_issues, KEY)]
        [notice] = notices
        assert notice.to == "erin@example.org" and notice.pair == "erin-dave"
        url = next(line.strip().removeprefix("Answer here: ") for line in notice.body.splitlines() if "/form/" in line)
        assert url.startswith(f"{PUBLIC}/form/")
        return urlsplit(url).path

    def report(self, *args: str) -> str:
        done = CliRunner().invoke(main, ["report", "-c", str(self.path), "--now", self.clock().isoformat(), *args])
        assert done.exit_code == 0, done.output
        return done.output


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    made = World(tmp_path, monkeypatch)
    yield made
    made.service.close()


ANSWERS = {"q1": "4", "q2": "yes", "q3": FREE_TEXT}


def test_the_round_reaches_erin_as_a_personal_link_and_her_item_has_no_assignee(world):
    [erin_item] = [i for k, i in world.items().items() if k.endswith(":erin")]
    assert erin_item.confidential and erin_item.assignees == ()
    link = world.link()
    reads, writes = world.provider.meter.reads, world.provider.meter.writes
    page = world.client.get(link)
    assert page.status_code == 200
    assert (world.provider.meter.reads - reads, world.provider.meter.writes - writes) == (1, 0)  # one listing of her channel
    text = page.get_data(as_text=True)
    assert "How useful were the sessions?" in text and "Keep the pairing?" in text
    assert page.headers["Cache-Control"] == "no-store" and page.headers["Referrer-Policy"] == "no-referrer"


def test_answers_are_stored_once_in_the_service_database_and_never_on_the_forge_or_in_logs(world, caplog):
    link = world.link()
    caplog.set_level(logging.DEBUG)
    missing = world.client.post(link, data={"q3": FREE_TEXT})
    assert missing.status_code == 422
    assert "Question 1: please answer it" in missing.get_data(as_text=True)
    assert FREE_TEXT in missing.get_data(as_text=True)  # what she typed is kept for her to finish

    done = world.client.post(link, data=ANSWERS)
    assert done.status_code == 200 and "are recorded" in done.get_data(as_text=True)
    [row] = world.service.store.survey_answer_rows()
    assert (row.survey, row.round, row.pair, row.person) == ("pulse", 1, "erin-dave", "erin")
    assert row.answers == {"q1": 4, "q2": "yes", "q3": FREE_TEXT}

    again = world.client.post(link, data={**ANSWERS, "q1": "1"})
    assert again.status_code == 409 and "already answered" in again.get_data(as_text=True)
    assert world.service.store.survey_answer_rows()[0].answers["q1"] == 4  # the first answer stands
    assert world.client.get(link).status_code == 409

    forge_text = [i.title + i.body for i in world.provider.list_issues(None, state="all")]
    forge_text += [c.body for i in world.provider.list_issues(None, state="all")
                   for c in world.provider.list_comments(i.project, i.number)]
    assert not any(FREE_TEXT in t for t in forge_text)
    assert FREE_TEXT not in caplog.text


def test_a_tampered_link_a_link_signed_elsewhere_and_a_round_never_sent_are_404(world):
    link = world.link()
    token = link.rsplit("/", 1)[-1]
    body, signature = token.rsplit(".", 1)
    tampered = f"{body}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    for path in (f"/form/{tampered}",
                 "/form/" + form_token("another-key", Invitation("pulse", 1, "erin-dave", "erin"), SENT.date()),
                 "/form/" + form_token(KEY, Invitation("pulse", 2, "erin-dave", "erin"), SENT.date()),
                 "/form/" + form_token(KEY, Invitation("pulse", 1, "bob-alice", "bob"), SENT.date())):
        page = world.client.get(path)
        assert page.status_code == 404, path
        assert world.client.post(path, data=ANSWERS).status_code == 404
    assert "not sent to you" in world.client.get(
        "/form/" + form_token(KEY, Invitation("pulse", 2, "erin-dave", "erin"), SENT.date())).get_data(as_text=True)
    assert world.service.store.survey_answer_rows() == []


def test_a_link_expires_when_its_round_closes(world):
    link = world.link()
    world.clock.set(SENT + timedelta(days=14))  # the round closes (closes_after 14d) but a day of grace is left
    assert world.client.get(link).status_code == 200
    world.clock.set(SENT + timedelta(days=15, hours=1))
    expired = world.client.get(link)
    assert expired.status_code == 410 and "expired" in expired.get_data(as_text=True)
    assert world.client.post(link, data=ANSWERS).status_code == 410
    assert world.service.store.survey_answer_rows() == []


def test_report_surveys_counts_form_answers_with_the_forge_channel_answers(world):
    items = world.items()
    bob_item = next(i for k, i in items.items() if k.endswith(":bob"))
    world.provider.as_user("bob").create_comment(CHANNEL, bob_item.number, "1: 2\n2: no")
    world.clock.set(SENT + timedelta(days=1))
    reconcile_program(world.provider, world.program, world.templates, trigger="sweep", now=world.clock())
    assert world.client.post(world.link(), data=ANSWERS).status_code == 200

    [entry] = json.loads(world.report("--surveys", "--format", "json"))["surveys"]
    assert (entry["invited"], entry["answered"], entry["response_rate"]) == (2, 2, 1.0)
    figures = {q["id"]: q for q in entry["questions"]}
    assert figures["q1"]["mean"] == 3.0 and figures["q2"]["counts"] == {"yes": 1, "no": 1}
    assert {r["person"] for r in entry["responses"]} == {"bob", "erin"}  # confidential: who said what

    summary = json.loads(world.report("--summary", "--format", "json"))["surveys"]
    assert {k: summary[k] for k in ("rounds", "invited", "answered", "response_rate")} == {
        "rounds": 1, "invited": 2, "answered": 2, "response_rate": 100.0}
    assert "pairs" not in summary  # who was invited stays on each pair's page


def test_anonymous_results_name_nobody_even_with_form_answers(tmp_path, monkeypatch):
    world = World(tmp_path, monkeypatch, privacy="anonymous")
    try:
        bob_item = next(i for k, i in world.items().items() if k.endswith(":bob"))
        world.provider.as_user("bob").create_comment(CHANNEL, bob_item.number, "1: 5\n2: yes\n3: " + FREE_TEXT)
        world.clock.set(SENT + timedelta(days=1))
        reconcile_program(world.provider, world.program, world.templates, trigger="sweep", now=world.clock())
        page = world.client.get(world.link())
        assert "Anonymous" in page.get_data(as_text=True)
        assert world.client.post(world.link(), data=ANSWERS).status_code == 200
        for fmt in ("json", "csv", "table"):
            out = world.report("--surveys", "--format", fmt)
            assert "answered" in out or "2/2" in out
            for name in ("bob", "erin", "Bob", "Erin", "alice", "dave", FREE_TEXT):
                assert name not in out, (fmt, name)
        [entry] = json.loads(world.report("--surveys", "--format", "json"))["surveys"]
        assert entry["answered"] == 2 and {q["id"]: q for q in entry["questions"]}["q1"]["mean"] == 4.5
    finally:
        world.service.close()


def test_the_form_is_off_without_its_signing_key(world, monkeypatch):
    link = world.link()
    monkeypatch.delenv(KEY_ENV)
    page = world.client.get(link)
    assert page.status_code == 404 and "not set up" in page.get_data(as_text=True)


def pair_page(world: World, pair_id: str) -> str:
    page = world.client.get(f"/dashboard/pairs/{pair_id}", headers={"Authorization": f"Bearer {DASHBOARD_TOKEN}"})
    assert page.status_code == 200
    return page.get_data(as_text=True)


def answer_both(world: World) -> None:
    """bob answers in his channel on the forge, erin through her link."""
    bob_item = next(i for k, i in world.items().items() if k.endswith(":bob"))
    world.provider.as_user("bob").create_comment(CHANNEL, bob_item.number, "1: 5\n2: yes\n3: " + FREE_TEXT.replace("Dave", "Alice"))
    world.clock.set(SENT + timedelta(days=1))
    reconcile_program(world.provider, world.program, world.templates, trigger="sweep", now=world.clock())
    assert world.client.post(world.link(), data=ANSWERS).status_code == 200


def test_the_pair_page_shows_who_was_invited_and_who_answered_never_what(world):
    before = pair_page(world, "erin-dave")
    assert "Monthly pulse" in before and "0/1" in before and "erin (mentee): invited" in before
    answer_both(world)
    for pair_id, person in (("erin-dave", "erin"), ("bob-alice", "bob")):
        html = pair_page(world, pair_id)
        assert "Monthly pulse" in html and "1/1" in html and f"{person} (mentee): answered" in html
        assert "Sessions" in html and "No survey round" not in html
        for text in (FREE_TEXT, FREE_TEXT.replace("Dave", "Alice"), "How useful were the sessions?"):
            assert text not in html  # neither answers nor the questions' text: metadata only
    assert "erin" not in pair_page(world, "bob-alice")  # another pair's people stay off this pair's page


def test_an_anonymous_survey_shows_only_counts_on_the_pair_page(tmp_path, monkeypatch):
    world = World(tmp_path, monkeypatch, privacy="anonymous")
    try:
        answer_both(world)
        html = pair_page(world, "erin-dave")
        assert "Monthly pulse" in html and "1/1" in html and "anonymous: counts only" in html
        assert "(mentee): answered" not in html and FREE_TEXT not in html
    finally:
        world.service.close()


def test_a_pair_without_survey_rounds_says_so(world):
    program_without = load_program(write_program(world.path.parent / "plain" / "program.yml", program_data(
        service={"webhook_secret_env": SECRET_ENV, "dashboard_token_env": DASHBOARD_ENV, "dashboard_cache_seconds": 0})))
    service = open_service(program_without, provider_factory=lambda _p: make_provider(program_without, world.clock),
                           clock=world.clock)
    try:
        client = create_app(service).test_client()
        page = client.get("/dashboard/pairs/bob-alice", headers={"Authorization": f"Bearer {DASHBOARD_TOKEN}"})
        assert page.status_code == 200 and "No survey round has been sent to this pair." in page.get_data(as_text=True)
    finally:
        service.close()
