"""Webhook receive path beside Probot 14 (wrk), worker drain rate and delivery-to-label latency.

Run from the repository root:  python bench/webhooks.py [--seconds 5] [--skip-peer] [--skip-drain] ...

Everything listens on 127.0.0.1 only and every run is bounded in time. Parts:

1. Receive path: `issuebot serve` (with and without its worker) and Probot 14 (installed by npm into
   bench/.peer/, which git ignores; one Node process, a no-op `app.on("issue_comment.created")` at
   log level warn, its own secret) get the same corpus delivery
   (../shared/corpus/github/webhooks/issue_comment.created.1.json, read from there) from wrk, signed,
   with a unique X-GitHub-Delivery per request: keep-alive and `Connection: close`, 16 and 64
   connections, two alternating rounds. Accepted (`issue_comment`) and ignored (`push`) events.
   Printed: req/s, p50/p99, server CPU-seconds (from /proc, the whole process tree) and the ratio
   to Probot in the same round.
2. Worker drain on the embedded tracker: worker processes started and running, then N comments
   without commands spread over the pairs, built beforehand and stored in one burst; deliveries
   finished per second from the burst's commit.
3. Delivery to `session::held` on the embedded tracker, through `issuebot serve`.
4. On PostgreSQL + Redis (when they answer): one worker process against two (three alternating
   rounds, the median ratio), and one `serve` process against two (three rounds, the median); and
   one worker against two with the GitHub fake (tests/fakes/github_server.py) answering each call
   after `--forge-latency-ms`. Workers count from the line saying they run, after a warm-up.
   Printed beside them: how much more work two CPU-bound processes get done than one on this
   machine, the ceiling for any two-process ratio of work bound by CPU.
5. Server choice: `issuebot serve` (uvicorn) beside gunicorn running the Flask app and granian
   running the ASGI app, each when installed.

Needs `pip install -e '.[serve,redis,postgres,test]'` and Debian's wrk; Probot comes from npm.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.conftest import program_data, write_program  # noqa: E402

CORPUS_DELIVERY = REPO.parent / "shared" / "corpus" / "github" / "webhooks" / "issue_comment.created.1.json"
PEER_DIR = REPO / "bench" / ".peer" / "probot-peer"
SECRET = "bench-secret"
PEER_SECRET = "bench-peer-secret"
SECRET_ENV = "ISSUEBOT_BENCH_WEBHOOK_SECRET"
BENCH_DB = "issuebot_bench"
BENCH_REDIS = "redis://127.0.0.1:6379/15"

PEER_SERVER = """\
import { Server, Probot } from "probot";
import { generateKeyPairSync } from "node:crypto";

const { privateKey } = generateKeyPairSync("rsa", {
  modulusLength: 2048,
  privateKeyEncoding: { type: "pkcs1", format: "pem" },
  publicKeyEncoding: { type: "spki", format: "pem" },
});
const server = new Server({
  Probot: Probot.defaults({ appId: 1, privateKey, secret: process.env.PEER_SECRET, logLevel: "warn" }),
  host: "127.0.0.1",
  port: Number(process.argv[2]),
  webhookPath: "/hooks/github",
});
await server.load((app) => { app.on("issue_comment.created", async () => {}); });
await server.start();
console.log(`listening on ${process.argv[2]}`);
"""

WRK_SCRIPT = """\
local f = assert(io.open(%(body)s, "rb"))
local body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["User-Agent"] = "GitHub-Hookshot/bench"
wrk.headers["X-GitHub-Event"] = %(event)s
wrk.headers["X-Hub-Signature-256"] = %(signature)s
%(close)s
local next_thread = 0
function setup(thread)
  next_thread = next_thread + 1
  thread:set("tid", next_thread)
end
local counter = 0
function request()
  counter = counter + 1
  wrk.headers["X-GitHub-Delivery"] = %(run)s .. "-" .. tid .. "-" .. counter
  return wrk.format()
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %%d %%f %%f %%f %%d %%d\\n", summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, e.status, e.connect + e.read + e.write + e.timeout))
end
"""


# ----------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def tree(pid: int) -> list[int]:
    """`pid` and all its descendants, from /proc."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                todo += [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                pass
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` and its descendants, from /proc/<pid>/stat."""
    total = 0.0
    for member in tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def wait_for_line(process: subprocess.Popen[str], pattern: str, what: str) -> re.Match[str]:
    assert process.stderr is not None or process.stdout is not None
    stream = process.stderr if process.stderr is not None else process.stdout
    for line in stream:  # type: ignore[union-attr]
        match = re.search(pattern, line)
        if match:
            return match
    raise SystemExit(f"{what} did not start (exit {process.wait()})")


def start_issuebot(program: Path, *extra: str) -> tuple[subprocess.Popen[str], int]:
    env = {**os.environ, SECRET_ENV: SECRET, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "issuebot.cli", "serve", "-c", str(program), "--port", "0", *extra],
        cwd=REPO, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )
    port = int(wait_for_line(process, r"listening on http://127\.0\.0\.1:(\d+)", "issuebot serve").group(1))
    return process, port


def start_worker(program: Path, threads: int) -> subprocess.Popen[str]:
    """An `issuebot worker` process, returned once it says it is running (its consumer starts then)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    log = program.parent / f"worker-{uuid.uuid4().hex[:8]}.log"
    with log.open("w") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "issuebot.cli", "worker", "-c", str(program), "--workers",
                                    str(threads)], cwd=REPO, env=env, stderr=stderr, stdout=subprocess.DEVNULL,
                                   text=True)
    started = time.perf_counter()
    while "worker running" not in log.read_text():
        if process.poll() is not None or time.perf_counter() - started > 60:
            raise SystemExit(f"issuebot worker did not start: {log.read_text()[-2000:]}")
        time.sleep(0.01)
    return process


def start_server(program: Path, command: list[str], name: str) -> tuple[subprocess.Popen[str], int]:
    """Another server running issuebot's app (`{port}` in `command` is filled in), for the server choice."""
    port = free_port()
    env = {**os.environ, SECRET_ENV: SECRET, "PYTHONPATH": str(REPO), "ISSUEBOT_CONFIG": str(program)}
    process = subprocess.Popen([sys.executable, "-m", *[part.format(port=port) for part in command]], cwd=REPO,
                               env=env, stderr=subprocess.STDOUT, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not answers(port):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{name} did not start")
        time.sleep(0.05)
    return process, port


# Servers measured beside what `issuebot serve` runs, each when its package is installed.
OTHER_SERVERS = {
    "gunicorn gthread x2, Flask (WSGI)": ("gunicorn", ["gunicorn", "--workers", "2", "--worker-class", "gthread",
                                                         "--threads", "16", "--bind", "127.0.0.1:{port}",
                                                         "--log-level", "warning",
                                                         "issuebot.server:app_from_environment()"]),
    "granian asgi x2": ("granian", ["granian", "--interface", "asgi", "--workers", "2", "--host", "127.0.0.1",
                                    "--port", "{port}", "--log-level", "warning", "--factory",
                                    "issuebot.asgi:app_from_environment"]),
}


def server_choice(folder: Path, args: argparse.Namespace) -> None:
    """uvicorn (what `issuebot serve` runs) beside the other servers installed, accepted deliveries."""
    import importlib.util

    starts: list[tuple[str, Any]] = [
        ("uvicorn asgi x2 (serve)", lambda: start_issuebot(program_file(folder / "uv"), "--no-worker"))]
    for label, (module, command) in OTHER_SERVERS.items():
        if importlib.util.find_spec(module) is None:
            print(f"\nserver choice: {module} not installed (pip install {module}); {label} skipped")
            continue
        starts.append((label, lambda command=command, label=label, module=module:
                       start_server(program_file(folder / module), command, label)))
    if len(starts) == 1:
        return
    print("\nserver choice, same app, --no-worker, accepted deliveries, 16 connections, two alternating rounds")
    for close in (False, True):
        for round_ in (1, 2):
            for label, start in starts if round_ == 1 else list(reversed(starts)):
                process, port = start()
                try:
                    wrk(port, event="issue_comment", secret=SECRET, connections=16, close=close, seconds=1,
                        folder=folder)
                    f = measured(process, port, event="issue_comment", secret=SECRET, connections=16, close=close,
                                 seconds=args.seconds, folder=folder)
                finally:
                    stop(process)
                print(f"  {'close' if close else 'keep-alive':<10} round {round_}  {label:<34} {f['rps']:7.0f} req/s"
                      f"  p50 {f['p50_ms']:6.1f} ms  p99 {f['p99_ms']:6.1f} ms  {f['per_cpu_s']:6.0f} req/CPU-s",
                      flush=True)


def install_peer() -> bool:
    if not shutil.which("node") or not shutil.which("npm"):
        print("Probot: node or npm not found; peer skipped")
        return False
    PEER_DIR.mkdir(parents=True, exist_ok=True)
    (PEER_DIR / "server.mjs").write_text(PEER_SERVER)
    if not (PEER_DIR / "node_modules" / "probot").is_dir():
        (PEER_DIR / "package.json").write_text('{"name": "probot-peer", "private": true, "version": "0.0.0"}\n')
        subprocess.run(["npm", "install", "--silent", "probot@14"], cwd=PEER_DIR, check=True, timeout=600)
    return True


def start_probot() -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    process = subprocess.Popen(["node", "server.mjs", str(port)], cwd=PEER_DIR, env={**os.environ,
                               "PEER_SECRET": PEER_SECRET, "LOG_LEVEL": "warn", "NODE_ENV": "production"},
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    wait_for_line(process, r"listening on", "Probot")
    return process, port


def stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()


# ----------------------------------------------------------------------------- load


def wrk(port: int, *, event: str, secret: str, connections: int, close: bool, seconds: float,
        folder: Path) -> dict[str, float]:
    body = CORPUS_DELIVERY.read_bytes()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    script = folder / f"wrk-{uuid.uuid4().hex[:8]}.lua"
    quoted = {"body": str(CORPUS_DELIVERY), "event": event, "signature": signature, "run": uuid.uuid4().hex}
    script.write_text(WRK_SCRIPT % {**{k: json.dumps(v) for k, v in quoted.items()},  # valid Lua string literals
                                    "close": 'wrk.headers["Connection"] = "close"' if close else ""})
    threads = min(2, connections)
    result = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds:.0f}s", "--timeout",
                             "10s", "-s", str(script), f"http://127.0.0.1:{port}/hooks/github"],
                            capture_output=True, text=True, timeout=seconds + 60)
    match = re.search(r"RESULT (\d+) ([\d.]+) ([\d.]+) ([\d.]+) (\d+) (\d+)", result.stdout)
    if not match:
        raise SystemExit(f"wrk gave no result: {result.stdout} {result.stderr}")
    requests, duration, p50, p99, bad_status, socket_errors = match.groups()
    return {"requests": int(requests), "rps": int(requests) / float(duration), "p50_ms": float(p50),
            "p99_ms": float(p99), "bad_status": int(bad_status), "socket_errors": int(socket_errors)}


def measured(process: subprocess.Popen[str], port: int, **load: Any) -> dict[str, float]:
    before = cpu_seconds(process.pid)
    figures = wrk(port, **load)
    figures["cpu_s"] = cpu_seconds(process.pid) - before
    figures["per_cpu_s"] = figures["requests"] / max(figures["cpu_s"], 1e-9)
    return figures


def program_file(folder: Path, pairs: int = 2, provider: dict[str, Any] | None = None, started_days_ago: int = 3,
                 **service: Any) -> Path:
    starts = (date.today() - timedelta(days=started_days_ago)).isoformat()
    data = program_data(provider, starts=starts, service={"webhook_secret_env": SECRET_ENV, **service})
    if pairs > 2:
        people = [{"username": "carol", "name": "Carol Clark", "role": "both"}]
        for n in range(pairs):
            people += [{"username": f"mentor{n}", "name": f"Mentor {n}", "role": "mentor", "level": 5},
                       {"username": f"mentee{n}", "name": f"Mentee {n}", "role": "mentee", "level": 1}]
        data["people"] = people
        data["pairs"] = [{"mentor": f"mentor{n}", "mentee": f"mentee{n}"} for n in range(pairs)]
    folder.mkdir(parents=True, exist_ok=True)
    return write_program(folder / "program.yml", data)


def receive_path(folder: Path, args: argparse.Namespace) -> None:
    targets: list[tuple[str, Any]] = [
        ("issuebot serve --no-worker", lambda: start_issuebot(program_file(folder / "nw"), "--no-worker")),
        ("issuebot serve", lambda: start_issuebot(program_file(folder / "w"))),
    ]
    if not args.skip_peer and install_peer():
        targets.append(("Probot 14", start_probot))
    events = [("issue_comment", "accepted")] + ([] if args.skip_ignored else [("push", "ignored")])
    print(f"\nreceive path: wrk, {args.seconds:.0f} s per run, corpus delivery {CORPUS_DELIVERY.stat().st_size} bytes,"
          f" {os.cpu_count()} CPUs")
    print(f"{'event':<9} {'mode':<10} {'conn':>4} {'round':>5}  {'receiver':<27} {'req/s':>7} {'p50 ms':>7}"
          f" {'p99 ms':>7} {'CPU s':>6} {'req/CPU-s':>9} {'non-2xx':>7} {'vs Probot':>9}")
    for event, outcome in events:
        for close in (False, True):
            for connections in (16, 64):
                for round_ in (1, 2):
                    row: dict[str, dict[str, float]] = {}
                    order = targets if round_ == 1 else list(reversed(targets))  # alternate who goes first
                    for label, start in order:
                        process, port = start()
                        try:
                            wrk(port, event=event, secret=PEER_SECRET if "Probot" in label else SECRET,
                                connections=connections, close=close, seconds=1, folder=folder)  # warm-up
                            row[label] = measured(process, port, event=event, connections=connections, close=close,
                                                  seconds=args.seconds, folder=folder,
                                                  secret=PEER_SECRET if "Probot" in label else SECRET)
                        finally:
                            stop(process)
                    peer = row.get("Probot 14")
                    for label, _ in targets:
                        f = row[label]
                        ratio = f"{f['rps'] / peer['rps']:.2f}x" if peer else "-"
                        print(f"{outcome:<9} {'close' if close else 'keep-alive':<10} {connections:>4} {round_:>5}  "
                              f"{label:<27} {f['rps']:7.0f} {f['p50_ms']:7.1f} {f['p99_ms']:7.1f} {f['cpu_s']:6.2f}"
                              f" {f['per_cpu_s']:9.0f} {f['bad_status'] + f['socket_errors']:7.0f} {ratio:>9}",
                              flush=True)


# ----------------------------------------------------------------------------- worker drain


def sync(program_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-m", "issuebot.cli", "sync", "-c", str(program_path)], cwd=REPO, env=env,
                   check=True, stdout=subprocess.DEVNULL, timeout=600)


def comment_burst(program_path: Path, total: int) -> Callable[[], datetime]:
    """`total` plain comments (no command: they change nothing) spread over the pairs, built ahead; the
    returned call stores them in the inbox and queue as `serve` stores a burst, and gives the moment
    they were committed."""
    from issuebot.config import load_program
    from issuebot.models import Event, EventKind
    from issuebot.providers import make_provider
    from issuebot.providers.local_hooks import event_payload
    from issuebot.store import NewDelivery

    program = load_program(program_path)
    tracker = make_provider(program)
    now = datetime.now(timezone.utc)
    pairs = program.pairs
    deliveries = []
    for n in range(total):
        pair = pairs[n % len(pairs)]
        project = tracker.project_path(program.project_name(pair))
        event = Event(kind=EventKind.COMMENT_CREATED, provider="local", project=project, issue_number=1,
                      actor=pair.mentee.username, comment_id=10_000 + n, comment_body="thanks, see you", at=now)
        deliveries.append(NewDelivery(provider="local", delivery_id=f"drain-{uuid.uuid4()}", event="event",
                                      headers={"Content-Type": "application/json"},
                                      body=json.dumps(event_payload(event)).encode(), project=project))
    return burst_of(program, deliveries)


def burst_of(program: Any, deliveries: list[Any]) -> Callable[[], datetime]:
    """A call that stores `deliveries` in one burst, as `serve` does: one transaction (with the queue's
    tasks, when the queue lives in the inbox's file), else each pair's rows handed to the queue after
    it; it gives the moment they were committed (UTC, as the inbox stamps when each one is done)."""
    from issuebot.service import open_service
    from issuebot.webhooks import hand_to_queue

    service = open_service(program, need_secret=False)
    service.store.ping()  # connected before the clock starts

    def store() -> datetime:
        rows = service.store.add_deliveries(deliveries, now=datetime.now(timezone.utc), lease_seconds=60)
        committed = datetime.now(timezone.utc)
        stored = [(row, delivery.project) for row, delivery in zip(rows, deliveries) if row is not None]
        assert len(stored) == len(deliveries)
        assert not hand_to_queue(service, stored)
        service.close()
        return committed

    return store


_counting: dict[Path, Any] = {}


def _inbox(program_path: Path) -> Any:
    """The program's inbox, one connection kept per program: the bench looks at it while workers run."""
    from issuebot.config import load_program
    from issuebot.store import Store

    store = _counting.get(program_path)
    if store is None:
        store = _counting[program_path] = Store.for_program(load_program(program_path))
        store.create_schema()
    return store


def unfinished(program_path: Path) -> int:
    """Inbox rows waiting or being handled (counted through the status index: next to nothing)."""
    import sqlalchemy as sa

    from issuebot.store import PROCESSING, QUEUED

    store = _inbox(program_path)
    with store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(store.inbox)
                                .where(store.inbox.c.status.in_((QUEUED, PROCESSING)))).scalar_one())


def last_done(program_path: Path) -> datetime:
    """When the inbox's last finished delivery was marked done (UTC)."""
    import sqlalchemy as sa

    store = _inbox(program_path)
    with store.engine.connect() as conn:
        moment = conn.execute(sa.select(sa.func.max(store.inbox.c.done_at))).scalar_one()
    return moment.replace(tzinfo=timezone.utc)


def drain(program_path: Path, total: int, processes: int, threads: int, limit: float = 120.0,
          burst: Callable[[Path, int], Callable[[], datetime]] | None = None) -> float:
    """Deliveries finished per second by `processes` worker processes of `threads` threads, once running:
    from the commit of a burst of `total` to the moment the last one was marked done (the inbox's own
    stamp: the bench looks only every 50 ms, so that looking takes no CPU from the workers).
    `burst(program, n)` builds n deliveries and gives the call that stores them (default: comments on
    the embedded tracker)."""
    burst = burst or comment_burst
    workers = [start_worker(program_path, threads) for _ in range(processes)]
    try:
        burst(program_path, 4 * processes)()  # a few each to warm up on (templates, the tracker, connections)
        wait_finished(program_path, limit)
        store = burst(program_path, total)
        committed = store()
        wait_finished(program_path, limit)
        elapsed = (last_done(program_path) - committed).total_seconds()
    finally:
        for worker in workers:
            worker.send_signal(2)
        for worker in workers:
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
    return total / elapsed


def wait_finished(program_path: Path, limit: float) -> None:
    """Until no delivery waits or is being handled."""
    started = time.perf_counter()
    while unfinished(program_path):
        if time.perf_counter() - started > limit:
            raise SystemExit(f"the workers did not finish within {limit:.0f} s")
        time.sleep(0.05)


def worker_drain(folder: Path, args: argparse.Namespace) -> None:
    program_path = program_file(folder / "drain", pairs=args.pairs)
    sync(program_path)
    print(f"\nworker drain, embedded tracker, {args.drain} comments without commands over {args.pairs} pairs"
          " (stored in one burst while the workers run; start-up not counted)")
    for processes, threads in ((1, 1), (1, 2), (2, 1)):
        rate = drain(program_path, args.drain, processes, threads)
        print(f"  {processes} worker process(es) x {threads} thread(s): {rate:7.0f} deliveries/s", flush=True)


# ----------------------------------------------------------------------------- delivery to labels


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

    program_path = program_file(folder / "labels", started_days_ago=args.sessions + 3)
    sync(program_path)
    program = load_program(program_path)
    tracker = make_provider(program)
    pair = program.pairs[0]
    project = tracker.project_path(program.project_name(pair))
    mentee = tracker.as_user(pair.mentee.username)  # type: ignore[attr-defined]
    session, held = program.label("kind::session"), program.label("session::held")
    process, port = start_issuebot(program_path)
    timings = []
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for n in range(args.sessions):
            issue = next_session(tracker, project, session, held)
            # One meeting a day: the same day logged twice counts once (and labels nothing new).
            held_on = program.settings.starts + timedelta(days=n)
            comment = mentee.create_comment(project, issue.number, f"/session {held_on.isoformat()} 45m")
            event = Event(kind=EventKind.COMMENT_CREATED, provider="local", project=project, issue_number=issue.number,
                          actor=pair.mentee.username, comment_id=comment.id, comment_body=comment.body,
                          at=comment.created_at)
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
        stop(process)
    print(f"\ndelivery -> session::held: p50 {1000 * statistics.median(timings):.0f} ms, max {1000 * max(timings):.0f} ms"
          f" over {len(timings)} sessions (embedded tracker, `issuebot serve` with its worker)")


# ----------------------------------------------------------------------------- PostgreSQL + Redis


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def fresh_postgres() -> None:
    import psycopg
    from huey import RedisHuey

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")
    RedisHuey("issuebot", url=BENCH_REDIS).flush()


def drop_postgres() -> None:
    import psycopg
    from huey import RedisHuey

    for store in _counting.values():  # connections to the database about to go
        store.dispose()
    _counting.clear()

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
    RedisHuey("issuebot", url=BENCH_REDIS).flush()


def scale_out(program_path: Path, args: argparse.Namespace, burst: Any = None, calls: Any = None) -> None:
    """One worker process against two, three alternating rounds of `args.drain` deliveries each; the
    median ratio (a round on this machine varies by a fifth)."""
    ratios = []
    for round_ in (1, 2, 3):
        rates = {}
        line = f"  round {round_}:"
        for processes in ((1, 2) if round_ % 2 else (2, 1)):
            before = calls() if calls else 0
            rates[processes] = drain(program_path, args.drain, processes, 1, burst=burst)
            line += f" {processes} worker process(es) {rates[processes]:6.0f}/s"
            if calls:
                line += f" ({(calls() - before) / (args.drain + 4 * processes):.2f} forge calls per delivery)"
        ratios.append(rates[2] / rates[1])
        print(f"{line}; two / one {ratios[-1]:.2f}x", flush=True)
    print(f"  two workers / one, median of the rounds: {statistics.median(ratios):.2f}x")


def _spin(loops: int) -> float:
    started = time.perf_counter()
    total = 0
    for n in range(loops):
        total += n
    return time.perf_counter() - started


def parallel_ceiling(loops: int = 10_000_000) -> float:
    """How much more two CPU-bound processes get done on this machine than one: the ceiling for a
    two-process ratio of work bound by CPU (two cores that slow each other down give less than 2)."""
    import multiprocessing

    ratios = []
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(_spin, [loops // 10] * 2)  # both started
        for _ in range(3):  # the median of three: what else runs on the host moves it
            alone = pool.apply(_spin, (loops,))
            together = max(pool.map(_spin, [loops, loops]))
            ratios.append(2 * alone / together)
    return statistics.median(ratios)


def postgres_redis(folder: Path, args: argparse.Namespace) -> None:
    if not (answers(5432) and answers(6379)):
        print("\nPostgreSQL + Redis: not reachable on 127.0.0.1, skipped")
        return
    fresh_postgres()
    try:
        program_path = program_file(folder / "pg", pairs=args.pairs,
                                    database_url=f"postgresql://postgres@127.0.0.1:5432/{BENCH_DB}",
                                    queue_url=BENCH_REDIS)
        sync(program_path)
        print(f"\nPostgreSQL inbox + Redis queue, embedded tracker, {args.drain} comments over {args.pairs} pairs")
        print(f"  this machine: two CPU-bound processes do {parallel_ceiling():.2f}x the work of one"
              " (the ceiling for work bound by CPU)")
        scale_out(program_path, args)
        print("  receive, keep-alive, 16 connections per serve (--no-worker --processes 1):")
        ratios = []
        for round_ in (1, 2, 3):
            serves = []
            try:
                for _ in range(2):
                    serves.append(start_issuebot(program_path, "--no-worker", "--processes", "1"))
                with ThreadPoolExecutor(2) as pool:
                    def load(port: int, seconds: float) -> dict[str, float]:
                        return wrk(port, event="issue_comment", secret=SECRET, connections=16, close=False,
                                   seconds=seconds, folder=folder)
                    list(pool.map(load, [port for _, port in serves], [1, 1]))  # warm-up
                    single = load(serves[0][1], args.seconds)
                    both = sum(f["rps"] for f in pool.map(load, [port for _, port in serves],
                                                          [args.seconds] * 2))
            finally:
                for serve, _ in serves:
                    stop(serve)
            ratios.append(both / single["rps"])
            print(f"  round {round_}: one serve {single['rps']:7.0f} req/s (p99 {single['p99_ms']:.1f} ms);"
                  f" two serves {both:7.0f} req/s; ratio {ratios[-1]:.2f}x", flush=True)
        print(f"  two serves / one, median of the rounds: {statistics.median(ratios):.2f}x")
    finally:
        drop_postgres()


def forge_drain(folder: Path, args: argparse.Namespace) -> None:
    """PostgreSQL + Redis with the GitHub fake over loopback HTTP, each call answered after a forge's
    round trip: one worker process against two, deliveries spread over the pairs."""
    from issuebot.config import load_program
    from issuebot.providers import make_provider
    from issuebot.store import NewDelivery
    from tests.fakes.github_server import BOT_TOKEN, GitHubServer
    from tests.service.helpers import comment_body

    if not (answers(5432) and answers(6379)):
        print("\nPostgreSQL + Redis with a forge fake: not reachable on 127.0.0.1, skipped")
        return
    server = GitHubServer(lambda: datetime.now(timezone.utc)).start()
    os.environ["GITHUB_TOKEN"] = BOT_TOKEN
    fresh_postgres()
    try:
        program_path = program_file(folder / "forge", pairs=args.pairs, provider=server.provider_config(),
                                    database_url=f"postgresql://postgres@127.0.0.1:5432/{BENCH_DB}", queue_url=BENCH_REDIS)
        program = load_program(program_path)
        for person in program.people.values():
            server.fake.add_user(person.username)
        sync(program_path)
        server.latency_seconds = args.forge_latency_ms / 1000
        tracker = make_provider(program)

        def burst(_: Path, total: int) -> Callable[[], datetime]:
            deliveries = []
            for n in range(total):
                pair = program.pairs[n % len(program.pairs)]
                project = tracker.project_path(program.project_name(pair))
                body = comment_body(project=project, number=1, text="thanks, see you", comment_id=10**6 + n,
                                    login=pair.mentee.username)
                deliveries.append(NewDelivery(provider="github", delivery_id=str(uuid.uuid4()), event="issue_comment",
                                              headers={"X-GitHub-Event": "issue_comment",
                                                       "Content-Type": "application/json"},
                                              body=body, project=project))
            return burst_of(program, deliveries)

        print(f"\nPostgreSQL inbox + Redis queue, GitHub fake over loopback ({args.forge_latency_ms:.0f} ms per call),"
              f" {args.drain} comments over {args.pairs} pairs")
        scale_out(program_path, args, burst=burst, calls=lambda: len(server.fake.calls))
    finally:
        server.stop()
        drop_postgres()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each measured wrk run")
    parser.add_argument("--drain", type=int, default=400, help="deliveries per drain run")
    parser.add_argument("--pairs", type=int, default=50, help="pairs the drain runs spread deliveries over")
    parser.add_argument("--sessions", type=int, default=5, help="sessions logged for delivery-to-labels")
    parser.add_argument("--skip-peer", action="store_true", help="no Probot")
    parser.add_argument("--skip-ignored", action="store_true", help="no runs with ignored events")
    parser.add_argument("--skip-receive", action="store_true")
    parser.add_argument("--skip-servers", action="store_true", help="no runs of other servers beside serve")
    parser.add_argument("--skip-drain", action="store_true")
    parser.add_argument("--skip-labels", action="store_true")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-forge", action="store_true", help="no PostgreSQL + Redis drain against the GitHub fake")
    parser.add_argument("--forge-latency-ms", type=float, default=20.0, help="the fake forge's round trip per call")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if not shutil.which("wrk"):
            raise SystemExit("wrk not found: apt-get install -y wrk")
        if not args.skip_servers:
            server_choice(folder, args)
        if not args.skip_receive:
            receive_path(folder, args)
        if not args.skip_drain:
            worker_drain(folder, args)
        if not args.skip_labels:
            delivery_to_labels(folder, args)
        if not args.skip_postgres:
            postgres_redis(folder, args)
        if not args.skip_forge:
            forge_drain(folder, args)


if __name__ == "__main__":
    main()
