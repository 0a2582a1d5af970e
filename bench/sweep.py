"""The scheduled sweep at scale: API calls, writes, wall time and peak memory per tracker harness.

Run from the repository root:  python bench/sweep.py --pairs 1000,10000
For each harness and size: sync a cohort (not measured), then measure with a fresh provider each
(as a new CI job would):
  nudge 10%   the first sweep of a day on which 10% of the pairs are overdue (they get nudged)
  steady      the same sweep again: nothing is due (targets: 0 writes and at most
              ceil(open issues / 100) + 5 API calls)
Wall time is measured without tracing; peak memory (tracemalloc) on a repeat of each phase:
the steady sweep repeated, and a second 10% group that falls overdue the next day.

`--missed` prints instead what finding quick commands no webhook delivered costs: the comment
reads (list_comments calls) of a sweep when 0% and when 1% of the pairs' issues got a comment
since the last sweep (half of them `/session` commands, carried out and answered). Of the comment
reads, one per active issue finds the commands (detection); the applier adds one marker check
right before each reply it posts.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
import tracemalloc
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from issuebot.config import load_program  # noqa: E402
from issuebot.providers import make_provider  # noqa: E402
from issuebot.reconcile import reconcile_program  # noqa: E402
from issuebot.sweep import sweep  # noqa: E402
from issuebot.templates import Templates  # noqa: E402
from tests.conftest import Clock, cohort, write_program  # noqa: E402
from tests.fakes import HARNESSES, harness  # noqa: E402

STARTS = date(2027, 1, 11)  # a Monday; everyone's first session is due 2027-01-25
SYNC_AT = datetime(2027, 1, 11, 9, 0, tzinfo=timezone.utc)
DAY_ONE = datetime(2027, 1, 14, 9, 0, tzinfo=timezone.utc)  # Thursday: group A overdue (grace passed)
DAY_TWO = datetime(2027, 1, 15, 9, 0, tzinfo=timezone.utc)  # Friday: group B overdue too
# Largest size each forge fake is run at by default: seeding 10,000 pairs through a fake takes
# minutes (~80,000 HTTP calls matched by `responses`); `--fake-limit 10000` runs them anyway.
# Peak memory on a fake includes the fake server itself, which runs in the same process.
FAKE_LIMIT = 1000


def staggered_cohort(size: int, provider: dict[str, Any]) -> dict[str, Any]:
    """`size` pairs; 10% (group A) started 20 days early, another 10% (group B) 13 days early."""
    # No first-session reminders on the measured days: only the overdue groups are nudged.
    data = cohort(size, provider, nudges={"first_session_within": "30d"})
    for i, pair in enumerate(data["pairs"]):
        if i % 10 == 0:
            pair["starts"] = (STARTS - timedelta(days=20)).isoformat()  # session due 01-05: overdue 01-08
        elif i % 10 == 5:
            pair["starts"] = (STARTS - timedelta(days=13)).isoformat()  # session due 01-12: overdue 01-15
    return data


def measure_sweep(program: Any, clock: Clock, now: datetime, *, trace: bool) -> dict[str, Any]:
    clock.set(now)
    provider = make_provider(program, clock)
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    result = sweep(provider, program, Templates(program.templates_dir()), now=now)
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] if trace else 0
    if trace:
        tracemalloc.stop()
    if result.errors:
        raise SystemExit(f"sweep failed: {result.errors[:3]}")
    summary = result.summary()
    return {"reads": provider.meter.reads, "writes": provider.meter.writes, "seconds": seconds,
            "peak_mb": peak / 2**20, "nudged": len(summary["nudged"])}


def open_issues(program: Any, clock: Clock) -> int:
    return sum(1 for _ in make_provider(program, clock).list_issues(None, state="open"))


def measure(name: str, size: int) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        clock = Clock(SYNC_AT)
        with harness(name, tmp, clock) as forge:
            data = staggered_cohort(size, forge.provider_config())
            for person in data["people"]:
                forge.add_user(person["username"])
            program = load_program(write_program(tmp / "program.yml", data))
            started = time.perf_counter()
            synced = reconcile_program(make_provider(program, clock), program, Templates(program.templates_dir()),
                                       trigger="sync", now=SYNC_AT)
            if synced.outcome.errors:
                raise SystemExit(f"{name}: sync failed: {synced.outcome.errors[:3]}")
            seeded = time.perf_counter() - started
            issues = open_issues(program, clock)
            nudge = measure_sweep(program, clock, DAY_ONE, trace=False)
            steady = measure_sweep(program, clock, DAY_ONE, trace=False)
            steady_mem = measure_sweep(program, clock, DAY_ONE, trace=True)
            nudge_mem = measure_sweep(program, clock, DAY_TWO, trace=True)
            budget = math.ceil(issues / 100) + 5
            rows.append({"phase": "nudge 10%", **nudge, "peak_mb": nudge_mem["peak_mb"], "issues": issues,
                         "budget": "", "seeded": seeded})
            rows.append({"phase": "steady", **steady, "peak_mb": steady_mem["peak_mb"], "issues": issues,
                         "budget": f"{budget} {'ok' if steady['reads'] + steady['writes'] <= budget and steady['writes'] == 0 else 'MISSED'}",
                         "seeded": seeded})
    return rows


def measure_missed(name: str, size: int) -> list[dict[str, Any]]:
    """Comment reads of a sweep with 0% and with 1% of the pairs' issues active (no webhook)."""
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        clock = Clock(SYNC_AT)
        with harness(name, tmp, clock) as forge:
            data = cohort(size, forge.provider_config(), nudges={"first_session_within": "30d"})
            for person in data["people"]:
                forge.add_user(person["username"])
            program = load_program(write_program(tmp / "program.yml", data))
            templates = Templates(program.templates_dir())
            reconcile_program(make_provider(program, clock), program, templates, trigger="sync", now=SYNC_AT)
            sweep(make_provider(program, clock), program, templates, now=SYNC_AT)
            issues = open_issues(program, clock)
            for share, day in ((0.0, DAY_ONE), (0.01, DAY_TWO)):
                active = int(issues * share)
                clock.set(day - timedelta(hours=1))
                for i in range(active):
                    pair = program.pairs[(i * 97) % len(program.pairs)]
                    path = forge.provider.project_path(program.project_name(pair))
                    text = "/session 45m" if i % 2 == 0 else "See you on Tuesday!"
                    forge.as_user(pair.mentee.username).create_comment(path, 1 + i % 3, text)
                clock.set(day)
                provider = make_provider(program, clock)
                started = time.perf_counter()
                result = sweep(provider, program, templates, now=day)
                seconds = time.perf_counter() - started
                if result.errors:
                    raise SystemExit(f"sweep failed: {result.errors[:3]}")
                replies = sum(1 for a in result.actions() if getattr(a, "key", "").startswith(("ack:", "usage:")))
                rows.append({"share": f"{share:.0%}", "issues": issues, "active": active,
                             "comment_reads": provider.meter.by_verb["list_comments"], "reads": provider.meter.reads,
                             "writes": provider.meter.writes, "replies": replies, "seconds": seconds})
    return rows


def main_missed(sizes: list[int], names: list[str], fake_limit: int) -> None:
    header = (f"| {'tracker':<7} | {'pairs':>6} | {'open issues':>11} | {'active':>6} | {'active issues':>13} | "
              f"{'comment reads':>13} | {'detection':>9} | {'API calls':>9} | {'writes':>6} | {'replies':>7} | {'seconds':>7} |")
    print(header)
    print("|" + "|".join("-" * len(cell) for cell in header.split("|")[1:-1]) + "|")
    for name in names:
        for size in sizes:
            if name != "local" and size > fake_limit:
                print(f"| {name:<7} | {size:>6} | skipped (raise --fake-limit to run it) |", flush=True)
                continue
            for row in measure_missed(name, size):
                print(f"| {name:<7} | {size:>6} | {row['issues']:>11} | {row['share']:>6} | {row['active']:>13} | "
                      f"{row['comment_reads']:>13} | {row['comment_reads'] - row['replies']:>9} | {row['reads'] + row['writes']:>9} | {row['writes']:>6} | "
                      f"{row['replies']:>7} | {row['seconds']:>7.2f} |", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", default="1000,10000", help="comma-separated program sizes")
    parser.add_argument("--harness", action="append", choices=sorted(HARNESSES), help="only these trackers")
    parser.add_argument("--fake-limit", type=int, default=FAKE_LIMIT,
                        help=f"largest size run on a forge fake (default {FAKE_LIMIT}; larger sizes are skipped)")
    parser.add_argument("--missed", action="store_true",
                        help="measure finding missed quick commands: comment reads at 0%% and 1%% active issues")
    args = parser.parse_args(argv)
    sizes = [int(part) for part in args.pairs.split(",") if part.strip()]
    names = args.harness or sorted(HARNESSES)
    if args.missed:
        main_missed(sizes, names, args.fake_limit)
        return
    header = (f"| {'tracker':<7} | {'pairs':>6} | {'open issues':>11} | {'phase':<9} | {'API calls':>9} | {'writes':>6} | "
              f"{'budget':>10} | {'nudged':>6} | {'seconds':>7} | {'peak MB':>7} | {'seed s':>6} |")
    print(header)
    print("|" + "|".join("-" * len(cell) for cell in header.split("|")[1:-1]) + "|")
    for name in names:
        for size in sizes:
            if name != "local" and size > args.fake_limit:
                print(f"| {name:<7} | {size:>6} | skipped: seeding {size} pairs through the {name} fake takes too long "
                      f"(raise --fake-limit to run it) |", flush=True)
                continue
            for row in measure(name, size):
                print(f"| {name:<7} | {size:>6} | {row['issues']:>11} | {row['phase']:<9} | {row['reads'] + row['writes']:>9} | "
                      f"{row['writes']:>6} | {row['budget']:>10} | {row['nudged']:>6} | {row['seconds']:>7.2f} | "
                      f"{row['peak_mb']:>7.1f} | {row['seeded']:>6.1f} |", flush=True)


if __name__ == "__main__":
    main()
