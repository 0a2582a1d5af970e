"""Webhook receive path under load: requests/s and p50/p99 latency, plus delivery-to-labels time.

Run from the repository root:  python bench/webhooks.py --seconds 10 --clients 8
It starts `issuebot serve` as a subprocess on 127.0.0.1 (inbox and queue on SQLite; then, when
they answer, on PostgreSQL + Redis), sends signed GitHub `issue_comment` deliveries from client
processes over keep-alive connections for a bounded time, and prints the figures. Last, with the
embedded tracker, it comments `/session` as the mentee, delivers the event to /hooks/local and
times how long until the session issue carries `session::held`.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import multiprocessing
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.conftest import program_data, write_program  # noqa: E402

SECRET = "bench-secret"
SECRET_ENV = "ISSUEBOT_BENCH_WEBHOOK_SECRET"
BENCH_DB = "issuebot_bench"
BENCH_REDIS = "redis://127.0.0.1:6379/15"


def comment_delivery(i: int) -> tuple[bytes, dict[str, str]]:
    payload = {
        "action": "created",
        "issue": {"number": 3, "title": "Session 1", "state": "open", "user": {"login": "issuebot"}},
        "comment": {"id": 1000 + i, "body": "/session 45m", "user": {"login": "bob"},
                    "created_at": "2027-01-12T10:00:00Z", "updated_at": "2027-01-12T10:00:00Z"},
        "repository": {"full_name": "octo/mentoring-bob-alice", "private": True},
        "sender": {"login": "bob"},
    }
    body = json.dumps(payload, separators=(",", ":")).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return body, {
        "Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/bench", "X-GitHub-Event": "issue_comment",
        "X-GitHub-Delivery": str(uuid.uuid4()), "X-Hub-Signature-256": signature,
    }


def client(port: int, seconds: float, seed: int, results: Any) -> None:
    """One client process: POST deliveries back to back until the time is up; report latencies."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies: list[float] = []
    codes: dict[int, int] = {}
    deadline = time.perf_counter() + seconds
    i = seed * 10_000_000
    while time.perf_counter() < deadline:
        body, headers = comment_delivery(i)
        i += 1
        started = time.perf_counter()
        connection.request("POST", "/hooks/github", body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        latencies.append(time.perf_counter() - started)
        codes[response.status] = codes.get(response.status, 0) + 1
    connection.close()
    results.put((latencies, codes))


def start_server(program: Path, threads: int, *extra: str) -> tuple[subprocess.Popen[str], int]:
    env = {**os.environ, SECRET_ENV: SECRET, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "issuebot.cli", "serve", "-c", str(program), "--port", "0", "--threads", str(threads), *extra],
        cwd=REPO, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )
    assert process.stderr is not None
    for line in process.stderr:
        match = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
        if match:
            return process, int(match.group(1))
    raise SystemExit(f"issuebot serve did not start (exit {process.wait()})")


def stop_server(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()


def load(port: int, clients: int, seconds: float) -> dict[str, Any]:
    results: Any = multiprocessing.Queue()
    workers = [multiprocessing.Process(target=client, args=(port, seconds, n, results)) for n in range(clients)]
    for worker in workers:
        worker.start()
    latencies: list[float] = []
    codes: dict[int, int] = {}
    for _ in workers:
        got, got_codes = results.get()
        latencies += got
        for code, count in got_codes.items():
            codes[code] = codes.get(code, 0) + count
    for worker in workers:
        worker.join()
    latencies.sort()
    return {
        "requests": len(latencies), "rps": len(latencies) / seconds,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "codes": codes,
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def program_file(folder: Path, **service: Any) -> Path:
    starts = (date.today() - timedelta(days=3)).isoformat()
    data = program_data(starts=starts, service={"webhook_secret_env": SECRET_ENV, **service})
    return write_program(folder / "program.yml", data)


def receive_path(label: str, program: Path, args: argparse.Namespace) -> None:
    process, port = start_server(program, args.threads, *(["--no-worker"] if args.no_worker else []))
    try:
        load(port, args.clients, 1.0)  # warm-up: connections, SQLite pages, imports
        cpu_before = cpu_seconds(process.pid)
        figures = load(port, args.clients, args.seconds)
        cpu_ms = 1000 * (cpu_seconds(process.pid) - cpu_before) / max(figures["requests"], 1)
    finally:
        stop_server(process)
    print(f"{label:<28} {figures['rps']:8.0f} req/s  p50 {figures['p50_ms']:6.1f} ms  p99 {figures['p99_ms']:6.1f} ms"
          f"  server CPU {cpu_ms:.2f} ms/request  ({figures['requests']} requests, status {figures['codes']})")


def postgres_ready() -> bool:
    if not (answers(5432) and answers(6379)):
        return False
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB}")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")
    return True


def drop_postgres() -> None:
    import psycopg
    from huey import RedisHuey

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
    RedisHuey("issuebot", url=BENCH_REDIS).flush()


def next_session(tracker: Any, project: str, session: str, held: str) -> Any:
    """The open session issue, once the worker has finished opening it after the previous one."""
    waited = time.perf_counter()
    while True:
        open_sessions = [i for i in tracker.list_issues(project, labels=[session]) if held not in i.labels]
        if open_sessions:
            return open_sessions[0]
        if time.perf_counter() - waited > 30:
            raise SystemExit(f"no open session issue in {project} after 30 s")
        time.sleep(0.01)


def delivery_to_labels(folder: Path, args: argparse.Namespace) -> None:
    """Comment /session as the mentee on the embedded tracker, deliver it, time until session::held."""
    from issuebot.config import load_program
    from issuebot.models import Event, EventKind
    from issuebot.providers import make_provider
    from issuebot.providers.local_hooks import event_payload

    program_path = program_file(folder)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-m", "issuebot.cli", "sync", "-c", str(program_path)], cwd=REPO, env=env,
                   check=True, stdout=subprocess.DEVNULL)
    program = load_program(program_path)
    tracker = make_provider(program)
    pair = program.pairs[0]
    project = tracker.project_path(program.project_name(pair))
    mentee = tracker.as_user(pair.mentee.username)  # type: ignore[attr-defined]
    session, held = program.label("kind::session"), program.label("session::held")
    process, port = start_server(program_path, args.threads)
    timings = []
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for _ in range(args.sessions):
            issue = next_session(tracker, project, session, held)
            comment = mentee.create_comment(project, issue.number, "/session 45m")
            event = Event(kind=EventKind.COMMENT_CREATED, provider="local", project=project, issue_number=issue.number,
                          actor=pair.mentee.username, comment_id=comment.id, comment_body=comment.body, at=comment.created_at)
            body = json.dumps(event_payload(event)).encode()
            headers = {"Content-Type": "application/json", "X-Issuebot-Delivery": str(uuid.uuid4()),
                       "X-Issuebot-Signature-256": "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()}
            started = time.perf_counter()
            connection.request("POST", "/hooks/local", body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status != 202:
                raise SystemExit(f"/hooks/local answered {response.status}")
            while held not in tracker.get_issue(project, issue.number).labels:
                if time.perf_counter() - started > 30:
                    raise SystemExit(f"session #{issue.number} not labelled {held} after 30 s")
                time.sleep(0.005)  # polling the tracker, as a person refreshing the page would
            timings.append(time.perf_counter() - started)
        connection.close()
    finally:
        stop_server(process)
    if timings:
        print(f"{'delivery -> session::held':<28} p50 {1000 * statistics.median(timings):6.0f} ms"
              f"  max {1000 * max(timings):6.0f} ms over {len(timings)} sessions (local tracker, in-process worker)")
    else:
        print("delivery -> session::held: no open session issue found after sync")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measured run")
    parser.add_argument("--clients", type=int, default=8, help="client processes sending deliveries")
    parser.add_argument("--threads", type=int, default=16, help="waitress threads of issuebot serve")
    parser.add_argument("--sessions", type=int, default=5, help="sessions logged for delivery-to-labels")
    parser.add_argument("--skip-labels", action="store_true", help="skip the delivery-to-labels run")
    parser.add_argument("--no-worker", action="store_true", help="receive-path runs without the in-process worker")
    args = parser.parse_args()
    print(f"{args.clients} client processes, {args.seconds:.0f} s per run, {args.threads} server threads, "
          f"{os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        receive_path("SQLite inbox + SQLite queue", program_file(folder / "sqlite"), args)
        if postgres_ready():
            try:
                program = program_file(folder / "pg", database_url=f"postgresql://postgres@127.0.0.1:5432/{BENCH_DB}",
                                       queue_url=BENCH_REDIS)
                receive_path("PostgreSQL inbox + Redis", program, args)
            finally:
                drop_postgres()
        else:
            print("PostgreSQL + Redis: not reachable on 127.0.0.1, skipped")
        if not args.skip_labels:
            delivery_to_labels(folder / "labels", args)


if __name__ == "__main__":
    main()
