"""Per-pair file locks: runs on one machine (sweeps, syncs, the worker) take turns on a pair's writes."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock

WAIT_SECONDS = 600  # a pair's writes take seconds; a lock held longer belongs to a stuck run


def lock_folder(base_dir: Path) -> Path:
    """Where the locks of the program whose file lives in `base_dir` are kept (beside its other files)."""
    return base_dir / ".issuebot" / "locks"


@contextlib.contextmanager
def pair_lock(folder: Path | None, tracker: str, pair_id: str) -> Iterator[None]:
    """Hold the lock of one pair while its writes are made (no folder: no lock, e.g. a dry run).

    Another process on this machine that holds it makes this one wait; with the marker check
    right before each create, the second run then finds what the first wrote and skips it.
    """
    if folder is None:
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{tracker}-{pair_id}")
    with FileLock(str(folder / f"{name}.lock"), timeout=WAIT_SECONDS):
        yield
