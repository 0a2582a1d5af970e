"""Which notices outside the forge are due (e-mail to people, a digest in chat), and how each is keyed and recorded.

Pure: decided from the program and the pairs' views. A notice's `key` names it for good (the
same reminder on a rerun has the same key); its Message-ID and Idempotency-Key derive from it.
What was sent is recorded in the tracker: a pair's notices in its tracker's state block
(`notices: {key: "pending" | "sent"}`), the digest as a marker comment on the dashboard issue.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

from issuebot import markers
from issuebot.config import Program
from issuebot.models import Issue, Person
from issuebot.pairstate import book, current_session, exempt_until
from issuebot.plan import Context, PairView, SessionRef, answers_by_form, program_context, state_date
from issuebot.survey_forms import Invitation, form_token, form_url
from issuebot.survey_results import record_of

PENDING, SENT = "pending", "sent"
REMINDER_WINDOW_DAYS = 7  # reminders older than this are not mailed (e.g. when notices are first turned on)
DIGEST_TEMPLATE = "notice-digest"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Notice:
    """One message to one person (e-mail) or to the coordinators' chat."""

    key: str  # stable identity: "session:3:2027-02-08:bob", "digest:2027-W10"
    channel: Literal["email", "chat"]
    pair: str  # "" for the digest
    to: str  # e-mail address; "" for chat
    subject: str
    body: str

    def idempotency_key(self, program: Program) -> str:
        """The same for every attempt at this notice, different in every program."""
        seed = f"{program.settings.name}\0{self.pair}\0{self.key}".encode()
        return hashlib.sha256(seed).hexdigest()[:32]

    def message_id(self, program: Program, domain: str) -> str:
        return f"<issuebot.{self.idempotency_key(program)}@{domain}>"


def recorded(view: PairView) -> dict[str, str]:
    """key -> "pending" or "sent" for the pair's notices (empty when none or damaged)."""
    value = view.state.get("notices")
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def with_recorded(state: Mapping[str, Any], statuses: Mapping[str, str]) -> dict[str, Any]:
    """A copy of a tracker state with each notice key recorded as its status ("pending" or "sent")."""
    new = dict(state)
    notices = dict(state.get("notices") or {}) if isinstance(state.get("notices"), dict) else {}
    notices.update(statuses)
    new["notices"] = notices
    return new


def wants_email(program: Program, person: Person) -> bool:
    return bool(person.email) and (not person.forge_account or program.settings.notices.email_everyone)


def pair_notices(view: PairView, ctx: Context) -> list[Notice]:
    """The e-mail notices a pair's members should have by now: session dates, surveys, reminders."""
    program, today = ctx.program, ctx.today
    if view.project is None or exempt_until(view.state, view.status(program), today) is not None:
        return []
    pair = view.pair
    people = [p for p in (pair.mentee, pair.mentor) if wants_email(program, p)]
    if not people:
        return []
    out: list[Notice] = []
    session = current_session(view)
    for person in people:
        partner = pair.mentor if person is pair.mentee else pair.mentee
        base = {"program": program_context(program), "person": ctx.person(person), "partner": ctx.person(partner),
                "pair": {"id": pair.id}, "today": today}
        if session is not None and session.issue.due is not None:
            out.append(_render(ctx, "notice-session", f"session:{session.ref.number}:{session.issue.due}:{person.username}",
                               pair.id, person, session={"number": session.ref.number, "due": session.issue.due,
                                                         "url": session.issue.url}, **base))
        for key, issue in sorted(view.issues.items()):
            if key.startswith("feedback:") and issue.state == "open":
                out.append(_render(ctx, "notice-survey", f"{key}:{person.username}", pair.id, person,
                                   survey={"title": issue.title, "due": issue.due, "url": issue.url}, **base))
        for entry in book(view.state).get("sent", []):
            on = state_date(entry.get("on")) if isinstance(entry, dict) else None
            if on is None or entry.get("to") != person.username or on <= today - timedelta(days=REMINDER_WINDOW_DAYS):
                continue
            reminded = view.issues.get(str(entry.get("issue")))
            ref = SessionRef.parse(str(entry.get("issue")))
            out.append(_render(ctx, "notice-reminder", f"reminder:{entry.get('issue')}:{on}:{person.username}", pair.id,
                               person, reminder={"on": on, "session": ref.number if ref else None,
                                                 "url": reminded.url if reminded is not None else ""}, **base))
    return out


def survey_form_notices(view: PairView, ctx: Context, channel_issues: Iterable[Issue], form_key: str | None) -> list[Notice]:
    """An e-mail with a personal, signed link for each open survey round sent to someone of this pair
    who has no forge account (`forge_account: false` and an e-mail address). None without a
    signing key or `service.public_url`: a link nobody can open is not sent."""
    program = ctx.program
    if form_key is None or program.service.public_url is None or view.project is None:
        return []
    surveys = {s.id: s for s in program.surveys.items}
    pair = view.pair
    out: list[Notice] = []
    for issue in channel_issues:
        record = record_of(issue)
        if record is None or record.pair != pair.id or issue.state != "open" or record.survey not in surveys:
            continue
        person = program.people.get(record.person)
        state = markers.read_state(issue.body)
        sent = state_date(state.get("sent"))
        if person is None or not answers_by_form(person) or sent is None:
            continue
        token = form_token(form_key, Invitation(record.survey, record.round, pair.id, person.username), sent)
        partner = pair.mentor if person.username == pair.mentee.username else pair.mentee  # a manager: the mentee
        survey = surveys[record.survey]
        title = survey.title if record.round == 1 else f"{survey.title}, round {record.round}"
        out.append(_render(ctx, "notice-survey", f"{markers.find_marker(issue.body)}:form", pair.id, person,
                           program=program_context(program), person=ctx.person(person), partner=ctx.person(partner),
                           pair={"id": pair.id}, today=ctx.today,
                           survey={"title": title, "due": state_date(state.get("closes")), "url": form_url(program, token),
                                   "personal": True}))
    return out


def _render(ctx: Context, template: str, key: str, pair_id: str, recipient: Person, **context: Any) -> Notice:
    rendered = ctx.templates.render(template, **context)
    return Notice(key=key, channel="email", pair=pair_id, to=recipient.email or "", subject=rendered.title,
                  body=rendered.body)


def digest_key(today: date) -> str:
    year, week, _ = today.isocalendar()
    return f"digest:{year}-W{week:02d}"


def digest_due(program: Program, today: date, dashboard: Issue | None) -> bool:
    """The weekly digest is due from its weekday to the end of that week, once there is a dashboard issue."""
    chat = program.settings.notices.chat
    if chat is None or dashboard is None or dashboard.state != "open":
        return False
    return today.weekday() >= WEEKDAYS.index(chat.digest_on)


def digest_recorded(comments: Iterable[Any], today: date) -> bool:
    """Whether this week's digest is recorded among the dashboard issue's comments."""
    key = digest_key(today)
    return any(markers.has_marker(c.body, key) for c in comments)


def digest(ctx: Context, rows: list[dict[str, Any]]) -> Notice:
    """The coordinators' weekly digest: pairs where someone needs to act (metadata only, no pair text)."""
    needing = [r for r in rows if r.get("act") not in (None, "-")]
    rendered = ctx.templates.render(DIGEST_TEMPLATE, program=program_context(ctx.program), rows=needing,
                                    total=len(rows), today=ctx.today, week=digest_key(ctx.today).split(":", 1)[1])
    return Notice(key=digest_key(ctx.today), channel="chat", pair="", to="", subject=rendered.title, body=rendered.body)


def digest_record(notice: Notice) -> str:
    """The marker comment on the dashboard issue that records a sent digest."""
    return markers.with_marker(f"Weekly digest sent to chat: {notice.subject}", notice.key)
