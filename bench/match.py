"""Benchmark: wall time and peak memory of `issuebot match` on a generated cohort of 2,000 people.

Run: python bench/match.py [--people 2000] [--seed 7]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SKILLS = [f"skill-{n}" for n in range(60)]
INTERESTS = [f"interest-{n}" for n in range(40)]
ZONES = ["Europe/Berlin", "Europe/London", "America/New_York", "America/Los_Angeles", "Asia/Kolkata",
         "Asia/Tokyo", "Australia/Sydney", "UTC"]
DEPARTMENTS = [f"dept-{n}" for n in range(12)]
SECTORS = ["finance", "health", "retail", "public", "energy"]
STYLES = ["visual", "hands-on", "reading", "discussion"]


def cohort(size: int, seed: int) -> dict:
    rng = random.Random(seed)
    mentors = size * 2 // 5
    people = [{"username": "coord", "role": "both"}]
    for n in range(mentors):
        people.append({
            "username": f"mentor{n}", "role": "mentor", "level": rng.choice([4, 5, 5]),
            "department": rng.choice(DEPARTMENTS), "skills": rng.sample(SKILLS, 6),
            "interests": rng.sample(INTERESTS, 3), "capacity": rng.choice([1, 2, 2, 3]),
            "timezone": rng.choice(ZONES),
            "attributes": {"sector": rng.choice(SECTORS), "learning_style": rng.choice(STYLES)},
        })
    for n in range(size - mentors):
        people.append({
            "username": f"mentee{n}", "role": "mentee", "level": rng.choice([1, 2, 3]),
            "department": rng.choice(DEPARTMENTS), "wants": rng.sample(SKILLS, 3),
            "interests": rng.sample(INTERESTS, 3), "timezone": rng.choice(ZONES),
            "manager": f"mentor{rng.randrange(mentors)}",
            "attributes": {"sector": rng.choice(SECTORS), "learning_style": rng.choice(STYLES)},
        })
    exclusions = [[f"mentee{rng.randrange(size - mentors)}", f"mentor{rng.randrange(mentors)}"] for _ in range(200)]
    return {
        "program": {
            "name": "Benchmark cohort", "coordinators": ["coord"], "starts": "2027-01-11", "duration": "6 months",
            "provider": {"kind": "local", "path": "bench.db"},
            "matching": {
                "scope": "company",
                "level_rules": [{"mentee_levels": [1, 2], "mentor_min": 4}, {"mentee_levels": [3], "mentor_min": 4}],
                "max_timezone_hours": 8,
                "exclude": exclusions,
                "weights": {"skills": 3, "interests": 1, "same_department": 0.5,
                            "attributes": {"sector": 1, "learning_style": 1}},
            },
        },
        "people": people,
        "pairs": [],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        program = Path(folder) / "cohort.yml"
        program.write_text(yaml.safe_dump(cohort(args.people, args.seed), sort_keys=False), encoding="utf-8")
        output = Path(folder) / "proposals.yml"
        command = [sys.executable, "-m", "issuebot.cli", "match", "-c", str(program), "--output", str(output),
                   "--explain", "--no-tracker"]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        started = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - started
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
        if done.returncode != 0:
            sys.exit(f"match failed ({done.returncode}): {done.stderr.strip()}")
        proposals = yaml.safe_load(output.read_text(encoding="utf-8"))["pairs"]
        unmatched = sum(1 for line in done.stdout.splitlines() if line.startswith("not matched:"))
        sys.path.insert(0, str(ROOT))
        from issuebot.config import load_program
        from issuebot.matching import build_pool, match

        started = time.perf_counter()
        loaded = load_program(program)
        loading = time.perf_counter() - started
        started = time.perf_counter()
        match(loaded, build_pool(loaded))
        solving = time.perf_counter() - started
    print(f"people: {args.people}  proposed pairs: {len(proposals)}  not matched: {unmatched}")
    print(f"wall time: {elapsed:.2f} s (target < 30 s)  peak memory: {peak_kib / 1024:.0f} MiB")
    print(f"in process: loading the program {loading:.2f} s, rules + scores + assignment {solving:.2f} s")


if __name__ == "__main__":
    main()
