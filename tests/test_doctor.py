"""`issuebot doctor`: read-only checks of token, roles, usernames, projects and webhook on both forges."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from issuebot import doctor
from issuebot.cli import main
from issuebot.providers.base import AccessReport, Diagnosable, HookReport
from tests.conftest import program_data, write_program
from tests.fakes import harness

FORGES = ("gitlab", "github")
PEOPLE = ("alice", "bob", "carol", "dave", "erin")
HOOK = "https://issuebot.example.com/hooks/"


def run_doctor(program: Path, *extra: str) -> Any:
    return CliRunner().invoke(main, ["doctor", "-c", str(program), *extra])


@pytest.fixture(params=FORGES)
def forge(request: pytest.FixtureRequest, tmp_path: Path, clock: Any) -> Any:
    with harness(request.param, tmp_path, clock) as made:
        for person in PEOPLE:
            made.add_user(person)
        made.program = write_program(tmp_path / "program.yml", program_data(made.provider_config()))
        yield made


def add_hook(forge: Any, **options: Any) -> str:
    url = HOOK + forge.name
    if forge.name == "gitlab":
        forge.fake.add_group_hook(url, **options)
    else:
        forge.fake.add_hook(url, **options)
    return url


def test_every_provider_is_diagnosable(forge: Any, tmp_path: Path, clock: Any) -> None:
    assert isinstance(forge.provider, Diagnosable)
    with harness("local", tmp_path / "local", clock) as local:
        assert isinstance(local.provider, Diagnosable)
        assert local.provider.missing_usernames(["anyone"]) == [] and local.provider.hook_report(HOOK).active
        program = write_program(tmp_path / "local.yml", program_data())
        result = run_doctor(program, "--webhook-url", HOOK + "local")
        assert result.exit_code == 0 and all(line.startswith("ok: ") for line in result.output.splitlines()), result.output


def test_a_healthy_setup_passes_every_check_and_writes_nothing(forge: Any) -> None:
    url = add_hook(forge)
    writes = forge.writes
    result = run_doctor(forge.program, "--webhook-url", url)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split(":")[1].strip() for line in lines] == ["access", "people", "coordinator project", "webhook"]
    assert all(line.startswith("ok: ") for line in lines), lines
    assert "all 5 usernames exist" in lines[1] and "sync creates it" in lines[2]
    assert forge.writes == writes


def test_a_misspelt_username_is_blocking_with_a_suggestion(forge: Any, tmp_path: Path) -> None:
    data = program_data(forge.provider_config())
    data["people"][1]["handles"] = {forge.name: "dvae"}  # dave's account on the forge, misspelt
    forge.add_user("dave-d")
    if forge.name == "gitlab":  # GitLab suggests from the group's members
        forge.fake.group_members[forge.fake.group["id"]][forge.fake.tokens[forge.fake.add_user("dave")]] = 30
    result = run_doctor(write_program(tmp_path / "misspelt.yml", data))
    assert result.exit_code == 2
    assert f"error: people: {forge.name} has no user 'dvae' (did you mean 'dave'?); fix that person's username " \
           f"or handles.{forge.name}" in result.output.splitlines()


def test_a_token_that_lacks_a_scope_or_role_is_blocking(forge: Any) -> None:
    if forge.name == "gitlab":
        bot = forge.fake.tokens[forge.fake.bot_token]
        forge.fake.scopes[bot] = ["read_api"]
        forge.fake.group_members[forge.fake.group["id"]][bot] = 30
        expected = ("error: access: issuebot lacks the api scope (the token has read_api); the Maintainer role in "
                    "group mentoring to create pair projects and group labels (it has Developer)")
    else:
        forge.fake.scopes["ghp_issuebot_fake_token"] = "read:org"
        forge.fake.org_roles["issuebot-bot"] = "member"
        expected = ("error: access: issuebot-bot lacks the repo scope (the token has read:org); the owner role in "
                    "organization mentoring (it is member)")
    result = run_doctor(forge.program, "--json")
    assert result.exit_code == 2
    checks = json.loads(result.output)["checks"]
    assert json.loads(result.output)["ok"] is False
    assert f"error: access: {checks[0]['message']}" == expected and checks[0]["blocking"] is True


def test_a_github_app_without_the_administration_permission_is_blocking(tmp_path: Path, clock: Any) -> None:
    with harness("github", tmp_path, clock, app=True) as forge:
        forge.fake.installation_permissions = {"issues": "write", "members": "read", "administration": "read"}
        program = write_program(tmp_path / "program.yml", program_data(forge.provider_config()))
        result = run_doctor(program)
    assert result.exit_code == 2
    assert result.output.splitlines()[0] == "error: access: issuebot-app[bot] lacks administration write permission"


@pytest.mark.parametrize("problem", ["missing", "events", "failing"])
def test_the_webhook_must_exist_send_the_events_and_deliver(forge: Any, problem: str) -> None:
    url = HOOK + forge.name
    if problem == "events":
        add_hook(forge, **({"note_events": False} if forge.name == "gitlab" else {"events": ("issues",)}))
    elif problem == "failing":
        add_hook(forge, **({"alert_status": "temporarily_disabled"} if forge.name == "gitlab" else {"last_status": 500}))
    result = run_doctor(forge.program, "--webhook-url", url)
    last = result.output.splitlines()[-1]
    if problem == "missing":
        assert result.exit_code == 2 and last.startswith(f"error: webhook: no webhook delivers to {url}")
    elif problem == "events":
        event = "note_events" if forge.name == "gitlab" else "issue_comment"
        assert result.exit_code == 2 and last == f"error: webhook: the webhook for {url} does not send {event}; tick those events"
    elif forge.name == "gitlab":  # GitLab disables a hook that keeps failing
        assert result.exit_code == 2 and last == f"error: webhook: the webhook for {url} is disabled; re-enable it"
    else:
        assert result.exit_code == 0 and last.startswith(f"warning: webhook: the latest delivery to {url} failed")


def test_sync_refuses_before_its_first_write_when_the_token_lacks_a_role(forge: Any) -> None:
    if forge.name == "gitlab":
        forge.fake.group_members[forge.fake.group["id"]][forge.fake.tokens[forge.fake.bot_token]] = 20
    else:
        forge.fake.org_roles["issuebot-bot"] = "member"
    result = CliRunner().invoke(main, ["sync", "-c", str(forge.program)])
    assert result.exit_code == 2 and result.output.startswith("error: access: ")
    assert forge.writes == 0


def test_the_decisions_are_pure_and_worded_for_people() -> None:
    assert doctor.access_finding(AccessReport("bot", "Owner"), "g").line() == "ok: access: signed in as bot (Owner in g)"
    assert doctor.hook_finding("u", HookReport("u", True, (), None)).line() == (
        "ok: webhook: u receives the events issuebot needs; no delivery yet")
    assert doctor.people_findings("github", ["zed"], ["ann"], 3)[0].blocking
    assert not doctor.blocks(doctor.people_findings("github", [], [], 3))
