"""Program-file mistakes a coordinator really makes: each is one clear line (exit 2) or a warning `--strict` refuses."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from issuebot.cli import main
from issuebot.config import MAX_ALIAS_NODES, MAX_NESTING, ConfigError, Period, load_program, parse_date, parse_period
from tests.conftest import program_data, write_program


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_program(path)
    return caught.value.problems


def line_of(path: Path, needle: str, nth: int = 1) -> int:
    found = [number for number, line in enumerate(path.read_text().splitlines(), 1) if needle in line]
    return found[nth - 1]


def validate(path: Path, *extra: str):
    return CliRunner().invoke(main, ["validate", "-c", str(path), *extra])


def edited(tmp_path: Path, **program: object) -> Path:
    return write_program(tmp_path / "program.yml", program_data(**program))


# ----------------------------------------------------------------------------- dates


@pytest.mark.parametrize(("key", "value", "message"), [
    ("starts", "2027-13-40", "'2027-13-40' is not a date: there is no month 13 (use YYYY-MM-DD)"),
    ("starts", "2027-02-30", "'2027-02-30' is not a date: February 2027 has 28 days"),
    ("starts", "04/30/2027", "not a date: '04/30/2027' (use YYYY-MM-DD: did you mean 2027-04-30?)"),
    ("starts", "30.04.2027", "not a date: '30.04.2027' (use YYYY-MM-DD: did you mean 2027-04-30?)"),
    ("starts", "soon", "not a date: 'soon' (use YYYY-MM-DD, e.g. 2027-04-30)"),
])
def test_a_date_that_does_not_exist_or_is_written_another_way_says_what_to_write(tmp_path, key, value, message):
    path = tmp_path / "program.yml"
    path.write_text(yaml.safe_dump(program_data(), sort_keys=False).replace("'2027-01-11'", value))
    result = validate(path)
    assert result.exit_code == 2
    assert result.output == f"{path}:{line_of(path, 'starts:')}: program.{key}: {message}\n"
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_an_ambiguous_date_offers_both_readings_and_a_goal_due_is_checked_too(tmp_path):
    data = program_data()
    data["pairs"][0]["goals"][0]["due"] = "04/05/2027"
    path = write_program(tmp_path / "program.yml", data)
    assert problems_of(path) == [f"{path}:{line_of(path, 'due:')}: pairs[0].goals[0].due: not a date: '04/05/2027' "
                                 "(use YYYY-MM-DD: did you mean 2027-04-05 or 2027-05-04?)"]


def test_dates_that_exist_still_load_from_yaml_dates_and_strings():
    assert parse_date(date(2027, 2, 28)) == parse_date("2027-02-28") == date(2027, 2, 28)
    assert parse_date("2028-02-29") == date(2028, 2, 29)


# ----------------------------------------------------------------------------- durations


def test_a_bare_m_is_refused_in_the_file_with_both_readings(tmp_path):
    path = edited(tmp_path, cadence="45m", session_length="45m")
    assert problems_of(path) == [
        f"{path}:{line_of(path, 'cadence:')}: program.cadence: '45m' is ambiguous: write 45 months, or 45min "
        "if you meant minutes (periods take d, w, month or y)",
        f"{path}:{line_of(path, 'session_length:')}: program.session_length: '45m' is ambiguous: write 45min "
        "for minutes (45 months is not a session length; lengths take min or h)",
    ]
    program = load_program(edited(tmp_path, cadence="1 month", session_length="45min"))
    assert (program.settings.cadence, program.settings.session_length) == (Period(months=1), 45)
    assert parse_period("1m") == Period(months=1), "quick commands (/extend 1m) keep the short form"


@pytest.mark.parametrize(("cadence", "message"), [
    ("0d", "0d is too short: sessions are at least a day apart"),
    ("7 months", "7 months is not shorter than the program (181 days): there would be no second session"),
])
def test_cadence_is_at_least_a_day_and_shorter_than_the_program(tmp_path, cadence, message):
    path = edited(tmp_path, cadence=cadence)
    assert problems_of(path) == [f"{path}:{line_of(path, 'cadence:')}: program.cadence: {message}"]


def test_a_huge_duration_is_an_error_not_an_overflow(tmp_path):
    path = edited(tmp_path, duration="99999999999 months")
    assert problems_of(path) == [
        f"{path}:{line_of(path, 'duration:')}: program.duration: '99999999999 months' is too long (at most 100 years)"]
    path = edited(tmp_path, session_length="99999999999h")
    assert problems_of(path) == [
        f"{path}:{line_of(path, 'session_length:')}: program.session_length: '99999999999h' is longer than a day"]


# ----------------------------------------------------------------------------- references and structure


def test_a_duplicate_key_is_refused_naming_both_lines(tmp_path):
    path = tmp_path / "program.yml"
    text = yaml.safe_dump(program_data(), sort_keys=False).replace("  cadence: 2w\n", "  cadence: 2w\n  cadence: 1w\n")
    path.write_text(text)
    first, second = line_of(path, "cadence:"), line_of(path, "cadence:", 2)
    assert problems_of(path) == [f"{path}:{second}: program.cadence: duplicate key 'cadence' "
                                 f"(also on line {first}; give each key once)"]


def test_an_unknown_coordinator_is_an_error_with_a_suggestion(tmp_path):
    path = edited(tmp_path, coordinators=["carla"])
    assert problems_of(path) == [f"{path}:{line_of(path, '- carla')}: program.coordinators[0]: unknown coordinator "
                                 "'carla' (did you mean 'carol'?) (list them under people:)"]


def test_an_onboarding_template_that_does_not_exist_is_an_error(tmp_path):
    data = program_data()
    data["program"]["onboarding_issues"] = [{"key": "intro", "template": "kickof"}]
    path = write_program(tmp_path / "program.yml", data)
    assert problems_of(path) == [f"{path}:{line_of(path, 'template: kickof')}: program.onboarding_issues[0].template: "
                                 "no template named 'kickof' (did you mean 'kickoff'?)"]
    data["program"]["onboarding_issues"][0]["template"] = "kickoff"
    assert load_program(write_program(tmp_path / "program.yml", data)).settings.onboarding_issues[0].template == "kickoff"


# ----------------------------------------------------------------------------- warnings and --strict


def test_capacity_goal_and_pair_dates_are_warnings_that_strict_refuses(tmp_path):
    data = program_data()
    data["pairs"][1]["mentor"] = "alice"  # alice has capacity 1 and now two mentees
    data["pairs"][0]["goals"][0]["due"] = "2027-12-31"  # after the program's end (2027-07-11)
    data["pairs"][1]["starts"] = "2026-01-11"  # a year before the program
    path = write_program(tmp_path / "program.yml", data)
    program = load_program(path)
    assert program.warnings == (
        f"{path}:{line_of(path, 'due:')}: pairs[0].goals[0].due: 2027-12-31 is after the pair ends (2027-07-11)",
        f"{path}:{line_of(path, 'starts: ', 2)}: pairs[1].starts: 2026-01-11 is before the program starts (2027-01-11)",
        f"{path}:{line_of(path, 'mentor: alice', 2)}: pairs[1].mentor: 'alice' mentors 2 pairs but has capacity 1",
    )
    lenient = validate(path)
    assert lenient.exit_code == 0, lenient.output
    assert [line for line in lenient.output.splitlines() if line.startswith("warning: ")] == [
        f"warning: {w}" for w in program.warnings]
    strict = validate(path, "--strict")
    assert strict.exit_code == 2
    assert strict.output.splitlines()[-1] == "program.yml: 3 warning(s), refused by --strict"
    assert validate(edited(tmp_path), "--strict").exit_code == 0


def test_a_manager_one_letter_off_a_person_is_a_warning(tmp_path):
    data = program_data()
    data["people"][2]["manager"] = "carl"
    path = write_program(tmp_path / "program.yml", data)
    assert load_program(path).warnings == (
        f"{path}:{line_of(path, 'manager: carl')}: people[2].manager: 'carl' is not a person of this program "
        "(did you mean 'carol'?)",)
    assert load_program(edited(tmp_path)).warnings == (), "a manager outside the program (dana) is fine"


# ----------------------------------------------------------------------------- YAML limits


def timed_problems(path: Path) -> list[str]:
    started = time.process_time()  # CPU time: other people's jobs share this machine's cores
    result = validate(path)
    assert time.process_time() - started < 1.0
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    return result.output.splitlines()


def test_a_billion_laughs_alias_bomb_is_refused_at_once(tmp_path):
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        name = chr(ord("a") + level)
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{chr(ord('a') + level - 1)}"] * 9) + "]")
    path = tmp_path / "bomb.yml"
    path.write_text("\n".join(lines) + "\n")
    assert timed_problems(path) == [f"{path}:4: aliases expand to more than {MAX_ALIAS_NODES:,} values; "
                                    "write the values out instead"]


@pytest.mark.parametrize("style", ["flow", "block"])
def test_a_list_nested_5000_deep_is_refused_at_once(tmp_path, style):
    path = tmp_path / "deep.yml"
    if style == "flow":
        path.write_text("program:\n  name: " + "[" * 5000 + "]" * 5000 + "\n")
    else:
        path.write_text("program:\n" + "".join("  " * depth + "-\n" for depth in range(1, 300)))
    [line] = timed_problems(path)
    assert line.startswith(f"{path}:") and line.endswith(f"nested more than {MAX_NESTING} levels deep; "
                                                         "a program file needs far fewer")


def test_a_huge_file_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "huge.yml"
    path.write_text("# padding\n" * 500_000)
    assert timed_problems(path) == [f"{path}: the program file is 5,000,000 bytes; at most 4,194,304 are read"]


def test_an_alias_that_shares_a_small_list_still_loads(tmp_path):
    path = tmp_path / "program.yml"
    text = yaml.safe_dump(program_data(), sort_keys=False)
    text = text.replace("  skills:\n  - python\n", "  skills: &skills\n  - python\n", 1)
    text = text.replace("  role: mentor\n  level: 4\n", "  role: mentor\n  level: 4\n  skills: *skills\n", 1)
    path.write_text(text)
    assert load_program(path).people["dave"].skills == ("python",)
