"""Shared test fixtures: an injected clock, program files, tracker harnesses and service checks."""

from __future__ import annotations

import contextlib
import os
import socket
import traceback
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fakes import HARNESSES, harness


class Clock:
    """A clock tests move by hand; nothing sleeps."""

    def __init__(self, start: datetime = datetime(2027, 1, 11, 9, 0, tzinfo=timezone.utc)):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def set(self, moment: datetime) -> None:
        self.now = moment


@pytest.fixture
def clock() -> Clock:
    return Clock()


def program_data(provider: dict[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    """A small valid program: coordinator carol, mentors alice and dave, mentees bob and erin."""
    data: dict[str, Any] = {
        "program": {
            "name": "Test mentoring",
            "coordinators": ["carol"],
            "starts": "2027-01-11",
            "duration": "6 months",
            "cadence": "2w",
            "session_length": "45min",
            "timezone": "UTC",
            "provider": provider or {"kind": "local", "path": ".issuebot/local.db"},
        },
        "people": [
            {"username": "alice", "name": "Alice Adams", "role": "mentor", "level": 5, "skills": ["python"]},
            {"username": "dave", "name": "Dave Dunn", "role": "mentor", "level": 4},
            {"username": "bob", "name": "Bob Brown", "role": "mentee", "level": 2, "manager": "dana"},
            {"username": "erin", "name": "Erin Evans", "role": "mentee", "level": 1},
            {"username": "carol", "name": "Carol Clark", "role": "both"},
        ],
        "pairs": [
            {"mentor": "alice", "mentee": "bob", "goals": [{"title": "Ship a service", "due": "2027-04-30", "actions": ["Tutorial", "Deploy"]}]},
            {"mentor": "dave", "mentee": "erin"},
        ],
    }
    for key, value in overrides.items():
        if key in data["program"] or key in {"nudges", "reviews", "feedback", "labels", "templates", "ends", "onboarding_issues"}:
            data["program"][key] = value
        else:
            data[key] = value
    return data


def cohort(size: int, provider: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """A program of `size` pairs (mentor{i} guides mentee{i}) plus coordinator carol."""
    data = program_data(provider, **overrides)
    data["people"] = [{"username": "carol", "name": "Carol Clark", "role": "both"}]
    data["pairs"] = []
    for i in range(size):
        data["people"] += [{"username": f"mentor{i}", "role": "mentor"}, {"username": f"mentee{i}", "role": "mentee"}]
        data["pairs"].append({"mentor": f"mentor{i}", "mentee": f"mentee{i}"})
    return data


def write_program(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def program_file(tmp_path: Path) -> Path:
    return write_program(tmp_path / "program.yml", program_data())


@pytest.fixture(params=sorted(HARNESSES))
def forge(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Any:
    """Every tracker harness in turn: the contract and workflow suites run on each."""
    with harness(request.param, tmp_path, clock) as made:
        yield made


def missing_service(message: str) -> None:
    """Skip with `message`, or fail under ISSUEBOT_REQUIRE_SERVICES=1 (CI installs every service)."""
    if os.environ.get("ISSUEBOT_REQUIRE_SERVICES") == "1":
        pytest.fail(message + " and ISSUEBOT_REQUIRE_SERVICES=1")
    pytest.skip(message)


def require_service(host: str, port: int, what: str) -> None:
    """Skip when the service does not answer, or fail under ISSUEBOT_REQUIRE_SERVICES=1."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return
    except OSError as exc:
        missing_service(f"{what} not reachable on {host}:{port} ({exc.__class__.__name__})")


@pytest.fixture
def postgres_url() -> str:
    require_service("127.0.0.1", 5432, "PostgreSQL")
    return "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture
def redis_url() -> str:
    require_service("127.0.0.1", 6379, "Redis")
    return "redis://127.0.0.1:6379/0"


@dataclass
class CliRun:
    """What one `issuebot` command printed and returned."""

    returncode: int
    stdout: str
    stderr: str


def run_cli(*args: str, cwd: Path, env: dict[str, str | None] | None = None) -> CliRun:
    """Run `issuebot ARGS` in-process in `cwd` (click's runner): the same exit codes and output as the
    console script, without starting an interpreter. An uncaught exception lands in stderr as the
    traceback a person would see."""
    from click.testing import CliRunner

    from issuebot.cli import main

    with contextlib.chdir(cwd):
        result = CliRunner().invoke(main, list(args), env={"ISSUEBOT_CONFIG": None, **(env or {})})
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception))
    return CliRun(result.exit_code, result.stdout, stderr)
