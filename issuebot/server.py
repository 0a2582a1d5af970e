"""`issuebot serve`: the ASGI app under uvicorn (one process per core), beside the queue worker process."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
from array import array
from collections.abc import Callable
from multiprocessing import shared_memory

import uvicorn
from flask import Flask
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.supervisors import Multiprocess

from issuebot.app import create_app
from issuebot.asgi import CONFIG_ENV, INSECURE_ENV, LOG_LEVEL_ENV, THREADS_ENV
from issuebot.config import Program, load_program
from issuebot.service import ServiceError, open_service

logger = logging.getLogger(__name__)

GRACEFUL_SECONDS = 30  # a request in flight gets this long to commit its delivery after SIGTERM
STARTUP_SECONDS = 60  # a server process gets this long to open its service and answer


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
    return sock


def web_processes() -> int:
    """One web process per core this process may use."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not Linux
        return max(os.cpu_count() or 1, 1)


class ConnectionShares:
    """Each web process's open connections, in memory the processes share, so that a process holding
    more than its share closes a keep-alive connection after answering on it: the client reconnects,
    and the accept goes to whichever process is free. Without this, the process that woke first kept
    a burst of keep-alive connections for good (16 of 16, measured) while the other idled."""

    SLOTS = 64  # (pid, connections) pairs of int64; --processes allows 64
    ENV = "ISSUEBOT_CONNECTION_SHARES"

    def __init__(self, memory: shared_memory.SharedMemory, slot: int | None = None):
        self.memory = memory
        assert memory.buf is not None  # None only once closed
        self.numbers = memory.buf.cast("q")
        self.slot = slot

    @classmethod
    def create(cls) -> ConnectionShares:
        """The table, made by `issuebot serve` before its web processes start (all slots free)."""
        shares = cls(shared_memory.SharedMemory(create=True, size=cls.SLOTS * 16))
        shares.numbers[:] = array("q", bytes(cls.SLOTS * 16))
        return shares

    @classmethod
    def join(cls, name: str) -> ConnectionShares:
        """A web process's seat at the table: the first slot free, or left by a process that died."""
        # (Attaching registers the segment with the resource tracker the processes share with
        # `issuebot serve`, once more: the tracker keeps a set, and serve removes the segment.)
        shares = cls(shared_memory.SharedMemory(name=name))
        with open(os.path.join(tempfile.gettempdir(), f"{name}.lock"), "a") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            for slot in range(cls.SLOTS):
                pid = shares.numbers[2 * slot]
                if pid == 0 or not _alive(pid):
                    shares.numbers[2 * slot], shares.numbers[2 * slot + 1] = os.getpid(), 0
                    shares.slot = slot
                    break
        return shares

    def crowded(self, connections: int) -> bool:
        """Record this process's `connections`; whether it holds clearly more than an even share of all."""
        if self.slot is None:
            return False
        numbers = self.numbers
        numbers[2 * self.slot + 1] = connections
        processes = total = 0
        for slot in range(self.SLOTS):
            if numbers[2 * slot]:
                processes += 1
                total += numbers[2 * slot + 1]
        share = -(-total // processes)  # rounded up
        # A margin of a quarter (at least 2): a process a connection or two over its share keeps it,
        # or the connections would move back and forth as the counts change.
        return processes > 1 and connections > share + max(2, share // 4)

    def close(self, *, remove: bool = False) -> None:
        self.numbers.release()
        self.memory.close()
        if remove:
            self.memory.unlink()
            with contextlib.suppress(OSError):
                os.remove(os.path.join(tempfile.gettempdir(), f"{self.memory.name}.lock"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):  # gone, or the number now names someone else's process
        return False
    return True


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol; a keep-alive connection of a process over its share is closed
    after its answer (the client opens another, which a less busy process may take)."""

    shares: ConnectionShares | None = None

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        shares = HttpProtocol.shares
        if shares is None and ConnectionShares.ENV in os.environ:
            name = os.environ.pop(ConnectionShares.ENV)
            try:
                shares = HttpProtocol.shares = ConnectionShares.join(name)
            except OSError as exc:  # the table is gone or the lock file cannot be made: no shedding
                logger.warning("web process %s keeps all its connections: %s", os.getpid(), exc)
        if shares is not None and self.cycle is not None and self.cycle.keep_alive \
                and shares.crowded(len(self.connections)):
            self.cycle.keep_alive = False


class _Supervisor(Multiprocess):
    """uvicorn's supervisor of the server processes, telling when all of them answer (or one failed)."""

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket], on_ready: Callable[[], None]):
        super().__init__(config, sockets)
        self.on_ready = on_ready
        self.failed = False

    def init_processes(self) -> None:
        super().init_processes()
        wait = self.config.timeout_worker_healthcheck
        if all(process.wait_until_ready(wait, self.should_exit) for process in self.processes):
            self.on_ready()
        elif not self.should_exit.is_set():
            self.failed = True
            self.should_exit.set()


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
    # Each server process builds its own service from these (no engine or file shared across a fork).
    os.environ.update({CONFIG_ENV: str(program.path), THREADS_ENV: str(threads),
                       INSECURE_ENV: "1" if insecure_no_verify else "0",
                       LOG_LEVEL_ENV: str(logging.getLogger().getEffectiveLevel())})
    shares = ConnectionShares.create() if processes > 1 else None
    if shares is not None:
        os.environ[ConnectionShares.ENV] = shares.memory.name
    config = uvicorn.Config(
        "issuebot.asgi:app_from_environment", factory=True, workers=processes, loop="auto", http=HttpProtocol,
        lifespan="on", log_level="warning", access_log=False, timeout_keep_alive=5, backlog=2048,
        timeout_graceful_shutdown=GRACEFUL_SECONDS, server_header=False, date_header=False,
        timeout_worker_healthcheck=STARTUP_SECONDS,
    )
    worker = None
    if with_worker:
        worker = subprocess.Popen([sys.executable, "-m", "issuebot.cli", "worker", "-c", str(program.path),
                                   "--workers", str(workers)])
    def ready() -> None:
        announce(f"issuebot: listening on http://{host}:{effective_port} with {processes} web processes"
                 + (f" and a worker of {workers} threads" if with_worker else " (no worker)"))

    try:
        # The supervisor restarts a server process that dies and, on SIGTERM or SIGINT, lets each
        # finish its requests in flight; it then returns (exit status 0).
        supervisor = _Supervisor(config, [sock], ready)
        supervisor.run()
        if supervisor.failed:
            raise ServiceError("a web process did not start; its error is above")
    finally:
        sock.close()
        if shares is not None:
            shares.close(remove=True)
            os.environ.pop(ConnectionShares.ENV, None)
        if worker is not None:
            worker.send_signal(signal.SIGINT)  # Huey's graceful stop: running tasks finish
            try:
                worker.wait(GRACEFUL_SECONDS)
            except subprocess.TimeoutExpired:
                worker.kill()


def app_from_environment() -> Flask:
    """The Flask app alone, for WSGI servers that import a factory ($ISSUEBOT_CONFIG names the program)."""
    return create_app(open_service(load_program(os.environ[CONFIG_ENV]), need_queue=False))
