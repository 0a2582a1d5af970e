"""HARNESSES: one stateful fake per tracker, each behind the same small harness interface.

A harness gives tests and benchmarks a real Provider wired to a fake tracker, plus the knobs a
test needs: people acting by hand, foreign projects, injected failures and HTTP call counts.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

# name -> "module:factory"; a factory is a context manager taking (tmp_path, clock, **options).
HARNESSES: dict[str, str] = {
    "local": "tests.fakes.local:local_harness",
    "github": "tests.fakes.github:github_harness",
    "gitlab": "tests.fakes.gitlab:gitlab_harness",
}


@contextlib.contextmanager
def harness(name: str, tmp_path: Path, clock: Callable[[], datetime], **options: Any) -> Iterator[Any]:
    module_name, factory = HARNESSES[name].split(":")
    with getattr(importlib.import_module(module_name), factory)(tmp_path, clock, **options) as made:
        yield made
