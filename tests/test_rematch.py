"""Re-matching end to end on the embedded tracker: private request, neutral end, back in the pool, never the same partner."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from issuebot import markers
from issuebot.cli import main
from issuebot.config import load_program
from issuebot.models import Member
from issuebot.providers.base import NotFound, ProjectSpec
from issuebot.providers.local import LocalProvider
from issuebot.workflows.program.rematch_requests import read_request
from tests.conftest import program_data, write_program

PEOPLE = [
    {"username": "alice", "name": "Alice Adams", "role": "mentor", "skills": ["python"], "capacity": 1},
    {"username": "frank", "name": "Frank Fox", "role": "mentor", "skills": ["go"], "capacity": 1},
    {"username": "dave", "name": "Dave Dunn", "role": "mentor", "capacity": 1},
    {"username": "bob", "name": "Bob Brown", "role": "mentee", "wants": ["python", "go"]},
    {"username": "erin", "name": "Erin Evans", "role": "mentee"},
    {"username": "carol", "name": "Carol Clark", "role": "both"},
]
PAIRS = [{"mentor": "alice", "mentee": "bob"}, {"mentor": "dave", "mentee": "erin"}]
NOTE = "we never find a time that suits us both"


CHANNEL = "mentoring/intake"  # each person's private channel on the embedded tracker


def setup(tmp_path: Path) -> tuple[Path, CliRunner]:
    data = program_data(people=PEOPLE, pairs=PAIRS)
    data["program"]["provider"] = {"kind": "local", "path": str(tmp_path / "local.db")}
    data["surveys"] = {"channels": "always"}
    path = write_program(tmp_path / "program.yml", data)
    runner = CliRunner()
    result = runner.invoke(main, ["sync", "-c", str(path), "--now", "2027-01-11T09:00:00+00:00"])
    assert result.exit_code == 0, result.output
    return path, runner


def tracker(tmp_path: Path) -> LocalProvider:
    return LocalProvider(tmp_path / "local.db", clock=lambda: datetime(2027, 3, 1, tzinfo=timezone.utc))


def requests(local: LocalProvider) -> list:
    """Issues people opened in their private channels (the bot's items there are surveys)."""
    return [i for i in local.list_issues(CHANNEL, state="all") if i.author != local.bot_username]


def test_a_private_request_ends_the_pair_neutrally_and_match_never_repeats_it(tmp_path: Path) -> None:
    path, runner = setup(tmp_path)
    pair_issues_before = {i.number for i in tracker(tmp_path).list_issues("mentoring/mentoring-bob-alice", state="all")}

    asked = runner.invoke(main, ["rematch", "request", "-c", str(path), "--as", "bob", "--note", NOTE,
                                 "--now", "2027-02-15T10:00:00+00:00"])
    assert asked.exit_code == 0, asked.output
    local = tracker(tmp_path)
    [request] = requests(local)
    assert request.confidential and request.author == "bob"
    assert NOTE in request.body and "/rematch bob-alice" in request.body
    # Nothing of it reaches the pair's own project, where alice would read it.
    pair_issues = list(local.list_issues("mentoring/mentoring-bob-alice", state="all"))
    assert {i.number for i in pair_issues} == pair_issues_before
    assert not any(NOTE in c.body for i in pair_issues for c in local.list_comments(i.project, i.number))

    done = runner.invoke(main, ["rematch", "apply", "-c", str(path), "--now", "2027-02-16T10:00:00+00:00"])
    assert done.exit_code == 0, done.output
    assert "re-matched 1 pairing(s)" in done.output
    local = tracker(tmp_path)
    progress = next(i for i in local.list_issues("mentoring/mentoring-bob-alice", state="all")
                    if markers.find_marker(i.body) == "progress")
    assert "pair::ended" in progress.labels
    assert markers.read_state(progress.body)["ended"]["by"] == "coordinators"
    [ended] = [c for c in local.list_comments(progress.project, progress.number) if markers.has_marker(c.body, "ended:2027-02-16")]
    assert "matching you both with new partners" in ended.body
    assert NOTE not in ended.body and "asked" not in ended.body and "bob" not in markers.read_state(progress.body)["ended"]["by"]
    assert any(p.archived for p in local.list_projects() if p.path == "mentoring/mentoring-bob-alice")
    assert not any(p.archived for p in local.list_projects() if p.path == "mentoring/mentoring-erin-dave")
    request = local.get_issue(CHANNEL, request.number)
    for other in ("alice", "erin", "frank"):  # the partner, another pair's member, a non-coordinator
        with pytest.raises(NotFound):
            local.as_user(other).get_issue(CHANNEL, request.number)
        assert (CHANNEL, request.number) not in {(i.project, i.number) for i in local.as_user(other).list_issues(None, state="all")}
    assert local.as_user("carol").get_issue(CHANNEL, request.number).body == request.body  # a coordinator reads it
    assert request.state == "closed"
    [answer] = local.list_comments(request.project, request.number)
    assert answer.body.count("@bob") == 1 and "back in the pool" in answer.body

    again = runner.invoke(main, ["rematch", "apply", "-c", str(path), "--now", "2027-02-17T10:00:00+00:00"])
    assert again.exit_code == 0 and "0 writes" in again.output
    resync = runner.invoke(main, ["sync", "-c", str(path), "--now", "2027-02-17T10:00:00+00:00"])
    assert resync.exit_code == 0, resync.output
    assert resync.output.rstrip().endswith("; 0 writes")
    assert "pair::ended" in tracker(tmp_path).get_issue(progress.project, progress.number).labels

    proposed = runner.invoke(main, ["match", "-c", str(path), "--explain", "--now", "2027-02-17T10:00:00+00:00"])
    assert proposed.exit_code == 0, proposed.output
    pairs = yaml.safe_load(proposed.output)["pairs"]
    assert {(p["mentor"], p["mentee"]) for p in pairs} == {("frank", "bob")}
    assert "alice (mentor)" in proposed.output  # free again, with nobody she may have left


def test_a_request_about_someone_elses_pair_is_answered_and_left_to_coordinators(tmp_path: Path) -> None:
    path, runner = setup(tmp_path)
    program = load_program(path)
    erin = tracker(tmp_path).as_user("erin")
    runner.invoke(main, ["rematch", "request", "-c", str(path), "--as", "erin", "--now", "2027-02-01T10:00:00+00:00"])
    erin.create_issue(CHANNEL, "Please", "/rematch bob-alice", confidential=True)
    assert read_request(program, requests(local := tracker(tmp_path))[0], "local").pair.id == "erin-dave"

    done = runner.invoke(main, ["rematch", "apply", "-c", str(path), "--now", "2027-02-02T10:00:00+00:00"])
    assert done.exit_code == 0, done.output
    assert "re-matched 1 pairing(s); 1 request(s) left for coordinators" in done.output
    local = tracker(tmp_path)
    unclear = next(i for i in requests(local) if i.title == "Please")
    assert unclear.state == "open"
    [answer] = local.list_comments(unclear.project, unclear.number)
    assert "only the mentor or the mentee of a pairing" in answer.body
    progress = next(i for i in local.list_issues("mentoring/mentoring-bob-alice") if markers.find_marker(i.body) == "progress")
    assert "pair::ended" not in progress.labels

    again = runner.invoke(main, ["rematch", "apply", "-c", str(path), "--now", "2027-02-03T10:00:00+00:00"])
    assert "0 writes" in again.output
    assert len(tracker(tmp_path).list_comments(unclear.project, unclear.number)) == 1


def test_request_command_refuses_people_outside_the_pairing(tmp_path: Path) -> None:
    path, runner = setup(tmp_path)
    result = runner.invoke(main, ["rematch", "request", "-c", str(path), "--as", "frank"])
    assert result.exit_code == 2
    assert "'frank' is in no such pairing" in result.output
    result = runner.invoke(main, ["rematch", "request", "-c", str(path), "--as", "zed"])
    assert result.exit_code == 2 and "'zed' is not a person" in result.output


def test_a_request_for_a_pairing_that_never_started_is_left_to_coordinators(tmp_path: Path) -> None:
    data = program_data(people=PEOPLE, pairs=PAIRS)
    data["program"]["provider"] = {"kind": "local", "path": str(tmp_path / "local.db")}
    data["surveys"] = {"channels": "always"}
    path = write_program(tmp_path / "program.yml", data)
    runner = CliRunner()
    # The channel exists (opened by an earlier sync) but this pairing's project was never created.
    local = tracker(tmp_path)
    local.ensure_project(ProjectSpec("intake", "Private channel", "[issuebot:channel]", "[issuebot:channel]"))
    local.ensure_members(CHANNEL, [Member("bob", "participant"), Member("carol", "coordinator")])
    asked = runner.invoke(main, ["rematch", "request", "-c", str(path), "--as", "bob", "--now", "2027-01-05T09:00:00+00:00"])
    assert asked.exit_code == 0, asked.output
    done = runner.invoke(main, ["rematch", "apply", "-c", str(path), "--now", "2027-01-06T09:00:00+00:00"])
    assert "re-matched 0 pairing(s); 1 request(s) left for coordinators" in done.output
    local = tracker(tmp_path)
    [request] = requests(local)
    assert request.state == "open"
    [answer] = local.list_comments(request.project, request.number)
    assert "it has not started yet" in answer.body and "@bob" in answer.body
    assert not any(p.path.endswith("mentoring-bob-alice") for p in local.list_projects())


def gitlab_program(tmp_path: Path, forge) -> Path:
    """The re-match program on the fake GitLab, each person's own token named in provider.person_tokens."""
    for person in PEOPLE:
        forge.add_user(person["username"])
    data = program_data(people=PEOPLE, pairs=PAIRS)
    data["program"]["provider"] = {**forge.provider_config(),
                                   "person_tokens": {p["username"]: forge.person_token_env(p["username"]) for p in PEOPLE}}
    data["surveys"] = {"channels": "always"}
    path = write_program(tmp_path / "program.yml", data)
    synced = CliRunner().invoke(main, ["sync", "-c", str(path), "--now", "2027-01-11T09:00:00+00:00"])
    assert synced.exit_code == 0, synced.output
    return path


def test_on_gitlab_a_request_filed_without_confidential_is_made_confidential_before_anything_else(tmp_path: Path) -> None:
    from issuebot.providers import make_provider
    from tests.conftest import Clock
    from tests.fakes.gitlab import gitlab_harness

    with gitlab_harness(tmp_path, Clock()) as forge:
        path = gitlab_program(tmp_path, forge)
        provider = make_provider(load_program(path))
        channel = provider.private_channel_path("intake", "bob")
        # bob files it in GitLab's web form and forgets the "confidential" box; alice, a Guest there too, could read it.
        filed = provider.as_user("bob").create_issue(channel, "Please", f"/rematch bob-alice\n\n{NOTE}")
        assert provider.as_user("alice").get_issue(channel, filed.number).body.endswith(NOTE)

        done = CliRunner().invoke(main, ["rematch", "apply", "-c", str(path), "--now", "2027-02-16T10:00:00+00:00"])
        assert done.exit_code == 0, done.output
        assert "make confidential" in done.output or "re-matched 1 pairing(s)" in done.output
        assert provider.get_issue(channel, filed.number).confidential
        for other in ("alice", "erin", "frank"):  # frank is in no pair, so not even in the channel project
            with pytest.raises(NotFound):
                provider.as_user(other).get_issue(channel, filed.number)
            assert (channel, filed.number) not in {(i.project, i.number) for i in provider.as_user(other).list_issues(None, state="all")}
        assert provider.as_user("carol").get_issue(channel, filed.number).state == "closed"  # carried out


def test_on_gitlab_rematch_request_files_a_confidential_issue_with_the_persons_own_token(tmp_path: Path) -> None:
    from issuebot.providers import make_provider
    from tests.conftest import Clock
    from tests.fakes.gitlab import gitlab_harness

    with gitlab_harness(tmp_path, Clock()) as forge:
        path = gitlab_program(tmp_path, forge)
        asked = CliRunner().invoke(main, ["rematch", "request", "-c", str(path), "--as", "bob", "--note", NOTE,
                                          "--now", "2027-02-15T10:00:00+00:00"])
        assert asked.exit_code == 0, asked.output
        provider = make_provider(load_program(path))
        channel = provider.private_channel_path("intake", "bob")
        [request] = [i for i in provider.list_issues(channel, state="all") if i.author == "bob"]
        assert request.confidential
        with pytest.raises(NotFound):
            provider.as_user("alice").get_issue(channel, request.number)
        again = CliRunner().invoke(main, ["rematch", "apply", "-c", str(path), "--now", "2027-02-16T10:00:00+00:00",
                                          "--dry-run"])
        assert "make confidential" not in again.output  # nothing to hide: it was confidential from the start


def test_the_webhook_of_a_request_filed_without_confidential_hides_it_at_once(tmp_path: Path) -> None:
    from issuebot.events import handle_event
    from issuebot.models import Event, EventKind
    from issuebot.templates import Templates

    path, _ = setup(tmp_path)
    program = load_program(path)
    local = tracker(tmp_path)
    filed = local.as_user("bob").create_issue(CHANNEL, "Please", f"/rematch bob-alice\n\n{NOTE}")
    survey_like = local.as_user("bob").create_issue(CHANNEL, "A question", "how do surveys work?")
    assert local.as_user("alice").get_issue(CHANNEL, filed.number).body.endswith(NOTE)  # the window a webhook closes

    def deliver(number: int) -> Any:
        event = Event(kind=EventKind.ISSUE_OPENED, provider="local", project=CHANNEL, issue_number=number, actor="bob")
        return handle_event(program, local, Templates(program.templates_dir()), event,
                            now=datetime(2027, 2, 15, 10, tzinfo=timezone.utc))

    outcome = deliver(filed.number)
    assert outcome.writes == 1 and outcome.actions == [f"edit #{filed.number} [rematch]: make confidential"]
    assert local.get_issue(CHANNEL, filed.number).confidential
    with pytest.raises(NotFound):
        local.as_user("alice").get_issue(CHANNEL, filed.number)
    assert deliver(filed.number).writes == 0  # redelivered: already hidden
    assert deliver(survey_like.number).writes == 0 and not local.get_issue(CHANNEL, survey_like.number).confidential


def test_on_gitlab_sync_keeps_a_confidential_request_form_and_a_request_filed_with_it_is_private_from_the_start(
        tmp_path: Path) -> None:
    from issuebot.providers import make_provider
    from tests.conftest import Clock
    from tests.fakes.gitlab import gitlab_harness

    with gitlab_harness(tmp_path, Clock()) as forge:
        path = gitlab_program(tmp_path, forge)
        provider = make_provider(load_program(path))
        channel = provider.private_channel_path("intake", "bob")
        files = forge.fake.projects[forge.fake.project_ids[channel]]["_files"]
        form = files[".gitlab/issue_templates/rematch.md"]
        assert form.splitlines()[1:3] == ["/confidential", ""] and "\n/rematch\n" in form
        assert "tick \"This issue is confidential\"" in form  # what a Guest, who cannot use the quick action, does
        writes = forge.writes
        again = CliRunner().invoke(main, ["sync", "-c", str(path), "--now", "2027-01-12T09:00:00+00:00"])
        assert again.exit_code == 0 and forge.writes == writes, again.output

        # bob picks the template in GitLab's form and ticks the box it asks for: private from the start.
        ticked = provider.as_user("bob").create_issue(channel, "Re-match request", f"{form}\n{NOTE}", confidential=True)
        assert "/confidential" not in provider.get_issue(channel, ticked.number).body  # carried out, the line dropped
        with pytest.raises(NotFound):
            provider.as_user("alice").get_issue(channel, ticked.number)
        read = read_request(load_program(path), provider.get_issue(channel, ticked.number), "gitlab")
        assert read is not None and read.pair is not None and read.pair.id == "bob-alice" and not read.problem
        planned = CliRunner().invoke(main, ["rematch", "apply", "-c", str(path), "--now", "2027-02-16T10:00:00+00:00",
                                            "--dry-run"])
        assert "make confidential" not in planned.output  # nothing to hide

        # A Guest's quick action alone does nothing on GitLab: the sweep and the service hide such a request.
        unticked = provider.as_user("erin").create_issue(channel, "Re-match request", f"{form}\n{NOTE}")
        assert not provider.get_issue(channel, unticked.number).confidential
        planned = CliRunner().invoke(main, ["rematch", "apply", "-c", str(path), "--now", "2027-02-16T10:00:00+00:00",
                                            "--dry-run"])
        assert f"edit #{unticked.number} [rematch]: make confidential" in planned.output
        # Someone with Reporter access or more (a coordinator) gets the quick action carried out.
        by_coordinator = provider.as_user("carol").create_issue(channel, "Re-match request", form)
        assert provider.get_issue(channel, by_coordinator.number).confidential
