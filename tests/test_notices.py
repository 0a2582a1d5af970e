"""Notices outside the forge: each e-mail and chat digest reaches a local receiver exactly once, across reruns and kills."""

from __future__ import annotations

import json
import threading
from datetime import datetime
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller

from issuebot.config import load_program
from issuebot.notify import ChatWebhook, SmtpRelay, notify
from issuebot.providers.local import LocalProvider
from issuebot.reconcile import reconcile_program
from issuebot.sweep import sweep
from issuebot.templates import Templates
from tests.conftest import program_data, write_program


def at(day: str) -> datetime:
    return datetime.fromisoformat(day + "T09:00:00+00:00")


class Mailbox:
    """What the local SMTP server received: (recipients, parsed message)."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((tuple(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"

    def message_ids(self) -> list[str]:
        return [m["Message-ID"] for _, m in self.messages]


class EphemeralController(Controller):
    """aiosmtpd on a port the OS picks (its readiness check needs the real port)."""

    def _trigger_server(self):
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@pytest.fixture
def mailbox():
    box = Mailbox()
    controller = EphemeralController(box, hostname="127.0.0.1", port=0)
    controller.start()
    box.port = controller.port
    yield box
    controller.stop()


class ChatReceiver(ThreadingHTTPServer):
    """A chat incoming webhook that keeps one message per Idempotency-Key, as the key promises."""

    def __init__(self):
        self.posts: list[tuple[str, dict]] = []
        self.kept: dict[str, dict] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                key = self.headers.get("Idempotency-Key", "")
                receiver.posts.append((key, body))
                receiver.kept.setdefault(key, body)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture
def chat():
    server = ChatReceiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


class Killed(BaseException):
    """The process dies: nothing after this point runs, not even `except Exception`."""


class DiesAfterSending:
    """A sender that hands the message over and then the process is killed, before anything is recorded."""

    def __init__(self, real, after: int = 1):
        self.real, self.left = real, after

    def send(self, notice, key):
        self.real.send(notice, key)
        self.left -= 1
        if self.left == 0:
            raise Killed()


@pytest.fixture
def world(tmp_path, mailbox, chat):
    data = program_data()
    data["program"]["feedback"] = {"first_after": "2w", "every": "1 month"}
    data["program"]["notices"] = {
        "smtp": {"host": "127.0.0.1", "port": mailbox.port, "security": "none", "sender": "mentoring@example.com"},
        "chat": {"kind": "slack", "digest_on": "fri"},
    }
    bob = next(p for p in data["people"] if p["username"] == "bob")
    bob.update({"email": "bob@example.com", "forge_account": False})  # an external mentee: e-mail only
    program = load_program(write_program(tmp_path / "program.yml", data))
    provider = LocalProvider(program.local_db_path(), group="mentoring", clock=lambda: at("2027-01-11"))
    templates = Templates()
    reconcile_program(provider, program, templates, trigger="sync", now=at("2027-01-11"))
    email = SmtpRelay(program.settings.notices.smtp, lambda: at("2027-01-11"))
    webhook = ChatWebhook(program.settings.notices.chat, f"http://127.0.0.1:{chat.server_address[1]}/hook")
    return program, provider, templates, email, webhook


def run(world, day, *, email=None, chat=None, **options):
    program, provider, templates, real_email, real_chat = world
    return notify(provider, program, templates, now=at(day), email=email or real_email, chat=chat or real_chat, **options)


def test_the_session_date_reaches_an_external_person_once_across_reruns(world, mailbox):
    first = run(world, "2027-01-12")
    assert first.sent == ["bob-alice: session:1:2027-01-25:bob"]
    assert [(to, m["Subject"]) for to, m in mailbox.messages] == [
        (("bob@example.com",), "Test mentoring: session 1 with Alice Adams on 2027-01-25")]
    assert run(world, "2027-01-13").sent == [] and len(mailbox.messages) == 1
    _program, provider, *_ = world
    session = next(i for i in provider.list_issues(None) if "session:1" in i.body)
    provider.update_issue(session.project, session.number, due=datetime(2027, 1, 27).date())  # re-planned
    assert run(world, "2027-01-14").sent == ["bob-alice: session:1:2027-01-27:bob"]
    assert "on 2027-01-27" in mailbox.messages[-1][1]["Subject"] and len(mailbox.messages) == 2


def test_reminder_and_survey_mails_survive_a_kill_between_sending_and_recording(world, mailbox):
    program, provider, templates, email, _ = world
    run(world, "2027-01-12")  # the session date
    sweep(provider, program, templates, now=at("2027-01-29"))  # overdue: bob is nudged; feedback round 1 opens
    with pytest.raises(Killed):
        run(world, "2027-01-29", email=DiesAfterSending(email))
    after_kill = run(world, "2027-01-29")
    again = run(world, "2027-01-30")
    keys = [m["Message-ID"] for _, m in mailbox.messages]
    assert len(keys) == len(set(keys)) == 3  # session date, reminder, survey: each exactly once
    subjects = sorted(m["Subject"] for _, m in mailbox.messages[1:])
    assert subjects == ["Test mentoring: Feedback round 1: Bob Brown & Alice Adams",
                        "Test mentoring: a reminder about your sessions with Alice Adams"]
    mails = [s for s in after_kill.sent if s.startswith("bob-alice:")]
    assert mails == ["bob-alice: reminder:session:1:2027-01-29:bob"] and again.sent == []
    assert after_kill.unconfirmed == ["bob-alice: feedback:1:bob"]
    assert again.unconfirmed == after_kill.unconfirmed  # the killed one is listed for coordinators, never resent
    resent = run(world, "2027-01-30", resend_unconfirmed=True)
    assert resent.sent == after_kill.unconfirmed and resent.unconfirmed == []
    assert mailbox.messages[-1][1]["Message-ID"] in keys[:3]  # the same Message-ID: clients show it once
    assert run(world, "2027-01-30").unconfirmed == []


def test_the_weekly_digest_reaches_chat_once_after_a_kill(world, chat):
    program, provider, templates, _email, webhook = world
    assert run(world, "2027-01-28").sent == ["bob-alice: session:1:2027-01-25:bob"]  # thursday: no digest yet
    assert chat.posts == []
    sweep(provider, program, templates, now=at("2027-01-29"))
    with pytest.raises(Killed):
        run(world, "2027-01-29", chat=DiesAfterSending(webhook))
    assert run(world, "2027-01-29").sent[-1] == "coordinators: digest:2027-W04"
    assert run(world, "2027-01-30").sent == []
    assert len(chat.posts) == 2 and len(chat.kept) == 1  # sent again with the same key, kept once
    text = next(iter(chat.kept.values()))["text"]
    assert "pairs need action (2027-W04)" in text and "bob-alice" in text
