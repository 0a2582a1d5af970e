"""Sign-ups and HR exports into validated `people:` entries: what is new, what changed, what was not understood.

Pure: the CLI reads the CSV file or the intake project's sign-up issues and hands their text
here; program_edit writes the result into the program file, only with `--apply`.
"""

from __future__ import annotations

import csv
import difflib
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from issuebot.config import CsvImportSettings, PersonEntry, Program
from issuebot.models import FormField, Issue
from issuebot.templates import TemplateError, Templates

LIST_FIELDS = ("skills", "wants", "interests")
INT_FIELDS = ("level", "capacity")
TEXT_FIELDS = ("username", "name", "email", "role", "department", "manager", "timezone")
ATTRIBUTE_FIELDS = ("bio",)  # asked by the form and the CSV, kept under `attributes`
PERSON_FIELDS = (*TEXT_FIELDS, *INT_FIELDS, *LIST_FIELDS, *ATTRIBUTE_FIELDS)

SIGNUP_TEMPLATE = "sign-up"  # the template whose front matter `questions` is the sign-up form
_FIELD_KINDS = ("input", "textarea", "dropdown")


class FormError(TemplateError):
    """The sign-up template's questions cannot become a form `people import` reads back."""


def form_fields(questions: Any, where: str) -> tuple[FormField, ...]:
    """The sign-up form's questions from its template's front matter (`questions:`): each `id` a
    person field, so every answer a filled-in form gives has a place in `people:`. Providers
    render the form in their forge's convention; a filled-in form arrives as an issue whose body
    has one `### <label>` section per question, which `read_signups` reads back."""
    if not isinstance(questions, list) or not questions:
        raise FormError(f"{where}: front matter 'questions' must list the form's questions")
    found: list[FormField] = []
    for number, item in enumerate(questions, 1):
        if not isinstance(item, dict):
            raise FormError(f"{where}: question {number} must be a mapping with id and label")
        ident, label = str(item.get("id") or ""), str(item.get("label") or "").strip()
        kind = str(item.get("kind") or "input")
        if ident not in PERSON_FIELDS or ident == "username":
            raise FormError(f"{where}: question {number}: id {ident!r} is no person field "
                            f"(one of {', '.join(f for f in PERSON_FIELDS if f != 'username')})")
        if not label or kind not in _FIELD_KINDS:
            raise FormError(f"{where}: question {number}: needs a label and a kind of {', '.join(_FIELD_KINDS)}")
        options = item.get("options") or []
        if kind == "dropdown" and (not isinstance(options, list) or len(options) < 2):
            raise FormError(f"{where}: question {number}: a dropdown needs at least two options")
        found.append(FormField(ident, label, kind=kind, description=str(item.get("description") or ""),  # type: ignore[arg-type]
                               options=tuple(str(o) for o in options), required=bool(item.get("required"))))
    ids = [f.id for f in found]
    labels = [f.label.lower() for f in found]
    duplicate = next((x for x in ids if ids.count(x) > 1), None) or next((x for x in labels if labels.count(x) > 1), None)
    if duplicate:
        raise FormError(f"{where}: two questions share {duplicate!r}")
    return tuple(found)


def signup_form(templates: Templates) -> tuple[FormField, ...]:
    """The questions of the sign-up template (shipped, or the program's own)."""
    return form_fields(templates.front_matter(SIGNUP_TEMPLATE).get("questions"), str(templates.path_of(SIGNUP_TEMPLATE)))


_NO_ANSWER = {"", "_no response_", "none", "n/a", "-"}


@dataclass(frozen=True)
class Candidate:
    """One person as a source describes them: where, and the fields given."""

    where: str  # "hr.csv:4" or "intake#12"
    fields: dict[str, Any]

    @property
    def username(self) -> str:
        return str(self.fields.get("username", ""))


@dataclass
class ImportReport:
    """What an import would do to `people:`; `problems` and `unknown` are shown, never written."""

    new: list[dict[str, Any]] = field(default_factory=list)  # ready-to-write entries
    changed: dict[str, dict[str, tuple[Any, Any]]] = field(default_factory=dict)  # username -> field -> (old, new)
    unchanged: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # rows left out, with where and why
    unknown: list[str] = field(default_factory=list)  # columns or questions not understood (ignored)

    def changes(self) -> dict[str, dict[str, Any]]:
        return {name: {key: new for key, (_, new) in fields.items()} for name, fields in self.changed.items()}

    def lines(self) -> list[str]:
        out = [*(f"unknown: {u}" for u in self.unknown), *(f"left out: {p}" for p in self.problems)]
        out += [f"new: {e['username']} ({_summary(e)})" for e in self.new]
        for username, fields in self.changed.items():
            out.append(f"changed: {username}: " + "; ".join(f"{k} {_show(o)} -> {_show(n)}" for k, (o, n) in fields.items()))
        out.append(f"{len(self.new)} new, {len(self.changed)} changed, {len(self.unchanged)} unchanged, "
                   f"{len(self.problems)} left out")
        return out


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(map(str, value)) + "]"
    return repr(value) if isinstance(value, str) else str(value)


def _summary(entry: Mapping[str, Any]) -> str:
    parts = [str(entry.get("name") or entry["username"]), str(entry.get("role", "both"))]
    if entry.get("level") is not None:
        parts.append(f"level {entry['level']}")
    return ", ".join(parts)


def _field_of(column: str) -> str | None:
    """A CSV header that names a person field itself ("Level", "time zone", "attributes.team")."""
    norm = re.sub(r"[\s-]+", "_", column.strip().lower())
    if norm.startswith("attributes.") and len(norm) > len("attributes."):
        return norm
    aliases = {"time_zone": "timezone", "e_mail": "email", "mail": "email", "user": "username", "login": "username"}
    norm = aliases.get(norm, norm)
    return norm if norm in PERSON_FIELDS else None


def read_csv(text: str, source: str, settings: CsvImportSettings) -> tuple[list[Candidate], list[str], list[str]]:
    """(candidates, problems, unknown columns) of an HR export; `source` names the file in messages."""
    problems: list[str] = []
    unknown: list[str] = []
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        return [], [f"{source}:1: the file is empty (it needs a header row)"], []
    except csv.Error as exc:
        return [], [f"{source}:1: not a CSV file: {exc}"], []
    columns: list[str | None] = []
    known_headers = [*settings.columns, *PERSON_FIELDS]
    for name in header:
        target = settings.columns.get(name) or settings.columns.get(name.strip()) or _field_of(name)
        if target is not None and target not in PERSON_FIELDS and not target.startswith("attributes."):
            problems.append(f"{source}:1: column {name!r} is mapped to {target!r}, which is no person field "
                            f"(people_import.columns)")
            target = None
        elif target is None:
            close = difflib.get_close_matches(name.strip(), known_headers, n=1, cutoff=0.6) or \
                difflib.get_close_matches(name.strip().lower(), PERSON_FIELDS, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            unknown.append(f"{source}:1: column {name!r} is not a person field{hint}; its values are ignored")
        columns.append(target)
    if "username" not in columns:
        problems.append(f"{source}:1: no column gives the username (map one under program.people_import.columns)")
        return [], problems, unknown
    candidates = []
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            values: dict[str, Any] = {}
            for target, cell in zip(columns, row):
                if target is not None and cell.strip():
                    values[target] = cell.strip()
            candidates.append(Candidate(f"{source}:{line}", _typed(values, settings.list_separator)))
    except csv.Error as exc:
        problems.append(f"{source}:{reader.line_num}: not valid CSV: {exc}")
    return candidates, problems, unknown


def _typed(values: Mapping[str, str], separator: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name in LIST_FIELDS:
            out[name] = [item.strip() for item in re.split(rf"[{re.escape(separator)}\n]", value) if item.strip()]
        elif name in INT_FIELDS and re.fullmatch(r"\d+", value):
            out[name] = int(value)
        else:
            out[name] = value  # a bad number stays text: validation names the field
    return out


def read_signups(issues: Iterable[Issue], program: Program, provider_kind: str,
                 form: Sequence[FormField]) -> tuple[list[Candidate], list[str]]:
    """(candidates, unknown questions) from sign-ups filled in with `form`; the author is the person."""
    by_handle = {p.handle(provider_kind): p.username for p in program.people.values()}
    labels = {f.label.lower(): f.id for f in form}
    candidates, unknown = [], []
    for issue in sorted(issues, key=lambda i: i.number):
        sections = _sections(issue.body)
        if not sections:
            continue
        where = f"{issue.project}#{issue.number}"
        values: dict[str, str] = {"username": by_handle.get(issue.author, issue.author)}
        for heading, answer in sections.items():
            name = labels.get(heading.lower())
            if name is None:
                unknown.append(f"{where}: question {heading!r} is not on the sign-up form; its answer is ignored")
            elif answer.strip().lower() not in _NO_ANSWER:
                values[name] = answer.strip()
        candidates.append(Candidate(where, _typed(values, ",")))
    return candidates, unknown


def _sections(body: str) -> dict[str, str]:
    """`### Heading` -> the text below it (the shape of a filled-in issue form)."""
    found: dict[str, str] = {}
    current: str | None = None
    for line in body.splitlines():
        heading = re.match(r"^###\s+(.+?)\s*$", line)
        if heading:
            current = heading.group(1)
            found[current] = ""
        elif current is not None and not line.strip().startswith("<!--"):
            found[current] += line + "\n"
    return found


def entry_of(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A `people:` entry in the program file's order: attributes gathered under `attributes`."""
    entry: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    for name in PERSON_FIELDS:
        if name in fields and name not in ATTRIBUTE_FIELDS:
            entry[name] = fields[name]
    for name, value in fields.items():
        if name in ATTRIBUTE_FIELDS:
            attributes[name] = value
        elif name.startswith("attributes."):
            attributes[name.split(".", 1)[1]] = value
    if attributes:
        entry["attributes"] = attributes
    return entry


def _current(program: Program, username: str, name: str) -> Any:
    person = program.people[username]
    if name in ATTRIBUTE_FIELDS or name.startswith("attributes."):
        return person.attributes.get(name.split(".", 1)[-1])
    value = getattr(person, name)
    if name == "name" and value == username:
        return None  # no display name in the file
    return list(value) if isinstance(value, tuple) else value


def compare(program: Program, candidates: Iterable[Candidate]) -> ImportReport:
    """Validate each candidate and sort it into new, changed or unchanged against the program's people."""
    report = ImportReport()
    first_seen: dict[str, str] = {}
    for candidate in candidates:
        username = candidate.username
        if not username:
            report.problems.append(f"{candidate.where}: no username")
            continue
        if username in first_seen:
            report.problems.append(f"{candidate.where}: duplicate person {username!r} (first at {first_seen[username]})")
            continue
        first_seen[username] = candidate.where
        entry = entry_of(candidate.fields)
        try:
            PersonEntry.model_validate(entry)
        except ValidationError as exc:
            for error in exc.errors():
                where = ".".join(str(part) for part in error["loc"]) or "(row)"
                message = error["msg"].removeprefix("Value error, ")
                report.problems.append(f"{candidate.where}: {where}: {message} (got {error.get('input')!r})")
            continue
        if username not in program.people:
            report.new.append(entry)
            continue
        differences = {}
        for name, value in candidate.fields.items():
            if name == "username":
                continue
            old = _current(program, username, name)
            if old != value:
                differences[name if name not in ATTRIBUTE_FIELDS else f"attributes.{name}"] = (old, value)
        if differences:
            report.changed[username] = differences
        else:
            report.unchanged.append(username)
    return report
