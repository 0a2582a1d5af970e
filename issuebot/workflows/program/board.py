"""A coordinators' board with one list per pair status, where the tracker has boards."""

from __future__ import annotations

from issuebot.labels import PAIR_STATUSES
from issuebot.models import EnsureBoard
from issuebot.plan import ProgramPlan

triggers = frozenset({"sync"})
phase = "before"


def decide(plan: ProgramPlan) -> None:
    program = plan.program
    plan.actions.append(EnsureBoard(pair="", name=program.settings.name,
                                    labels=tuple(program.label(f"pair::{s}") for s in PAIR_STATUSES)))
