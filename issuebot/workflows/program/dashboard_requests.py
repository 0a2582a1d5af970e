"""Read the boxes coordinators ticked on the dashboard issue and ask each pair's workflows to carry them out."""

from __future__ import annotations

from issuebot.plan import ProgramPlan
from issuebot.workflows.program.dashboard_issue import find_dashboard, ticked_requests

triggers = frozenset({"sweep"})
phase = "before"


def decide(plan: ProgramPlan) -> None:
    board = find_dashboard(plan.view.coordination_issues)
    if board is None or board.state != "open":
        return
    for pair_id, requests in ticked_requests(board.body).items():
        for request in requests:
            plan.ask(pair_id, request)
