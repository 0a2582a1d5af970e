"""Harness for the embedded tracker (no HTTP: its meter counts one call per page or write)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from issuebot.providers.local import LocalProvider


class LocalHarness:
    name = "local"
    supports_injected_errors = False

    def __init__(self, tmp_path: Path, clock: Callable[[], datetime], group: str = "mentoring"):
        self.db = tmp_path / "local.db"
        self.provider = LocalProvider(self.db, group=group, clock=clock)

    def provider_config(self) -> dict[str, Any]:
        """The `program.provider` mapping that points a program file at this tracker."""
        return {"kind": "local", "path": str(self.db), "group": self.provider.group}

    def as_user(self, username: str) -> LocalProvider:
        return self.provider.as_user(username)

    def person_token_env(self, username: str) -> None:
        """The embedded tracker acts as anyone: no person needs a token of their own."""
        return None

    def add_user(self, username: str) -> None:
        """The embedded tracker accepts any username."""

    def create_foreign_project(self, name: str) -> None:
        self.provider.create_foreign_project(name, "a project somebody made by hand")

    def fail_next(self, status: int, *, retry_after: int | None = None, times: int = 1) -> None:
        raise NotImplementedError("the embedded tracker has no HTTP errors to inject")

    def lose_next_answer(self, times: int = 1) -> None:
        raise NotImplementedError("the embedded tracker's writes have no answer to lose")

    def after_next_issue_read(self, action: Callable[[], Any]) -> None:
        """Run `action` (a person's edit) now: the embedded tracker reads and writes an issue in one
        transaction, so the nearest a person's edit can come to issuebot's read is just before it."""
        action()

    @property
    def reads(self) -> int:
        return self.provider.meter.reads

    @property
    def writes(self) -> int:
        return self.provider.meter.writes


@contextlib.contextmanager
def local_harness(tmp_path: Path, clock: Callable[[], datetime], **options: Any) -> Iterator[LocalHarness]:
    yield LocalHarness(tmp_path, clock, **options)
