"""Survey response figures as reports and the web app show them: the one place they read surveys."""

from __future__ import annotations

from typing import Any

from issuebot.config import Program
from issuebot.models import Issue
from issuebot.survey_results import records_from_issues, survey_aggregates


def survey_figures(program: Program, channel_issues: list[Issue]) -> dict[str, Any] | None:
    """Rounds sent, people invited and answering, and the response rate, from the private channels'
    items (metadata only: no answer, no name); None when the program has no surveys."""
    if not program.surveys.items:
        return None
    rounds = survey_aggregates(program, records_from_issues(channel_issues))["surveys"]
    invited = sum(int(r.get("invited") or 0) for r in rounds)
    answered = sum(int(r.get("answered") or 0) for r in rounds)
    return {"rounds": len(rounds), "invited": invited, "answered": answered,
            "response_rate": round(100 * answered / invited, 1) if invited else None, "pairs": {}}
