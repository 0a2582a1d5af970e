"""`issuebot serve`: the web app under granian (one process per core), beside the queue worker process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from flask import Flask
from granian import Granian
from granian.constants import Interfaces
from granian.log import LogLevels

from issuebot.app import create_app
from issuebot.config import Program, load_program
from issuebot.service import ServiceError, open_service

GRACEFUL_SECONDS = 30  # a request in flight gets this long to commit its delivery after SIGTERM
CONFIG_ENV = "ISSUEBOT_CONFIG"
INSECURE_ENV = "ISSUEBOT_INSECURE_NO_VERIFY"  # set by `serve --insecure-no-verify` for its web processes


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound, listening socket on the address; ServiceError when the address is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ServiceError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def web_processes() -> int:
    """One web process per core this process may use."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not Linux
        return max(os.cpu_count() or 1, 1)


def serve(
    program: Program,
    *,
    host: str,
    port: int,
    with_worker: bool,
    insecure_no_verify: bool = False,
    threads: int = 16,
    workers: int = 2,
    processes: int | None = None,
    announce: Callable[[str], None] = print,
) -> None:
    """Receive deliveries until SIGTERM or SIGINT; requests in flight finish (their deliveries are
    committed or refused), then the queue worker stops after its running tasks."""
    # Checked once here so that a missing secret, database or queue is one clear error at start.
    open_service(program, insecure_no_verify=insecure_no_verify, need_queue=False).close()
    probe = listening_socket(host, port)  # a taken address is a clear error before anything starts
    effective_port = probe.getsockname()[1]
    probe.close()
    processes = processes or web_processes()
    # The web processes build their own service (no engine shared across a fork) from these.
    os.environ[CONFIG_ENV] = str(program.path)
    os.environ[INSECURE_ENV] = "1" if insecure_no_verify else ""
    server = Granian("issuebot.server:app_from_environment", address=host, port=effective_port,
                     interface=Interfaces.WSGI, workers=processes, blocking_threads=threads, factory=True,
                     log_level=LogLevels.warning, respawn_failed_workers=True, workers_kill_timeout=GRACEFUL_SECONDS)
    worker = None
    if with_worker:
        worker = subprocess.Popen([sys.executable, "-m", "issuebot.cli", "worker", "-c", str(program.path),
                                   "--workers", str(workers)])
    line = (f"issuebot: listening on http://{host}:{effective_port} with {processes} web processes"
            + (f" and a worker of {workers} threads" if with_worker else " (no worker)"))
    threading.Thread(target=_announce_when_listening, args=(host, effective_port, line, announce), daemon=True).start()
    try:
        server.serve()  # SIGTERM or SIGINT: the web processes finish the requests in flight, then stop
    finally:
        if worker is not None:
            worker.send_signal(signal.SIGINT)  # Huey's graceful stop: running tasks finish
            try:
                worker.wait(GRACEFUL_SECONDS)
            except subprocess.TimeoutExpired:
                worker.kill()


def _announce_when_listening(host: str, port: int, line: str, announce: Callable[[str], None]) -> None:
    """Say so once the web processes accept connections (granian binds after it starts)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1):
                announce(line)
                return
        except OSError:
            time.sleep(0.02)


def app_from_environment() -> Flask:
    """The web app for the program file in $ISSUEBOT_CONFIG, for WSGI servers that import a factory."""
    insecure = os.environ.get(INSECURE_ENV) == "1"
    return create_app(open_service(load_program(os.environ[CONFIG_ENV]), insecure_no_verify=insecure, need_queue=False))
