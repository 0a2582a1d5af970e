"""The OAuth 2 authorization-code grant both forge fakes answer for the web app's sign-in (RFC 6749 §4.1)."""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote


class FakeOAuth:
    """OAuth applications, the codes people approved and their exchange for an access token.

    `issue_token(user)` is the forge's own: it makes a token its API accepts for `user`."""

    def __init__(self, issue_token: Callable[[Any], str]):
        self.issue_token = issue_token
        self.clients: dict[str, str] = {}  # client id -> secret
        self.codes: dict[str, Any] = {}  # code -> the user who approved
        self._numbers = itertools.count(1)

    def add_app(self, client_id: str, client_secret: str) -> None:
        self.clients[client_id] = client_secret

    def approve(self, user: Any, name: str) -> str:
        """`name` signs in on the forge's authorize page and approves: the code sent back to the app."""
        code = f"code-{next(self._numbers)}-{name}"
        self.codes[code] = user
        return code

    def exchange(self, request: Any) -> tuple[int, dict[str, str], str]:
        """POST to the token endpoint: a known client (HTTP Basic or form credentials) trades a code,
        once, for a bearer token."""
        body = request.body.decode() if isinstance(request.body, bytes) else request.body or ""
        form = {k: v[-1] for k, v in parse_qs(body).items()}
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        basic = request.headers.get("Authorization", "")
        if basic.startswith("Basic "):
            client_id, _, client_secret = base64.b64decode(basic[6:]).decode().partition(":")
        headers = {"Content-Type": "application/json"}
        if self.clients.get(unquote(client_id)) != unquote(client_secret):
            return 401, headers, json.dumps({"error": "invalid_client"})
        user = self.codes.pop(form.get("code", ""), None)
        if form.get("grant_type") != "authorization_code" or user is None:
            return 400, headers, json.dumps({"error": "invalid_grant"})
        return 200, headers, json.dumps({"access_token": self.issue_token(user), "token_type": "bearer"})
