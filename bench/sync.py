"""Benchmark `sync` on the embedded tracker: wall time, writes per pair and peak memory, first and no-op run."""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import pstats
import resource
import sys
import tempfile
import time
import tracemalloc
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import yaml

from issuebot.config import load_program
from issuebot.providers.local import LocalProvider
from issuebot.reconcile import reconcile_program
from issuebot.templates import Templates

NOW = datetime(2027, 1, 11, 9, 0, tzinfo=timezone.utc)


def program_file(folder: Path, pairs: int) -> Path:
    """A program with `pairs` pairs: every other one declares two goals, the rest none."""
    people = [{"username": "carol", "name": "Carol Clark", "role": "both"}]
    entries = []
    for n in range(pairs):
        people.append({"username": f"mentor{n}", "name": f"Mentor {n}", "role": "mentor"})
        people.append({"username": f"mentee{n}", "name": f"Mentee {n}", "role": "mentee"})
        goals = [{"title": f"Goal {g} of pair {n}", "due": "2027-05-31", "actions": ["Read", "Build", "Show"]} for g in (1, 2)]
        entries.append({"mentor": f"mentor{n}", "mentee": f"mentee{n}", **({"goals": goals} if n % 2 == 0 else {})})
    data = {
        "program": {
            "name": "Benchmark mentoring", "coordinators": ["carol"], "starts": "2027-01-11",
            "duration": "6 months", "cadence": "2w", "timezone": "UTC",
            "provider": {"kind": "local", "path": "tracker/local.db"},
        },
        "people": people,
        "pairs": entries,
    }
    path = folder / "program.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def one_run(provider: LocalProvider, program, templates: Templates, memory: bool) -> dict:
    gc.collect()
    if memory:
        tracemalloc.start()
    reads, writes = provider.meter.reads, provider.meter.writes
    started, cpu = time.perf_counter(), time.process_time()
    result = reconcile_program(provider, program, templates, trigger="sync", now=NOW)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak = tracemalloc.get_traced_memory()[1] if memory else None
    if memory:
        tracemalloc.stop()
    assert not result.outcome.errors, result.outcome.errors
    pairs = len(program.pairs)
    made = provider.meter.writes - writes
    return {
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2),  # less sensitive than wall time to other load on the machine
        "pairs_per_second": round(pairs / seconds, 1),
        "writes": made,
        "writes_per_pair": round(made / pairs, 2),
        "reads": provider.meter.reads - reads,
        "peak_traced_mib": round(peak / 2**20, 1) if peak is not None else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=500)
    parser.add_argument("--memory", action=argparse.BooleanOptionalAction, default=True,
                        help="trace Python allocations for peak memory (slower); off for pure timing")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="print the N hottest functions of run 1")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        program = load_program(program_file(Path(tmp), args.pairs))
        templates = Templates(program.templates_dir())
        provider = LocalProvider(program.local_db_path(), clock=lambda: NOW)
        profiler = cProfile.Profile() if args.profile else None
        if profiler:
            profiler.enable()
        first = one_run(provider, program, templates, args.memory)
        if profiler:
            profiler.disable()
        second = one_run(provider, program, templates, args.memory)
        size = program.local_db_path().stat().st_size
    figures = {
        "pairs": args.pairs,
        "first_run": first,
        "second_run": second,
        "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "database_mib": round(size / 2**20, 1),
    }
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(f"sync of {args.pairs} pairs on the embedded tracker")
        for label, run in (("first run", first), ("second run (no-op)", second)):
            memory = f", peak traced memory {run['peak_traced_mib']} MiB" if run["peak_traced_mib"] is not None else ""
            print(f"  {label}: {run['seconds']} s wall, {run['cpu_seconds']} s CPU ({run['pairs_per_second']} pairs/s), {run['writes']} writes "
                  f"({run['writes_per_pair']} per pair), {run['reads']} reads{memory}")
        print(f"  process max RSS {figures['max_rss_mib']} MiB, database {figures['database_mib']} MiB")
    if profiler:
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(args.profile)


if __name__ == "__main__":
    main()
