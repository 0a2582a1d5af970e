"""The program's labels, once at group level (trackers that keep labels per project get them from onboarding)."""

from __future__ import annotations

from issuebot.models import SetLabels
from issuebot.plan import ProgramPlan, label_specs

triggers = frozenset({"sync", "sweep"})
phase = "before"


def decide(plan: ProgramPlan) -> None:
    if not plan.ctx.labels_per_project:
        plan.actions.append(SetLabels(pair="", project=None, labels=label_specs(plan.program)))
