"""Personal survey links for people without a forge account: signed, expiring tokens and reading a filled-in form (pure).

A link names one person's invitation to one survey round (survey, round, pair, username) and is
signed with the key `service.form_secret_env` names (itsdangerous); nobody can make one for
somebody else or change what it names. Its timestamp is the day the round was sent, so it
expires when the round closes (`closes_after`), plus one day of grace for people in other time zones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from issuebot.config import Program, Survey
from issuebot.plan import answers_by_form
from issuebot.survey_replies import ReadReply, read_replies
from issuebot.survey_results import survey_key

SALT = "issuebot.survey-form"  # a calendar or session signature never reads as a survey link
GRACE = timedelta(days=1)


class FormLinkError(Exception):
    """A link that cannot be used; the message is safe to show to whoever holds it."""

    status = 404


class FormLinkInvalid(FormLinkError):
    """Altered, signed with another key, or naming a survey, pair or person the program does not have."""


class FormLinkExpired(FormLinkError):
    """The round the link belongs to has closed."""

    status = 410


@dataclass(frozen=True)
class Invitation:
    """The one invitation a link stands for."""

    survey: str
    round: int
    pair: str
    person: str  # username

    @property
    def key(self) -> str:
        """The marker key of the invitation's item in the person's private channel."""
        return survey_key(self.survey, self.round, self.pair, self.person)


def _serializer(key: str, now: datetime) -> URLSafeTimedSerializer:
    """A serializer whose clock is `now`: signing stamps it, checking measures the age from it."""
    stamp = int(now.timestamp())

    class _Clocked(TimestampSigner):
        def get_timestamp(self) -> int:
            return stamp

    return URLSafeTimedSerializer(key, salt=SALT, signer=_Clocked)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=timezone.utc)


def form_token(key: str, invitation: Invitation, sent: date) -> str:
    """The token of `invitation`, stamped with the day its round was sent (the same on every run)."""
    payload = {"s": invitation.survey, "r": invitation.round, "p": invitation.pair, "u": invitation.person}
    return str(_serializer(key, _midnight(sent)).dumps(payload))


def form_url(program: Program, token: str) -> str | None:
    base = program.service.public_url
    return f"{base.rstrip('/')}/form/{token}" if base else None


def _longest_round(program: Program) -> timedelta:
    days = max((s.closes_after.approx_days() for s in program.surveys.items), default=0)
    return timedelta(days=days + 1) + GRACE


def read_form_token(key: str, token: str, program: Program, now: datetime) -> tuple[Invitation, Survey]:
    """The invitation and survey a token names, checked against the program and the clock.

    Raises FormLinkInvalid (altered, another key, or a survey, pair or person the program does not
    have) or FormLinkExpired (its round has closed)."""
    serializer = _serializer(key, now)
    try:
        payload, stamped = serializer.loads(token, max_age=int(_longest_round(program).total_seconds()), return_timestamp=True)
    except SignatureExpired:
        raise FormLinkExpired("This survey link has expired: its round is closed.") from None
    except BadSignature:
        raise FormLinkInvalid("This survey link is not valid. Use the link from your e-mail as it is.") from None
    try:
        invitation = Invitation(str(payload["s"]), int(payload["r"]), str(payload["p"]), str(payload["u"]))
    except (KeyError, TypeError, ValueError):
        raise FormLinkInvalid("This survey link is not valid. Use the link from your e-mail as it is.") from None
    survey = next((s for s in program.surveys.items if s.id == invitation.survey), None)
    pair = next((p for p in program.pairs if p.id == invitation.pair), None)
    person = program.people.get(invitation.person)
    if survey is None or pair is None or invitation.round < 1 or (
            invitation.person not in pair.usernames() and invitation.person != pair.mentee.manager) \
            or not answers_by_form(person):
        raise FormLinkInvalid("This survey link does not belong to a survey of this program.")
    closes = survey.closes_after.after(stamped.date())
    if now.astimezone(timezone.utc) >= _midnight(closes) + GRACE:
        raise FormLinkExpired("This survey link has expired: its round is closed.")
    return invitation, survey


def read_form(survey: Survey, fields: Mapping[str, Any]) -> ReadReply:
    """A filled-in form (field `q<number>` per question) read exactly as a reply `N: answer` would be."""
    lines = []
    for number, _question in enumerate(survey.questions, 1):
        value = str(fields.get(f"q{number}") or "").strip()
        if value:
            text = " ".join(value.splitlines())  # one answer per line, as in a reply
            lines.append(f"{number}: {text}")
    return read_replies(survey, ["\n".join(lines)])
