"""Survey response rates, scores and status as reports and the web app show them: the one place they read surveys."""

from __future__ import annotations

from typing import Any

from issuebot import markers
from issuebot.models import Issue

SURVEYS_KEY = "surveys"  # marker key of the coordinators' surveys issue, when the program has surveys


def find_surveys_issue(coordination_issues: list[Issue]) -> Issue | None:
    """The surveys issue in the coordinators' project, when present."""
    found = [i for i in coordination_issues if markers.find_marker(i.body) == SURVEYS_KEY]
    return min(found, key=lambda i: i.number) if found else None


def survey_figures(surveys_issue: Issue | None) -> dict[str, Any] | None:
    """Response rates, scores and per-pair status (`{"pairs": {pair id: status}}`, metadata only)
    read from the surveys issue; None while the program has none, and views leave surveys out."""
    del surveys_issue  # no program keeps survey results in the tracker yet
    return None
