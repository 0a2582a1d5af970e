"""`issuebot serve`: the web app under gunicorn (one process per core), beside the queue worker process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from issuebot.app import create_app
from issuebot.config import Program, load_program
from issuebot.service import ServiceError, open_service

GRACEFUL_SECONDS = 30  # a request in flight gets this long to commit its delivery after SIGTERM


def listening_socket(host: str, port: int) -> socket.socket:
    """The bound, listening socket the server processes share; ServiceError when the address is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ServiceError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)  # gunicorn takes it over by number and closes it when it stops
    return sock


def web_processes() -> int:
    """One web process per core this process may use."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not Linux
        return max(os.cpu_count() or 1, 1)


class _Gunicorn(BaseApplication):
    """gunicorn's gthread workers, each building its own service after the fork (no shared engine)."""

    def __init__(self, build_app: Callable[[], Flask], options: dict[str, Any]):
        self.build_app, self.options = build_app, options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.build_app()


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
    sock = listening_socket(host, port)
    effective_port = sock.getsockname()[1]
    processes = processes or web_processes()

    def build_app() -> Flask:
        return create_app(open_service(program, insecure_no_verify=insecure_no_verify, need_queue=False))

    options = {
        "bind": [f"fd://{sock.fileno()}"], "workers": processes, "worker_class": "gthread", "threads": threads,
        "keepalive": 5, "graceful_timeout": GRACEFUL_SECONDS, "timeout": 60, "loglevel": "warning",
        "accesslog": None, "errorlog": "-", "proc_name": "issuebot-serve", "control_socket_disable": True,
    }
    worker = None
    if with_worker:
        worker = subprocess.Popen([sys.executable, "-m", "issuebot.cli", "worker", "-c", str(program.path),
                                   "--workers", str(workers)])
    announce(f"issuebot: listening on http://{host}:{effective_port} with {processes} web processes"
             + (f" and a worker of {workers} threads" if with_worker else " (no worker)"))
    master = os.getpid()
    try:
        _Gunicorn(build_app, options).run()
    except SystemExit as exit_:
        if os.getpid() != master:  # a web process ending: gunicorn's exit status is its own
            raise
        if exit_.code not in (0, None):
            raise ServiceError(f"the web server stopped with status {exit_.code}") from None
    finally:
        if os.getpid() == master and worker is not None:
            worker.send_signal(signal.SIGINT)  # Huey's graceful stop: running tasks finish
            try:
                worker.wait(GRACEFUL_SECONDS)
            except subprocess.TimeoutExpired:
                worker.kill()


def app_from_environment() -> Flask:
    """The web app for the program file in $ISSUEBOT_CONFIG, for WSGI servers that import a factory."""
    return create_app(open_service(load_program(os.environ["ISSUEBOT_CONFIG"]), need_queue=False))
