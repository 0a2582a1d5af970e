"""Program file: YAML -> validated Program (pydantic), JSON Schema export; the only environment reader."""

from __future__ import annotations

import calendar
import difflib
import os
import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from issuebot.labels import LABELS
from issuebot.models import Goal, Pair, Person

CONFIG_ENV = "ISSUEBOT_CONFIG"
DEFAULT_CONFIG = "issuebot.yml"


class ConfigError(Exception):
    """The program file cannot be used; `problems` are `file:line: key: message` lines."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


# --------------------------------------------------------------------------- periods


@dataclass(frozen=True)
class Period:
    """A calendar span: whole months plus days (`14d`, `2w`, `1 month`, `3 months`, `1y`)."""

    days: int = 0
    months: int = 0

    def after(self, start: date) -> date:
        return add_months(start, self.months) + timedelta(days=self.days)

    def before(self, end: date) -> date:
        return add_months(end, -self.months) - timedelta(days=self.days)

    def approx_days(self) -> int:
        return self.days + round(self.months * 30.44)

    def __str__(self) -> str:
        if self.months and not self.days:
            return f"{self.months} month" + ("s" if self.months != 1 else "")
        if self.days and not self.months:
            if self.days % 7 == 0:
                return f"{self.days // 7}w"
            return f"{self.days}d"
        return f"{self.months} months {self.days}d"


def add_months(day: date, months: int) -> date:
    """`day` moved by whole calendar months, clamped to the month's last day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


PERIOD_PATTERN = r"^\s*(\d+)\s*(d|days?|w|wk|weeks?|m|mo|months?|y|years?)\s*$"
_PERIOD_RE = re.compile(PERIOD_PATTERN, re.IGNORECASE)


def parse_period(value: Any) -> Period:
    """`14d`, `2w`, `1 month`, `1m` (a month), `1y`; a bare integer counts days."""
    if isinstance(value, Period):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return Period(days=value)
    match = _PERIOD_RE.match(str(value)) if isinstance(value, str) else None
    if not match:
        raise ValueError(f"not a period: {value!r} (use e.g. 14d, 2w, 1 month, 3 months)")
    amount, unit = int(match.group(1)), match.group(2).lower()
    if unit.startswith("d"):
        return Period(days=amount)
    if unit.startswith("w"):
        return Period(days=7 * amount)
    if unit.startswith("y"):
        return Period(months=12 * amount)
    return Period(months=amount)


_MINUTES_RE = re.compile(r"^\s*(\d+)\s*(m|min|mins|minutes?|h|hours?)?\s*$", re.IGNORECASE)


def parse_minutes(value: Any) -> int:
    """`45m`, `45 min`, `1h`, or a bare number of minutes."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    match = _MINUTES_RE.match(str(value)) if isinstance(value, str) else None
    if not match or int(match.group(1)) <= 0:
        raise ValueError(f"not a duration in minutes: {value!r} (use e.g. 45m, 1h)")
    amount, unit = int(match.group(1)), (match.group(2) or "m").lower()
    return amount * 60 if unit.startswith("h") else amount


PeriodField = Annotated[
    Period,
    PlainValidator(parse_period),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "pattern": PERIOD_PATTERN, "examples": ["14d", "2w", "1 month"]}),
]
MinutesField = Annotated[
    int,
    PlainValidator(parse_minutes),
    WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 1}, {"type": "string", "examples": ["45m", "1h"]}]}),
]


def _check_timezone(value: str | None) -> str | None:
    if value is None:
        return value
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Berlin)") from None
    return value


# --------------------------------------------------------------------------- schema


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LocalProviderConfig(Strict):
    """The embedded tracker: a SQLite file, no account needed."""

    kind: Literal["local"] = "local"
    path: str = Field(".issuebot/local.db", description="SQLite file, relative to the program file")
    group: str = Field("mentoring", description="namespace that holds the pair projects")


class GitLabProviderConfig(Strict):
    kind: Literal["gitlab"]
    url: str = "https://gitlab.com"
    token_env: str = Field("GITLAB_TOKEN", description="environment variable holding the access token")
    group: str = Field(description="full path of the group that holds the pair projects")
    pair_access: Literal["guest", "reporter", "developer", "maintainer"] = "developer"
    coordinator_access: Literal["guest", "reporter", "developer", "maintainer"] = "reporter"
    max_retry_wait: int = Field(60, description="seconds to wait on a rate limit before stopping")


class GitHubAppConfig(Strict):
    app_id: int
    private_key_env: str = "GITHUB_APP_PRIVATE_KEY"
    installation_id: int | None = None


class GitHubProviderConfig(Strict):
    kind: Literal["github"]
    url: str = "https://api.github.com"
    token_env: str = "GITHUB_TOKEN"
    org: str
    app: GitHubAppConfig | None = None
    pair_permission: Literal["pull", "triage", "push", "maintain", "admin"] = "push"
    coordinator_permission: Literal["pull", "triage", "push", "maintain", "admin"] = "triage"
    max_retry_wait: int = 60
    # https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api
    seconds_between_requests: float = Field(0.25, ge=0, description="pause between any two API calls")
    seconds_between_writes: float = Field(1.0, ge=0, description="pause between writes (GitHub asks for 1s)")


ProviderConfig = Annotated[
    Union[LocalProviderConfig, GitLabProviderConfig, GitHubProviderConfig],
    Field(discriminator="kind"),
]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class NudgePolicy(Strict):
    """When quiet pairs are reminded and when coordinators hear of them."""

    first_session_within: PeriodField = Period(days=10)
    grace: PeriodField = Period(days=3)
    renudge_every: PeriodField = Period(days=7)
    max_per_person_per_week: int = Field(2, ge=0)
    escalate_after: PeriodField = Period(days=21)
    escalate_every: PeriodField = Period(days=14)
    quiet_days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = ["sat", "sun"]
    holidays: list[date] = []


class ReviewPolicy(Strict):
    every: PeriodField | None = None
    invite_managers: bool = True
    manager_access: Literal["channel", "mention"] = Field(
        "channel",
        description="channel: an invited manager gets the review, with the pair's metadata, in their private "
                    "channel; mention: only named in the pair's review (they must be able to read the project)",
    )


class FeedbackPolicy(Strict):
    first_after: PeriodField | None = None
    every: PeriodField | None = None


class ServiceSettings(Strict):
    webhook_secret_env: str = "ISSUEBOT_WEBHOOK_SECRET"
    database_url: str | None = Field(None, description="default: SQLite under .issuebot/")
    queue_url: str | None = Field(None, description="redis://... for Redis; default: SQLite queue")
    lease_seconds: int = Field(300, ge=5)
    retention: PeriodField = Period(days=14)
    max_body_bytes: int = Field(1_048_576, ge=1024)
    dashboard_token_env: str = Field(
        "ISSUEBOT_DASHBOARD_TOKEN", description="variable holding the web dashboard's token; unset: dashboard off"
    )
    dashboard_cache_seconds: int = Field(60, ge=0, description="how long the dashboard reuses one read of the tracker")


class LevelRule(Strict):
    """Which mentor levels a mentee of the given levels may be matched with."""

    mentee_levels: list[int] = Field(min_length=1, description="mentee levels this rule covers, e.g. [1, 2]")
    mentor_min: int | None = Field(None, description="lowest mentor level allowed")
    mentor_max: int | None = Field(None, description="highest mentor level allowed")

    @model_validator(mode="after")
    def _ordered(self) -> "LevelRule":
        if self.mentor_min is not None and self.mentor_max is not None and self.mentor_min > self.mentor_max:
            raise ValueError(f"mentor_min ({self.mentor_min}) is above mentor_max ({self.mentor_max})")
        return self


class MatchWeights(Strict):
    """How much each kind of common ground adds to a proposed pair's score."""

    skills: float = Field(3.0, description="per skill the mentee wants and the mentor offers")
    interests: float = Field(1.0, description="per shared interest")
    same_department: float = Field(0.0, description="added when both work in one department")
    attributes: dict[str, float] = Field(
        default_factory=dict,
        description="program field -> weight per equal value (or shared list item); negative prefers difference",
    )


class MatchingSettings(Strict):
    """The rules and weights `issuebot match` uses to propose pairs."""

    scope: Literal["company", "department"] = Field("company", description="department: only within one department")
    level_rules: list[LevelRule] = Field(default_factory=list, description="no rules: any levels")
    min_level_gap: int | None = Field(None, description="mentor level minus mentee level must be at least this")
    max_timezone_hours: float | None = Field(None, ge=0, description="largest time-zone difference allowed")
    exclude: list[Annotated[list[str], Field(min_length=2, max_length=2)]] = Field(
        default_factory=list, description="[person, person] never to be paired"
    )
    never_again: list[Annotated[list[str], Field(min_length=2, max_length=2)]] = Field(
        default_factory=list, description="[mentor, mentee] former partners from earlier cohorts"
    )
    include_coordinators: bool = Field(False, description="let coordinators be matched too")
    weights: MatchWeights = MatchWeights()


class OnboardingIssue(Strict):
    """An extra issue opened for every pair at kickoff from a named template."""

    key: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", description="marker identity inside the pair project")
    template: str = Field(min_length=1, description="template name (a file in the templates folder)")
    due_after: PeriodField | None = Field(None, description="due this long after the pair starts")
    confidential: bool = False


class ProgramSettings(Strict):
    name: str = Field(min_length=1)
    coordinators: list[str] = Field(min_length=1)
    starts: date
    ends: date | None = None
    duration: PeriodField | None = None
    cadence: PeriodField = Period(days=14)
    session_length: MinutesField = 45
    provider: ProviderConfig = LocalProviderConfig()
    templates: str | None = Field(None, description="folder whose templates override the shipped ones")
    labels: dict[str, str] = Field(default_factory=dict, description="canonical label -> your name")
    timezone: str = "UTC"
    coordinator_project: str = Field("coordination", description="project holding the dashboard issue")
    project_prefix: str = Field("mentoring-", description="pair projects are named <prefix><pair id>")
    nudges: NudgePolicy = NudgePolicy()
    reviews: ReviewPolicy = ReviewPolicy()
    feedback: FeedbackPolicy = FeedbackPolicy()
    wrapup_before: PeriodField = Period(days=14)
    goal_reminder: PeriodField = Period(days=7)
    matching: MatchingSettings = MatchingSettings()
    onboarding_issues: list[OnboardingIssue] = Field(default_factory=list, description="extra kickoff issues")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return _check_timezone(value)  # type: ignore[return-value]

    @field_validator("labels")
    @classmethod
    def _known_labels(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if key not in LABELS:
                raise ValueError(f"unknown label {key!r}{_did_you_mean(key, LABELS)}")
        return value

    @model_validator(mode="after")
    def _has_end(self) -> "ProgramSettings":
        if self.ends is None and self.duration is None:
            raise ValueError("give either 'ends' (a date) or 'duration' (e.g. 6 months)")
        if self.ends is not None and self.duration is not None:
            raise ValueError("give 'ends' or 'duration', not both")
        if self.ends is not None and self.ends <= self.starts:
            raise ValueError(f"'ends' ({self.ends}) must come after 'starts' ({self.starts})")
        return self

    @property
    def end_date(self) -> date:
        return self.ends if self.ends is not None else self.duration.after(self.starts)  # type: ignore[union-attr]


# --------------------------------------------------------------------------- surveys


class SurveyQuestion(Strict):
    """One numbered question of a survey."""

    text: str = Field(min_length=1)
    kind: Literal["scale", "nps", "choice", "text"] = Field(
        description="scale: 1-5; nps: 0-10 (how likely to recommend); choice: one of `choices`; text: free text")
    id: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9_-]*$", description="default: q<number>")
    choices: list[str] = Field(default_factory=list, description="the options of a `choice` question")
    required: bool = True

    @model_validator(mode="after")
    def _choices_fit(self) -> "SurveyQuestion":
        if self.kind == "choice" and len(self.choices) < 2:
            raise ValueError("a choice question needs at least two choices")
        if self.kind != "choice" and self.choices:
            raise ValueError(f"only choice questions take choices (this one is {self.kind})")
        return self


class Survey(Strict):
    """A survey each chosen person answers in their private channel, once per round."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    title: str = Field(min_length=1)
    when: Literal["first_session", "every", "wrapup", "end"] = Field(
        description="first_session: after the pair's first held session; every: each `every` from the pair's "
                    "start; wrapup: when the wrap-up starts; end: when the pair ends")
    every: PeriodField | None = Field(None, description="with when: every")
    who: Literal["mentee", "mentor", "both", "manager"] = "both"
    privacy: Literal["confidential", "anonymous"] = Field(
        "confidential", description="confidential: coordinators see who said what; anonymous: only aggregates")
    remind_after: PeriodField = Field(Period(days=7), description="one reminder this long after it was sent")
    closes_after: PeriodField = Field(Period(days=14), description="the round closes this long after it was sent")
    questions: list[SurveyQuestion] = Field(min_length=1)

    @model_validator(mode="after")
    def _schedule(self) -> "Survey":
        if self.when == "every" and (self.every is None or self.every.approx_days() <= 0):
            raise ValueError("when: every needs 'every' (e.g. 2 months)")
        if self.when != "every" and self.every is not None:
            raise ValueError(f"'every' applies only to when: every (this survey is sent at {self.when})")
        if self.remind_after.approx_days() >= self.closes_after.approx_days():
            raise ValueError("remind_after must come before closes_after")
        ids = [q.id or f"q{n}" for n, q in enumerate(self.questions, 1)]
        duplicate = next((i for i in ids if ids.count(i) > 1), None)
        if duplicate:
            raise ValueError(f"two questions have the id {duplicate!r}")
        return self

    def question_ids(self) -> list[str]:
        """Each question's id (`q<number>` unless given), in order."""
        return [q.id or f"q{n}" for n, q in enumerate(self.questions, 1)]


class SurveySettings(Strict):
    """Surveys and the private channel each person answers them (and asks for a re-match) in."""

    channel: str = Field(
        "intake", pattern=r"^[a-z0-9][a-z0-9._-]*$",
        description="GitLab and the embedded tracker: one project where participants are Guests and each "
                    "person's items are confidential and assigned to them; GitHub: a private repository "
                    "<channel>-<username> per person, shared with the coordinators only")
    channels: Literal["auto", "always"] = Field(
        "auto", description="auto: open the channels when a survey or a manager's review needs them; always: "
                            "also for private re-match requests alone")
    min_group: int = Field(3, ge=1, description="figures built from fewer answers are withheld")
    items: list[Survey] = Field(default_factory=list, description="the surveys, in the order they are listed")

    @field_validator("items")
    @classmethod
    def _unique_ids(cls, value: list[Survey]) -> list[Survey]:
        ids = [s.id for s in value]
        duplicate = next((i for i in ids if ids.count(i) > 1), None)
        if duplicate:
            raise ValueError(f"two surveys have the id {duplicate!r}")
        return value


class PersonEntry(Strict):
    username: str = Field(min_length=1)
    name: str | None = None
    role: Literal["mentor", "mentee", "both"] = "both"
    handles: dict[Literal["local", "gitlab", "github"], str] = Field(default_factory=dict)
    level: int | None = None
    department: str | None = None
    manager: str | None = None
    skills: list[str] = Field(default_factory=list)
    interests: list[str] = Field(default_factory=list)
    wants: list[str] = Field(default_factory=list, description="skills a mentee wants to learn")
    capacity: int = Field(1, ge=0, description="how many mentees a mentor takes")
    timezone: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict, description="program-specific fields")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        return _check_timezone(value)


class GoalEntry(Strict):
    title: str = Field(min_length=1)
    due: date | None = None
    actions: list[str] = Field(default_factory=list)


class PairEntry(Strict):
    mentor: str
    mentee: str
    id: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9._-]*$", description="default: <mentee>-<mentor>")
    starts: date | None = None
    ends: date | None = None
    goals: list[GoalEntry] = Field(default_factory=list)


class ProgramFile(Strict):
    """The whole program file."""

    program: ProgramSettings
    people: list[PersonEntry] = Field(default_factory=list)
    pairs: list[PairEntry] = Field(default_factory=list)
    service: ServiceSettings = ServiceSettings()
    surveys: SurveySettings = SurveySettings()


def json_schema() -> dict[str, Any]:
    schema = ProgramFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "issuebot program file"
    return schema


# --------------------------------------------------------------------------- loaded program


@dataclass(frozen=True)
class Program:
    """A validated program file with its people and pairs resolved."""

    path: Path
    settings: ProgramSettings
    people: dict[str, Person]
    pairs: tuple[Pair, ...]
    service: ServiceSettings
    surveys: SurveySettings = SurveySettings()

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def pair(self, pair_id: str) -> Pair:
        for pair in self.pairs:
            if pair.id == pair_id:
                return pair
        raise KeyError(pair_id)

    def coordinator_handles(self, forge: str) -> list[str]:
        """The coordinators' usernames on `forge` (a coordinator outside `people` keeps the name given)."""
        return [self.people[c].handle(forge) if c in self.people else c for c in self.settings.coordinators]

    def label(self, canonical: str) -> str:
        """The tracker name of a canonical label (`pair::active` unless the program renames it)."""
        return self.settings.labels.get(canonical, canonical)

    def canonical_label(self, name: str) -> str | None:
        for canonical in LABELS:
            if self.label(canonical) == name:
                return canonical
        return None

    def project_name(self, pair: Pair) -> str:
        return f"{self.settings.project_prefix}{pair.id}"

    def pair_for_project(self, name: str) -> Pair | None:
        short = name.rsplit("/", 1)[-1]
        for pair in self.pairs:
            if self.project_name(pair) == short:
                return pair
        return None

    def local_db_path(self) -> Path:
        provider = self.settings.provider
        assert isinstance(provider, LocalProviderConfig)
        path = Path(provider.path)
        return path if path.is_absolute() else self.base_dir / path

    def templates_dir(self) -> Path | None:
        folder = self.settings.templates
        if folder is None:
            return None
        path = Path(folder)
        return path if path.is_absolute() else self.base_dir / path


def secret(name: str) -> str | None:
    """The value of the environment variable `name`; the one place issuebot reads secrets."""
    value = os.environ.get(name)
    return value or None


def default_config_path() -> Path:
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def load_program(path: str | os.PathLike[str]) -> Program:
    """Read, validate and resolve a program file; raises ConfigError naming file, line and key."""
    path = Path(path)
    shown = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{shown}: no such program file (create one with `issuebot init`)"]) from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{shown}: cannot read the program file: {exc.__class__.__name__}"]) from None
    lines, data = _parse_yaml(text, shown)
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}, not a mapping"
        raise ConfigError([f"{shown}:1: the program file is {kind}; it needs `program:`, `people:` and `pairs:`"])
    try:
        parsed = ProgramFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe_errors(exc, shown, lines)) from None
    return _resolve(path.resolve(), parsed, shown, lines)


def _parse_yaml(text: str, shown: str) -> tuple[dict[tuple[Any, ...], int], Any]:
    # libyaml's safe loader when PyYAML has it: a 2,000-person file loads in a fraction of the
    # time. A broken file is read again by the pure-Python loader, whose messages we show.
    try:
        node, data = _load_yaml(text, getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        try:
            node, data = _load_yaml(text, yaml.SafeLoader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f":{mark.line + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or "not valid YAML"
            raise ConfigError([f"{shown}{where}: not valid YAML: {problem}"]) from None
    lines: dict[tuple[Any, ...], int] = {}
    if node is not None:
        _index_lines(node, (), lines)
    return lines, data


def _load_yaml(text: str, loader_class: Any) -> tuple[Any, Any]:
    """(node tree for line numbers, data) from one parse with one of PyYAML's safe loaders."""
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        return node, (loader.construct_document(node) if node is not None else None)
    finally:
        loader.dispose()


def _index_lines(node: yaml.Node, path: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            _index_lines(value_node, path + (key,), lines)
            lines[path + (key,)] = key_node.start_mark.line + 1  # the key's line, not its value's
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index_lines(item, path + (index,), lines)


def _line_of(lines: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int:
    loc = tuple(loc)
    while loc not in lines and loc:
        loc = loc[:-1]
    return lines.get(loc, 1)


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model whose fields live at `loc`, for near-miss suggestions."""
    model: Any = ProgramFile
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if isinstance(model, type) and issubclass(model, BaseModel) else None
        if field is None:
            return None
        model = _inner_model(field.annotation)
        if model is None:
            return None
    return model


def _inner_model(annotation: Any) -> Any:
    candidates = [annotation, *getattr(annotation, "__args__", ())]
    for candidate in list(candidates):
        candidates.extend(getattr(candidate, "__args__", ()))
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _describe_errors(exc: ValidationError, shown: str, lines: dict[tuple[Any, ...], int]) -> list[str]:
    problems = []
    for error in exc.errors():
        loc = tuple(part for part in error["loc"] if not (isinstance(part, str) and part in _UNION_TAGS))
        line = _line_of(lines, loc)
        kind = error["type"]
        if kind == "extra_forbidden":
            key = str(loc[-1])
            tags = [part for part in error["loc"] if isinstance(part, str) and part in _UNION_TAGS]
            model = _PROVIDER_MODELS[tags[-1]] if tags else _model_at(loc[:-1])
            hint = _did_you_mean(key, list(model.model_fields)) if model else ""
            message = f"unknown key {key!r}{hint}"
        elif kind == "missing":
            message = "is required"
        elif kind == "union_tag_invalid":
            line = _line_of(lines, (*loc, "kind"))
            message = f"unknown kind {error.get('ctx', {}).get('tag')!r}; use local, gitlab or github"
        elif kind in ("model_type", "dict_type", "model_attributes_type"):
            # pydantic would name its internal class ("instance of ProgramSettings").
            message = f"should be a mapping of keys, not {_yaml_kind(error['input'])}"
        else:
            message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{shown}:{line}: {_dotted(loc)}: {message}")
    return problems


_UNION_TAGS = {"local", "gitlab", "github"}
_PROVIDER_MODELS: dict[str, type[BaseModel]] = {
    "local": LocalProviderConfig, "gitlab": GitLabProviderConfig, "github": GitHubProviderConfig,
}


def _yaml_kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    return "empty" if value is None else f"the {type(value).__name__} {value!r}"


def _did_you_mean(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _resolve(path: Path, parsed: ProgramFile, shown: str, lines: dict[tuple[Any, ...], int]) -> Program:
    problems: list[str] = []

    def problem(loc: tuple[Any, ...], message: str) -> None:
        problems.append(f"{shown}:{_line_of(lines, loc)}: {_dotted(loc)}: {message}")

    people: dict[str, Person] = {}
    for index, entry in enumerate(parsed.people):
        if entry.username in people:
            problem(("people", index, "username"), f"duplicate person {entry.username!r}")
            continue
        people[entry.username] = Person(
            username=entry.username,
            name=entry.name or entry.username,
            role=entry.role,
            handles=dict(entry.handles),
            level=entry.level,
            department=entry.department,
            manager=entry.manager,
            skills=tuple(entry.skills),
            interests=tuple(entry.interests),
            wants=tuple(entry.wants),
            capacity=entry.capacity,
            timezone=entry.timezone,
            attributes=dict(entry.attributes),
        )

    settings = parsed.program
    for key in ("exclude", "never_again"):  # matching rules must name people of this program
        for index, names in enumerate(getattr(settings.matching, key)):
            for side, username in enumerate(names):
                if username not in people:
                    problem(("program", "matching", key, index, side),
                            f"unknown person {username!r}{_did_you_mean(username, people)}")
    pairs: list[Pair] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(parsed.pairs):
        resolved = {}
        for side in ("mentor", "mentee"):
            username = getattr(entry, side)
            if username not in people:
                problem(("pairs", index, side), f"unknown person {username!r}{_did_you_mean(username, people)}")
            elif people[username].role not in (side, "both"):
                problem(("pairs", index, side), f"{username!r} has role {people[username].role!r}, not {side}")
            else:
                resolved[side] = people[username]
        if entry.mentor == entry.mentee:
            problem(("pairs", index), f"{entry.mentor!r} cannot mentor themselves")
            continue
        if len(resolved) != 2:
            continue
        pair_id = entry.id or _slug(f"{entry.mentee}-{entry.mentor}")
        if pair_id in seen:
            problem(("pairs", index), f"pair {pair_id!r} is declared twice (first at pairs[{seen[pair_id]}])")
            continue
        seen[pair_id] = index
        starts = entry.starts or settings.starts
        ends = entry.ends or settings.end_date
        if ends <= starts:
            problem(("pairs", index, "ends"), f"ends ({ends}) must come after starts ({starts})")
            continue
        goals = tuple(Goal(title=g.title, due=g.due, actions=tuple(g.actions)) for g in entry.goals)
        pairs.append(Pair(id=pair_id, mentor=resolved["mentor"], mentee=resolved["mentee"], starts=starts, ends=ends, goals=goals))

    if problems:
        raise ConfigError(problems)
    return Program(path=path, settings=settings, people=people, pairs=tuple(pairs), service=parsed.service,
                   surveys=parsed.surveys)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-.")
