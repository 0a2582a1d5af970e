"""Reading a survey reply: lines `N: answer` (or `N. answer`) answer question N of a survey (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from issuebot.config import Survey, SurveyQuestion

Answer = int | str

_LINE_RE = re.compile(r"^\s{0,3}(?P<n>\d{1,3})\s*[:.)]\s*(?P<answer>.*?)\s*$")
_LEADING_INT_RE = re.compile(r"^\s*(?P<value>-?\d+)\b")
_FENCE_RE = re.compile(r"^\s{0,3}(```|~~~)")
SCALE = (1, 5)
NPS = (0, 10)


@dataclass(frozen=True)
class Problem:
    """Why question `number` is not answered yet; `code` picks the template's sentence."""

    number: int
    code: str  # missing | not-a-number | out-of-range | unknown-choice | no-such-question
    question: str = ""  # the question's text (empty for no-such-question)


@dataclass
class ReadReply:
    """What one or more replies answered, and what is still missing or could not be read."""

    answers: dict[str, Answer] = field(default_factory=dict)  # question id -> value
    problems: list[Problem] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Every required question has a readable answer (a stray number does not hold it back)."""
        return all(p.code == "no-such-question" for p in self.problems)


def answer_lines(text: str) -> dict[int, str]:
    """Question number -> answer text in `text`; quotes and code blocks are skipped, and a line
    that does not start with a number continues the answer above it (a longer free-text answer)."""
    found: dict[int, str] = {}
    current: int | None = None
    fenced = False
    for line in text.splitlines():
        if _FENCE_RE.match(line):
            fenced = not fenced
            continue
        if fenced or line.lstrip().startswith(">") or line.lstrip().startswith("<!--"):
            current = None
            continue
        match = _LINE_RE.match(line)
        if match:
            current = int(match.group("n"))
            found[current] = match.group("answer")
        elif current is not None and line.strip():
            found[current] = f"{found[current]}\n{line.strip()}".strip()
        elif not line.strip():
            current = None
    return found


def read_value(question: SurveyQuestion, text: str) -> tuple[Answer | None, str]:
    """(the value, "") for an acceptable answer to `question`, else (None, problem code)."""
    text = text.strip()
    if not text:
        return None, "missing"
    if question.kind == "text":
        return text, ""
    if question.kind == "choice":
        by_name = {c.casefold(): c for c in question.choices}
        if text.casefold() in by_name:
            return by_name[text.casefold()], ""
        if text.isdigit() and 1 <= int(text) <= len(question.choices):
            return question.choices[int(text) - 1], ""
        return None, "unknown-choice"
    match = _LEADING_INT_RE.match(text)
    if match is None:
        return None, "not-a-number"
    value = int(match.group("value"))
    low, high = SCALE if question.kind == "scale" else NPS
    return (value, "") if low <= value <= high else (None, "out-of-range")


def read_replies(survey: Survey, texts: list[str]) -> ReadReply:
    """The answers of replies `texts` (oldest first; a later answer to a question replaces an earlier
    one) and, for every required question still unanswered or answered in a way that cannot be read,
    a problem."""
    ids = survey.question_ids()
    result = ReadReply()
    unreadable: dict[int, str] = {}
    unknown: set[int] = set()
    for text in texts:
        for number, raw in answer_lines(text).items():
            if not 1 <= number <= len(survey.questions):
                unknown.add(number)
                continue
            value, problem = read_value(survey.questions[number - 1], raw)
            if value is None:
                unreadable[number] = problem
            else:
                result.answers[ids[number - 1]] = value
                unreadable.pop(number, None)
    for number, question in enumerate(survey.questions, 1):
        if ids[number - 1] in result.answers:
            continue
        if number in unreadable and unreadable[number] != "missing":
            result.problems.append(Problem(number, unreadable[number], question.text))
        elif question.required:
            result.problems.append(Problem(number, "missing", question.text))
    result.problems += [Problem(n, "no-such-question") for n in sorted(unknown)]
    return result


def answers_anything(survey: Survey, text: str) -> bool:
    """Whether `text` tries to answer the survey at all (a reply with no `N:` line is a question to
    the coordinators, not an answer)."""
    return bool(answer_lines(text))
