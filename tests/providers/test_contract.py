"""The provider contract: the same scenarios against every tracker harness (local, GitLab, GitHub)."""

from __future__ import annotations

from datetime import date

import pytest

from issuebot.models import Member
from issuebot.providers.base import (
    AuthenticationFailed,
    Forbidden,
    InvalidRequest,
    NotFound,
    ProjectSpec,
    ProjectTaken,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
)

TOKEN = "[issuebot:bob-alice]"


def spec(name: str = "mentoring-bob-alice") -> ProjectSpec:
    return ProjectSpec(name=name, title="Mentoring: Bob & Alice", description=f"Mentoring space {TOKEN}", owner_token=TOKEN)


def make_project(forge, name: str = "mentoring-bob-alice") -> str:
    project, _ = forge.provider.ensure_project(spec(name))
    return project.path


def test_ensure_project_twice_gives_one_private_project(forge):
    first, created = forge.provider.ensure_project(spec())
    writes = forge.writes
    second, created_again = forge.provider.ensure_project(spec())
    assert created and not created_again
    assert first.path == second.path == forge.provider.project_path("mentoring-bob-alice")
    assert second.private
    assert forge.writes == writes
    assert [p.path for p in forge.provider.list_projects()].count(first.path) == 1


def test_project_taken_by_someone_else_is_refused_untouched(forge):
    forge.create_foreign_project("mentoring-bob-alice")
    writes = forge.writes
    with pytest.raises(ProjectTaken, match="not created by issuebot"):
        forge.provider.ensure_project(spec())
    assert forge.writes == writes


def test_labels_twice_changes_nothing_the_second_time(forge):
    project = make_project(forge)
    labels = [("pair::active", "2da44e", "Pair meets"), ("kind::goal", "c5def5", "A goal")]
    scope = project if forge.provider.labels_per_project else None
    assert forge.provider.ensure_labels(labels, scope) == 2
    writes = forge.writes
    assert forge.provider.ensure_labels(labels, scope) == 0
    assert forge.writes == writes
    changed = [("pair::active", "000000", "Pair meets")]
    assert forge.provider.ensure_labels(changed, scope) == 1


def test_members_added_once(forge):
    project = make_project(forge)
    for user in ("alice", "bob", "carol"):
        forge.add_user(user)
    members = [Member("alice", "pair"), Member("bob", "pair"), Member("carol", "coordinator")]
    assert forge.provider.ensure_members(project, members) == 3
    assert forge.provider.ensure_members(project, members) == 0


def test_create_list_filter_update_comment_close(forge, clock):
    project = make_project(forge)
    forge.provider.ensure_labels([("kind::session", "c5def5", ""), ("session::planned", "0969da", ""), ("session::held", "1a7f37", "")],
                                 None if not forge.provider.labels_per_project else project)
    due = date(2027, 2, 1)
    issue = forge.provider.create_issue(project, "Session 1", "<!-- issuebot:session:1 -->\nagenda",
                                        labels=["kind::session", "session::planned"], due=due)
    assert issue.number >= 1 and issue.state == "open"
    fetched = forge.provider.get_issue(project, issue.number)
    assert fetched.due == due
    assert set(fetched.labels) == {"kind::session", "session::planned"}
    assert fetched.body.startswith("<!-- issuebot:session:1 -->")

    clock.advance(days=1)
    updated = forge.provider.update_issue(project, issue.number, add_labels=["session::held"], remove_labels=["session::planned"])
    assert set(updated.labels) == {"kind::session", "session::held"}

    forge.add_user("bob")
    forge.provider.ensure_members(project, [Member("bob", "pair")])  # only members comment on a private project
    forge.as_user("bob").create_comment(project, issue.number, "/session 45m")
    comments = forge.provider.list_comments(project, issue.number)
    assert [(c.author, c.body) for c in comments] == [("bob", "/session 45m")]

    closed = forge.provider.update_issue(project, issue.number, state="closed")
    assert closed.state == "closed"
    assert [i.number for i in forge.provider.list_issues(project, state="open")] == []
    assert [i.number for i in forge.provider.list_issues(project, state="closed")] == [issue.number]


def label_scope(forge, project: str) -> str | None:
    """Where labels live: the project on trackers with per-project labels, else the group."""
    return project if forge.provider.labels_per_project else None


def pair_member(forge, project: str, username: str):
    """`username` made a pair member of `project` (only members edit a private project), acting as themselves."""
    forge.add_user(username)
    forge.provider.ensure_members(project, [Member(username, "pair")])
    return forge.as_user(username)


def test_a_label_a_person_adds_between_issuebots_read_and_write_survives(forge):
    project = make_project(forge)
    issue = forge.provider.create_issue(project, "Session 1", "b", labels=["kind::session", "session::planned"])
    person = pair_member(forge, project, "bob")
    forge.after_next_issue_read(lambda: person.update_issue(project, issue.number, add_labels=["needs-help"]))
    updated = forge.provider.update_issue(project, issue.number, add_labels=["session::held"],
                                          remove_labels=["session::planned"])
    expected = {"kind::session", "session::held", "needs-help"}
    assert set(forge.provider.get_issue(project, issue.number).labels) == expected
    assert set(updated.labels) == expected


def test_a_scoped_label_replaces_its_sibling_on_every_tracker(forge):
    project = make_project(forge)
    issue = forge.provider.create_issue(project, "Progress", "b", labels=["kind::progress", "pair::kickoff"])
    updated = forge.provider.update_issue(project, issue.number, add_labels=["pair::active"])
    assert set(updated.labels) == {"kind::progress", "pair::active"}
    assert set(forge.provider.get_issue(project, issue.number).labels) == {"kind::progress", "pair::active"}
    opened = forge.provider.create_issue(project, "Session", "b", labels=["session::planned", "session::held"])
    assert set(forge.provider.get_issue(project, opened.number).labels) == {"session::held"}


def test_removing_a_label_the_issue_no_longer_has_is_no_error(forge):
    project = make_project(forge)
    issue = forge.provider.create_issue(project, "Session", "b", labels=["session::planned", "kind::session"])
    person = pair_member(forge, project, "bob")
    forge.after_next_issue_read(lambda: person.update_issue(project, issue.number, remove_labels=["session::planned"]))
    updated = forge.provider.update_issue(project, issue.number, remove_labels=["session::planned"], state="closed")
    assert updated.state == "closed"
    assert set(forge.provider.get_issue(project, issue.number).labels) == {"kind::session"}


def test_a_blank_title_is_refused_before_any_write(forge):
    project = make_project(forge)
    issue = forge.provider.create_issue(project, "T", "b")
    writes = forge.writes
    with pytest.raises(InvalidRequest, match="needs a title"):
        forge.provider.create_issue(project, "  ", "b")
    with pytest.raises(InvalidRequest, match="needs a title"):
        forge.provider.update_issue(project, issue.number, title=" ")
    assert forge.writes == writes
    assert forge.provider.get_issue(project, issue.number).title == "T"


def test_access_never_goes_down(forge):
    project = make_project(forge)
    forge.add_user("carol")
    assert forge.provider.ensure_members(project, [Member("carol", "pair")]) == 1
    writes = forge.writes
    assert forge.provider.ensure_members(project, [Member("carol", "coordinator"), Member("carol", "pair")]) == 0
    assert forge.writes == writes


def test_label_colours_compare_without_hash_or_case(forge):
    project = make_project(forge)
    scope = label_scope(forge, project)
    assert forge.provider.ensure_labels([("pair::active", "#2DA44E", "Pair meets")], scope) == 1
    writes = forge.writes
    assert forge.provider.ensure_labels([("pair::active", "2da44e", "Pair meets")], scope) == 0
    assert forge.writes == writes


def test_an_archived_project_refuses_every_write(forge):
    project = make_project(forge)
    issue = forge.provider.create_issue(project, "T", "b")
    assert forge.provider.archive_project(project) is True
    with pytest.raises(ProviderError, match="archived"):
        forge.provider.create_issue(project, "T2", "b")
    with pytest.raises(ProviderError, match="archived"):
        forge.provider.update_issue(project, issue.number, state="closed")
    with pytest.raises(ProviderError, match="archived"):
        forge.provider.create_comment(project, issue.number, "hello")
    assert forge.provider.get_issue(project, issue.number).state == "open"
    assert forge.provider.list_comments(project, issue.number) == []
    unchanged = forge.provider.update_issue(project, issue.number, state="open")  # nothing to write: no error
    assert unchanged.state == "open"


def test_update_without_change_makes_no_write(forge):
    project = make_project(forge)
    issue = forge.provider.create_issue(project, "T", "body")
    writes = forge.writes
    forge.provider.update_issue(project, issue.number, body="body", title="T")
    assert forge.writes == writes


def test_listing_walks_every_page_and_filters(forge, clock):
    project = make_project(forge)
    other = make_project(forge, "mentoring-erin-dave")
    label_scope = None if not forge.provider.labels_per_project else project
    forge.provider.ensure_labels([("kind::goal", "c5def5", ""), ("kind::session", "c5def5", "")], label_scope)
    if label_scope:
        forge.provider.ensure_labels([("kind::goal", "c5def5", "")], other)
    for n in range(260):
        forge.provider.create_issue(project, f"issue {n}", "b", labels=["kind::goal"] if n % 2 else ["kind::session"])
    cutoff = clock.advance(hours=1)
    clock.advance(hours=1)
    forge.provider.create_issue(other, "late", "b", labels=["kind::goal"])
    reads = forge.reads
    everything = list(forge.provider.list_issues(None))
    assert len(everything) == 261
    assert forge.reads - reads <= 4  # 261 issues: three pages of 100 (+1 for a provider's lookup)
    assert len({(i.project, i.number) for i in everything}) == 261
    goals = list(forge.provider.list_issues(project, labels=["kind::goal"]))
    assert len(goals) == 130 and all("kind::goal" in i.labels for i in goals)
    recent = list(forge.provider.list_issues(None, updated_after=cutoff))
    assert [i.title for i in recent] == ["late"]


def test_missing_issue_is_not_found(forge):
    project = make_project(forge)
    with pytest.raises(NotFound):
        forge.provider.get_issue(project, 9999)


def test_archive_is_idempotent(forge):
    project = make_project(forge)
    assert forge.provider.archive_project(project) is True
    assert forge.provider.archive_project(project) is False


# ------------------------------------------------------------------------- injected failures


def needs_errors(forge):
    if not forge.supports_injected_errors:
        pytest.skip(f"{forge.name} has no HTTP layer to fail")


def test_unknown_user_is_named(forge):
    needs_errors(forge)
    project = make_project(forge)
    with pytest.raises(NotFound, match="nobody-here"):
        forge.provider.ensure_members(project, [Member("nobody-here", "pair")])


def test_invalid_token_fails_before_any_write(forge):
    needs_errors(forge)
    forge.fail_next(401)
    with pytest.raises(AuthenticationFailed):
        forge.provider.check_access()
    assert forge.writes == 0


def test_forbidden_is_reported(forge):
    needs_errors(forge)
    project = make_project(forge)
    forge.fail_next(403)
    with pytest.raises(Forbidden):
        forge.provider.create_issue(project, "T", "b")


def test_rate_limit_waits_then_stops_clearly(forge):
    needs_errors(forge)
    project = make_project(forge)
    forge.fail_next(429, retry_after=3600, times=10)
    with pytest.raises(RateLimited) as caught:
        forge.provider.create_issue(project, "T", "b")
    assert caught.value.retry_after and caught.value.retry_after > 0
    assert "rate limit" in str(caught.value).lower()


def test_transient_5xx_is_retried(forge):
    needs_errors(forge)
    project = make_project(forge)
    issue = forge.provider.create_issue(project, "T", "b")
    forge.fail_next(502, times=1)
    assert forge.provider.get_issue(project, issue.number).title == "T"


def test_persistent_5xx_is_unavailable(forge):
    needs_errors(forge)
    project = make_project(forge)
    forge.fail_next(503, times=50)
    with pytest.raises(ProviderUnavailable):
        forge.provider.get_issue(project, 1)


def test_a_create_whose_answer_was_lost_is_carried_out_once(forge):
    """A 5xx after the forge already created the issue or comment: never a duplicate."""
    needs_errors(forge)
    from issuebot.apply import Applier
    from issuebot.models import OpenIssue, PostComment

    project = make_project(forge)
    applier = Applier(forge.provider)
    opened = OpenIssue(pair="bob-alice", project=project, key="goal:9", title="Goal", body="<!-- issuebot:goal:9 -->\nx")
    forge.lose_next_answer()
    applier.apply(opened)
    issues = list(forge.provider.list_issues(project, state="all"))
    assert [i.title for i in issues] == ["Goal"]

    comment = PostComment(pair="bob-alice", project=project, number=issues[0].number, key="nudge:x",
                          body="<!-- issuebot:nudge:x -->\nhello")
    forge.lose_next_answer()
    applier.apply(comment)
    assert [c.body for c in forge.provider.list_comments(project, issues[0].number)] == [comment.body]


def test_a_create_that_really_failed_is_checked_then_retried_or_reported(forge):
    needs_errors(forge)
    from issuebot.apply import Applier
    from issuebot.models import OpenIssue

    project = make_project(forge)
    applier = Applier(forge.provider)
    opened = OpenIssue(pair="bob-alice", project=project, key="goal:9", title="Goal", body="<!-- issuebot:goal:9 -->\nx")
    forge.fail_next(502, times=50)
    with pytest.raises(ProviderUnavailable):
        applier.apply(opened)
    forge.clear_failures()
    assert list(forge.provider.list_issues(project, state="all")) == []
    forge.fail_next(502, times=1)  # one 5xx that created nothing: checked, then created once
    applier.apply(opened)
    assert [i.title for i in forge.provider.list_issues(project, state="all")] == ["Goal"]


def test_updated_after_excludes_the_instant_itself(forge, clock):
    project = make_project(forge)
    cutoff = clock.advance(hours=1)
    forge.provider.create_issue(project, "at the cutoff", "b")
    clock.advance(seconds=1)
    forge.provider.create_issue(project, "after it", "b")
    assert [i.title for i in forge.provider.list_issues(None, updated_after=cutoff)] == ["after it"]
    assert [i.title for i in forge.provider.list_issues(project, updated_after=cutoff)] == ["after it"]


def test_listing_a_missing_project_is_not_found(forge):
    with pytest.raises(NotFound):
        list(forge.provider.list_issues(forge.provider.project_path("mentoring-nobody")))


# ----------------------------------------------------------------------------- cohort: forms and access

def sign_up_form() -> tuple:
    from issuebot.people_import import signup_form
    from issuebot.templates import Templates

    return signup_form(Templates())


def test_an_issue_form_is_written_once_and_rewritten_only_when_it_changes(forge):
    project = make_project(forge, "intake")
    form = sign_up_form()
    assert forge.provider.ensure_issue_form(project, "sign-up", "Sign up", "Tell us about you", ["sign-up"], form)
    writes = forge.writes
    assert not forge.provider.ensure_issue_form(project, "sign-up", "Sign up", "Tell us about you", ["sign-up"], form)
    assert forge.writes == writes
    assert forge.provider.ensure_issue_form(project, "sign-up", "Sign up", "Tell us about you", ["sign-up"], form[:3])
    assert forge.writes == writes + 1


def test_access_lets_a_participant_read_and_file_issues_but_not_change_the_form(forge):
    project = make_project(forge, "intake")
    forge.provider.ensure_issue_form(project, "sign-up", "Sign up", "", [], sign_up_form())
    forge.provider.create_issue(project, "Call for participants", "<!-- issuebot:call-for-participants -->\nJoin us")
    for user in ("uma", "vic"):
        forge.add_user(user)
    outsider = forge.as_user("vic")
    with pytest.raises(NotFound):
        list(outsider.list_issues(project))
    assert forge.provider.ensure_access(project, ["uma"], "guest") == 1
    assert forge.provider.ensure_access(project, ["uma"], "guest") == 0
    uma = forge.as_user("uma")
    assert [i.title for i in uma.list_issues(project)] == ["Call for participants"]
    filed = uma.create_issue(project, "Sign-up: Uma", "### Name\n\nUma\n")
    assert filed.author == "uma"
    with pytest.raises((Forbidden, NotFound)):
        uma.ensure_issue_form(project, "sign-up", "Mine now", "", [], sign_up_form()[:1])


def test_access_given_for_a_space_never_lowers_a_members_access(forge):
    project = make_project(forge, "cohort")
    forge.add_user("alice")
    forge.provider.ensure_members(project, [Member("alice", "pair")])
    writes = forge.writes
    assert forge.provider.ensure_access(project, ["alice"], "guest") == 0
    assert forge.writes == writes


def test_a_form_with_an_opening_that_asks_for_confidentiality_is_written_once(forge):
    project = make_project(forge, "intake")
    args = (project, "rematch", "Re-match request", "Tell the coordinators", [], ())
    assert forge.provider.ensure_issue_form(*args, opening="/rematch", confidential=True)
    writes = forge.writes
    assert not forge.provider.ensure_issue_form(*args, opening="/rematch", confidential=True)
    assert forge.writes == writes
    assert forge.provider.ensure_issue_form(*args, opening="/rematch bob-alice", confidential=True)  # a new opening
    if forge.name != "github":  # GitHub has no confidential issues: the flag changes nothing there
        assert forge.provider.ensure_issue_form(*args, opening="/rematch bob-alice")
