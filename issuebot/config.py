"""Program file: YAML -> validated Program (pydantic), JSON Schema export; the only environment reader."""

from __future__ import annotations

import calendar
import difflib
import functools
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
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
from issuebot.templates import template_file, template_names

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
        if not self.months:
            if self.days and self.days % 7 == 0:
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
# A program file spells months out: `45m` next to `session_length: 45m` (minutes) reads as minutes.
FILE_PERIOD_PATTERN = r"^\s*(\d+)\s*(d|days?|w|wk|weeks?|mo|months?|y|years?)\s*$"
MAX_PERIOD_DAYS = 100 * 366  # longer than any program: a typo, and beyond it dates overflow


def parse_period(value: Any, *, in_file: bool = False) -> Period:
    """`14d`, `2w`, `1 month`, `1m` (a month), `1y`; a bare integer counts days.

    In a program file (`in_file`) a bare `m` is refused: it could mean minutes or months.
    """
    if isinstance(value, Period):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        period = Period(days=value)
    else:
        match = _PERIOD_RE.match(value) if isinstance(value, str) else None
        if not match:
            raise ValueError(f"not a period: {_shown(value)} (use e.g. 14d, 2w, 1 month, 3 months)")
        amount, unit = int(match.group(1)), match.group(2).lower()
        if unit == "m" and in_file:
            raise ValueError(f"{value.strip()!r} is ambiguous: write {amount} months, or {amount}min if you "
                             "meant minutes (periods take d, w, month or y)")
        if unit.startswith("d"):
            period = Period(days=amount)
        elif unit.startswith("w"):
            period = Period(days=7 * amount)
        elif unit.startswith("y"):
            period = Period(months=12 * amount)
        else:
            period = Period(months=amount)
    if period.approx_days() > MAX_PERIOD_DAYS:
        raise ValueError(f"{_shown(value)} is too long (at most 100 years)")
    return period


_MINUTES_RE = re.compile(r"^\s*(\d+)\s*(m|min|mins|minutes?|h|hours?)?\s*$", re.IGNORECASE)
MAX_MINUTES = 24 * 60


def parse_minutes(value: Any, *, in_file: bool = False) -> int:
    """`45min`, `45m`, `1h`, or a bare number of minutes; at most a day.

    In a program file (`in_file`) a bare `m` is refused: it could mean minutes or months.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        amount, unit = value, "min"
    else:
        match = _MINUTES_RE.match(value) if isinstance(value, str) else None
        if not match or int(match.group(1)) <= 0:
            raise ValueError(f"not a duration in minutes: {_shown(value)} (use e.g. 45min, 1h)")
        amount, unit = int(match.group(1)), (match.group(2) or "min").lower()
        if unit == "m" and in_file:
            raise ValueError(f"{value.strip()!r} is ambiguous: write {amount}min for minutes "
                             f"({amount} months is not a session length; lengths take min or h)")
    minutes = amount * 60 if unit.startswith("h") else amount
    if minutes > MAX_MINUTES:
        raise ValueError(f"{_shown(value)} is longer than a day")
    return minutes


def _shown(value: Any) -> str:
    """A value for an error message, cut short: a fuzzed file may hold megabytes in one key."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_DATE_RE = re.compile(r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})\s*$")
_OTHER_DATE_RE = re.compile(r"^\s*(\d{1,4})[/.-](\d{1,2})[/.-](\d{1,4})\s*$")


def parse_date(value: Any) -> date:
    """A calendar date written YYYY-MM-DD; a day that does not exist or another layout says what to write."""
    if isinstance(value, datetime):
        if value.time() == time(0) and value.tzinfo is None:
            return value.date()
        raise ValueError(f"give a date without a time: {value.date().isoformat()}")
    if isinstance(value, date):
        return value
    text = value if isinstance(value, str) else None
    match = _DATE_RE.match(text) if text is not None else None
    if match:
        year, month, day = (int(part) for part in match.groups())
        if not 1 <= month <= 12:
            raise ValueError(f"{str(text).strip()!r} is not a date: there is no month {month} (use YYYY-MM-DD)")
        if year < 1:
            raise ValueError(f"{str(text).strip()!r} is not a date: there is no year 0 (use YYYY-MM-DD)")
        last = calendar.monthrange(year, month)[1]
        if not 1 <= day <= last:
            raise ValueError(f"{str(text).strip()!r} is not a date: {calendar.month_name[month]} {year} has {last} days")
        return date(year, month, day)
    raise ValueError(f"not a date: {_shown(value)} (use YYYY-MM-DD{_date_hint(text)})")


def _date_hint(text: str | None) -> str:
    """`, e.g. 2027-04-30` for a date written the American, European or dotted way."""
    match = _OTHER_DATE_RE.match(text) if text else None
    if not match:
        return ", e.g. 2027-04-30"
    first, second, third = (int(part) for part in match.groups())
    if len(match.group(1)) == 4:
        return f": did you mean {first:04d}-{second:02d}-{third:02d}?"
    if len(match.group(3)) != 4:
        return ", e.g. 2027-04-30"
    readings = []
    for month, day in ((first, second), (second, first)):
        if 1 <= month <= 12 and 1 <= day <= calendar.monthrange(third, month)[1]:
            readings.append(f"{third:04d}-{month:02d}-{day:02d}")
    return ": did you mean " + " or ".join(dict.fromkeys(readings)) + "?" if readings else ", e.g. 2027-04-30"


PeriodField = Annotated[
    Period,
    PlainValidator(lambda value: parse_period(value, in_file=True)),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "pattern": FILE_PERIOD_PATTERN, "examples": ["14d", "2w", "1 month"]}),
]
MinutesField = Annotated[
    int,
    PlainValidator(lambda value: parse_minutes(value, in_file=True)),
    WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 1, "maximum": MAX_MINUTES},
                              {"type": "string", "pattern": r"^\s*\d+\s*(min|mins|minutes?|h|hours?)?\s*$",
                               "examples": ["45min", "1h"]}]}),
]
DateField = Annotated[
    date,
    PlainValidator(parse_date),
    WithJsonSchema({"type": "string", "format": "date", "examples": ["2027-01-11"]}),
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
    person_tokens: dict[str, str] = Field(
        default_factory=dict,
        description="forge username -> environment variable holding that person's own access token: "
                    "issuebot acts as them with it (`rematch request --as`, checks of what a person can read)")


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
    person_tokens: dict[str, str] = Field(
        default_factory=dict,
        description="forge username -> environment variable holding that person's own access token: "
                    "issuebot acts as them with it (`rematch request --as`, checks of what a person can read)")


ProviderConfig = Annotated[
    LocalProviderConfig | GitLabProviderConfig | GitHubProviderConfig,
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
    max_per_session: int = Field(2, ge=0, description="reminders to the pair per session issue")
    max_escalations: int = Field(3, ge=0, description="escalations per stale spell; each waits twice as long as the last")
    item_reminders: int = Field(
        1, ge=0, description="reminders on an overdue review, feedback, KPI or code-of-conduct issue to the people "
                             "it waits for (its assignees), each `renudge_every` apart; 0: none")
    respond_within: PeriodField = Field(
        Period(days=14), description="review and feedback issues are due this long after their round opens")
    quiet_days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = ["sat", "sun"]
    holidays: list[DateField] = []


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


class OAuthSettings(Strict):
    """Coordinators sign in to the web app with the forge's OAuth (a GitLab or GitHub OAuth app)."""

    kind: Literal["gitlab", "github"]
    url: str | None = Field(None, description="the instance: GitLab (default https://gitlab.com) or GitHub Enterprise Server (default github.com)")
    client_id_env: str = Field("ISSUEBOT_OAUTH_CLIENT_ID", description="variable holding the OAuth app's client id")
    client_secret_env: str = Field("ISSUEBOT_OAUTH_CLIENT_SECRET", description="variable holding its client secret")


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
    session_secret_env: str = Field(
        "ISSUEBOT_SESSION_SECRET", description="variable holding the key that signs coordinators' web sessions")
    oauth: OAuthSettings | None = Field(None, description="coordinators sign in with the forge's OAuth")
    pair_text: bool = Field(False, description="the program opts in to showing pair text in coordinator views")
    public_url: str | None = Field(
        None, pattern=r"^https?://[^\s/]+(/[^\s]*)?$",
        description="the address people reach `issuebot serve` at (e.g. https://issuebot.example.org): "
                    "survey links for people without a forge account point there")
    form_secret_env: str = Field(
        "ISSUEBOT_FORM_SECRET", description="variable holding the key that signs personal survey links (unset: no links)")


class LevelRule(Strict):
    """Which mentor levels a mentee of the given levels may be matched with."""

    mentee_levels: list[int] = Field(min_length=1, description="mentee levels this rule covers, e.g. [1, 2]")
    mentor_min: int | None = Field(None, description="lowest mentor level allowed")
    mentor_max: int | None = Field(None, description="highest mentor level allowed")

    @model_validator(mode="after")
    def _ordered(self) -> LevelRule:
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
    opt_in_levels: list[int] = Field(
        default_factory=list, description="mentors of these levels mentor only when attributes.<opt_in_attribute> is true")
    opt_in_attribute: str = Field("opted_in", description="person attribute that marks a volunteer mentor")
    scales: dict[str, list[str]] = Field(
        default_factory=dict,
        description="attribute -> its values in order; with a weight, nearby values count as partly similar",
    )


class OnboardingIssue(Strict):
    """An extra issue opened for every pair at kickoff from a named template."""

    key: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", description="marker identity inside the pair project")
    template: str = Field(min_length=1, description="template name (a file in the templates folder)")
    due_after: PeriodField | None = Field(None, description="due this long after the pair starts")
    confidential: bool = False
    counts_as: Literal["goal", "kpi", "signatures", "activity"] | None = Field(
        None, description="what the report counts this issue as: a goal, a KPI item, signatures to collect "
        "(its ticked task boxes) or a credited activity of the mentor (done when closed)")
    credit: MinutesField | None = Field(
        None, description="mentor time credited once the issue is closed (with counts_as: activity), e.g. 1h")

    @model_validator(mode="after")
    def _credit_needs_activity(self) -> OnboardingIssue:
        if self.credit is not None and self.counts_as != "activity":
            raise ValueError("'credit' needs 'counts_as: activity'")
        return self


class ReportSettings(Strict):
    """What the sweep reports to coordinators by itself."""

    monthly: bool = Field(False, description="keep a monthly report issue in the coordinators' project")


# --------------------------------------------------------------------------- cohort: intake, spaces, notices, calendar

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
ForgeAccess = Literal["guest", "reporter", "developer", "maintainer"]


class IntakeSettings(Strict):
    """A project the whole cohort can read: the call for participants and a sign-up form."""

    project: str = Field("intake", description="project holding the call and the sign-ups")
    call_template: str = Field("call-for-participants", description="template of the call for participants")
    readers: list[str] = Field(default_factory=list, description="forge usernames (beyond `people`) who may sign up")
    form: str = Field("sign-up", pattern=r"^[a-z0-9][a-z0-9._-]*$",
                      description="file name of the sign-up form (GitHub: .github/ISSUE_TEMPLATE/<form>.yml; "
                                  "GitLab: .gitlab/issue_templates/<form>.md)")


class CohortActivity(Strict):
    """An issue opened in the cohort space on a schedule: an announcement, a lunch and learn, a core-group meeting."""

    key: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", description="marker identity of the activity")
    template: str = Field("cohort-activity", min_length=1, description="template of each issue")
    title: str = Field(min_length=1, description="what the activity is called (the template's `activity.title`)")
    every: PeriodField | None = Field(None, description="opens again this long after the last one, until the program ends")
    starts: DateField | None = Field(None, description="the first one (default: the program's start); with `every`")
    dates: list[DateField] = Field(default_factory=list, description="the days it opens on, instead of `every`")
    host: str | None = Field(None, description="who hosts it (a person's username); else whoever the issue is assigned to")
    credit: MinutesField | None = Field(None, description="mentor time credited to each host once the issue is closed, e.g. 1h")

    @model_validator(mode="after")
    def _one_schedule(self) -> CohortActivity:
        if self.every is not None and self.dates:
            raise ValueError("give 'every' (with an optional 'starts') or 'dates', not both")
        if self.every is not None and self.every.approx_days() <= 0:
            raise ValueError("'every' must be at least a day")
        if self.dates and self.starts is not None:
            raise ValueError("'starts' applies only with 'every'")
        return self


class CohortSpaceSettings(Strict):
    """A project every participant can read, with activities opened from templates on a schedule."""

    project: str = Field("cohort", pattern=r"^[a-z0-9][a-z0-9._-]*$", description="the cohort space's project")
    readers: list[str] = Field(default_factory=list, description="forge usernames (beyond `people`) who may read it")
    activities: list[CohortActivity] = Field(default_factory=list, description="what opens there, and when")

    @field_validator("activities")
    @classmethod
    def _unique_keys(cls, value: list[CohortActivity]) -> list[CohortActivity]:
        _refuse_twice([a.key for a in value], "two activities have the key")
        return value


class CsvImportSettings(Strict):
    """How `issuebot people import FILE.csv` reads an HR export: CSV column -> person field."""

    columns: dict[str, str] = Field(
        default_factory=dict,
        description="CSV column header -> person field (username, name, email, role, level, department, manager, "
                    "skills, wants, interests, capacity, timezone, bio or attributes.<name>)",
    )
    list_separator: str = Field(";", min_length=1, description="separates the items of a list field in one cell")


class SmtpSettings(Strict):
    """The relay that sends e-mail notices; credentials come from the environment."""

    host: str = Field(min_length=1)
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username_env: str | None = Field(None, description="variable holding the relay's user name")
    password_env: str | None = Field(None, description="variable holding the relay's password")
    sender: str = Field(pattern=EMAIL_PATTERN, description="From address")
    timeout_seconds: float = Field(30, gt=0)


class ChatSettings(Strict):
    """A chat incoming webhook (Slack or Teams) for the coordinators' weekly digest."""

    kind: Literal["slack", "teams"] = "slack"
    webhook_url_env: str = Field("ISSUEBOT_CHAT_WEBHOOK_URL", description="variable holding the webhook URL")
    digest_on: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = Field("mon", description="weekday of the digest")
    timeout_seconds: float = Field(30, gt=0)


class NoticeSettings(Strict):
    """Notices outside the forge: e-mail to people without a forge account, a digest in chat."""

    smtp: SmtpSettings | None = None
    chat: ChatSettings | None = None
    email_everyone: bool = Field(False, description="also e-mail people who have a forge account")


class DeliveryProjectSettings(Strict):
    """PAL: the mentor joins the mentee's delivery project (a person attribute names it)."""

    attribute: str = Field("delivery_project", description="person attribute holding the project's path")
    access: ForgeAccess = Field("developer", description="the mentor's access there")


class CalendarSettings(Strict):
    """Personal iCalendar feeds of sessions, reviews, feedback rounds and wrap-up."""

    secret_env: str = Field("ISSUEBOT_CALENDAR_SECRET", description="variable holding the key of the feeds' secret URLs")
    starts_at: str = Field("10:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="local time of a dated event")


class ProgramSettings(Strict):
    name: str = Field(min_length=1)
    coordinators: list[str] = Field(min_length=1)
    starts: DateField
    ends: DateField | None = None
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
    intake: IntakeSettings | None = Field(None, description="sign-up project (omit for none)")
    cohort_space: CohortSpaceSettings | None = Field(None, description="project the whole cohort reads (omit for none)")
    people_import: CsvImportSettings = CsvImportSettings()
    notices: NoticeSettings = NoticeSettings()
    calendar: CalendarSettings = CalendarSettings()
    delivery_project: DeliveryProjectSettings | None = Field(None, description="PAL: mentor joins the mentee's project")
    reports: ReportSettings = ReportSettings()

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
    def _has_end(self) -> ProgramSettings:
        if self.ends is None and self.duration is None:
            raise ValueError("give either 'ends' (a date) or 'duration' (e.g. 6 months)")
        if self.ends is not None and self.duration is not None:
            raise ValueError("give 'ends' or 'duration', not both")
        if self.ends is not None and self.ends <= self.starts:
            raise ValueError(f"'ends' ({self.ends}) must come after 'starts' ({self.starts})")
        return self

    @model_validator(mode="after")
    def _spaces_apart(self) -> ProgramSettings:
        named = [("coordinator_project", self.coordinator_project)]
        if self.intake is not None:
            named.append(("intake.project", self.intake.project))
        if self.cohort_space is not None:
            named.append(("cohort_space.project", self.cohort_space.project))
        for index, (key, name) in enumerate(named):
            for other, taken in named[:index]:
                if name == taken:
                    raise ValueError(f"{key} and {other} name the same project {name!r}: give each its own")
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
    def _choices_fit(self) -> SurveyQuestion:
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
    def _schedule(self) -> Survey:
        if self.when == "every" and (self.every is None or self.every.approx_days() <= 0):
            raise ValueError("when: every needs 'every' (e.g. 2 months)")
        if self.when != "every" and self.every is not None:
            raise ValueError(f"'every' applies only to when: every (this survey is sent at {self.when})")
        if self.remind_after.approx_days() >= self.closes_after.approx_days():
            raise ValueError("remind_after must come before closes_after")
        _refuse_twice([q.id or f"q{n}" for n, q in enumerate(self.questions, 1)], "two questions have the id")
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
        _refuse_twice([s.id for s in value], "two surveys have the id")
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
    email: str | None = Field(None, pattern=EMAIL_PATTERN, description="address for notices outside the forge")
    forge_account: bool = Field(True, description="false: the person gets reminders and dates by e-mail only")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        return _check_timezone(value)


class GoalEntry(Strict):
    title: str = Field(min_length=1)
    due: DateField | None = None
    actions: list[str] = Field(default_factory=list)


class PairEntry(Strict):
    mentor: str
    mentee: str
    id: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9._-]*$", description="default: <mentee>-<mentor>")
    starts: DateField | None = None
    ends: DateField | None = None
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
    warnings: tuple[str, ...] = ()  # `file:line: key: message` lines that `validate --strict` refuses
    surveys: SurveySettings = field(default_factory=SurveySettings)

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
        return self._canonical_names.get(name)

    @functools.cached_property
    def _canonical_names(self) -> dict[str, str]:
        """Tracker name -> canonical label (the first in LABELS order when two share a name)."""
        return {self.label(canonical): canonical for canonical in reversed(LABELS)}

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
        return _relative_to(self.base_dir, self.settings.templates)


def _relative_to(base_dir: Path, folder: str | None) -> Path | None:
    """A folder named in the program file, relative to the file unless absolute."""
    if folder is None:
        return None
    path = Path(folder)
    return path if path.is_absolute() else base_dir / path


def secret(name: str) -> str | None:
    """The value of the environment variable `name`; the one place issuebot reads secrets."""
    value = os.environ.get(name)
    return value or None


def default_config_path() -> Path:
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


MAX_FILE_BYTES = 4 * 1024 * 1024  # a 2,000-person program is about 350 kB
MAX_NESTING = 64  # the deepest key of a program file is six levels down
MAX_ALIAS_NODES = 5000  # nodes that YAML aliases (`*name`) may add: enough to share a list, not a bomb


def load_program(path: str | os.PathLike[str]) -> Program:
    """Read, validate and resolve a program file; raises ConfigError naming file, line and key.

    Problems worth a look that do not stop the program are kept in `Program.warnings`.
    """
    path = Path(path)
    shown = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ConfigError([f"{shown}: the program file is {size:,} bytes; at most {MAX_FILE_BYTES:,} are read"])
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
        node, data = _load_yaml(text, _FastLoader, shown)
    except yaml.YAMLError:
        try:
            node, data = _load_yaml(text, _PlainLoader, shown)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f":{mark.line + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or "not valid YAML"
            raise ConfigError([f"{shown}{where}: not valid YAML: {problem}"]) from None
    lines: dict[tuple[Any, ...], int] = {}
    if node is not None:
        duplicates: list[str] = []
        _index_lines(node, (), lines, duplicates, shown)
        if duplicates:
            raise ConfigError(duplicates)
    return lines, data


def _lenient_timestamp(constructor: yaml.constructor.SafeConstructor, node: yaml.ScalarNode) -> Any:
    """A YAML date, or its text when it names no real day (`2027-02-30`): the schema then says why."""
    try:
        return yaml.constructor.SafeConstructor.construct_yaml_timestamp(constructor, node)
    except (ValueError, OverflowError):
        return node.value


class _PlainLoader(yaml.SafeLoader):
    pass


class _FastLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    pass


for _loader in (_PlainLoader, _FastLoader):
    _loader.add_constructor("tag:yaml.org,2002:timestamp", _lenient_timestamp)


def _load_yaml(text: str, loader_class: Any, shown: str) -> tuple[Any, Any]:
    """(node tree for line numbers, data) from one parse with one of PyYAML's safe loaders."""
    _check_yaml_limits(loader_class(text), shown)
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        return node, (loader.construct_document(node) if node is not None else None)
    finally:
        loader.dispose()


def _check_yaml_limits(loader: Any, shown: str) -> None:
    """Refuse, from the event stream alone, nesting and alias expansion that would hang or crash the load."""
    sizes: dict[str, int] = {}  # anchor -> nodes it stands for, aliases inside it expanded
    open_nodes: list[list[Any]] = []  # [anchor, nodes so far] of each collection being read
    expanded = 0
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent, yaml.CollectionStartEvent)):
                if isinstance(event, yaml.AliasEvent):
                    count = sizes.get(event.anchor, 1)
                    expanded += count
                    if expanded > MAX_ALIAS_NODES:
                        raise ConfigError([f"{shown}:{event.start_mark.line + 1}: aliases expand to more than "
                                           f"{MAX_ALIAS_NODES:,} values; write the values out instead"])
                else:
                    count = 1
                if isinstance(event, yaml.CollectionStartEvent):
                    if len(open_nodes) >= MAX_NESTING:
                        raise ConfigError([f"{shown}:{event.start_mark.line + 1}: nested more than {MAX_NESTING} "
                                           "levels deep; a program file needs far fewer"])
                    open_nodes.append([event.anchor, 1])
                    continue
                if isinstance(event, yaml.ScalarEvent) and event.anchor:
                    sizes[event.anchor] = 1
                if open_nodes:
                    open_nodes[-1][1] += count
            elif isinstance(event, yaml.CollectionEndEvent):
                anchor, count = open_nodes.pop()
                if anchor:
                    sizes[anchor] = count
                if open_nodes:
                    open_nodes[-1][1] += count
    finally:
        loader.dispose()


def _index_lines(node: yaml.Node, path: tuple[Any, ...], lines: dict[tuple[Any, ...], int],
                 duplicates: list[str], shown: str) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        first: dict[Any, int] = {}  # key -> line of its first appearance in this mapping
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else "?"
            line = key_node.start_mark.line + 1
            if key in first:
                duplicates.append(f"{shown}:{line}: {_dotted(path + (key,))}: duplicate key {key!r} "
                                  f"(also on line {first[key]}; give each key once)")
            first.setdefault(key, line)
            _index_lines(value_node, path + (key,), lines, duplicates, shown)
            lines[path + (key,)] = line  # the key's line, not its value's
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index_lines(item, path + (index,), lines, duplicates, shown)


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


def _refuse_twice(names: list[str], message: str) -> None:
    """ValueError "<message> 'x'" for the first name given twice."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{message} {name!r}")
        seen.add(name)


def _did_you_mean(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _resolve(path: Path, parsed: ProgramFile, shown: str, lines: dict[tuple[Any, ...], int]) -> Program:
    problems: list[str] = []
    warnings: list[str] = []

    def problem(loc: tuple[Any, ...], message: str) -> None:
        problems.append(f"{shown}:{_line_of(lines, loc)}: {_dotted(loc)}: {message}")

    def warning(loc: tuple[Any, ...], message: str) -> None:
        warnings.append(f"{shown}:{_line_of(lines, loc)}: {_dotted(loc)}: {message}")

    people: dict[str, Person] = {}
    for index, entry in enumerate(parsed.people):
        if entry.username in people:
            problem(("people", index, "username"), f"duplicate person {entry.username!r}")
            continue
        people[entry.username] = Person(
            username=entry.username,
            name=entry.name or entry.username,
            role=entry.role,
            handles={str(forge): name for forge, name in entry.handles.items()},
            level=entry.level,
            department=entry.department,
            manager=entry.manager,
            skills=tuple(entry.skills),
            interests=tuple(entry.interests),
            wants=tuple(entry.wants),
            capacity=entry.capacity,
            timezone=entry.timezone,
            attributes=dict(entry.attributes),
            email=entry.email,
            forge_account=entry.forge_account,
        )

    settings = parsed.program
    _check_program_settings(settings, path.parent, people, problem)
    for index, entry in enumerate(parsed.people):
        if entry.manager is not None and entry.manager not in people:
            hint = _did_you_mean(entry.manager, people)
            if hint:  # a manager outside the program is fine; one a letter away from a person is a typo
                warning(("people", index, "manager"), f"{entry.manager!r} is not a person of this program{hint}")
    for key in ("exclude", "never_again"):  # matching rules must name people of this program
        for index, names in enumerate(getattr(settings.matching, key)):
            for position, username in enumerate(names):
                if username not in people:
                    problem(("program", "matching", key, index, position),
                            f"unknown person {username!r}{_did_you_mean(username, people)}")
    pairs: list[Pair] = []
    seen: dict[str, int] = {}
    for index, pair_entry in enumerate(parsed.pairs):
        resolved: dict[str, Person] = {}
        for side in ("mentor", "mentee"):
            username = getattr(pair_entry, side)
            if username not in people:
                problem(("pairs", index, side), f"unknown person {username!r}{_did_you_mean(username, people)}")
            elif people[username].role not in (side, "both"):
                problem(("pairs", index, side), f"{username!r} has role {people[username].role!r}, not {side}")
            else:
                resolved[side] = people[username]
        if pair_entry.mentor == pair_entry.mentee:
            problem(("pairs", index), f"{pair_entry.mentor!r} cannot mentor themselves")
            continue
        if len(resolved) != 2:
            continue
        pair_id = pair_entry.id or _slug(f"{pair_entry.mentee}-{pair_entry.mentor}")
        if pair_id in seen:
            problem(("pairs", index), f"pair {pair_id!r} is declared twice (first at pairs[{seen[pair_id]}])")
            continue
        seen[pair_id] = index
        starts = pair_entry.starts or settings.starts
        ends = pair_entry.ends or settings.end_date
        if ends <= starts:
            problem(("pairs", index, "ends"), f"ends ({ends}) must come after starts ({starts})")
            continue
        _check_pair_dates(index, pair_entry, starts, ends, settings, warning)
        goals = tuple(Goal(title=g.title, due=g.due, actions=tuple(g.actions)) for g in pair_entry.goals)
        pairs.append(Pair(id=pair_id, mentor=resolved["mentor"], mentee=resolved["mentee"], starts=starts, ends=ends, goals=goals))

    _check_capacity(parsed.pairs, people, warning)
    if parsed.surveys.items and parsed.service.public_url is None:
        for index, entry in enumerate(parsed.people):
            if not entry.forge_account and entry.email:
                warning(("people", index, "forge_account"),
                        f"{entry.username} answers surveys through a personal link: set service.public_url "
                        "(and the key service.form_secret_env names), or no survey reaches them")
    if problems:
        raise ConfigError(problems)
    return Program(path=path, settings=settings, people=people, pairs=tuple(pairs), service=parsed.service,
                   warnings=tuple(warnings), surveys=parsed.surveys)


Report = Callable[[tuple[Any, ...], str], None]  # records a problem or a warning at a key


def _check_program_settings(settings: ProgramSettings, base_dir: Path, people: dict[str, Person], problem: Report) -> None:
    """Coordinators, cadence and templates as the coordinator meant them."""
    for index, username in enumerate(settings.coordinators):
        if username not in people:
            problem(("program", "coordinators", index),
                    f"unknown coordinator {username!r}{_did_you_mean(username, people)} (list them under people:)")
    length = (settings.end_date - settings.starts).days
    if settings.cadence.approx_days() < 1:
        problem(("program", "cadence"), f"{settings.cadence} is too short: sessions are at least a day apart")
    elif settings.cadence.after(settings.starts) >= settings.end_date:
        problem(("program", "cadence"), f"{settings.cadence} is not shorter than the program ({length} days): "
                "there would be no second session")
    folder = _relative_to(base_dir, settings.templates)
    if folder is not None and not folder.is_dir():
        return  # loading the templates says so, naming the folder
    for index, extra in enumerate(settings.onboarding_issues):
        if template_file(extra.template, folder) is None:
            hint = _did_you_mean(extra.template, template_names(folder))
            problem(("program", "onboarding_issues", index, "template"), f"no template named {extra.template!r}{hint}")


def _check_pair_dates(index: int, entry: PairEntry, starts: date, ends: date, settings: ProgramSettings,
                      warning: Report) -> None:
    """A pair inside the program's dates, and its goals due while the pair runs."""
    if entry.starts is not None and entry.starts < settings.starts:
        warning(("pairs", index, "starts"), f"{entry.starts} is before the program starts ({settings.starts})")
    if entry.ends is not None and entry.ends > settings.end_date:
        warning(("pairs", index, "ends"), f"{entry.ends} is after the program ends ({settings.end_date})")
    for number, goal in enumerate(entry.goals):
        if goal.due is not None and goal.due > ends:
            warning(("pairs", index, "goals", number, "due"), f"{goal.due} is after the pair ends ({ends})")
        elif goal.due is not None and goal.due < starts:
            warning(("pairs", index, "goals", number, "due"), f"{goal.due} is before the pair starts ({starts})")


def _check_capacity(entries: list[PairEntry], people: dict[str, Person], warning: Report) -> None:
    """A mentor with more mentees than `capacity` says they take."""
    indexes: dict[str, list[int]] = {}
    for index, entry in enumerate(entries):
        indexes.setdefault(entry.mentor, []).append(index)
    for mentor, found in indexes.items():
        person = people.get(mentor)
        if person is not None and len(found) > person.capacity:
            warning(("pairs", found[person.capacity], "mentor"),
                    f"{mentor!r} mentors {len(found)} pairs but has capacity {person.capacity}")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-.")

