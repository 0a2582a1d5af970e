"""API calls per tracker fake: reads and writes of a first sync, a second sync and the bulk reads.

Run from the repository root:  python bench/api_calls.py --pairs 10,100,1000
Each phase uses a fresh provider (as a new CLI run or CI job would) and counts its own calls.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from issuebot.config import load_program  # noqa: E402
from issuebot.observe import observe_program  # noqa: E402
from issuebot.providers import make_provider  # noqa: E402
from issuebot.reconcile import reconcile_program  # noqa: E402
from issuebot.templates import Templates  # noqa: E402
from tests.conftest import Clock, cohort, write_program  # noqa: E402
from tests.fakes import HARNESSES, harness  # noqa: E402

NOW = datetime(2027, 1, 11, 9, 0, tzinfo=timezone.utc)


def measure(name: str, size: int) -> list[tuple[str, int, int, float]]:
    """(phase, reads, writes, seconds) for one harness and one program size."""
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        clock = Clock(NOW)
        with harness(name, tmp, clock) as forge:
            data = cohort(size, forge.provider_config())
            for person in data["people"]:
                forge.add_user(person["username"])
            program = load_program(write_program(tmp / "program.yml", data))
            templates = Templates(program.templates_dir())
            for phase in ("first sync", "second sync"):
                provider = make_provider(program, clock)
                started = time.perf_counter()
                result = reconcile_program(provider, program, templates, trigger="sync", now=NOW)
                if result.outcome.errors:
                    raise SystemExit(f"{name}: {phase} failed: {result.outcome.errors[:3]}")
                rows.append((phase, provider.meter.reads, provider.meter.writes, time.perf_counter() - started))
            provider = make_provider(program, clock)
            started = time.perf_counter()
            observe_program(provider, program)
            rows.append(("bulk read", provider.meter.reads, provider.meter.writes, time.perf_counter() - started))
            # What a scheduled sweep reads: no orphan search, so no project list when every pair
            # shows an open issue. Bound: ceil(open issues / 100) + a constant.
            provider = make_provider(program, clock)
            started = time.perf_counter()
            views, _ = observe_program(provider, program, find_orphans=False)
            rows.append(("steady read", provider.meter.reads, provider.meter.writes, time.perf_counter() - started))
            open_issues = sum(1 for v in views.values() for i in v.issues.values() if i.state == "open")
            print(f"# {name} {size} pairs: {open_issues} open issues, ceil(open/100) = {-(-open_issues // 100)}",
                  file=sys.stderr)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", default="10,100,1000", help="comma-separated program sizes")
    parser.add_argument("--harness", action="append", choices=sorted(HARNESSES), help="only these fakes")
    args = parser.parse_args(argv)
    sizes = [int(part) for part in args.pairs.split(",") if part.strip()]
    names = args.harness or sorted(HARNESSES)
    header = f"| {'tracker':<8} | {'pairs':>5} | {'phase':<11} | {'reads':>6} | {'writes':>6} | {'reads/pair':>10} | {'writes/pair':>11} | {'seconds':>7} |"
    print(header)
    print("|" + "|".join("-" * (len(cell)) for cell in header.split("|")[1:-1]) + "|")
    for name in names:
        for size in sizes:
            for phase, reads, writes, seconds in measure(name, size):
                print(f"| {name:<8} | {size:>5} | {phase:<11} | {reads:>6} | {writes:>6} | "
                      f"{reads / size:>10.2f} | {writes / size:>11.2f} | {seconds:>7.2f} |", flush=True)


if __name__ == "__main__":
    main()
