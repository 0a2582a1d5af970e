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
from issuebot.providers.base import ProviderError
from issuebot.observe import observe_program

log = logging.getLogger(__name__)

blueprint = Blueprint("dashboard", __name__, template_folder="web")


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

    Without a configured token the dashboard is off (404), so nothing is ever exposed by default.
    """
    token = _service().dashboard_token
    if token is None:
        abort(404)
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
    rows, _ = _snapshot().current(_service())
    status = request.args.get("status")
    return jsonify([r.as_dict() for r in rows if status is None or r.status == status])


@blueprint.get("/api/pairs/<pair_id>")
def pair_json(pair_id: str) -> Response:
    rows, _ = _snapshot().current(_service())
    for row in rows:
        if row.pair == pair_id:
            return jsonify(row.as_dict())
    abort(404, description=f"no pair {pair_id!r} in this program")
