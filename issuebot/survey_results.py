"""Survey aggregates that protect people: response rates and per-question figures, withheld below `min_group` (pure)."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from issuebot import markers
from issuebot.config import Program, Survey
from issuebot.models import Issue

SURVEY_KEY_PREFIX = "survey:"


@dataclass(frozen=True)
class SurveyRecord:
    """One person's invitation to one round of a survey, and what they answered."""

    survey: str
    round: int
    pair: str
    person: str  # username; never shown for anonymous surveys
    role: str  # mentee | mentor | manager
    answered: bool = False
    answers: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class FormAnswer:
    """An answer given through a personal survey link, as the service's database keeps it."""

    survey: str
    round: int
    pair: str
    person: str
    answers: dict[str, Any] = field(hash=False, compare=False)
    answered_at: datetime = field(compare=False)


def with_form_answers(records: Iterable[SurveyRecord], answers: Iterable[FormAnswer]) -> list[SurveyRecord]:
    """The invitations (from the private channels) with the answers given through the form filled
    in; an answer without an invitation in the tracker is not counted (nobody was invited to it)."""
    given = {(a.survey, a.round, a.pair, a.person): a for a in answers}
    out = []
    for record in records:
        answer = given.get((record.survey, record.round, record.pair, record.person))
        out.append(replace(record, answered=True, answers=dict(answer.answers)) if answer is not None and not record.answered
                   else record)
    return out


def survey_key(survey: str, number: int, pair: str, username: str) -> str:
    """The marker key of one person's invitation to round `number` of `survey` about `pair`."""
    return f"{SURVEY_KEY_PREFIX}{survey}:{number}:{pair}:{username}"


def record_of(issue: Issue) -> SurveyRecord | None:
    """The invitation an issue of a private channel holds (its state block), or None."""
    key = markers.find_marker(issue.body)
    if key is None or not key.startswith(SURVEY_KEY_PREFIX):
        return None
    state = markers.read_state(issue.body)
    try:
        return SurveyRecord(survey=str(state["survey"]), round=int(state["round"]), pair=str(state["pair"]),
                            person=str(state["person"]), role=str(state.get("role", "")),
                            answered=bool(state.get("answered")),
                            answers=dict(state.get("answers") or {}))
    except (KeyError, TypeError, ValueError):
        return None  # a state block a hand edit broke: not counted rather than guessed


def records_from_issues(issues: Iterable[Issue]) -> list[SurveyRecord]:
    return [r for r in (record_of(i) for i in issues) if r is not None]


def withheld_note(min_group: int) -> str:
    return f"fewer than {min_group} answers"


def _question_figures(survey: Survey, answered: list[SurveyRecord], min_group: int) -> list[dict[str, Any]]:
    figures = []
    for question, qid in zip(survey.questions, survey.question_ids()):
        values = [r.answers[qid] for r in answered if qid in r.answers]
        entry: dict[str, Any] = {"id": qid, "kind": question.kind, "n": len(values)}
        if question.kind == "text":
            if survey.privacy == "confidential":
                entry["answers"] = [{"person": r.person, "pair": r.pair, "text": str(r.answers[qid])}
                                    for r in answered if qid in r.answers]
            figures.append(entry)
            continue
        if len(values) < min_group:
            entry["withheld"] = withheld_note(min_group)
        elif question.kind == "scale":
            numbers = [int(v) for v in values]
            entry["mean"] = round(sum(numbers) / len(numbers), 2)
        elif question.kind == "nps":
            numbers = [int(v) for v in values]
            promoters = sum(1 for v in numbers if v >= 9)
            detractors = sum(1 for v in numbers if v <= 6)
            entry["nps"] = round(100 * (promoters - detractors) / len(numbers))
        else:
            counted = Counter(str(v) for v in values)
            entry["counts"] = {choice: counted.get(choice, 0) for choice in question.choices}
        figures.append(entry)
    return figures


def survey_aggregates(program: Program, records: Iterable[SurveyRecord]) -> dict[str, Any]:
    """`{"surveys": [{survey, round, privacy, invited, answered, response_rate, questions: [...]}]}`.

    Per question `n` answers and, from at least `surveys.min_group` of them, `mean` (scale), `nps`
    (nps, -100..100) or `counts` (choice); with fewer the figure is left out and `withheld` says
    why. Free text and `responses` (who said what) appear only for `confidential` surveys;
    an `anonymous` survey's entry names nobody. The one function reports and web pages call.
    """
    settings = program.surveys
    by_round: dict[tuple[str, int], list[SurveyRecord]] = {}
    for record in records:
        by_round.setdefault((record.survey, record.round), []).append(record)
    out = []
    for survey in settings.items:
        for number in sorted(n for s, n in by_round if s == survey.id):
            invited = by_round[(survey.id, number)]
            answered = [r for r in invited if r.answered]
            entry: dict[str, Any] = {
                "survey": survey.id, "round": number, "privacy": survey.privacy,
                "invited": len(invited), "answered": len(answered),
                "response_rate": round(len(answered) / len(invited), 2) if invited else 0.0,
                "questions": _question_figures(survey, answered, settings.min_group),
            }
            if survey.privacy == "confidential":
                entry["responses"] = [{"person": r.person, "pair": r.pair, "role": r.role, "answers": dict(r.answers)}
                                      for r in sorted(answered, key=lambda r: (r.pair, r.person))]
            out.append(entry)
    return {"surveys": out, "min_group": settings.min_group}


def _figure(question: dict[str, Any]) -> str:
    if "withheld" in question:
        return f"withheld ({question['withheld']})"
    if "mean" in question:
        return f"mean {question['mean']:g}"
    if "nps" in question:
        return f"nps {question['nps']:+d}"
    if "counts" in question:
        return ", ".join(f"{k}: {v}" for k, v in question["counts"].items())
    return f"{len(question.get('answers', []))} text answers" if "answers" in question else "text (anonymous: not shown)"


def csv_text(aggregates: dict[str, Any]) -> str:
    """One CSV row per survey, round and question (free text is never put into the CSV)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["survey", "round", "invited", "answered", "response_rate", "question", "kind", "n",
                     "mean", "nps", "counts", "withheld"])
    for entry in aggregates["surveys"]:
        for q in entry["questions"]:
            counts = ";".join(f"{k}={v}" for k, v in q.get("counts", {}).items())
            writer.writerow([entry["survey"], entry["round"], entry["invited"], entry["answered"],
                             entry["response_rate"], q["id"], q["kind"], q["n"], q.get("mean", ""),
                             q.get("nps", ""), counts, q.get("withheld", "")])
    return buffer.getvalue()


def table(aggregates: dict[str, Any]) -> str:
    """A plain-text table of every round, one line per question under it."""
    lines = []
    for entry in aggregates["surveys"]:
        lines.append(f"{entry['survey']} round {entry['round']} ({entry['privacy']}): "
                     f"{entry['answered']}/{entry['invited']} answered ({entry['response_rate']:.0%})")
        for q in entry["questions"]:
            lines.append(f"  {q['id']:<12} {q['kind']:<7} n={q['n']:<3} {_figure(q)}")
    return "\n".join(lines) if lines else "no survey has been sent yet"
