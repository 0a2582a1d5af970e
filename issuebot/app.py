"""create_app(service): the Flask application; the only place blueprints are registered."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from werkzeug.exceptions import HTTPException

from issuebot import calendar_web, dashboard, forms_web, webhooks
from issuebot.service import Service

status_pages = Blueprint("status", __name__)


def current_service() -> Service:
    return current_app.extensions["issuebot"]


@status_pages.get("/healthz")
def healthz() -> Response:
    """The process answers (liveness)."""
    return jsonify(status="ok")


@status_pages.get("/readyz")
def readyz() -> tuple[Response, int]:
    """The inbox database and the queue both answer (readiness)."""
    problems = current_service().ready()
    if problems:
        return jsonify(status="unavailable", problems=problems), 503
    return jsonify(status="ready"), 200


@status_pages.get("/metrics")
def metrics() -> Response:
    return Response(generate_latest(current_service().metrics.registry), mimetype=CONTENT_TYPE_LATEST)


def _json_error(error: HTTPException) -> tuple[Response, int]:
    code = error.code or 500
    return jsonify(status="error", error=error.description), code


def create_app(service: Service) -> Flask:
    """The web app of one service: webhook endpoints, the coordinators' dashboard, personal survey forms,
    health, readiness, metrics."""
    app = Flask("issuebot")
    # Flask's limit; the webhook view also checks Content-Length itself, since a chunked body
    # over the limit is cut short rather than refused by the Werkzeug this runs on.
    app.config["MAX_CONTENT_LENGTH"] = service.program.service.max_body_bytes
    app.extensions["issuebot"] = service
    dashboard.configure(app, service)  # sessions, OAuth sign-in and the tracker snapshot of the coordinators' pages
    app.register_blueprint(webhooks.blueprint)
    app.register_blueprint(dashboard.blueprint)
    app.register_blueprint(status_pages)
    app.register_blueprint(calendar_web.blueprint)
    app.register_blueprint(forms_web.blueprint)
    app.register_error_handler(HTTPException, _json_error)
    app.after_request(dashboard.add_security_headers)
    return app
