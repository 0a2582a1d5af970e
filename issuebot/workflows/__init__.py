"""WORKFLOWS: the single wiring point of the per-pair decision steps, in the order they run."""

from __future__ import annotations

from types import ModuleType

from issuebot.workflows import offboarding, onboarding
from issuebot.workflows import sessions  # after offboarding: /end calls it
from issuebot.workflows import dashboard, feedback, goals, nudges, reviews  # the scheduled sweep

# Each workflow module has a one-line docstring, `triggers` (a subset of TRIGGERS) and
# `decide(plan)`, which adds the pair's intended writes to the plan without any I/O.
TRIGGERS = frozenset({"sync", "sweep", "event"})

WORKFLOWS: tuple[ModuleType, ...] = (
    onboarding,
    sessions,
    dashboard,  # coordinators' ticked boxes first: they may snooze, extend or end the pair
    nudges,
    goals,
    reviews,
    feedback,
    offboarding,
)
