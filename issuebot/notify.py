"""Send the due notices outside the forge (SMTP e-mail, a chat incoming webhook) once each, and record them in the tracker.

Exactly once, and where the window is:
- Chat (HTTP): send with an `Idempotency-Key` derived from the notice, then record it. A run
  killed between the two sends again on the next run with the same key; a receiver that
  honours the key keeps one message.
- E-mail (SMTP has no idempotency key): record the notice as `pending` in the tracker first,
  then send it with a Message-ID derived from the notice, then record it `sent`. A run killed
  after the relay took the message leaves it `pending`: it is never sent again by itself, and
  every run lists it as unconfirmed until a coordinator resends it (`--resend-unconfirmed`,
  with the same Message-ID, which mail clients show once). A kill after the `pending` record
  and before the relay took the message is the one case where a notice is late: listed the same way.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Protocol

import requests

from issuebot import markers
from issuebot.config import ChatSettings, Program, SmtpSettings, secret
from issuebot.notices import (
    PENDING,
    SENT,
    Notice,
    digest,
    digest_due,
    digest_record,
    digest_recorded,
    pair_notices,
    recorded,
    survey_form_notices,
    with_recorded,
)
from issuebot.observe import observe_channels, observe_coordination, observe_program
from issuebot.plan import PairView
from issuebot.providers.base import Provider
from issuebot.reconcile import context_for
from issuebot.templates import Templates
from issuebot.workflows.program.dashboard_issue import find_dashboard, rows


class NoticeError(Exception):
    """A notice could not be sent; the message names the relay or webhook, never a credential."""


class EmailSender(Protocol):
    def send(self, notice: Notice, message_id: str) -> None: ...


class ChatSender(Protocol):
    def send(self, notice: Notice, idempotency_key: str) -> None: ...


class SmtpRelay:
    """E-mail through the program's SMTP relay (credentials from the environment)."""

    def __init__(self, settings: SmtpSettings, now: Callable[[], datetime]):
        self.settings = settings
        self.now = now

    def send(self, notice: Notice, message_id: str) -> None:
        settings = self.settings
        message = EmailMessage()
        message["From"] = settings.sender
        message["To"] = notice.to
        message["Subject"] = notice.subject
        message["Message-ID"] = message_id
        message["Date"] = format_datetime(self.now())
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies
        message.set_content(notice.body)
        where = f"{settings.host}:{settings.port}"
        try:
            if settings.security == "ssl":
                client: smtplib.SMTP = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout_seconds,
                                                        context=ssl.create_default_context())
            else:
                client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_seconds)
            with client:
                if settings.security == "starttls":
                    client.starttls(context=ssl.create_default_context())
                user = secret(settings.username_env) if settings.username_env else None
                password = secret(settings.password_env) if settings.password_env else None
                if user and password:
                    client.login(user, password)
                client.send_message(message)
        except smtplib.SMTPAuthenticationError:
            raise NoticeError(f"the SMTP relay {where} refused the credentials from {settings.username_env}/"
                              f"{settings.password_env}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise NoticeError(f"the SMTP relay {where} did not take the message: {exc.__class__.__name__}") from None


class ChatWebhook:
    """Messages to a Slack or Teams incoming webhook (its URL is a secret, from the environment)."""

    def __init__(self, settings: ChatSettings, url: str, session: requests.Session | None = None):
        self.settings = settings
        self.url = url
        self.session = session or requests.Session()

    def send(self, notice: Notice, idempotency_key: str) -> None:
        text = f"*{notice.subject}*\n{notice.body}" if self.settings.kind == "slack" else f"**{notice.subject}**\n\n{notice.body}"
        try:
            answer = self.session.post(self.url, json={"text": text}, timeout=self.settings.timeout_seconds,
                                       headers={"Idempotency-Key": idempotency_key})
        except requests.RequestException as exc:
            raise NoticeError(f"the {self.settings.kind} webhook did not answer: {exc.__class__.__name__}") from None
        if answer.status_code >= 300:
            raise NoticeError(f"the {self.settings.kind} webhook answered {answer.status_code}")


def senders_for(program: Program, now: Callable[[], datetime]) -> tuple[EmailSender | None, ChatSender | None]:
    """The configured senders; a chat webhook whose URL variable is unset is an error before anything is sent."""
    notices = program.settings.notices
    email = SmtpRelay(notices.smtp, now) if notices.smtp is not None else None
    chat = None
    if notices.chat is not None:
        url = secret(notices.chat.webhook_url_env)
        if url is None:
            raise NoticeError(f"program.notices.chat: the environment variable {notices.chat.webhook_url_env} is not set")
        chat = ChatWebhook(notices.chat, url)
    return email, chat


def configured(program: Program) -> bool:
    notices = program.settings.notices
    return notices.smtp is not None or notices.chat is not None


@dataclass
class NotifyOutcome:
    sent: list[str] = field(default_factory=list)  # "pair: key"
    would_send: list[Notice] = field(default_factory=list)  # --dry-run
    unconfirmed: list[str] = field(default_factory=list)  # pending: may or may not have reached the relay
    errors: list[str] = field(default_factory=list)


def notify(provider: Provider, program: Program, templates: Templates, *, now: datetime,
           email: EmailSender | None, chat: ChatSender | None, dry_run: bool = False,
           resend_unconfirmed: bool = False) -> NotifyOutcome:
    """Send every due notice not yet recorded as sent, and record it in the tracker."""
    ctx = context_for(provider, program, templates, "sweep", now)
    outcome = NotifyOutcome()
    domain = (program.settings.notices.smtp.sender.rsplit("@", 1)[-1] if program.settings.notices.smtp else "issuebot")
    with provider.exclusive():
        views, _ = observe_program(provider, program, find_orphans=False)
        if email is not None or dry_run:
            form_key = secret(program.service.form_secret_env)
            channel_issues = observe_channels(provider, program)[2] if form_key and program.surveys.items else []
            for view in views.values():
                due = pair_notices(view, ctx) + survey_form_notices(view, ctx, channel_issues, form_key)
                try:
                    _send_pair_notices(provider, program, view, due, email, outcome, domain,
                                       dry_run=dry_run, resend=resend_unconfirmed)
                except NoticeError as exc:
                    outcome.errors.append(f"{view.pair.id}: {exc}")
        if chat is not None or (dry_run and program.settings.notices.chat is not None):
            path, _, issues = observe_coordination(provider, program)
            board = find_dashboard(issues)
            if digest_due(program, ctx.today, board):
                assert board is not None
                if not digest_recorded(provider.list_comments(path, board.number), ctx.today):
                    notice = digest(ctx, rows(program, views, ctx))
                    if dry_run:
                        outcome.would_send.append(notice)
                    else:
                        try:
                            assert chat is not None
                            chat.send(notice, notice.idempotency_key(program))
                        except NoticeError as exc:
                            outcome.errors.append(f"digest: {exc}")
                        else:
                            provider.create_comment(path, board.number, digest_record(notice))
                            outcome.sent.append(f"coordinators: {notice.key}")
    return outcome


def _send_pair_notices(provider: Provider, program: Program, view: PairView, due: list[Notice],
                       email: EmailSender | None, outcome: NotifyOutcome, domain: str, *, dry_run: bool,
                       resend: bool) -> None:
    done = recorded(view)
    fresh = [n for n in due if n.key not in done]
    pending = [n for n in due if done.get(n.key) == PENDING]
    if not resend:
        outcome.unconfirmed.extend(f"{view.pair.id}: {n.key}" for n in pending)
    to_send = fresh + (pending if resend else [])
    if not to_send or view.tracker is None:
        return
    if dry_run:
        outcome.would_send.extend(to_send)
        return
    assert email is not None
    # One tracker write between two sends: it records the notice just sent and, before the next
    # is handed to the relay, that one as pending. A kill leaves at most one notice unconfirmed.
    previous: list[str] = []
    for notice in to_send:
        _record(provider, view, {**{k: SENT for k in previous}, notice.key: PENDING})
        email.send(notice, notice.message_id(program, domain))
        outcome.sent.append(f"{view.pair.id}: {notice.key}")
        previous = [notice.key]
    _record(provider, view, {k: SENT for k in previous})


def _record(provider: Provider, view: PairView, statuses: dict[str, str]) -> None:
    """Record notices in the pair's tracker state, on a fresh read of the tracker (one read, one write)."""
    assert view.tracker is not None
    tracker = provider.get_issue(view.project_path, view.tracker.number)
    state = markers.read_state(tracker.body)
    provider.update_issue(view.project_path, tracker.number, body=markers.write_state(tracker.body, with_recorded(state, statuses)))
