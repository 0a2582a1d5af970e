"""GitLab specifics beyond the provider contract, on the fake GitLab with the real python-gitlab."""

from __future__ import annotations

import json
import logging
import os
from datetime import date
from pathlib import Path

import pytest

from issuebot.config import load_program
from issuebot.models import EventKind, Member
from issuebot.providers import gitlab as gitlab_provider
from issuebot.providers.base import (
    AuthenticationFailed,
    Forbidden,
    NotFound,
    ProjectSpec,
    ProjectTaken,
    RateLimited,
)
from tests.conftest import program_data, write_program
from tests.fakes.gitlab import TOKEN_ENV, URL, gitlab_harness

TOKEN = "[issuebot:bob-alice]"
CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "gitlab" / "webhooks"


@pytest.fixture
def gl(tmp_path, clock):
    with gitlab_harness(tmp_path, clock) as made:
        yield made


def make_project(gl, name="mentoring-bob-alice", title="Mentoring: Bob & Alice"):
    project, _ = gl.provider.ensure_project(ProjectSpec(name, title, f"Mentoring space {TOKEN}", TOKEN))
    return project.path


def test_project_is_private_in_the_group_with_issues_and_a_valid_name(gl):
    path = make_project(gl)
    stored = gl.fake.project_by_path(path)
    assert path == "mentoring/mentoring-bob-alice"
    assert stored["visibility"] == "private" and stored["issues_access_level"] == "enabled"
    assert stored["namespace"]["id"] == gl.fake.group["id"]
    assert stored["name"] == "Mentoring Bob Alice"  # ':' and '&' are not allowed in GitLab names
    assert TOKEN in stored["description"]


def test_project_taken_is_refused_and_names_the_path(gl):
    gl.create_foreign_project("mentoring-bob-alice")
    writes = gl.writes
    with pytest.raises(ProjectTaken, match="mentoring/mentoring-bob-alice"):
        make_project(gl)
    assert gl.writes == writes
    assert gl.fake.project_by_path("mentoring/mentoring-bob-alice")["visibility"] == "public"


def test_labels_are_created_once_at_group_level(gl):
    labels = [("pair::active", "2DA44E", "Pair meets")]
    assert gl.provider.ensure_labels(labels) == 1
    assert gl.fake.label_names() == {"pair::active"}
    assert gl.fake.labels[("group", gl.fake.group["id"])]["pair::active"]["color"] == "#2da44e"
    assert gl.provider.ensure_labels(labels) == 0


def test_a_guest_token_uses_project_labels_and_a_rerun_makes_no_failed_write(gl, caplog):
    bot = gl.fake.tokens[gl.fake.bot_token]
    gl.fake.group_members[gl.fake.group["id"]][bot] = 10  # Guest: may not manage group labels
    project = make_project(gl)
    labels = [("kind::session", "c5def5", "One session")]
    writes = gl.writes
    with caplog.at_level(logging.WARNING, logger="issuebot.providers.gitlab"):
        assert gl.provider.ensure_labels(labels) == 0
    assert "may not manage the labels of group mentoring" in caplog.text
    assert gl.writes == writes  # the role was read; no write was tried and refused
    gl.provider.create_issue(project, "Session 1", "b", labels=["kind::session"])
    assert "kind::session" in gl.fake.labels[("project", gl.fake.project_by_path(project)["id"])]


def test_group_labels_forbidden_fall_back_to_project_labels_with_a_warning(gl, caplog):
    gl.fake.deny("POST", r"^/groups/[^/]+/labels$")
    project = make_project(gl)
    labels = [("kind::session", "c5def5", "One session"), ("session::planned", "0969da", "Planned")]
    with caplog.at_level(logging.WARNING, logger="issuebot.providers.gitlab"):
        assert gl.provider.ensure_labels(labels) == 0
    assert "may not manage the labels of group mentoring" in caplog.text
    assert gl.fake.label_names() == set()

    gl.provider.create_issue(project, "Session 1", "b", labels=["kind::session", "session::planned"])
    stored = gl.fake.labels[("project", gl.fake.project_by_path(project)["id"])]
    assert {n: (l["color"], l["description"]) for n, l in stored.items()} == {
        "kind::session": ("#c5def5", "One session"), "session::planned": ("#0969da", "Planned"),
    }
    writes = gl.writes
    gl.provider.create_issue(project, "Session 2", "b", labels=["kind::session"])
    assert gl.writes == writes + 1  # labels are ensured once per project


def test_issue_numbers_are_iids_per_project_and_due_dates_are_native(gl):
    first, second = make_project(gl), make_project(gl, "mentoring-erin-dave", "Erin and Dave")
    a = gl.provider.create_issue(first, "A", "b", due=date(2027, 3, 1))
    b = gl.provider.create_issue(second, "B", "b")
    c = gl.provider.create_issue(first, "C", "b")
    assert (a.number, b.number, c.number) == (1, 1, 2)
    stored = next(i for i in gl.fake.issues.values() if i["title"] == "A")
    assert stored["iid"] == 1 and stored["id"] != 1 and stored["due_date"] == "2027-03-01"
    assert gl.provider.get_issue(first, 1).due == date(2027, 3, 1)
    cleared = gl.provider.update_issue(first, 1, due=None)
    assert cleared.due is None
    by_project = {(i.project, i.number): i.title for i in gl.provider.list_issues(None)}
    assert by_project == {(first, 1): "A", (first, 2): "C", (second, 1): "B"}


def test_scoped_label_replaces_its_sibling_and_system_notes_are_not_comments(gl):
    project = make_project(gl)
    issue = gl.provider.create_issue(project, "S", "b", labels=["kind::session", "session::planned"])
    updated = gl.provider.update_issue(project, issue.number, add_labels=["session::held"])
    assert set(updated.labels) == {"kind::session", "session::held"}
    gl.provider.update_issue(project, issue.number, state="closed")
    notes = gl.fake.notes[next(iter(gl.fake.issues))]
    assert any(n["system"] for n in notes)
    assert gl.provider.list_comments(project, issue.number) == []


def test_members_get_configured_access_levels(tmp_path, clock):
    with gitlab_harness(tmp_path, clock, pair_access="maintainer", coordinator_access="guest") as gl:
        project = make_project(gl)
        for user in ("alice", "bob", "carol"):
            gl.add_user(user)
        members = [Member("alice", "pair"), Member("bob", "pair"), Member("carol", "coordinator")]
        assert gl.provider.ensure_members(project, members) == 3
        assert gl.fake.member_levels(project) == {"alice": 40, "bob": 40, "carol": 10}


def test_member_lookups_are_cached_and_group_owners_are_left_alone(gl):
    project, other = make_project(gl), make_project(gl, "mentoring-erin-dave", "Erin and Dave")
    gl.add_user("alice")
    assert gl.provider.ensure_members(project, [Member("alice", "pair"), Member("issuebot", "coordinator")]) == 1
    gl.fake.log.clear()
    assert gl.provider.ensure_members(other, [Member("alice", "pair")]) == 1
    assert ("GET", "/users") not in gl.fake.log  # alice's id was looked up once
    assert "issuebot" not in gl.fake.member_levels(project)  # owner of the group already


def test_lower_direct_access_is_raised(gl):
    project = make_project(gl)
    gl.add_user("alice")
    pid = gl.fake.project_by_path(project)["id"]
    uid = next(u for u, user in gl.fake.users.items() if user["username"] == "alice")
    gl.fake.members[pid][uid] = 10
    assert gl.provider.ensure_members(project, [Member("alice", "pair")]) == 1
    assert gl.fake.member_levels(project) == {"alice": 30}


def test_unknown_user_names_the_username_and_the_program_file(gl):
    project = make_project(gl)
    with pytest.raises(NotFound, match=r"'nobody-here'.*program file"):
        gl.provider.ensure_members(project, [Member("nobody-here", "pair")])


def test_board_gets_one_list_per_label_and_nothing_the_second_time(gl):
    statuses = ["pair::kickoff", "pair::active", "pair::stale"]
    gl.provider.ensure_labels([(s, "6699cc", "") for s in statuses])
    assert gl.provider.ensure_board("Pairs", statuses) is True
    [board] = gl.fake.boards[gl.fake.group["id"]]
    assert board["name"] == "Pairs" and [l["label"]["name"] for l in board["lists"]] == statuses
    reads, writes = gl.reads, gl.writes
    assert gl.provider.ensure_board("Pairs", statuses) is False
    assert (gl.reads, gl.writes) == (reads + 1, writes)  # the board listing carries its lists
    gl.provider.ensure_labels([("pair::ended", "57606a", "")])
    assert gl.provider.ensure_board("Pairs", [*statuses, "pair::ended"]) is True
    assert len(gl.fake.boards[gl.fake.group["id"]]) == 1 and len(board["lists"]) == 4


def test_board_is_skipped_with_a_warning_when_its_labels_are_not_group_labels(gl, caplog):
    gl.fake.deny("POST", r"^/groups/[^/]+/labels$")
    gl.provider.ensure_labels([("pair::active", "2da44e", "")])
    writes = gl.writes
    with caplog.at_level(logging.WARNING, logger="issuebot.providers.gitlab"):
        assert gl.provider.ensure_board("Pairs", ["pair::active"]) is False
    assert gl.writes == writes and gl.fake.boards[gl.fake.group["id"]] == []
    assert "not group labels (pair::active)" in caplog.text


def test_board_uses_the_single_board_when_a_second_is_refused(gl, caplog):
    gl.provider.ensure_labels([("pair::active", "2da44e", "")])
    gl.fake.create_board(str(gl.fake.group["id"]), body={"name": "Development"})
    gl.fake.deny("POST", r"^/groups/[^/]+/boards$")
    with caplog.at_level(logging.WARNING, logger="issuebot.providers.gitlab"):
        assert gl.provider.ensure_board("Pairs", ["pair::active"]) is True
    [board] = gl.fake.boards[gl.fake.group["id"]]
    assert board["name"] == "Development" and board["lists"][0]["label"]["name"] == "pair::active"
    assert "one board" in caplog.text


def test_check_access_errors_are_clear(gl):
    gl.provider.check_access()
    assert gl.provider.bot_username == "issuebot"
    missing = gitlab_provider.GitLabProvider(URL, gl.fake.bot_token, "no-such-group")
    with pytest.raises(NotFound, match=r"no-such-group.*provider\.group"):
        missing.check_access()
    wrong = gitlab_provider.GitLabProvider(URL, "glpat-wrong", "mentoring")
    with pytest.raises(AuthenticationFailed, match="rejected the access token") as caught:
        wrong.check_access()
    assert "glpat-wrong" not in str(caught.value)
    gl.fake.deny("GET", r"^/groups/mentoring$")
    with pytest.raises(Forbidden, match="may not read GitLab group mentoring"):
        gl.provider.check_access()


def test_missing_token_variable_is_named_not_its_value(tmp_path, clock, monkeypatch):
    with gitlab_harness(tmp_path, clock) as gl:
        config = dict(gl.provider_config(), token_env="ISSUEBOT_NO_SUCH_TOKEN")
        program = load_program(write_program(tmp_path / "p.yml", program_data(config)))
        monkeypatch.delenv("ISSUEBOT_NO_SUCH_TOKEN", raising=False)
        with pytest.raises(AuthenticationFailed, match="ISSUEBOT_NO_SUCH_TOKEN"):
            gitlab_provider.from_program(program)
        program = load_program(write_program(tmp_path / "q.yml", program_data(gl.provider_config())))
        provider = gitlab_provider.from_program(program)
        provider.check_access()
        assert provider.bot_username == "issuebot"
    assert TOKEN_ENV not in os.environ  # the harness restored the environment


def test_short_rate_limit_is_waited_through_without_sleeping(gl):
    project = make_project(gl)
    gl.fail_next(429, retry_after=2)
    issue = gl.provider.create_issue(project, "T", "b")
    assert issue.title == "T"
    assert gl.sleeps == [2]  # python-gitlab's wait, recorded instead of slept


def test_long_rate_limit_stops_at_once(gl):
    project = make_project(gl)
    gl.fail_next(429, retry_after=3600, times=5)
    with pytest.raises(RateLimited, match="max_retry_wait") as caught:
        gl.provider.get_issue(project, 1)
    assert caught.value.retry_after == 3600
    assert gl.sleeps == []
    assert len(gl.fake.failures) == 4  # one call, no retries


def test_rate_limit_retries_are_bounded(gl):
    project = make_project(gl)
    gl.fail_next(429, retry_after=1, times=10)
    with pytest.raises(RateLimited, match="rate limit"):
        gl.provider.get_issue(project, 1)
    assert gl.sleeps == [1, 1, 1]


def test_every_call_is_metered_as_read_or_write(gl):
    project = make_project(gl)
    meter = gl.provider.meter
    assert (meter.reads, meter.writes) == (gl.reads, gl.writes)
    issue = gl.provider.create_issue(project, "T", "b")
    gl.fail_next(502)
    gl.provider.get_issue(project, issue.number)
    assert (meter.reads, meter.writes) == (gl.reads, gl.writes)
    assert meter.by_verb["get_issue"] == 2  # the 502 and its retry


def test_archived_projects_issues_stay_in_group_listing(gl):
    project = make_project(gl)
    gl.provider.create_issue(project, "T", "b")
    assert gl.provider.archive_project(project) is True
    assert [i.title for i in gl.provider.list_issues(None)] == ["T"]
    assert gl.provider.list_projects()[0].archived


@pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not present")
def test_parse_webhook_delegates_to_the_gitlab_parser(gl):
    body = (CORPUS / "note_hook.issue.json").read_bytes()
    event = gl.provider.parse_webhook({"X-Gitlab-Event": "Note Hook"}, body)
    payload = json.loads(body)
    assert event is not None and event.kind == EventKind.COMMENT_CREATED
    assert event.issue_number == payload["issue"]["iid"]


def test_retry_after_as_a_date_stops_cleanly(gl):
    project = make_project(gl)
    gl.fail_next(429, retry_after="Wed, 21 Oct 2015 07:28:00 GMT")  # already past: no wait
    with pytest.raises(RateLimited, match="rate limit"):
        gl.provider.get_issue(project, 1)
    assert gl.sleeps == []


def test_fake_paginates_like_gitlab(gl):
    project = make_project(gl)
    for n in range(205):
        gl.provider.create_issue(project, f"issue {n}", "b")
    listing = gl.provider.gl.projects.get(project, lazy=True).issues.list(iterator=True, per_page=500)
    assert (listing.total, listing.total_pages, listing.per_page, listing.current_page) == (205, 3, 100, 1)
    assert listing.next_page == 2 and listing.prev_page is None
    reads = gl.reads
    assert len(list(listing)) == 205
    assert gl.reads - reads == 2  # pages 2 and 3, followed through the Link header


def test_group_listing_filters_labels_with_and_and_state(gl, clock):
    project = make_project(gl)
    both = gl.provider.create_issue(project, "both", "b", labels=["kind::goal", "pair::active"])
    gl.provider.create_issue(project, "one", "b", labels=["kind::goal"])
    gl.provider.update_issue(project, both.number, state="closed")
    assert [i.title for i in gl.provider.list_issues(None, labels=["kind::goal", "pair::active"])] == []
    assert [i.title for i in gl.provider.list_issues(None, labels=["kind::goal", "pair::active"], state="all")] == ["both"]
    assert [i.title for i in gl.provider.list_issues(None, labels=["kind::goal"])] == ["one"]
    closed = next(gl.provider.list_issues(None, state="closed"))
    assert closed.closed_at == clock() and closed.project == project


def test_pages_of_a_listing_are_metered_as_the_listing_even_with_calls_in_between(gl):
    project = make_project(gl)
    for n in range(150):
        gl.provider.create_issue(project, f"issue {n}", "b")
    meter = gl.provider.meter
    listed = gets = 0
    for issue in gl.provider.list_issues(project):
        listed += 1
        if issue.number in (1, 120):
            gl.provider.get_issue(project, issue.number)
            gets += 1
    assert listed == 150
    assert meter.by_verb["list_issues"] == 2 and meter.by_verb["get_issue"] == gets == 2
