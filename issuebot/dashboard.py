"""Coordinators' web app and JSON API: pair metadata, the summary and the dashboard's actions, behind a sign-in."""

from __future__ import annotations

import hmac
import logging
import math
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from authlib.integrations.flask_client import OAuth
from flask import Blueprint, Flask, Response, abort, current_app, flash, g, jsonify, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError, generate_csrf, validate_csrf
from wtforms import ValidationError

from issuebot import report, summary
from issuebot.cohort import credits as cohort_credits
from issuebot.config import secret
from issuebot.events import TrackerUsageError, ask_through_dashboard
from issuebot.labels import PAIR_STATUSES
from issuebot.observe import observe_channels, observe_cohort, observe_coordination, observe_history
from issuebot.pairstate import book, current_session, goal_progress, tracked_items
from issuebot.plan import PairView, answers_by_form, state_date
from issuebot.providers.base import ProviderError
from issuebot.providers.oauth import endpoints
from issuebot.report_html import summary_context
from issuebot.surveys_report import survey_figures
from issuebot.templates import Templates
from issuebot.workflows.program.dashboard_issue import REQUESTS
from issuebot.workflows.program.rematch_requests import carried_out_requests

log = logging.getLogger(__name__)

blueprint = Blueprint("dashboard", __name__, template_folder="web", static_folder="web/static",
                      static_url_path="/dashboard/static")

PER_PAGE = 50
SORTS = ("need", "pair", "status", "last_session", "next_session_due", "sessions_held", "goals", "mentor_hours")
# Pairs that need someone first, the most urgent status first.
URGENCY = {"stale": 0, "kickoff": 1, "wrapping-up": 2, "active": 3, "paused": 4, "ended": 5, "not created": 6}
PUBLIC = {"dashboard.sign_in", "dashboard.sign_in_with_token", "dashboard.sign_in_with_forge",
          "dashboard.forge_callback", "dashboard.static"}
REQUEST_LABELS = {"snooze": "Snooze reminders 14 days", "extend": "Extend one month", "end": "End the pair",
                  "nudge": "Nudge now"}

# What `/api/pairs?status=` may ask for: a pair status, or a pair whose project is not made yet.
STATUS_FILTERS = (*PAIR_STATUSES, "not created", "needs-action")

# Every answer of the service: nothing is cached (pair data), sniffed, framed or loaded from elsewhere.
# The web app has no script: its own stylesheet, inline SVG charts, and forms posting to itself.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
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
    """One read of the tracker (every pair with its closed issues, and the coordinators' project)
    kept for `ttl` seconds, so page views and API calls stay cheap."""

    ttl: float
    rows: list[report.PairRow] = field(default_factory=list)  # most urgent first
    dicts: list[dict[str, Any]] = field(default_factory=list)  # the rows as JSON, same order
    views: dict[str, PairView] = field(default_factory=dict)
    summary: summary.Summary | None = None
    surveys: dict[str, Any] | None = None
    links: dict[str, str] = field(default_factory=dict)  # pair id -> its progress tracker in the forge
    taken_at: float = float("-inf")
    retry_at: float = float("-inf")  # after a failed read, the tracker is not asked again before this
    error: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def current(self, service: Any) -> Snapshot:
        """Itself, refreshed when older than `ttl`; older data while the tracker fails, 503 when there is none."""
        with self.lock:
            now = time.monotonic()
            if now - self.taken_at >= self.ttl and now >= self.retry_at:
                try:
                    with report.bulk_reading():
                        self._read(service)
                except ProviderError as exc:
                    self.retry_at, self.error = now + self.ttl, str(exc)
                    log.warning("dashboard: cannot read the tracker: %s", exc)
                else:
                    self.taken_at = time.monotonic()
            if self.taken_at == float("-inf"):
                abort(503, description=f"cannot read the tracker: {self.error}")
            return self

    @property
    def age(self) -> float:
        return time.monotonic() - self.taken_at

    def expire(self) -> None:
        with self.lock:
            self.taken_at = self.retry_at = float("-inf")

    def _read(self, service: Any) -> None:
        program = service.program
        provider = service.queue.provider_factory(program)
        views = observe_history(provider, program)
        _, _, coordination = observe_coordination(provider, program)
        today = today_for(service)
        rows = sorted(report.rows(program, views, today), key=urgency)
        channel_issues = observe_channels(provider, program)[2]
        space = observe_cohort(provider, program, with_comments=False)
        self.surveys = survey_figures(program, channel_issues, form_answers_of(service))
        self.summary = summary.summarize(program, views, today, surveys=self.surveys,
                                         rematched=carried_out_requests(program, coordination + channel_issues,
                                                                        provider.kind),
                                         acting={r.pair: r.act for r in rows},
                                         cohort=cohort_credits(program, space.issues, provider.kind) if space else ())
        self.views, self.rows, self.dicts = views, rows, [r.as_dict() for r in rows]
        self.links = {pid: v.tracker.url for pid, v in views.items()
                      if v.tracker is not None and v.tracker.url.startswith(("https://", "http://"))}


def form_answers_of(service: Any) -> list[Any]:
    """Answers given through personal survey links: they live in the service's database only."""
    if not any(answers_by_form(p) for p in service.program.people.values()):
        return []
    return service.store.survey_answer_rows()


def today_for(service: Any) -> date:
    return service.clock().astimezone(ZoneInfo(service.program.settings.timezone)).date()


def urgency(row: report.PairRow) -> tuple[int, int, str, str]:
    return (0 if needs_action(row) else 1, URGENCY.get(row.status, 9), row.next_session_due or "9999", row.pair)


def needs_action(row: report.PairRow) -> bool:
    return row.act not in ("", "-")


# ----------------------------------------------------------------------------- wiring


@dataclass
class WebAuth:
    """How people sign in: the shared token (scripts, the embedded tracker) and the forge's OAuth."""

    token: str | None
    oauth: OAuth | None
    username_field: str = ""
    profile_path: str = ""

    @property
    def enabled(self) -> bool:
        return self.token is not None or self.oauth is not None


def configure(app: Flask, service: Any) -> None:
    """Session signing, OAuth and the snapshot of the coordinators' web app on `app`."""
    settings = service.program.service
    app.secret_key = secret(settings.session_secret_env) or secrets.token_hex(32)  # unset: sign-ins end on restart
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax", WTF_CSRF_TIME_LIMIT=None)
    app.extensions["issuebot.dashboard"] = Snapshot(ttl=settings.dashboard_cache_seconds)
    auth = WebAuth(token=service.dashboard_token, oauth=None)
    client_id = secret(settings.oauth.client_id_env) if settings.oauth else None
    client_secret = secret(settings.oauth.client_secret_env) if settings.oauth else None
    if settings.oauth is not None and client_id and client_secret:
        forge = endpoints(settings.oauth)
        auth.oauth = OAuth(app)
        auth.oauth.register("forge", client_id=client_id, client_secret=client_secret,
                            authorize_url=forge.authorize_url, access_token_url=forge.access_token_url,
                            api_base_url=forge.api_base_url, client_kwargs={"scope": forge.scope})
        auth.username_field, auth.profile_path = forge.username_field, forge.profile_path
    elif settings.oauth is not None:
        log.warning("service.oauth: set %s and %s to let coordinators sign in with %s",
                    settings.oauth.client_id_env, settings.oauth.client_secret_env, settings.oauth.kind)
    app.extensions["issuebot.auth"] = auth


def _service() -> Any:
    return current_app.extensions["issuebot"]


def _snapshot() -> Snapshot:
    return current_app.extensions["issuebot.dashboard"].current(_service())


def _auth() -> WebAuth:
    return current_app.extensions["issuebot.auth"]


@blueprint.context_processor
def page_helpers() -> dict[str, Any]:
    return {"csrf_token": generate_csrf, "coordinator": session.get("coordinator"),
            "program": _service().program.settings}


# ----------------------------------------------------------------------------- sign-in


def _token_given() -> str:
    auth = request.authorization
    if auth is None:
        return ""
    return (auth.token if auth.type == "bearer" else auth.password) or ""


def _token_ok(given: str) -> bool:
    token = _auth().token
    return bool(given) and token is not None and hmac.compare_digest(given.encode(), token.encode())


@blueprint.before_request
def require_sign_in() -> Response | None:
    """A signed-in coordinator (session), or the shared token by HTTP Basic (any user name) or
    `Authorization: Bearer <token>`. Without a token or OAuth the web app is off (404)."""
    if not _auth().enabled:
        return _dashboard_off()
    g.coordinator = session.get("coordinator")
    if request.endpoint in PUBLIC or g.coordinator:
        return None
    if _token_ok(_token_given()):
        return None
    if request.path.startswith("/api/") or request.authorization is not None:
        response = jsonify(status="error", error="a dashboard token is required")
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Basic realm="issuebot dashboard"'
        return response
    return redirect(url_for("dashboard.sign_in", next=request.full_path.rstrip("?")))  # type: ignore[return-value]


def _coordinator_handle(username: str, kind: str) -> str | None:
    """The coordinator's handle on forge `kind` when `username` is one of the program's coordinators."""
    for handle in _service().program.coordinator_handles(kind):
        if handle.casefold() == username.strip().casefold():
            return handle
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


def _safe_next() -> str:
    target = request.values.get("next") or ""
    return target if target.startswith("/") and not target.startswith("//") else url_for("dashboard.dashboard_page")


def _local_form_allowed() -> bool:
    """The token form signs in on the embedded tracker, or wherever no forge OAuth is set up."""
    return _auth().token is not None and (_service().program.settings.provider.kind == "local" or _auth().oauth is None)


@blueprint.get("/signin")
def sign_in() -> str:
    oauth = _service().program.service.oauth
    return render_template("signin.html", next=_safe_next(), form=_local_form_allowed(),
                           forge=oauth.kind if _auth().oauth is not None and oauth else None)


def _check_csrf() -> None:
    try:
        validate_csrf(request.form.get("csrf_token"))
    except ValidationError as exc:
        raise CSRFError(str(exc)) from None


@blueprint.post("/signin")
def sign_in_with_token() -> Any:
    _check_csrf()
    if not _local_form_allowed():
        abort(404)
    handle = _coordinator_handle(request.form.get("username", ""), _service().program.settings.provider.kind)
    if handle is None or not _token_ok(request.form.get("token", "")):
        flash("Sign-in failed: give a coordinator's username and the dashboard token.", "error")
        return render_template("signin.html", next=_safe_next(), form=True, forge=None), 401
    session.clear()
    session["coordinator"] = handle
    return redirect(_safe_next())


@blueprint.get("/signin/forge")
def sign_in_with_forge() -> Any:
    oauth = _auth().oauth
    if oauth is None:
        abort(404)
    session["next"] = _safe_next()
    return oauth.forge.authorize_redirect(url_for("dashboard.forge_callback", _external=True))


@blueprint.get("/signin/callback")
def forge_callback() -> Any:
    auth = _auth()
    if auth.oauth is None:
        abort(404)
    try:
        token = auth.oauth.forge.authorize_access_token()
        profile = auth.oauth.forge.get(auth.profile_path, token=token)
        profile.raise_for_status()
        username = str(profile.json().get(auth.username_field) or "")
    except Exception as exc:
        log.warning("forge sign-in failed: %s", exc.__class__.__name__)
        flash("The forge did not confirm the sign-in; try again.", "error")
        return render_template("signin.html", next=session.get("next", "/dashboard"), form=_local_form_allowed(),
                               forge=_service().program.service.oauth.kind), 401
    kind = _service().program.service.oauth.kind
    handle = _coordinator_handle(username, kind)
    target = session.pop("next", None) or url_for("dashboard.dashboard_page")
    if handle is None:
        log.info("forge sign-in refused: %s is not a coordinator of this program", username)
        flash(f"{username} is not a coordinator of this program.", "error")
        return render_template("signin.html", next=target, form=_local_form_allowed(), forge=kind), 403
    session.clear()
    session["coordinator"] = handle
    return redirect(target)


@blueprint.post("/signout")
def sign_out() -> Any:
    _check_csrf()
    session.clear()
    return redirect(url_for("dashboard.sign_in"))


# ----------------------------------------------------------------------------- the pairs


@dataclass(frozen=True)
class Listing:
    """The pairs a filter, search and sort select, and the page of them shown."""

    rows: list[report.PairRow]
    page: int
    pages: int
    status: str
    query: str
    sort: str
    descending: bool


def _sort_key(sort: str) -> Any:
    if sort == "goals":
        return lambda r: (r.goals_done + r.kpis_done) / max(1, r.goals_total + r.kpis_total)
    if sort in ("last_session", "next_session_due"):
        return lambda r: getattr(r, sort) or ""
    return lambda r: getattr(r, sort)


def select(rows: list[report.PairRow], args: Any) -> Listing:
    """Filter by status chip (or "needs-action"), search names, sort by a column and take one page."""
    status = args.get("status", "")
    query = args.get("q", "").strip()
    sort = args.get("sort", "need") if args.get("sort", "need") in SORTS else "need"
    descending = args.get("order") == "desc"
    chosen = rows
    if status == "needs-action":
        chosen = [r for r in chosen if needs_action(r)]
    elif status:
        chosen = [r for r in chosen if r.status == status]
    if query:
        needle = query.casefold()
        chosen = [r for r in chosen if any(needle in text.casefold() for text in
                                           (r.pair, r.mentor, r.mentee, r.mentor_name, r.mentee_name))]
    if sort != "need" or descending:
        chosen = sorted(chosen, key=_sort_key(sort) if sort != "need" else urgency, reverse=descending)
    pages = max(1, math.ceil(len(chosen) / PER_PAGE))
    try:
        page = min(max(1, int(args.get("page", 1))), pages)
    except ValueError:
        page = 1
    return Listing(chosen, page, pages, status, query, sort, descending)


def _link(**changes: Any) -> str:
    """This page's URL with some query parameters changed (page back to 1 unless given)."""
    args = {k: v for k, v in request.args.items() if v}
    args.pop("page", None)
    args.update({k: v for k, v in changes.items()})
    return f"{request.path}?{urlencode({k: v for k, v in args.items() if v not in ('', None)})}"


@blueprint.get("/dashboard")
def dashboard_page() -> str:
    snap = _snapshot()
    listing = select(snap.rows, request.args)
    statuses = Counter(r.status for r in snap.rows)
    start = (listing.page - 1) * PER_PAGE
    return render_template(
        "dashboard.html", listing=listing, shown=listing.rows[start:start + PER_PAGE], first=start + 1,
        statuses=sorted(statuses.items(), key=lambda item: URGENCY.get(item[0], 9)), total=len(snap.rows),
        needing=sum(1 for r in snap.rows if needs_action(r)), age=int(snap.age), link=_link, sorts=SORTS,
        csv_link=url_for("dashboard.pairs_csv", **{k: v for k, v in request.args.items() if k != "page"}))  # type: ignore[arg-type]


@blueprint.get("/dashboard/pairs.csv")
def pairs_csv() -> Response:
    """Every pair the current filter and search select (all pages), as CSV."""
    listing = select(_snapshot().rows, request.args)
    return Response(report.to_csv(listing.rows), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=pairs.csv"})


def _pair_page_data(snap: Snapshot, pair_id: str) -> dict[str, Any]:
    view = snap.views.get(pair_id)
    row = next((r for r in snap.rows if r.pair == pair_id), None)
    if view is None or row is None:
        abort(404, description=f"no pair {pair_id!r} in this program")
    program = _service().program
    state = view.state
    sessions = sorted((s for s in state.get("sessions", []) if isinstance(s, dict)), key=lambda s: (str(s.get("date")), s.get("n", 0)))
    upcoming = current_session(view)
    kept = book(state)
    sent = sorted((e for e in kept.get("sent", []) if isinstance(e, dict)), key=lambda e: str(e.get("on")))
    ended: dict[str, Any] = state["ended"] if isinstance(state.get("ended"), dict) else {}
    return {
        "row": row, "link": snap.links.get(pair_id),
        "timeline": [{"n": s.get("n"), "date": s.get("date"), "minutes": s.get("minutes"), "mode": s.get("mode") or "sync",
                      "outcome": s.get("outcome")} for s in sessions],
        "upcoming": {"n": upcoming.ref.number, "due": upcoming.issue.due} if upcoming else None,
        "goals": goal_progress(view), "items": tracked_items(program, view),
        "show_titles": program.service.pair_text,
        "reminders": [{"on": e.get("on"), "to": e.get("to"), "rule": e.get("rule") or e.get("kind") or "nudge"} for e in sent],
        "escalated": state_date(kept.get("escalated")), "stale_on": [d for d in state.get("stale_on", []) if isinstance(d, str)]
        if isinstance(state.get("stale_on"), list) else [],
        "snoozed_until": state_date(kept.get("snoozed_until")), "ended": {"on": ended.get("on"), "by": ended.get("by")},
        "survey": (snap.surveys or {}).get("pairs", {}).get(pair_id) if snap.surveys else None,
        "requests": [(r, REQUEST_LABELS[r]) for r in REQUESTS],
    }


@blueprint.get("/dashboard/pairs/<pair_id>")
def pair_page(pair_id: str) -> str:
    return render_template("pair.html", **_pair_page_data(_snapshot(), pair_id))


@blueprint.post("/dashboard/pairs/<pair_id>/<action>")
def pair_action(pair_id: str, action: str) -> Any:
    """Snooze, extend, end or nudge: ticked on the dashboard issue and carried out like that tick."""
    _check_csrf()
    coordinator = session.get("coordinator")
    if not coordinator:
        abort(403, description="sign in as a coordinator to act on a pair")
    if action not in REQUESTS:
        abort(404, description=f"no action {action!r}")
    if action == "end" and request.form.get("confirm") != "yes":
        flash("Tick \u201cI am sure\u201d to end the pair.", "error")
        return redirect(url_for("dashboard.pair_page", pair_id=pair_id))
    service = _service()
    program = service.program
    try:
        outcome = ask_through_dashboard(program, service.queue.provider_factory(program),
                                        Templates(program.templates_dir()), pair_id=pair_id, request=action,
                                        coordinator=coordinator, now=service.clock())
    except TrackerUsageError as exc:
        flash(str(exc), "error")
    except ProviderError as exc:
        flash(f"The tracker refused: {exc}", "error")
    else:
        flash(f"{REQUEST_LABELS[action]}: done for {pair_id} ({outcome.writes} writes in the tracker).", "notice")
    current_app.extensions["issuebot.dashboard"].expire()
    return redirect(url_for("dashboard.pair_page", pair_id=pair_id))


@blueprint.get("/dashboard/summary")
def summary_page() -> str:
    snap = _snapshot()
    assert snap.summary is not None
    context = summary_context(snap.summary, lambda status: url_for("dashboard.dashboard_page", status=status))
    return render_template("summary.html", age=int(snap.age), **context)


# ----------------------------------------------------------------------------- JSON


@blueprint.get("/api/pairs")
def pairs_json() -> Response:
    """Pairs (most urgent first), filtered by `status` and `q`, sorted by `sort`/`order`; `page` and
    `per_page` (at most 500) take one page, with the number of matching pairs in X-Total-Count."""
    status = request.args.get("status")
    if status and status not in STATUS_FILTERS:
        abort(400, description=f"unknown status {status!r}; use one of: {', '.join(STATUS_FILTERS)}")
    snap = _snapshot()
    listing = select(snap.rows, request.args)
    if "page" not in request.args:
        if not (listing.status or listing.query or listing.sort != "need" or listing.descending):
            return jsonify(snap.dicts)
        return jsonify([r.as_dict() for r in listing.rows])
    try:
        per_page = min(max(1, int(request.args.get("per_page", PER_PAGE))), 500)
        page = max(1, int(request.args["page"]))
    except ValueError:
        abort(400, description="page and per_page are whole numbers")
    chosen = listing.rows[(page - 1) * per_page: page * per_page]
    response = jsonify([r.as_dict() for r in chosen])
    response.headers["X-Total-Count"] = str(len(listing.rows))
    return response


@blueprint.get("/api/pairs/<pair_id>")
def pair_json(pair_id: str) -> Response:
    for row in _snapshot().rows:
        if row.pair == pair_id:
            return jsonify(row.as_dict())
    abort(404, description=f"no pair {pair_id!r} in this program")


@blueprint.get("/api/summary")
def summary_json() -> Response:
    snap = _snapshot()
    assert snap.summary is not None
    return jsonify(snap.summary.as_dict())
