"""GET /calendar/<username>/<token>.ics: a person's iCalendar feed at a secret URL, for calendar clients to subscribe to."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from flask import Blueprint, Response, abort, current_app

from issuebot.calendar_feed import person_feed, token_matches
from issuebot.config import secret
from issuebot.observe import observe_program
from issuebot.providers.base import ProviderError

log = logging.getLogger(__name__)

blueprint = Blueprint("calendar", __name__)


@blueprint.get("/calendar/<username>/<token>.ics")
def person_calendar(username: str, token: str) -> Response:
    """The feed, or 404 for an unknown person or a wrong token (the same answer: nothing to probe)."""
    service = current_app.extensions["issuebot"]
    program = service.program
    key = secret(program.settings.calendar.secret_env)
    if key is None or username not in program.people or not token_matches(key, program, username, token):
        abort(404, description="no such calendar")
    try:
        views, _ = observe_program(service.queue.provider_factory(program), program, find_orphans=False)
    except ProviderError as exc:
        log.warning("calendar: cannot read the tracker: %s", exc)
        abort(503, description="cannot read the tracker right now; calendar clients try again later")
    body = person_feed(program, views, username, now=datetime.now(timezone.utc))
    return Response(body, mimetype="text/calendar", headers={"Cache-Control": "private, max-age=300"})
