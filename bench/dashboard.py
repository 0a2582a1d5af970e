"""The coordinators' web app and `report --summary` at scale, on the embedded tracker.

Run from the repository root:  python bench/dashboard.py --pairs 10000
Seeds a cohort (sync, then a sweep on a day 10% of the pairs turn stale; not measured), then with
a fresh service each time measures:
  cold     the first GET of a page: one read of the whole tracker, then the page (target < 3 s)
  cached   the same page again, from the snapshot: median and slowest of 20 (target < 200 ms)
and `issuebot report --summary` (json and html) run in-process (target < 10 s).
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from click.testing import CliRunner  # noqa: E402

from issuebot.app import create_app  # noqa: E402
from issuebot.cli import main as cli  # noqa: E402
from issuebot.config import load_program  # noqa: E402
from issuebot.providers import make_provider  # noqa: E402
from issuebot.reconcile import reconcile_program  # noqa: E402
from issuebot.service import open_service  # noqa: E402
from issuebot.sweep import sweep  # noqa: E402
from issuebot.templates import Templates  # noqa: E402
from tests.conftest import Clock, cohort, write_program  # noqa: E402

SYNC_AT = datetime(2027, 1, 11, 9, 0, tzinfo=timezone.utc)
SWEEP_AT = datetime(2027, 1, 14, 9, 0, tzinfo=timezone.utc)
TOKEN_ENV, SECRET_ENV, TOKEN = "ISSUEBOT_BENCH_DASHBOARD_TOKEN", "ISSUEBOT_BENCH_WEBHOOK_SECRET", "bench-token"
PAGES = ("/dashboard", "/api/pairs?page=1", "/dashboard/summary", "/api/pairs")


def seed(folder: Path, size: int) -> tuple[Any, Clock, float]:
    data = cohort(size, {"kind": "local", "path": str(folder / "tracker.db")}, nudges={"first_session_within": "30d"},
                  service={"webhook_secret_env": SECRET_ENV, "dashboard_token_env": TOKEN_ENV,
                           "dashboard_cache_seconds": 3600})
    for i, pair in enumerate(data["pairs"]):
        if i % 10 == 0:  # first session due 2026-12-22: stale (escalated) by the sweep's day
            pair["starts"] = (date(2027, 1, 11) - timedelta(days=34)).isoformat()
    program = load_program(write_program(folder / "program.yml", data))
    clock = Clock(SYNC_AT)
    started = time.perf_counter()
    synced = reconcile_program(make_provider(program, clock), program, Templates(), trigger="sync", now=SYNC_AT)
    if synced.outcome.errors:
        raise SystemExit(f"sync failed: {synced.outcome.errors[:3]}")
    clock.set(SWEEP_AT)
    swept = sweep(make_provider(program, clock), program, Templates(), now=SWEEP_AT)
    if swept.errors:
        raise SystemExit(f"sweep failed: {swept.errors[:3]}")
    return program, clock, time.perf_counter() - started


def measure_page(program: Any, clock: Clock, path: str) -> dict[str, Any]:
    service = open_service(program, clock=clock)
    client = create_app(service).test_client()
    headers = {"Authorization": "Basic " + base64.b64encode(f"carol:{TOKEN}".encode()).decode()}
    try:
        started = time.perf_counter()
        first = client.get(path, headers=headers)
        cold = time.perf_counter() - started
        if first.status_code != 200:
            raise SystemExit(f"{path}: {first.status_code} {first.get_data(as_text=True)[:200]}")
        cached = []
        for _ in range(20):
            started = time.perf_counter()
            client.get(path, headers=headers)
            cached.append(time.perf_counter() - started)
        return {"cold": cold, "median": statistics.median(cached), "max": max(cached), "bytes": len(first.data)}
    finally:
        service.close()


def measure_report(program: Any, fmt: str) -> tuple[float, int]:
    runner = CliRunner()
    started = time.perf_counter()
    result = runner.invoke(cli, ["report", "-c", str(program.path), "--summary", "--format", fmt,
                                 "--now", SWEEP_AT.isoformat()])
    seconds = time.perf_counter() - started
    if result.exit_code != 0:
        raise SystemExit(f"report --summary --format {fmt}: {result.output[:300]}")
    return seconds, len(result.output)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", default="10000", help="comma-separated program sizes")
    args = parser.parse_args(argv)
    os.environ[TOKEN_ENV] = TOKEN
    os.environ[SECRET_ENV] = "bench-secret"
    for size in [int(p) for p in args.pairs.split(",") if p.strip()]:
        with tempfile.TemporaryDirectory() as folder:
            previous = os.getcwd()
            os.chdir(folder)  # the service's inbox and queue files go under .issuebot/ here
            try:
                program, clock, seeded = seed(Path(folder), size)
                print(f"{size} pairs on the embedded tracker (seeded in {seeded:.0f} s)")
                print(f"| {'page':<20} | {'cold s':>7} | {'cached median ms':>16} | {'cached max ms':>13} | {'bytes':>9} |")
                print(f"|{'-' * 22}|{'-' * 9}|{'-' * 18}|{'-' * 15}|{'-' * 11}|")
                for path in PAGES:
                    row = measure_page(program, clock, path)
                    print(f"| {path:<20} | {row['cold']:>7.2f} | {row['median'] * 1000:>16.1f} | "
                          f"{row['max'] * 1000:>13.1f} | {row['bytes']:>9} |", flush=True)
                for fmt in ("json", "html"):
                    seconds, length = measure_report(program, fmt)
                    print(f"report --summary --format {fmt}: {seconds:.2f} s ({length} bytes)", flush=True)
            finally:
                os.chdir(previous)


if __name__ == "__main__":
    main()
