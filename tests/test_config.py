"""The program file: every documented key parses; every mistake is one clear line naming file, line and key."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
import yaml

from issuebot.config import (
    ConfigError,
    LocalProviderConfig,
    Period,
    add_months,
    json_schema,
    load_program,
    parse_minutes,
    parse_period,
)
from issuebot.paths import shipped
from tests.conftest import program_data, run_cli, write_program

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = shipped("config") / "example.yml"


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_program(path)
    return caught.value.problems


def write_text(tmp_path: Path, text: str, name: str = "program.yml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- the example


def test_every_key_of_the_example_parses():
    program = load_program(EXAMPLE)
    settings = program.settings
    assert settings.name == "Engineering mentoring 2027"
    assert settings.coordinators == ["carol"]
    assert settings.starts == date(2027, 1, 11)
    assert settings.duration == Period(months=6) and settings.end_date == date(2027, 7, 11)
    assert settings.cadence == Period(days=14)
    assert settings.session_length == 45
    assert settings.timezone == "Europe/Berlin"
    assert isinstance(settings.provider, LocalProviderConfig)
    assert (settings.provider.path, settings.provider.group) == (".issuebot/local.db", "mentoring")
    assert program.local_db_path() == EXAMPLE.resolve().parent / ".issuebot" / "local.db"
    assert settings.labels == {} and settings.templates is None
    assert (settings.coordinator_project, settings.project_prefix) == ("coordination", "mentoring-")
    nudges = settings.nudges
    assert (nudges.first_session_within, nudges.grace, nudges.renudge_every) == (Period(days=10), Period(days=3), Period(days=7))
    assert (nudges.escalate_after, nudges.escalate_every, nudges.max_per_person_per_week) == (Period(days=21), Period(days=14), 2)
    assert nudges.quiet_days == ["sat", "sun"] and nudges.holidays == []
    assert settings.reviews.every == Period(months=3) and settings.reviews.invite_managers is True
    assert (settings.feedback.first_after, settings.feedback.every) == (Period(days=30), Period(days=60))
    assert (settings.wrapup_before, settings.goal_reminder) == (Period(days=14), Period(days=7))

    alice = program.people["alice"]
    assert (alice.name, alice.role, alice.level, alice.department, alice.manager) == ("Alice Adams", "mentor", 5, "Platform", "dana")
    assert alice.handles == {"github": "alice-a"} and alice.handle("github") == "alice-a" and alice.handle("gitlab") == "alice"
    assert alice.skills == ("python", "kubernetes") and alice.interests == ("open source",)
    assert (alice.capacity, alice.timezone) == (2, "Europe/Berlin")
    assert program.people["bob"].wants == ("kubernetes",)
    assert set(program.people) == {"alice", "bob", "erin", "carol"}

    bob_alice, erin_alice = program.pairs
    assert (bob_alice.id, bob_alice.mentor.username, bob_alice.mentee.username) == ("bob-alice", "alice", "bob")
    assert (bob_alice.starts, bob_alice.ends) == (date(2027, 1, 11), date(2027, 7, 11))
    goal = bob_alice.goals[0]
    assert (goal.title, goal.due) == ("Run a service on Kubernetes", date(2027, 4, 30))
    assert goal.actions == ("Finish the tutorial", "Deploy the team's test app", "Present it at demo day")
    assert erin_alice.id == "erin-alice" and erin_alice.goals == ()
    assert program.service.webhook_secret_env == "ISSUEBOT_WEBHOOK_SECRET"
    assert (program.service.lease_seconds, program.service.retention) == (300, Period(days=14))


def test_every_commented_alternative_in_the_example_parses_too(tmp_path):
    """The commented-out lines document real keys: switched on, they still validate."""
    data = yaml.safe_load(EXAMPLE.read_text())
    data["program"]["provider"] = {
        "kind": "gitlab", "url": "https://gitlab.example.com", "token_env": "GITLAB_TOKEN",
        "group": "people/mentoring", "pair_access": "developer", "coordinator_access": "reporter",
    }
    data["program"]["templates"] = "issue_templates"
    data["pairs"][0].update({"id": "bob-alice", "starts": "2027-01-18", "ends": "2027-05-31"})
    data["service"].update({"database_url": "postgresql://127.0.0.1/issuebot", "queue_url": "redis://127.0.0.1:6379/0"})
    program = load_program(write_program(tmp_path / "gitlab.yml", data))
    assert program.settings.provider.kind == "gitlab" and program.settings.provider.group == "people/mentoring"
    assert program.pairs[0].starts == date(2027, 1, 18) and program.pairs[0].ends == date(2027, 5, 31)
    assert program.templates_dir() == tmp_path / "issue_templates"

    data["program"]["provider"] = {
        "kind": "github", "url": "https://api.github.com", "token_env": "GITHUB_TOKEN", "org": "acme-mentoring",
        "app": {"app_id": 12345, "private_key_env": "GITHUB_APP_PRIVATE_KEY", "installation_id": 678},
        "pair_permission": "push", "coordinator_permission": "triage",
    }
    data["program"]["ends"] = "2027-07-09"
    del data["program"]["duration"]
    program = load_program(write_program(tmp_path / "github.yml", data))
    assert program.settings.provider.app.app_id == 12345
    assert program.settings.end_date == date(2027, 7, 9)


# ----------------------------------------------------------------------------- periods


@pytest.mark.parametrize(
    ("text", "period"),
    [
        ("14d", Period(days=14)), ("14 days", Period(days=14)), ("1 day", Period(days=1)),
        ("2w", Period(days=14)), ("2 weeks", Period(days=14)), ("1 week", Period(days=7)),
        ("1 month", Period(months=1)), ("3 months", Period(months=3)), ("1m", Period(months=1)),
        ("1y", Period(months=12)), (" 2 W ", Period(days=14)), (10, Period(days=10)),
    ],
)
def test_periods(text, period):
    assert parse_period(text) == period


@pytest.mark.parametrize("bad", ["", "fortnight", "2", "-3d", "1.5 months", "3 moons", True, None, -1])
def test_bad_periods_are_refused(bad):
    with pytest.raises(ValueError, match="not a period"):
        parse_period(bad)


@pytest.mark.parametrize(
    ("start", "period", "expected"),
    [
        (date(2027, 1, 31), "1 month", date(2027, 2, 28)),  # clamps to the month's end
        (date(2028, 1, 31), "1 month", date(2028, 2, 29)),  # leap year
        (date(2027, 3, 31), "1 month", date(2027, 4, 30)),
        (date(2027, 11, 30), "3 months", date(2028, 2, 29)),  # across the year
        (date(2027, 1, 11), "2w", date(2027, 1, 25)),
        (date(2027, 12, 25), "14d", date(2028, 1, 8)),
        (date(2027, 8, 31), "6 months", date(2028, 2, 29)),
    ],
)
def test_period_after_a_date(start, period, expected):
    assert parse_period(period).after(start) == expected


def test_period_before_and_add_months_clamp():
    assert parse_period("1 month").before(date(2027, 3, 31)) == date(2027, 2, 28)
    assert add_months(date(2027, 1, 31), -2) == date(2026, 11, 30)
    assert str(parse_period("2w")) == "2w" and str(parse_period("3 months")) == "3 months"
    assert str(parse_period("10d")) == "10d" and str(parse_period("1 month")) == "1 month"


@pytest.mark.parametrize(("text", "minutes"), [("45m", 45), ("45 min", 45), ("1h", 60), ("2 hours", 120), (30, 30), ("90", 90)])
def test_minutes(text, minutes):
    assert parse_minutes(text) == minutes


@pytest.mark.parametrize("bad", ["0m", "soon", 0, -5, "1.5h", True])
def test_bad_minutes_are_refused(bad):
    with pytest.raises(ValueError, match="not a duration in minutes"):
        parse_minutes(bad)


# ----------------------------------------------------------------------------- errors with file:line: key


PROGRAM_WITH_TYPO = """\
program:
  name: Test mentoring
  coordinators: [carol]
  starts: 2027-01-11
  duration: 6 months
people:
  - username: alice
    role: mentor
  - username: bob
    role: mentee
  - username: carol
    role: both
  - username: erin
    role: mentee
pairs:
  - mentor: alice
    mentee: erin
  - mentor: carol
    mentee: erin
  - mentor: carol
    mentee: bob
  - mentee: bob
    mentor: bobb
"""


def test_unknown_person_names_file_line_key_and_the_near_miss(tmp_path):
    path = write_text(tmp_path, PROGRAM_WITH_TYPO)
    assert PROGRAM_WITH_TYPO.splitlines()[22] == "    mentor: bobb"
    assert problems_of(path) == [f"{path}:23: pairs[3].mentor: unknown person 'bobb' (did you mean 'bob'?)"]


def test_the_issues_own_example_line(tmp_path, monkeypatch):
    """`program.yml:23: pairs[2].mentor: unknown person 'bobb' (did you mean 'bob'?)`, exactly."""
    lines = PROGRAM_WITH_TYPO.splitlines()
    del lines[17:19]  # drop the carol/erin pair: the typo becomes pairs[2] on line 21
    text = "\n".join(lines[:15] + ["  # the pairs of the spring cohort", "  # (one per line)"] + lines[15:]) + "\n"
    (tmp_path / "program.yml").write_text(text)
    monkeypatch.chdir(tmp_path)
    assert problems_of(Path("program.yml")) == ["program.yml:23: pairs[2].mentor: unknown person 'bobb' (did you mean 'bob'?)"]


def lines_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), start=1) if needle in line)


def test_unknown_keys_get_suggestions_at_their_line(tmp_path):
    data = program_data()
    data["program"]["cadense"] = "2w"
    data["people"][1]["skils"] = ["go"]
    data["program"]["nudges"] = {"grase": "3d"}
    path = write_program(tmp_path / "program.yml", data)
    text = path.read_text()
    assert sorted(problems_of(path)) == sorted([
        f"{path}:{lines_of(text, 'cadense')}: program.cadense: unknown key 'cadense' (did you mean 'cadence'?)",
        f"{path}:{lines_of(text, 'skils')}: people[1].skils: unknown key 'skils' (did you mean 'skills'?)",
        f"{path}:{lines_of(text, 'grase')}: program.nudges.grase: unknown key 'grase' (did you mean 'grace'?)",
    ])


def test_unknown_top_level_key_and_label(tmp_path):
    data = program_data(labels={"pair::stail": "needs-attention"})
    data["peeple"] = []
    path = write_program(tmp_path / "program.yml", data)
    text = path.read_text()
    problems = problems_of(path)
    assert f"{path}:{lines_of(text, 'peeple')}: peeple: unknown key 'peeple' (did you mean 'people'?)" in problems
    assert any(p.startswith(f"{path}:{lines_of(text, 'labels:')}: program.labels: ") and "'pair::stail'" in p
               and "did you mean 'pair::stale'" in p for p in problems), problems


def test_bad_time_zone(tmp_path):
    data = program_data(timezone="Europe/Berlinn")
    data["people"][0]["timezone"] = "Mars/Olympus"
    path = write_program(tmp_path / "program.yml", data)
    text = path.read_text()
    problems = problems_of(path)
    assert f"{path}:{lines_of(text, 'Europe/Berlinn')}: program.timezone: unknown time zone 'Europe/Berlinn' (use an IANA name such as Europe/Berlin)" in problems
    assert any(p.startswith(f"{path}:{lines_of(text, 'Mars/Olympus')}: people[0].timezone: unknown time zone 'Mars/Olympus'") for p in problems)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ends": "2027-06-30"}, "give 'ends' or 'duration', not both"),
        ({"duration": None}, "give either 'ends' (a date) or 'duration' (e.g. 6 months)"),
        ({"duration": None, "ends": "2027-01-01"}, "'ends' (2027-01-01) must come after 'starts' (2027-01-11)"),
    ],
)
def test_ends_versus_duration(tmp_path, change, message):
    data = program_data()
    for key, value in change.items():
        if value is None:
            del data["program"][key]
        else:
            data["program"][key] = value
    path = write_program(tmp_path / "program.yml", data)
    assert problems_of(path) == [f"{path}:{lines_of(path.read_text(), 'program:')}: program: {message}"]


def test_duplicate_people_and_pairs(tmp_path):
    data = program_data()
    data["people"].append({"username": "bob", "role": "mentee"})
    data["pairs"].append({"mentor": "dave", "mentee": "erin"})
    path = write_program(tmp_path / "program.yml", data)
    text = path.read_text().splitlines()
    second_bob = [n for n, line in enumerate(text, start=1) if line.strip() == "- username: bob"][1]
    second_pair = [n for n, line in enumerate(text, start=1) if line.strip() == "- mentor: dave"][1]
    assert problems_of(path) == [
        f"{path}:{second_bob}: people[5].username: duplicate person 'bob'",
        f"{path}:{second_pair}: pairs[2]: pair 'erin-dave' is declared twice (first at pairs[1])",
    ]


def test_wrong_role_and_self_mentoring(tmp_path):
    data = program_data()
    data["pairs"] = [{"mentor": "bob", "mentee": "erin"}, {"mentor": "carol", "mentee": "carol"}]
    path = write_program(tmp_path / "program.yml", data)
    text = path.read_text()
    problems = problems_of(path)
    assert problems[0] == f"{path}:{lines_of(text, 'mentor: bob')}: pairs[0].mentor: 'bob' has role 'mentee', not mentor"
    assert problems[1] == f"{path}:{lines_of(text, 'mentor: carol')}: pairs[1]: 'carol' cannot mentor themselves"


def test_wrong_types_name_each_key(tmp_path):
    data = program_data()
    data["program"]["starts"] = "next monday"
    data["people"][0]["capacity"] = "lots"
    data["pairs"][0]["goals"][0]["due"] = "someday"
    path = write_program(tmp_path / "program.yml", data)
    text = path.read_text()
    problems = problems_of(path)
    assert len(problems) == 3
    assert problems[0].startswith(f"{path}:{lines_of(text, 'next monday')}: program.starts: ")
    assert problems[1].startswith(f"{path}:{lines_of(text, 'lots')}: people[0].capacity: ")
    assert problems[2].startswith(f"{path}:{lines_of(text, 'someday')}: pairs[0].goals[0].due: ")


def test_missing_required_keys_and_unknown_provider_kind(tmp_path):
    data = program_data(provider={"kind": "jira"})
    del data["program"]["coordinators"]
    path = write_program(tmp_path / "program.yml", data)
    text = path.read_text()
    problems = problems_of(path)
    assert f"{path}:{lines_of(text, 'program:')}: program.coordinators: is required" in problems
    assert f"{path}:{lines_of(text, 'kind: jira')}: program.provider: unknown kind 'jira'; use local, gitlab or github" in problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "{path}:1: the program file is empty; it needs `program:`, `people:` and `pairs:`"),
        ("# only a comment\n", "{path}:1: the program file is empty; it needs `program:`, `people:` and `pairs:`"),
        ("- a\n- b\n", "{path}:1: the program file is a list, not a mapping; it needs `program:`, `people:` and `pairs:`"),
        ("just words\n", "{path}:1: the program file is a str, not a mapping; it needs `program:`, `people:` and `pairs:`"),
        ("program: [\n  name: x\n", "{path}:3: not valid YAML: expected ',' or ']', but got '<stream end>'"),
        ("program:\n\tname: x\n", "{path}:2: not valid YAML: found character '\\t' that cannot start any token"),
        ("program: 3\n", "{path}:1: program: should be a mapping of keys, not the int 3"),
        ("program:\n", "{path}:1: program: should be a mapping of keys, not empty"),
    ],
)
def test_unusable_files_give_one_clear_error(tmp_path, text, expected):
    path = write_text(tmp_path, text)
    assert problems_of(path) == [expected.format(path=path)]


def test_missing_and_unreadable_files(tmp_path):
    missing = tmp_path / "nowhere.yml"
    assert problems_of(missing) == [f"{missing}: no such program file (create one with `issuebot init`)"]
    assert problems_of(tmp_path) == [f"{tmp_path}: cannot read the program file: IsADirectoryError"]
    binary = tmp_path / "binary.yml"
    binary.write_bytes(b"\xff\xfe\x00program")
    assert problems_of(binary) == [f"{binary}: cannot read the program file: UnicodeDecodeError"]


# ----------------------------------------------------------------------------- through the CLI


cli = run_cli


BAD_FILES = {
    "missing": None,
    "empty": "",
    "not-yaml": "program: [\n",
    "wrong-type": "program:\n  name: x\n  coordinators: carol\n  starts: soon\n",
    "typo": PROGRAM_WITH_TYPO,
}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
@pytest.mark.parametrize("command", ["validate", "plan", "sync", "report"])
def test_cli_bad_program_file_exits_2_without_traceback_or_writes(tmp_path, kind, command):
    text = BAD_FILES[kind]
    if text is not None:
        write_text(tmp_path, text)
    done = cli(command, "-c", "program.yml", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert done.stderr.startswith("program.yml"), done.stderr
    assert not (tmp_path / ".issuebot").exists(), "the local tracker was created"
    assert sorted(p.name for p in tmp_path.iterdir()) == (["program.yml"] if text is not None else [])


def test_cli_config_from_environment_and_default_name(tmp_path):
    write_program(tmp_path / "issuebot.yml", program_data())
    done = cli("validate", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("issuebot.yml: ok (5 people, 2 pairs, provider local)")
    other = tmp_path / "elsewhere"
    other.mkdir()
    env_done = cli("validate", cwd=other, env={"ISSUEBOT_CONFIG": str(tmp_path / "issuebot.yml")})
    assert env_done.returncode == 0, env_done.stderr
    missing = cli("validate", cwd=other)
    assert missing.returncode == 2 and "issuebot.yml: no such program file" in missing.stderr


# ----------------------------------------------------------------------------- JSON Schema


def test_schema_is_valid_json_schema_covering_the_example(tmp_path):
    done = cli("schema", cwd=tmp_path)
    assert done.returncode == 0
    schema = json.loads(done.stdout)
    assert schema == json.loads(json.dumps(json_schema()))
    example = yaml.safe_load(EXAMPLE.read_text())
    example = json.loads(json.dumps(example, default=str))  # YAML dates -> strings, as an editor sees them
    try:
        import jsonschema
    except ImportError:  # pragma: no cover - jsonschema is a test-time nicety, not a dependency
        jsonschema = None
    if jsonschema is not None:
        validator = jsonschema.Draft202012Validator
        validator.check_schema(schema)
        assert list(validator(schema).iter_errors(example)) == []
        wrong = json.loads(json.dumps(example))
        wrong["program"]["cadense"] = "2w"
        assert [e.message for e in validator(schema).iter_errors(wrong)] == [
            "Additional properties are not allowed ('cadense' was unexpected)"
        ]
        wrong = json.loads(json.dumps(example))
        wrong["program"]["cadence"] = "fortnightly"
        assert list(validator(schema).iter_errors(wrong)), "a bad period passes the schema"
    # Structure: every key the example uses is a property the schema declares.
    defs = schema["$defs"]

    def props(ref_or_schema):
        node = ref_or_schema
        for option in node.get("anyOf", []) + node.get("allOf", []):
            if "$ref" in option:
                node = option
        if "$ref" in node:
            node = defs[node["$ref"].rsplit("/", 1)[-1]]
        return node

    def check(value, node, where):
        node = props(node)
        if isinstance(value, dict) and "properties" in node:
            assert node.get("additionalProperties") is False, where
            for key, item in value.items():
                assert key in node["properties"], f"{where}.{key} is not in the schema"
                check(item, node["properties"][key], f"{where}.{key}")
        elif isinstance(value, list) and "items" in node:
            for index, item in enumerate(value):
                check(item, node["items"], f"{where}[{index}]")

    check(example, schema, "")


@pytest.mark.parametrize(("kind", "typo", "suggestion"), [("gitlab", "tokn_env", "token_env"), ("github", "orgg", "org"), ("local", "pth", "path")])
def test_unknown_provider_key_is_suggested_from_that_providers_keys(tmp_path, kind, typo, suggestion):
    provider = {"kind": kind, typo: "x"}
    provider.update({"gitlab": {"group": "g"}, "github": {"org": "o"}, "local": {}}[kind] if typo != "orgg" else {})
    path = write_program(tmp_path / "program.yml", program_data(provider=provider))
    text = path.read_text()
    problems = [p for p in problems_of(path) if "unknown key" in p]
    assert problems == [f"{path}:{lines_of(text, typo + ':')}: program.provider.{typo}: unknown key {typo!r} (did you mean {suggestion!r}?)"]


def test_a_person_without_a_forge_account_and_no_public_url_is_warned_about(tmp_path):
    data = program_data()
    data["people"][3].update(forge_account=False, email="erin@example.org")  # erin
    data["surveys"] = {"items": [{"id": "pulse", "title": "Pulse", "when": "wrapup",
                                  "questions": [{"text": "Useful?", "kind": "scale"}]}]}
    [warning] = load_program(write_program(tmp_path / "program.yml", data)).warnings
    assert "program.yml:33: people[3].forge_account:" in warning and "erin answers surveys through a personal link" in warning
    data["service"] = {"public_url": "https://mentoring.example.org"}
    assert load_program(write_program(tmp_path / "program.yml", data)).warnings == ()
