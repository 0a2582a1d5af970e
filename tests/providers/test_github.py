"""GitHub specifics of the PyGithub provider against the fake GitHub: due dates in bodies, pull
requests, invitations, App auth, the organisation listing's fallback, errors, metering and the
OpenAPI description of every request the provider makes."""

from __future__ import annotations

import json
import os
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import responses

from issuebot.config import GitHubProviderConfig
from issuebot.models import Member
from issuebot.providers.base import (
    AuthenticationFailed,
    Forbidden,
    InvalidRequest,
    NotFound,
    ProjectSpec,
    ProjectTaken,
    RateLimited,
)
from issuebot.providers.github import GitHubProvider, join_due, split_due
from tests.fakes.github import github_harness

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "github"
TOKEN = "[issuebot:bob-alice]"


def spec(name: str = "mentoring-bob-alice") -> ProjectSpec:
    return ProjectSpec(name=name, title="Mentoring", description=f"Mentoring space {TOKEN}", owner_token=TOKEN)


@pytest.fixture
def hub(tmp_path, clock):
    with github_harness(tmp_path, clock) as made:
        yield made


def make_project(hub, name: str = "mentoring-bob-alice") -> str:
    return hub.provider.ensure_project(spec(name))[0].path


def calls_to(hub, template: str, method: str = "GET") -> int:
    return sum(1 for c in hub.fake.calls if c.template == template and c.method == method)


# ----------------------------------------------------------------------------- due dates


@pytest.mark.parametrize("body", ["", "text", "<!-- issuebot:goal:1 -->\nagenda\n", "a\n\n<!-- issuebot:state {} -->\n"])
def test_due_block_round_trips_exactly(body):
    raw = join_due(body, date(2027, 2, 1), "**Due:** 2027-02-01\n")
    assert "<!-- issuebot:begin:due 2027-02-01 -->" in raw and "**Due:** 2027-02-01" in raw
    assert split_due(raw) == (body, date(2027, 2, 1))
    assert join_due(body, None, "") == body and split_due(body) == (body, None)


def test_due_date_lives_in_the_body_and_never_shows_as_a_difference(hub):
    project = make_project(hub)
    body = "<!-- issuebot:goal:1 -->\nShip it\n"
    issue = hub.provider.create_issue(project, "Goal", body, due=date(2027, 4, 30))
    raw = hub.fake.repos[project.lower()].issues[issue.number]["body"]
    assert "**Due:** 2027-04-30" in raw  # people see it on GitHub
    assert issue.body == body and issue.due == date(2027, 4, 30)
    fetched = hub.provider.get_issue(project, issue.number)
    assert (fetched.body, fetched.due) == (body, date(2027, 4, 30))

    writes = hub.writes
    hub.provider.update_issue(project, issue.number, body=body)  # same text: no write, due kept
    assert hub.writes == writes

    edited = hub.provider.update_issue(project, issue.number, body=body + "more\n")
    assert (edited.body, edited.due) == (body + "more\n", date(2027, 4, 30))
    moved = hub.provider.update_issue(project, issue.number, due=date(2027, 5, 15))
    assert (moved.body, moved.due) == (body + "more\n", date(2027, 5, 15))
    cleared = hub.provider.update_issue(project, issue.number, due=None)
    assert cleared.due is None and "issuebot:begin:due" not in hub.fake.repos[project.lower()].issues[issue.number]["body"]
    listed = {i.number: i for i in hub.provider.list_issues(None)}
    assert listed[issue.number].body == body + "more\n"


# ----------------------------------------------------------------------------- pull requests


def test_pull_requests_are_not_issues(hub):
    project = make_project(hub)
    issue = hub.provider.create_issue(project, "Real issue", "b")
    pull = hub.fake.create_pull_request("mentoring-bob-alice", "A pull request")
    assert [i.number for i in hub.provider.list_issues(project)] == [issue.number]
    assert [i.number for i in hub.provider.list_issues(None, state="all")] == [issue.number]
    with pytest.raises(NotFound, match="pull request"):
        hub.provider.get_issue(project, pull["number"])


# ----------------------------------------------------------------------------- collaborators


def test_invitations_are_sent_once_with_the_configured_permissions(hub):
    project = make_project(hub)
    hub.fake.add_user("alice", outside=True)
    hub.fake.add_user("bob", outside=True)
    hub.fake.add_user("carol")  # an organisation member: added at once
    members = [Member("alice", "pair"), Member("bob", "pair"), Member("carol", "coordinator")]
    assert hub.provider.ensure_members(project, members) == 3
    repo = hub.fake.repos[project.lower()]
    assert {login: i["permissions"] for login, i in repo.invitations.items()} == {"alice": "write", "bob": "write"}
    assert repo.collaborators["carol"] == "triage"

    writes = hub.writes
    assert hub.provider.ensure_members(project, members) == 0  # pending invitations count
    hub.fake.accept_invitations("alice")
    assert hub.provider.ensure_members(project, members) == 0
    assert hub.writes == writes


def test_issue_for_someone_still_invited_is_opened_for_the_others(hub):
    project = make_project(hub)
    hub.fake.add_user("alice", outside=True)
    hub.fake.add_user("dave")
    hub.provider.ensure_members(project, [Member("alice", "pair"), Member("dave", "pair")])
    issue = hub.provider.create_issue(project, "Kickoff", "b", assignees=["alice", "dave"])
    assert issue.assignees == ("dave",)
    assert len(hub.fake.repos[project.lower()].issues) == 1


def test_unknown_user_is_named_and_nothing_is_written(hub):
    project = make_project(hub)
    writes = hub.writes
    with pytest.raises(NotFound, match=r"'ghost'.*program file"):
        hub.provider.ensure_members(project, [Member("ghost", "pair")])
    assert hub.writes == writes + 1  # the refused PUT itself


def test_project_taken_is_refused_without_a_write(hub):
    hub.create_foreign_project("mentoring-bob-alice")
    before = hub.writes
    with pytest.raises(ProjectTaken, match="not created by issuebot"):
        hub.provider.ensure_project(spec())
    assert hub.writes == before
    assert hub.fake.repos["mentoring/mentoring-bob-alice"].data["private"] is False  # untouched


def test_new_repository_is_private_with_issues_and_nothing_else(hub):
    make_project(hub)
    data = hub.fake.repos["mentoring/mentoring-bob-alice"].data
    assert (data["private"], data["has_issues"], data["has_wiki"], data["has_projects"]) == (True, True, False, False)
    assert TOKEN in data["description"]


# ----------------------------------------------------------------------------- App auth


def test_app_installation_token_is_exchanged_once_and_writes_as_the_bot(tmp_path, clock):
    with github_harness(tmp_path, clock, app=True) as hub:
        hub.provider.check_access()
        assert hub.provider.bot_username == "issuebot-app[bot]"
        assert hub.writes == 0  # minting a token writes nothing to the tracker
        project = make_project(hub)
        issue = hub.provider.create_issue(project, "T", "b")
        assert issue.author == "issuebot-app[bot]"
        assert hub.fake.token_exchanges == 1
        assert hub.provider.meter.reads == hub.reads and hub.provider.meter.writes == hub.writes
        assert "GITHUB_APP_PRIVATE_KEY" in os.environ
    assert os.environ.get("GITHUB_APP_PRIVATE_KEY") is None  # the harness restored the environment


def test_app_installation_token_is_refreshed_before_it_expires(tmp_path, clock):
    clock.set(datetime(2020, 1, 1, tzinfo=timezone.utc))  # every token the fake mints is already stale
    with github_harness(tmp_path, clock, app=True) as hub:
        hub.fake.token_lifetime = timedelta(hours=1)
        project = make_project(hub)
        hub.provider.create_issue(project, "T", "b")
        # PyGithub renews a token that expires within 20s before using it: one exchange per call.
        api_calls = sum(1 for c in hub.fake.calls if not c.template.startswith("/app"))
        assert hub.fake.token_exchanges == api_calls


def test_app_without_installation_id_finds_it_by_organisation(tmp_path, clock):
    with github_harness(tmp_path, clock, app=True) as hub:
        config = {**hub.provider_config(), "app": {"app_id": 4242, "private_key_env": "GITHUB_APP_PRIVATE_KEY"}}
        provider = GitHubProvider(GitHubProviderConfig.model_validate(config), clock=clock)
        provider.check_access()
        assert calls_to(hub, "/orgs/{org}/installation") == 1


def test_org_listing_refused_to_an_app_falls_back_to_repositories_once(tmp_path, clock):
    with github_harness(tmp_path, clock, app=True) as hub:
        first, second = make_project(hub), make_project(hub, "mentoring-erin-dave")
        for project in (first, second):
            for n in range(3):
                hub.provider.create_issue(project, f"{project} {n}", "b")
        assert len(list(hub.provider.list_issues(None))) == 6
        assert calls_to(hub, "/orgs/{org}/issues") == 1  # refused: 403 for installations
        reads = hub.reads
        assert len(list(hub.provider.list_issues(None))) == 6
        assert calls_to(hub, "/orgs/{org}/issues") == 1  # remembered, not asked again
        assert hub.reads - reads == 1 + 2  # one page of repositories, one listing per repository


def test_bad_private_key_fails_before_any_call(tmp_path, clock, monkeypatch):
    with github_harness(tmp_path, clock, app=True) as hub:
        monkeypatch.setenv("GITHUB_APP_PRIVATE_KEY", "not a key")
        provider = GitHubProvider(GitHubProviderConfig.model_validate(hub.provider_config()), clock=clock)
        with pytest.raises(AuthenticationFailed, match="GITHUB_APP_PRIVATE_KEY") as caught:
            provider.check_access()
        assert "not a key" not in str(caught.value)
        assert hub.fake.calls == []


# ----------------------------------------------------------------------------- errors


def test_missing_token_names_the_variable_and_calls_nothing(hub, monkeypatch):
    monkeypatch.delenv("GITHUB_TOKEN")
    provider = GitHubProvider(GitHubProviderConfig.model_validate(hub.provider_config()))
    with pytest.raises(AuthenticationFailed, match="GITHUB_TOKEN is not set"):
        provider.check_access()
    assert hub.fake.calls == []


def test_refused_token_names_the_variable_not_the_value(hub):
    hub.fail_next(401)
    with pytest.raises(AuthenticationFailed) as caught:
        hub.provider.check_access()
    assert "GITHUB_TOKEN" in str(caught.value) and os.environ["GITHUB_TOKEN"] not in str(caught.value)


def test_unknown_organisation_is_named(tmp_path, clock):
    with github_harness(tmp_path, clock) as hub:
        config = {**hub.provider_config(), "org": "no-such-org"}
        provider = GitHubProvider(GitHubProviderConfig.model_validate(config))
        with pytest.raises(NotFound, match="no-such-org"):
            provider.check_access()


def test_403_rate_limit_is_not_a_permission_problem(hub):
    project = make_project(hub)
    issue = hub.provider.create_issue(project, "T", "b")
    hub.fail_next(403, rate_limited=True, times=10)  # reset in an hour: longer than max_retry_wait
    with pytest.raises(RateLimited) as caught:
        hub.provider.create_issue(project, "T2", "b")  # POST: GithubRetry looks at the reset time
    assert caught.value.retry_after and caught.value.retry_after > 60
    hub.fake.failures.clear()
    hub.fail_next(403, rate_limited=True)
    with pytest.raises(RateLimited):
        hub.provider.update_issue(project, issue.number, title="new")  # the PATCH is not retried
    hub.fake.failures.clear()
    hub.fail_next(403)
    with pytest.raises(Forbidden, match="403 Must have admin rights") as refused:
        hub.provider.create_issue(project, "T3", "b")
    assert not isinstance(refused.value, RateLimited)


def test_short_retry_after_is_waited_out_and_metered(hub):
    project = make_project(hub)
    hub.fail_next(429, retry_after=2)
    writes = hub.writes
    issue = hub.provider.create_issue(project, "T", "b")
    assert issue.title == "T"
    assert hub.writes - writes == 2  # the refused attempt and the retry both reached GitHub
    assert hub.provider.meter.writes == hub.writes


def test_validation_errors_carry_githubs_fields(hub):
    project = make_project(hub)
    with pytest.raises(InvalidRequest, match=r"422 Validation Failed: Label color invalid"):
        hub.provider.ensure_labels([("pair::active", "nothex", "")], project)


@pytest.mark.skipif(not (CORPUS / "fixtures" / "errors.normalized.json").is_file(), reason="corpus not present")
def test_recorded_github_422_maps_to_invalid_request(monkeypatch):
    """GitHub's own recorded answer to a label with colour "invalid" (octokit fixtures)."""
    recorded = json.loads((CORPUS / "fixtures" / "errors.normalized.json").read_text())
    create = next(r for r in recorded if r["method"].upper() == "POST")
    owner, repo = create["path"].split("/")[2:4]
    monkeypatch.setenv("FIXTURE_TOKEN", "0000000000000000000000000000000000000001")
    settings = GitHubProviderConfig(kind="github", url=create["scope"], org=owner, token_env="FIXTURE_TOKEN",
                                    seconds_between_requests=0, seconds_between_writes=0)
    provider = GitHubProvider(settings)
    with responses.RequestsMock() as mock:
        mock.get(f"{create['scope']}/repos/{owner}/{repo}/labels", json=[])
        mock.post(f"{create['scope']}{create['path']}", json=create["response"], status=create["status"],
                  headers={k: str(v) for k, v in create["headers"].items() if k.lower() != "content-length"})
        with pytest.raises(InvalidRequest) as caught:
            provider.ensure_labels([(create["body"]["name"], create["body"]["color"], "")], f"{owner}/{repo}")
    assert "422 Validation Failed" in str(caught.value) and "Label color invalid" in str(caught.value)


# ----------------------------------------------------------------------------- metering and the API description


def test_meter_counts_what_github_received(hub, clock):
    project = make_project(hub)
    hub.add_user("alice")
    hub.provider.ensure_members(project, [Member("alice", "pair")])
    hub.provider.ensure_labels([("kind::goal", "c5def5", "A goal")], project)
    issue = hub.provider.create_issue(project, "T", "b", labels=["kind::goal"])
    hub.provider.create_comment(project, issue.number, "hello")
    hub.fail_next(502)
    hub.provider.list_comments(project, issue.number, since=clock() - timedelta(days=1))
    list(hub.provider.list_issues(None, labels=["kind::goal"]))
    hub.provider.archive_project(project)
    assert hub.provider.archive_project(project) is False
    assert (hub.provider.meter.reads, hub.provider.meter.writes) == (hub.reads, hub.writes)
    assert hub.provider.meter.by_verb["list_comments"] == 2  # the 502 and its retry


def test_paginated_listing_filters_like_github(hub, clock):
    project = make_project(hub)
    hub.provider.ensure_labels([("a", "000000", ""), ("b", "000000", "")], project)
    for n in range(120):
        hub.provider.create_issue(project, f"i{n}", "b", labels=["a", "b"] if n % 3 == 0 else ["a"])
    reads = hub.reads
    both = list(hub.provider.list_issues(project, labels=["a", "b"]))
    assert len(both) == 40 and hub.reads - reads == 1
    reads = hub.reads
    assert len(list(hub.provider.list_issues(project, labels=["a"]))) == 120 and hub.reads - reads == 2
    pages = [c for c in hub.fake.calls if c.template == "/repos/{owner}/{repo}/issues"]
    assert pages[-1].query["page"] == ["2"] and pages[-1].query["per_page"] == ["100"]


# Operations the provider needs that the corpus' OpenAPI subset does not include, each with the
# GitHub REST reference page that documents it.
EXTRA_OPERATIONS = {
    ("GET", "/orgs/{org}"): "https://docs.github.com/en/rest/orgs/orgs#get-an-organization",
    ("GET", "/orgs/{org}/repos"): "https://docs.github.com/en/rest/repos/repos#list-organization-repositories",
    ("PATCH", "/repos/{owner}/{repo}"): "https://docs.github.com/en/rest/repos/repos#update-a-repository",
    ("GET", "/repos/{owner}/{repo}/collaborators"): "https://docs.github.com/en/rest/collaborators/collaborators#list-repository-collaborators",
    ("GET", "/repos/{owner}/{repo}/invitations"): "https://docs.github.com/en/rest/collaborators/invitations#list-repository-invitations",
    ("GET", "/repos/{owner}/{repo}/assignees"): "https://docs.github.com/en/rest/issues/assignees#list-assignees",
    ("GET", "/app"): "https://docs.github.com/en/rest/apps/apps#get-the-authenticated-app",
    ("GET", "/orgs/{org}/installation"): "https://docs.github.com/en/rest/apps/apps#get-an-organization-installation-for-the-authenticated-app",
    ("POST", "/app/installations/{installation_id}/access_tokens"): "https://docs.github.com/en/rest/apps/apps#create-an-installation-access-token-for-an-app",
    # issuebot doctor (read-only): the token's role, member names for suggestions, the webhook and its deliveries
    ("GET", "/orgs/{org}/memberships/{username}"): "https://docs.github.com/en/rest/orgs/members#get-organization-membership-for-a-user",
    ("GET", "/orgs/{org}/members"): "https://docs.github.com/en/rest/orgs/members#list-organization-members",
    ("GET", "/orgs/{org}/hooks"): "https://docs.github.com/en/rest/orgs/webhooks#list-organization-webhooks",
    ("GET", "/orgs/{org}/hooks/{hook_id}/deliveries"): "https://docs.github.com/en/rest/orgs/webhooks#list-deliveries-for-an-organization-webhook",
}
REQUIRED_BODY = {
    ("POST", "/repos/{owner}/{repo}/issues"): {"title"},
    ("POST", "/repos/{owner}/{repo}/labels"): {"name", "color"},
    ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/labels"): {"labels"},
    ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments"): {"body"},
}


def _schema_required(schema: dict[str, Any]) -> set[str]:
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return _schema_required(schema[key][0])
    if schema.get("type") == "array":
        return _schema_required(schema.get("items", {}))
    return set(schema.get("required", ()))


@pytest.mark.skipif(not (CORPUS / "openapi-subset.deref.json").is_file(), reason="corpus not present")
def test_every_request_is_a_documented_github_operation(tmp_path, clock):
    spec_doc = json.loads((CORPUS / "openapi-subset.deref.json").read_text())
    documented = {(m.upper(), p) for p, item in spec_doc["paths"].items() for m in item if m in ("get", "post", "put", "patch", "delete")}
    assert not documented & set(EXTRA_OPERATIONS), "an extra operation is in the subset after all"
    seen = []
    for app in (False, True):
        with github_harness(tmp_path / str(app), clock, app=app) as hub:
            hub.provider.check_access()
            project = make_project(hub)
            hub.fake.add_user("bob", outside=True)
            hub.add_user("alice")
            hub.provider.ensure_members(project, [Member("alice", "pair"), Member("bob", "pair")])
            hub.provider.ensure_labels([("kind::goal", "c5def5", "A goal")], project)
            hub.provider.ensure_labels([("kind::goal", "0969da", "A goal")], project)
            issue = hub.provider.create_issue(project, "T", "b", labels=["kind::goal"], assignees=["alice", "bob"], due=date(2027, 2, 1))
            hub.provider.update_issue(project, issue.number, add_labels=["x"], remove_labels=["kind::goal"], state="closed")
            hub.after_next_issue_read(lambda project=project, number=issue.number:
                                      hub.as_user("alice").update_issue(project, number, remove_labels=["x"]))
            hub.provider.update_issue(project, issue.number, remove_labels=["x"])  # a DELETE answered 404
            hub.provider.get_issue(project, issue.number)
            hub.as_user("alice").create_comment(project, issue.number, "/session")
            hub.provider.list_comments(project, issue.number)
            list(hub.provider.list_issues(None, state="all"))
            hub.provider.list_projects()
            hub.provider.archive_project(project)
            hub.fake.add_hook("https://issuebot.example.com/hooks/github")
            hub.provider.access_report()
            hub.provider.missing_usernames(["alice", "nobody"])
            hub.provider.member_usernames()
            hub.provider.hook_report("https://issuebot.example.com/hooks/github")
            seen += hub.fake.calls
    unknown = {(c.method, c.template) for c in seen} - documented - set(EXTRA_OPERATIONS)
    assert not unknown, unknown
    for call in seen:
        missing = REQUIRED_BODY.get((call.method, call.template), set()) - set(call.body or {})
        assert not missing, (call.method, call.template, missing)
        if (call.method, call.template) not in documented or call.response is None:
            continue
        responses_doc = spec_doc["paths"][call.template][call.method.lower()]["responses"]
        content = responses_doc.get(str(call.status), {}).get("content", {}).get("application/json")
        if not content:
            continue
        required = _schema_required(content["schema"])
        for item in call.response if isinstance(call.response, list) else [call.response]:
            assert required <= set(item), (call.method, call.template, call.status, required - set(item))


def test_each_verb_costs_what_its_docstring_says(hub):
    project = make_project(hub)

    def cost(action):
        reads, writes = hub.reads, hub.writes
        action()
        return hub.reads - reads, hub.writes - writes

    created = []
    assert cost(lambda: created.append(hub.provider.create_issue(project, "T", "b", labels=["x"]))) == (0, 1)
    number = created[0].number
    assert cost(lambda: hub.provider.get_issue(project, number)) == (1, 0)
    # Labels are deltas: one POST for the labels added, one DELETE per label removed, one PATCH for the rest.
    assert cost(lambda: hub.provider.update_issue(project, number, add_labels=["y"], remove_labels=["x"], state="closed")) == (1, 3)
    assert cost(lambda: hub.provider.update_issue(project, number, add_labels=["z"])) == (1, 1)
    assert [c.template for c in hub.fake.calls[-1:]] == ["/repos/{owner}/{repo}/issues/{issue_number}/labels"]
    assert cost(lambda: hub.provider.update_issue(project, number, state="closed")) == (1, 0)
    assert cost(lambda: hub.provider.create_comment(project, number, "c")) == (0, 1)
    assert cost(lambda: hub.provider.list_comments(project, number)) == (1, 0)
    assert cost(lambda: list(hub.provider.list_issues(project, state="all"))) == (1, 0)
    assert cost(lambda: hub.provider.ensure_project(spec())) == (1, 0)
    assert cost(lambda: hub.provider.ensure_board("Pairs", ["pair::active"])) == (0, 0)


@pytest.mark.skipif(not (CORPUS / "webhooks" / "issue_comment.created.1.json").is_file(), reason="corpus not present")
def test_webhook_payload_becomes_an_event_without_calls(hub):
    body = (CORPUS / "webhooks" / "issue_comment.created.1.json").read_bytes()
    payload = json.loads(body)
    event = hub.provider.parse_webhook({"X-GitHub-Event": "issue_comment", "X-GitHub-Delivery": "d-1"}, body)
    assert event is not None and event.provider == "github"
    assert (event.project, event.issue_number) == (payload["repository"]["full_name"], payload["issue"]["number"])
    assert event.comment_body == payload["comment"]["body"] and event.delivery_id == "d-1"
    assert hub.provider.parse_webhook({"X-GitHub-Event": "ping"}, b"{}") is None
    assert hub.fake.calls == []


def test_a_post_whose_answer_timed_out_is_not_sent_again():
    """GithubRetry retries POSTs; after a read timeout GitHub may be creating the comment already,
    so the error goes to the caller, which looks for the marker (reads are still retried)."""
    from urllib3.exceptions import ReadTimeoutError

    from issuebot.providers.github import MeteredRetry

    retry = MeteredRetry(None, total=5)
    error = ReadTimeoutError(None, "/repos/o/r/issues/1/comments", "Read timed out. (read timeout=15)")
    with pytest.raises(ReadTimeoutError):
        retry.increment("POST", "/repos/o/r/issues/1/comments", error=error)
    assert retry.increment("GET", "/repos/o/r/issues", error=error).total == 4
