"""Quick command parsing and permissions (pure: no tracker)."""

from __future__ import annotations

from datetime import date

import pytest

from issuebot.commands import (
    DEFAULT_EXTENSION,
    Command,
    UsageError,
    check_dates,
    command_lines,
    may_use,
    new_end,
    parse_commands,
    role_of,
)
from issuebot.config import Period


def only(text: str) -> Command | UsageError:
    parsed = parse_commands(text)
    assert len(parsed) == 1, parsed
    return parsed[0]


def test_session_with_every_argument_in_any_order():
    cmd = only("Thanks!\n/session async 1h 2027-01-20")
    assert isinstance(cmd, Command)
    assert (cmd.name, cmd.on, cmd.minutes, cmd.mode) == ("session", date(2027, 1, 20), 60, "async")
    bare = only("/session")
    assert isinstance(bare, Command) and (bare.on, bare.minutes, bare.mode) == (None, None, "sync")
    assert only("/Session 45m").minutes == 45  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "text, problem, argument",
    [
        ("/session 2027-13-01", "not_a_date", "2027-13-01"),
        ("/session 45x", "not_a_duration", "45x"),
        ("/session 3000m", "not_a_duration", "3000m"),
        ("/session soon", "unexpected", "soon"),
        ("/session 45m 1h", "repeated", "1h"),
        ("/session async sync", "repeated", "sync"),
        ("/pause until", "missing_date", "until"),
        ("/pause until next week", "not_a_date", "next"),
        ("/pause until 2027-03-01 please", "unexpected", "please"),
        ("/pause until 2027-02-30", "not_a_date", "2027-02-30"),
        ("/extend forever", "not_a_period", "forever"),
        ("/extend 0d", "not_a_period", "0d"),
        ("/extend 2027-02-30", "not_a_date", "2027-02-30"),
        ("/resume now", "unexpected", "now"),
    ],
)
def test_wrong_argument_is_a_usage_error_not_an_exception(text, problem, argument):
    error = only(text)
    assert isinstance(error, UsageError)
    assert (error.problem, error.argument) == (problem, argument)
    assert error.syntax.startswith("/" + error.name)


def test_other_commands_and_their_arguments():
    skip, pause, pause_bare, resume, extend, extend_words, extend_date, extend_bare, end, helped = parse_commands(
        "/skip ill this week\n/pause until 2027-03-01\n/pause\n/resume\n/extend 2w\n/extend 2 weeks\n"
        "/extend 2027-09-01\n/extend\n/end moving teams\n/help please"
    )
    assert skip.reason == "ill this week"  # type: ignore[union-attr]
    assert pause.until == date(2027, 3, 1) and pause_bare.until is None  # type: ignore[union-attr]
    assert resume.name == "resume"
    assert extend.period == Period(days=14) and extend_words.period == Period(days=14)  # type: ignore[union-attr]
    assert extend_date.to == date(2027, 9, 1)  # type: ignore[union-attr]
    assert extend_bare.period == DEFAULT_EXTENSION  # type: ignore[union-attr]
    assert end.reason == "moving teams" and helped.name == "help"  # type: ignore[union-attr]


def test_commands_in_code_blocks_quotes_and_mid_line_are_not_commands():
    text = (
        "> /session\n"
        "```\n/skip\n```\n"
        "~~~~\n/pause\n~~~~\n"
        "I typed /end by mistake\n"
        "    /extend 2w\n"  # an indented code block
        "/usr/bin is a path\n"
        "/resume\n"
    )
    assert command_lines(text) == ["/resume"]
    assert [c.name for c in parse_commands(text)] == ["resume"]


def test_one_session_or_skip_per_comment():
    first, second = parse_commands("/session\n/skip")
    assert isinstance(first, Command)
    assert isinstance(second, UsageError) and second.problem == "one_per_comment"


def test_dates_that_cannot_apply_to_the_pair():
    today, starts, ends = date(2027, 2, 1), date(2027, 1, 11), date(2027, 7, 11)
    session = only("/session 2027-02-02")
    assert check_dates(session, today=today, starts=starts, ends=ends).problem == "in_future"  # type: ignore
    early = only("/session 2027-01-01")
    assert check_dates(early, today=today, starts=starts, ends=ends).problem == "before_start"  # type: ignore
    assert check_dates(only("/session 2027-01-30"), today=today, starts=starts, ends=ends) is None  # type: ignore
    past_pause = only("/pause until 2027-02-01")
    assert check_dates(past_pause, today=today, starts=starts, ends=ends).problem == "in_past"  # type: ignore
    shorter = only("/extend 2027-06-01")
    assert check_dates(shorter, today=today, starts=starts, ends=ends).problem == "not_later"  # type: ignore
    assert new_end(only("/extend 1m"), ends) == date(2027, 8, 11)  # type: ignore[arg-type]
    assert new_end(only("/extend 2027-09-01"), ends) == date(2027, 9, 1)  # type: ignore[arg-type]


def test_who_may_use_which():
    assert role_of("Bob", ["bob", "alice"], ["carol"]) == "member"
    assert role_of("CAROL", ["bob", "alice"], ["carol"]) == "coordinator"
    assert role_of("mallory", ["bob", "alice"], ["carol"]) is None
    for name in ("session", "skip", "pause", "resume", "extend", "end", "help"):
        assert may_use(name, "member") and may_use(name, "coordinator")
        assert not may_use(name, None)
