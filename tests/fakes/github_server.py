"""The one GitHub fake (tests/fakes/github.py) served over loopback HTTP, for programs in other processes.

`responses` intercepts HTTP inside the test process only; a real `issuebot sweep` started as a
subprocess needs a server. This adapter answers every request with the same fake's handlers, one
request at a time (each request is atomic, as on the forge), and can hold every write until a
number of runs have made their bulk read, so runs started together overlap for sure.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from tests.fakes.github import BOT, ORG, FakeGitHub

BOT_TOKEN = "ghp_issuebot_fake_token"
HOLD_SECONDS = 12  # a run that never reads holds the others this long (below the clients' 15 s read timeout)


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        """The fake keeps its own call log (`fake.calls`); no line per request on stderr."""


@dataclass
class _Forwarded:
    """The shape of request FakeGitHub's dispatcher reads (as `responses` hands it over)."""

    url: str
    method: str
    headers: Any
    body: bytes | None


class GitHubServer:
    """FakeGitHub on http://127.0.0.1:<port>/api/v3, in a thread of the test process."""

    def __init__(self, clock: Callable[[], datetime], org: str = ORG):
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True, request_handler=_Quiet)
        self.base = f"http://127.0.0.1:{self._server.server_port}/api/v3"
        self.fake = FakeGitHub(clock, org=org, base=self.base)
        self.fake.add_user(BOT, token=BOT_TOKEN)
        self._one_at_a_time = threading.Lock()
        self.latency_seconds = 0.0  # a forge's round trip, waited before each answer (benchmarks set it)
        self._gate = threading.Condition()
        self._listings = 0  # bulk reads of the organisation's issues since the gate was set
        self._runs = 0
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def provider_config(self, token_env: str = "GITHUB_TOKEN") -> dict[str, Any]:
        return {"kind": "github", "url": self.base, "token_env": token_env, "org": self.fake.org,
                "seconds_between_requests": 0, "seconds_between_writes": 0, "max_retry_wait": 60}

    def hold_writes_until_read_by(self, runs: int) -> None:
        """Answer no write before `runs` runs have listed the organisation's issues (a sweep's
        bulk read, made before it decides): each run then decides on the tracker as it was before
        any of them wrote, as overlapping CI jobs do. (A lock between the runs is no deadlock: a
        run waits for it only after its bulk read.)"""
        with self._gate:
            self._listings, self._runs = 0, runs

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if request.method not in ("GET", "HEAD"):
            with self._gate:
                self._gate.wait_for(lambda: self._listings >= self._runs, timeout=HOLD_SECONDS)
        forwarded = _Forwarded(url=request.url, method=request.method, headers=request.headers,
                               body=request.get_data() or None)
        if self.latency_seconds:
            time.sleep(self.latency_seconds)  # requests wait side by side, as on a real forge
        with self._one_at_a_time:
            status, headers, text = self.fake._dispatch(forwarded)
        if request.method == "GET" and request.path.rstrip("/").endswith(f"/orgs/{self.fake.org}/issues"):
            with self._gate:
                self._listings += 1
                self._gate.notify_all()
        return Response(text, status=status, headers=headers)(environ, start_response)

    def start(self) -> GitHubServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)


@contextlib.contextmanager
def github_server(clock: Callable[[], datetime]) -> Iterator[GitHubServer]:
    server = GitHubServer(clock).start()
    try:
        yield server
    finally:
        server.stop()
