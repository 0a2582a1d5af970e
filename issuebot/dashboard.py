"""Coordinators' web dashboard and JSON API: pair metadata only, read-only, behind a token."""

from __future__ import annotations

import hmac
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, render_template, request

from issuebot import report
from issuebot.labels import PAIR_STATUSES
from issuebot.providers.base import ProviderError
from issuebot.observe import observe_program

log = logging.getLogger(__name__)

blueprint = Blueprint("dashboard", __name__, template_folder="web")

# What `/api/pairs?status=` may ask for: a pair status, or a pair whose project is not made yet.
STATUS_FILTERS = (*PAIR_STATUSES, "not created")

# Every answer of the service: nothing is cached (pair data), sniffed, framed or loaded from elsewhere.
# The dashboard page has one inline <style> and no script.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; "
                               "base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def add_security_headers(response: Response) -> Response:
    """Set SECURITY_HEADERS on an answer (registered for every view by the app factory)."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


@dataclass
class Snapshot:
    """Report rows read from the tracker, kept for `ttl` seconds so page views stay cheap."""

    ttl: float
    rows: list[report.PairRow] = field(default_factory=list)
    taken_at: float = float("-inf")
    retry_at: float = float("-inf")  # after a failed read, the tracker is not asked again before this
    error: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def current(self, service: Any) -> tuple[list[report.PairRow], float]:
        """The rows and their age; older rows while the tracker fails, 503 when there are none."""
        with self.lock:
            now = time.monotonic()
            if now - self.taken_at >= self.ttl and now >= self.retry_at:
                try:
                    provider = service.queue.provider_factory(service.program)
                    views, _ = observe_program(provider, service.program)
                except ProviderError as exc:
                    self.retry_at, self.error = now + self.ttl, str(exc)
                    log.warning("dashboard: cannot read the tracker: %s", exc)
                else:
                    self.rows, self.taken_at = report.rows(service.program, views), time.monotonic()
            if self.taken_at == float("-inf"):
                abort(503, description=f"cannot read the tracker: {self.error}")
            return self.rows, time.monotonic() - self.taken_at


def _service() -> Any:
    return current_app.extensions["issuebot"]


def _snapshot() -> Snapshot:
    return current_app.extensions["issuebot.dashboard"]


@blueprint.before_request
def require_token() -> Response | None:
    """HTTP Basic (any user name, the token as password) or `Authorization: Bearer <token>`.

    Without a configured token the dashboard is off (404, saying how to turn it on), so nothing is
    ever exposed by default.
    """
    token = _service().dashboard_token
    if token is None:
        return _dashboard_off()
    given = ""
    auth = request.authorization
    if auth is not None:
        given = auth.token if auth.type == "bearer" else (auth.password or "")
    if not given or not hmac.compare_digest(given.encode(), token.encode()):
        response = jsonify(status="error", error="a dashboard token is required")
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Basic realm="issuebot dashboard"'
        return response
    return None


def _dashboard_off() -> Response:
    variable = _service().program.service.dashboard_token_env
    how = (f"The dashboard is off. To turn it on, set the environment variable {variable} "
           "(named by service.dashboard_token_env) to a long random token and restart issuebot serve; "
           "then sign in with any user name and the token as password, or send 'Authorization: Bearer <token>'.")
    if request.path.startswith("/api/"):
        response = jsonify(status="error", error=how)
    else:
        response = Response(render_template("dashboard-off.html", how=how), mimetype="text/html")
    response.status_code = 404
    return response


@blueprint.get("/dashboard")
def dashboard_page() -> str:
    rows, age = _snapshot().current(_service())
    program = _service().program
    statuses: dict[str, int] = {}
    for row in rows:
        statuses[row.status] = statuses.get(row.status, 0) + 1
    return render_template("dashboard.html", program=program.settings, rows=rows, statuses=statuses, age=int(age))


@blueprint.get("/api/pairs")
def pairs_json() -> Response:
    status = request.args.get("status")
    if status is not None and status not in STATUS_FILTERS:
        abort(400, description=f"unknown status {status!r}; use one of: {', '.join(STATUS_FILTERS)}")
    rows, _ = _snapshot().current(_service())
    return jsonify([r.as_dict() for r in rows if status is None or r.status == status])


@blueprint.get("/api/pairs/<pair_id>")
def pair_json(pair_id: str) -> Response:
    rows, _ = _snapshot().current(_service())
    for row in rows:
        if row.pair == pair_id:
            return jsonify(row.as_dict())
    abort(404, description=f"no pair {pair_id!r} in this program")
