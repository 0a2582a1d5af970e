"""GET/POST /form/<token>: a survey round answered through a personal, signed link, for people without a forge account.

The answers go into the service's own database (store.survey_answers) and nowhere else: not the
forge, not the logs. One answer per person and round: a second one is refused (409), as a
complete reply on the forge is final too. A link that was altered, signed with another key, or
names a round that was never sent to its holder is 404; one whose round has closed is 410.
The form carries no CSRF token: the signed link in its address is already a secret another site
cannot know, and there is no session to ride on.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, current_app, render_template, request

from issuebot.config import Program, secret
from issuebot.markers import find_marker
from issuebot.plan import handle_of, program_context
from issuebot.providers.base import NotFound, ProviderError
from issuebot.survey_forms import FormLinkError, Invitation, read_form, read_form_token
from issuebot.survey_results import FormAnswer

log = logging.getLogger(__name__)

blueprint = Blueprint("forms", __name__, template_folder="web")

# The link is the credential: keep it out of caches and of the Referer sent to other sites.
PRIVATE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}


def _page(template: str, status: int, **context: Any) -> Response:
    program: Program = current_app.extensions["issuebot"].program
    body = render_template(template, program=program_context(program), **context)
    return Response(body, status=status, mimetype="text/html", headers=PRIVATE_HEADERS)


def _refused(status: int, message: str) -> Response:
    return _page("form-refused.html", status, message=message)


def _invitation_open(invitation: Invitation) -> bool | None:
    """Whether the round was sent to this person and is still open, as the tracker shows it:
    None when it never was (1 list call of the person's private channel)."""
    service = current_app.extensions["issuebot"]
    program = service.program
    provider = service.queue.provider_factory(program)
    path = provider.private_channel_path(program.surveys.channel, handle_of(program, invitation.person, provider.kind))
    try:
        issues = provider.list_issues(path, state="all")
        item = next((i for i in issues if find_marker(i.body) == invitation.key), None)
    except NotFound:
        return None
    return None if item is None else item.state == "open"


@blueprint.route("/form/<token>", methods=["GET", "POST"])
def survey_form(token: str) -> Response:
    """The survey's questions (GET); the answers, checked as a reply would be, recorded once (POST)."""
    service = current_app.extensions["issuebot"]
    program: Program = service.program
    key = secret(program.service.form_secret_env)
    if key is None:
        return _refused(404, "Survey links are not set up for this program.")
    try:
        invitation, survey = read_form_token(key, token, program, service.clock())
    except FormLinkError as exc:
        return _refused(exc.status, str(exc))
    try:
        sent = _invitation_open(invitation)
    except ProviderError as exc:
        log.warning("survey form: cannot read the tracker: %s", exc)
        return _refused(503, "The survey cannot be opened right now. Please try again in a few minutes.")
    if sent is None:
        return _refused(404, "This survey round was not sent to you.")
    if not sent:
        return _refused(410, "This survey round is closed.")
    store = service.store
    if store.has_survey_answer(invitation.survey, invitation.round, invitation.pair, invitation.person):
        return _refused(409, "You have already answered this survey round. Thank you!")
    questions = [q.model_dump() for q in survey.questions]
    context = {"survey": {"title": survey.title, "round": invitation.round, "privacy": survey.privacy,
                          "min_group": program.surveys.min_group}, "questions": questions}
    if request.method == "GET":
        return _page("form.html", 200, values={}, problems=[], **context)
    read = read_form(survey, request.form)
    if not read.complete:
        problems = [{"number": p.number, "code": p.code} for p in read.problems if p.code != "no-such-question"]
        values = {k: v for k, v in request.form.items() if k.startswith("q")}
        return _page("form.html", 422, values=values, problems=problems, **context)
    recorded = store.add_survey_answer(FormAnswer(survey=invitation.survey, round=invitation.round, pair=invitation.pair,
                                                  person=invitation.person, answers=dict(read.answers),
                                                  answered_at=service.clock()))
    if not recorded:
        return _refused(409, "You have already answered this survey round. Thank you!")
    return _page("form-thanks.html", 200, survey=context["survey"])
