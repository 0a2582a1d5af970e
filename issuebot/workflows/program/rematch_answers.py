"""Answer re-match requests privately once the pairs' writes are done, and close those carried out."""

from __future__ import annotations

from issuebot.plan import ProgramPlan
from issuebot.workflows.program import rematch_requests

triggers = rematch_requests.triggers
phase = "after"


def decide(plan: ProgramPlan) -> None:
    rematch_requests.answer(plan)
