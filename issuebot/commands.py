"""Quick commands: parse them from comment text and decide who may use which (pure, no I/O)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Literal

from issuebot.config import Period, parse_minutes, parse_period

# name -> argument syntax, as shown in usage replies; the prose lives in issue_templates/.
SYNTAX: dict[str, str] = {
    "session": "/session [YYYY-MM-DD] [45m|1h] [async]",
    "skip": "/skip [reason]",
    "pause": "/pause [until YYYY-MM-DD]",
    "resume": "/resume",
    "extend": "/extend [2w|1m|YYYY-MM-DD]",
    "end": "/end [reason]",
    "help": "/help",
}

Role = Literal["member", "coordinator"]

# Who may use which command: the pair's two members and the program's coordinators.
ALLOWED: dict[str, frozenset[str]] = {name: frozenset({"member", "coordinator"}) for name in SYNTAX}

# Commands that move the session log; one of them per comment keeps "which session" unambiguous.
SESSION_COMMANDS = frozenset({"session", "skip"})

MAX_SESSION_MINUTES = 24 * 60
DEFAULT_EXTENSION = Period(months=1)

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_FENCE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_COMMAND_RE = re.compile(r"^ {0,3}/(?P<name>[A-Za-z]+)(?:\s+(?P<args>.*))?$")


@dataclass(frozen=True)
class Command:
    """One quick command read from a comment, its arguments already checked for form."""

    name: str
    line: str
    on: date | None = None  # /session: the day it was held
    minutes: int | None = None  # /session: its length
    mode: Literal["sync", "async"] = "sync"  # /session: met live or worked in writing
    until: date | None = None  # /pause: the day it ends
    period: Period | None = None  # /extend by a period
    to: date | None = None  # /extend to a date
    reason: str = ""  # /skip, /end

    @property
    def syntax(self) -> str:
        return SYNTAX[self.name]


# Why an argument could not be used; issue_templates/command-ack.md explains each one.
PROBLEMS = (
    "not_a_date", "not_a_duration", "not_a_period", "repeated", "unexpected", "missing_date",
    "in_future", "before_start", "not_later", "in_past", "one_per_comment", "unknown_command",
)


@dataclass(frozen=True)
class UsageError:
    """A command whose argument could not be used; `problem` is a code the usage template explains."""

    name: str
    line: str
    problem: str  # one of PROBLEMS
    argument: str = ""

    @property
    def syntax(self) -> str:
        return SYNTAX[self.name]


Parsed = Command | UsageError


def command_lines(text: str) -> list[str]:
    """Lines that start with `/`, outside fenced code blocks and quotes."""
    found = []
    fence: str | None = None
    for raw in (text or "").splitlines():
        line = raw.rstrip()
        opened = _FENCE_RE.match(line)
        if fence is not None:
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence):
                fence = None
            continue
        if opened:
            fence = opened.group(1)
            continue
        if line.lstrip().startswith(">"):
            continue
        if _COMMAND_RE.match(line):
            found.append(line.strip())
    return found


def parse_commands(text: str) -> list[Parsed]:
    """Every quick command in `text`, in order; a near miss of a known name (`/sesion`) is a
    usage error naming the nearest command, any other `/word` is not a command."""
    parsed: list[Parsed] = []
    session_seen = False
    for line in command_lines(text):
        match = _COMMAND_RE.match(line)
        assert match is not None
        name = match.group("name").lower()
        if name not in SYNTAX:
            nearest = difflib.get_close_matches(name, SYNTAX, n=1, cutoff=0.6)
            if nearest:  # a typo of a command still gets its reply; other `/words` are not commands
                parsed.append(UsageError(nearest[0], line, "unknown_command", "/" + name))
            continue
        result = parse_command(name, (match.group("args") or "").strip(), line)
        if name in SESSION_COMMANDS:
            if session_seen:
                result = UsageError(name, line, "one_per_comment")
            session_seen = True
        parsed.append(result)
    return parsed


def parse_command(name: str, args: str, line: str) -> Parsed:
    """The arguments of one command; a wrong one yields a UsageError, never an exception."""
    words = args.split()
    if name == "session":
        return _parse_session(words, line)
    if name in ("skip", "end"):
        return Command(name, line, reason=args)
    if name == "pause":
        if words and words[0].lower() == "until":
            words = words[1:]
            if not words:
                return UsageError(name, line, "missing_date", "until")
        if not words:
            return Command(name, line)
        until = _parse_date(words[0])
        if until is None:
            return UsageError(name, line, "not_a_date", words[0])
        if len(words) > 1:
            return UsageError(name, line, "unexpected", words[1])
        return Command(name, line, until=until)
    if name == "extend":
        if not words:
            return Command(name, line, period=DEFAULT_EXTENSION)
        if len(words) > 1 and not _is_period_words(words):
            return UsageError(name, line, "unexpected", words[1])
        if _DATE_RE.match(words[0]):
            to = _parse_date(words[0])
            return Command(name, line, to=to) if to else UsageError(name, line, "not_a_date", words[0])
        try:
            period = parse_period(" ".join(words))
        except ValueError:
            return UsageError(name, line, "not_a_period", args)
        if period.approx_days() <= 0:
            return UsageError(name, line, "not_a_period", args)
        return Command(name, line, period=period)
    # /resume takes nothing; /help ignores whatever follows it.
    if name == "resume" and words:
        return UsageError(name, line, "unexpected", words[0])
    return Command(name, line)


def _is_period_words(words: list[str]) -> bool:
    """`/extend 2 weeks` is one argument written as two words."""
    return len(words) == 2 and words[0].isdigit() and not words[1][0].isdigit()


def _parse_session(words: list[str], line: str) -> Parsed:
    on: date | None = None
    minutes: int | None = None
    mode: Literal["sync", "async"] | None = None
    for word in words:
        lowered = word.lower()
        if lowered in ("async", "sync"):
            if mode is not None:
                return UsageError("session", line, "repeated", word)
            mode = "async" if lowered == "async" else "sync"
        elif word[:1].isdigit() and "-" in word:
            if on is not None:
                return UsageError("session", line, "repeated", word)
            on = _parse_date(word)
            if on is None:
                return UsageError("session", line, "not_a_date", word)
        elif word[:1].isdigit():
            if minutes is not None:
                return UsageError("session", line, "repeated", word)
            try:
                minutes = parse_minutes(word)
            except ValueError:
                return UsageError("session", line, "not_a_duration", word)
            if minutes > MAX_SESSION_MINUTES:
                return UsageError("session", line, "not_a_duration", word)
        else:
            return UsageError("session", line, "unexpected", word)
    return Command("session", line, on=on, minutes=minutes, mode=mode or "sync")


def _parse_date(word: str) -> date | None:
    if not _DATE_RE.match(word):
        return None
    try:
        return date.fromisoformat(word)
    except ValueError:
        return None


def check_dates(command: Command, *, today: date, starts: date, ends: date) -> UsageError | None:
    """Arguments that are well formed but cannot apply to this pair on `today`."""
    if command.name == "session" and command.on is None and today < starts:
        # A date-less `/session` counts on the day it was written: refused before the start like an early date.
        return UsageError("session", command.line, "before_start", today.isoformat())
    if command.name == "session" and command.on is not None:
        if command.on > today:
            return UsageError("session", command.line, "in_future", command.on.isoformat())
        if command.on < starts:
            return UsageError("session", command.line, "before_start", command.on.isoformat())
    if command.name == "pause" and command.until is not None and command.until <= today:
        return UsageError("pause", command.line, "in_past", command.until.isoformat())
    if command.name == "extend" and command.to is not None and command.to <= max(ends, today):
        return UsageError("extend", command.line, "not_later", command.to.isoformat())
    return None


def new_end(command: Command, ends: date) -> date:
    """The pair's end date after `/extend`."""
    if command.to is not None:
        return command.to
    assert command.period is not None
    return command.period.after(ends)


def role_of(actor: str, members: Iterable[str], coordinators: Iterable[str]) -> Role | None:
    """`member` or `coordinator` for a forge handle (compared without case), None for anyone else."""
    wanted = actor.casefold()
    if any(handle.casefold() == wanted for handle in members):
        return "member"
    if any(handle.casefold() == wanted for handle in coordinators):
        return "coordinator"
    return None


def may_use(name: str, role: Role | None) -> bool:
    return role is not None and role in ALLOWED[name]
