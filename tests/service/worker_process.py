"""A real queue consumer process for the SIGKILL test, with an injected handler that waits on FIFOs.

    python -m tests.service.worker_process PROGRAM block|record FIFO_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from issuebot.config import load_program
from issuebot.service import open_service, run_worker
from tests.service.helpers import Outcome


class BlockingHandler:
    """Says it started, then blocks reading a FIFO nobody writes: the process dies in here."""

    def __init__(self, fifo_dir: Path):
        self.fifo_dir = fifo_dir

    def __call__(self, program: Any, provider: Any, templates: Any, event: Any, *, now: Any) -> Outcome:
        with open(self.fifo_dir / "started", "w") as started:
            started.write("started\n")
        with open(self.fifo_dir / "release") as release:
            release.read()
        raise AssertionError("the blocking handler was released; the test should have killed it")


class RecordingHandler:
    """Appends the event to handled.log, then tells the test through a FIFO."""

    def __init__(self, fifo_dir: Path):
        self.fifo_dir = fifo_dir

    def __call__(self, program: Any, provider: Any, templates: Any, event: Any, *, now: Any) -> Outcome:
        with open(self.fifo_dir / "handled.log", "a") as log:
            log.write(f"{event.project} #{event.issue_number} comment {event.comment_id}\n")
        with open(self.fifo_dir / "handled", "w") as handled:
            handled.write("handled\n")
        return Outcome(pair="bob-alice", writes=1)


def main(program_path: str, mode: str, fifo_dir: str) -> None:
    folder = Path(fifo_dir)
    handler = BlockingHandler(folder) if mode == "block" else RecordingHandler(folder)
    service = open_service(load_program(program_path), need_secret=False, handler=handler)
    run_worker(service, workers=1, periodic=False, announce=lambda line: None)


if __name__ == "__main__":
    main(*sys.argv[1:4])
