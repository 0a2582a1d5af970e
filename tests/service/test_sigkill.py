"""SIGKILL mid-work: a killed worker's delivery runs exactly once after its lease; a killed server keeps every 202."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from issuebot.app import create_app
from issuebot.config import load_program
from issuebot.service import open_service
from issuebot.store import DONE, PROCESSING
from tests.service.conftest import service_program
from tests.service.helpers import SECRET, SECRET_ENV, RecordingHandler, local_headers

REPO = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 60  # an upper bound for a slow machine, not a sleep: select returns as soon as data comes


def read_fifo(path: Path) -> bytes:
    """Block until the worker writes to `path` (or fail after WAIT_SECONDS)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        ready, _, _ = select.select([fd], [], [], WAIT_SECONDS)
        assert ready, f"the worker never wrote to {path.name}"
        return os.read(fd, 100)
    finally:
        os.close(fd)


def start_worker(program_path: Path, mode: str, fifo_dir: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.service.worker_process", str(program_path), mode, str(fifo_dir)],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs")
def test_sigkilled_worker_loses_nothing_and_nothing_runs_twice(
        tmp_path: Path, clock: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    program_path = service_program(tmp_path, lease_seconds=5)
    fifo_dir = tmp_path / "fifos"
    fifo_dir.mkdir()
    for name in ("started", "release", "handled"):
        os.mkfifo(fifo_dir / name)
    monkeypatch.setenv(SECRET_ENV, SECRET)
    clock.set(datetime.now(timezone.utc))  # the worker processes keep real time; start from it
    in_test = RecordingHandler()
    service = open_service(load_program(program_path), handler=in_test, clock=clock)
    body = json.dumps({"kind": "comment_created", "project": "mentoring/mentoring-bob-alice", "issue_number": 4,
                       "actor": "bob", "comment_id": 9, "comment_body": "/session"}).encode()
    response = create_app(service).test_client().post("/hooks/local", data=body, headers=local_headers(body))
    assert response.status_code == 202 and service.queue.pending() == 1

    first = start_worker(program_path, "block", fifo_dir)
    try:
        assert read_fifo(fifo_dir / "started") == b"started\n"
        first.send_signal(signal.SIGKILL)
        assert first.wait(WAIT_SECONDS) == -signal.SIGKILL
    finally:
        first.kill()
    row = service.store.get(1)
    assert row.status == PROCESSING and row.attempts == 1
    assert service.queue.pending() == 0  # Huey dropped the task with its worker

    clock.set(datetime.now(timezone.utc))  # the worker claimed under real time, moments ago
    assert service.queue.requeue_expired() == []  # the lease still runs
    clock.advance(seconds=6)
    assert service.queue.requeue_expired() == [1]
    service.queue.enqueue(1)  # and a stray duplicate task, which must not run the handler again

    second = start_worker(program_path, "record", fifo_dir)
    try:
        assert read_fifo(fifo_dir / "handled") == b"handled\n"
        second.send_signal(signal.SIGINT)  # Huey's graceful stop: the running task finishes
        assert second.wait(WAIT_SECONDS) == 0, second.stderr.read().decode() if second.stderr else ""
    finally:
        second.kill()
    while service.queue.pending():  # whatever the worker left in the queue finds nothing to do
        service.queue.huey.execute(service.queue.huey.dequeue())
    assert (fifo_dir / "handled.log").read_text().splitlines() == ["mentoring/mentoring-bob-alice #4 comment 9"]
    assert in_test.events == []
    row = service.store.get(1)
    assert row.status == DONE and row.attempts == 2
    service.close()


def test_sigkilled_server_under_load_keeps_every_delivery_it_accepted(tmp_path: Path) -> None:
    """Every 202 is sent after its delivery is committed: killing the server mid-load loses none of them."""
    import http.client
    import re
    import threading

    from issuebot.store import Store
    from tests.service.helpers import comment_body, github_headers

    program_path = service_program(tmp_path)
    env = {**os.environ, SECRET_ENV: SECRET, "PYTHONPATH": str(REPO)}
    server = subprocess.Popen(
        [sys.executable, "-m", "issuebot.cli", "serve", "-c", str(program_path), "--port", "0", "--no-worker"],
        cwd=REPO, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, start_new_session=True,
    )
    accepted: list[str] = []
    enough = threading.Event()
    guard = threading.Lock()
    try:
        assert server.stderr is not None
        port = int(re.search(r"listening on http://127\.0\.0\.1:(\d+)", server.stderr.readline()).group(1))  # type: ignore[union-attr]

        def send(client: int) -> None:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT_SECONDS)
            for n in range(10_000):
                body = comment_body(comment_id=client * 100_000 + n)
                delivery = f"kill-{client}-{n}"
                try:
                    connection.request("POST", "/hooks/github", body=body,
                                       headers=github_headers("issue_comment", body, delivery=delivery))
                    response = connection.getresponse()
                    response.read()
                except (OSError, http.client.HTTPException):
                    return  # the server is gone
                if response.status == 202:
                    with guard:
                        accepted.append(delivery)
                        if len(accepted) >= 60:
                            enough.set()

        clients = [threading.Thread(target=send, args=(c,)) for c in range(6)]
        for client in clients:
            client.start()
        assert enough.wait(WAIT_SECONDS), "the server accepted too few deliveries"
        os.killpg(server.pid, signal.SIGKILL)  # the master and every web process, mid-request
        for client in clients:
            client.join(WAIT_SECONDS)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(WAIT_SECONDS)
    store = Store.for_program(load_program(program_path))
    with store.engine.connect() as conn:
        stored = {row[0] for row in conn.execute(store.inbox.select().with_only_columns(store.inbox.c.delivery_id))}
    store.dispose()
    with guard:
        assert len(accepted) >= 60 and set(accepted) <= stored
