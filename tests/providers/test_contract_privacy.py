"""The provider contract for private channels: the same scenarios on every tracker, each person acting
with their own credentials (the providers' `as_user`), so the tracker itself says who reads what."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from issuebot.config import load_program
from issuebot.models import Member
from issuebot.plan import CHANNEL_TOKEN
from issuebot.providers import make_provider
from issuebot.providers.base import ActsAsPerson, AuthenticationFailed, NotFound, ProjectSpec, Provider
from tests.conftest import program_data, write_program

OWNER, PARTNER, OTHER_PAIR, OUTSIDER, COORDINATOR = "bob", "alice", "erin", "dana", "carol"
STRANGER = "zed"  # has an account, is in no channel at all
PEOPLE = (OWNER, PARTNER, OTHER_PAIR, OUTSIDER, COORDINATOR, "dave", STRANGER)
READERS_REFUSED = (PARTNER, OTHER_PAIR, OUTSIDER)  # the partner, another pair's member, a non-coordinator
SECRET = "3: my mentor never turns up"


def provider_with_tokens(forge: Any, tmp_path: Path, clock: Any) -> Provider:
    """The provider a program file builds, naming each person's own token in `provider.person_tokens`."""
    config = dict(forge.provider_config())
    tokens = {u: forge.person_token_env(u) for u in PEOPLE}
    if any(tokens.values()):
        config["person_tokens"] = tokens
    program = load_program(write_program(tmp_path / "privacy" / "program.yml", program_data(config)))
    return make_provider(program, clock)


def open_channels(provider: Provider) -> dict[str, str]:
    """Each participant's channel, as the private_channels step opens it: the people as participants, carol coordinating."""
    channels: dict[str, str] = {}
    for username in PEOPLE:
        if username in (COORDINATOR, STRANGER):
            continue
        path = provider.private_channel_path("intake", username)
        provider.ensure_project(ProjectSpec(path.rsplit("/", 1)[-1], "Private channel", f"channel {CHANNEL_TOKEN}", CHANNEL_TOKEN))
        provider.ensure_members(path, [Member(username, "participant"), Member(COORDINATOR, "coordinator")])
        channels[username] = path
    return channels


@pytest.fixture
def channel_items(forge, tmp_path, clock):
    """bob's private channel with a survey (issuebot's item, assigned to him), his answer to it, and a
    re-match request he filed himself: (provider, bob's channel, {what: issue number})."""
    for username in PEOPLE:
        forge.add_user(username)
    provider = provider_with_tokens(forge, tmp_path, clock)
    channels = open_channels(provider)
    path = channels[OWNER]
    survey = provider.create_issue(path, "Feedback round 1", "<!-- issuebot:survey:fb:1:bob-alice:bob -->\n1. How is it going?",
                                   assignees=[OWNER], confidential=True)
    provider.as_user(OWNER).create_comment(path, survey.number, SECRET)
    request = provider.as_user(OWNER).create_issue(path, "Re-match request: bob-alice", "/rematch bob-alice\n\nnot working",
                                                    confidential=True)
    return provider, path, {"survey": survey.number, "request": request.number}


def test_every_tracker_acts_as_a_person_with_their_own_credentials(forge, tmp_path, clock):
    provider = provider_with_tokens(forge, tmp_path, clock)
    assert isinstance(provider, ActsAsPerson)
    acting = provider.as_user(OWNER)
    assert acting.kind == provider.kind and acting is not provider
    project = provider.private_channel_path("intake", OWNER)
    provider.ensure_project(ProjectSpec(project.rsplit("/", 1)[-1], "Private channel", f"c {CHANNEL_TOKEN}", CHANNEL_TOKEN))
    provider.ensure_members(project, [Member(OWNER, "participant")])
    issue = acting.create_issue(project, "Mine", "written by bob", confidential=True)
    assert provider.get_issue(project, issue.number).author == OWNER  # the tracker records bob, not issuebot


def test_a_forge_without_the_persons_token_refuses_to_act_as_them(forge, tmp_path, clock):
    provider = provider_with_tokens(forge, tmp_path, clock)
    if forge.name == "local":
        pytest.skip("the embedded tracker acts as anyone: it has no credentials")
    with pytest.raises(AuthenticationFailed, match="person_tokens") as refused:
        provider.as_user("zoe")
    assert "ghp_" not in str(refused.value) and "glpat" not in str(refused.value)


@pytest.mark.parametrize("item", ["survey", "request"])
@pytest.mark.parametrize("reader", READERS_REFUSED)
def test_others_can_neither_open_nor_list_a_persons_private_item(channel_items, reader, item):
    provider, path, numbers = channel_items
    number = numbers[item]
    them = provider.as_user(reader)
    with pytest.raises(NotFound):
        them.get_issue(path, number)
    with pytest.raises(NotFound):
        them.list_comments(path, number)
    listed = {(i.project, i.number) for i in them.list_issues(None, state="all")}
    assert (path, number) not in listed
    try:
        in_channel = {i.number for i in them.list_issues(path, state="all")}
    except NotFound:
        in_channel = set()  # a channel of bob's own (GitHub): the whole repository is hidden
    assert number not in in_channel


def test_someone_in_no_channel_cannot_even_find_the_channel_project(channel_items):
    provider, path, numbers = channel_items
    stranger = provider.as_user(STRANGER)
    with pytest.raises(NotFound):
        list(stranger.list_issues(path, state="all"))
    for number in numbers.values():
        with pytest.raises(NotFound):
            stranger.get_issue(path, number)
    assert not [i for i in stranger.list_issues(None, state="all") if i.project == path]


@pytest.mark.parametrize("reader", [OWNER, COORDINATOR])
def test_the_person_and_a_coordinator_read_the_items_and_the_answer(channel_items, reader):
    provider, path, numbers = channel_items
    them = provider.as_user(reader)
    assert {numbers["survey"], numbers["request"]} <= {i.number for i in them.list_issues(None, state="all")
                                                        if i.project == path}
    assert them.get_issue(path, numbers["request"]).author == OWNER
    assert [c.body for c in them.list_comments(path, numbers["survey"])] == [SECRET]


def test_a_request_filed_without_confidential_is_hidden_once_issuebot_marks_it(channel_items):
    provider, path, _ = channel_items
    filed = provider.as_user(OWNER).create_issue(path, "Re-match", "/rematch bob-alice")
    provider.update_issue(path, filed.number, confidential=True)
    assert provider.as_user(COORDINATOR).get_issue(path, filed.number).title == "Re-match"
    with pytest.raises(NotFound):
        provider.as_user(PARTNER).get_issue(path, filed.number)
