"""Survey response figures as reports and the web app show them: the one place they read surveys."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from issuebot.config import Program
from issuebot.models import Issue
from issuebot.survey_results import FormAnswer, SurveyRecord, records_from_issues, survey_aggregates, with_form_answers


def survey_records(channel_issues: Iterable[Issue], form_answers: Iterable[FormAnswer] = ()) -> list[SurveyRecord]:
    """Every invitation: the private channels' items, with the answers given through the form filled in."""
    return with_form_answers(records_from_issues(channel_issues), form_answers)


def pair_status(program: Program, records: Iterable[SurveyRecord]) -> dict[str, list[dict[str, Any]]]:
    """Pair id -> per survey round, who was invited and who answered (`confidential` surveys) or only
    how many (`anonymous`); never an answer."""
    surveys = {s.id: s for s in program.surveys.items}
    order = {s.id: n for n, s in enumerate(program.surveys.items)}
    rounds: dict[tuple[str, str, int], list[SurveyRecord]] = {}
    for record in records:
        if record.survey in surveys:
            rounds.setdefault((record.pair, record.survey, record.round), []).append(record)
    out: dict[str, list[dict[str, Any]]] = {}
    for (pair, survey_id, number), invited in sorted(rounds.items(), key=lambda kv: (kv[0][0], order[kv[0][1]], kv[0][2])):
        survey = surveys[survey_id]
        entry: dict[str, Any] = {"survey": survey_id, "title": survey.title, "round": number, "privacy": survey.privacy,
                                 "invited": len(invited), "answered": sum(1 for r in invited if r.answered)}
        if survey.privacy == "confidential":
            entry["people"] = [{"person": r.person, "role": r.role, "answered": r.answered}
                               for r in sorted(invited, key=lambda r: (r.role, r.person))]
        out.setdefault(pair, []).append(entry)
    return out


def survey_figures(program: Program, channel_issues: list[Issue],
                   form_answers: Iterable[FormAnswer] = ()) -> dict[str, Any] | None:
    """Rounds sent, people invited and answering, and the response rate, from the private channels'
    items and the answers given through the form (metadata only: no answer text), with each
    pair's rounds under `pairs`; None when the program has no surveys."""
    if not program.surveys.items:
        return None
    records = survey_records(channel_issues, form_answers)
    rounds = survey_aggregates(program, records)["surveys"]
    invited = sum(int(r.get("invited") or 0) for r in rounds)
    answered = sum(int(r.get("answered") or 0) for r in rounds)
    return {"rounds": len(rounds), "invited": invited, "answered": answered,
            "response_rate": round(100 * answered / invited, 1) if invited else None,
            "pairs": pair_status(program, records)}
