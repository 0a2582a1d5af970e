"""The coordinators' dashboard issue and the sweep's pure helpers: checkboxes, projections, rounds, task lists."""

from __future__ import annotations

from datetime import date, datetime, timezone

from issuebot import markers
from issuebot.config import Period, load_program
from issuebot.models import EditIssue, Issue, OpenIssue
from issuebot.pairstate import latest_round, task_counts
from issuebot.plan import TRACKER, Context, PairView, index_issues, projected
from issuebot.reconcile import reconcile_program
from issuebot.templates import Templates
from issuebot.workflows.program import dashboard_issue as dashboard
from tests.conftest import program_data, write_program

BODY = """<!-- issuebot:dashboard -->
- [x] snooze reminders 14 days <!-- issuebot:do:snooze:bob-alice -->
- [ ] extend one month <!-- issuebot:do:extend:bob-alice -->
  - [X] end the pair <!-- issuebot:do:end:erin-dave -->
- [x] something a person added by hand
- [x] nudge now <!-- issuebot:do:launch:erin-dave -->
"""


def test_ticked_boxes_are_read_by_their_hidden_markers_only():
    assert dashboard.ticked_requests(BODY) == {"bob-alice": frozenset({"snooze"}), "erin-dave": frozenset({"end"})}
    assert dashboard.ticked_requests(None) == {}


def test_only_carried_out_boxes_are_cleared():
    left = dashboard.remaining_requests(BODY, {"bob-alice": frozenset({"snooze", "extend"})})
    assert left == {"erin-dave": frozenset({"end"})}


def test_task_list_completion():
    assert task_counts("- [x] a\n- [ ] b\n* [X] c\n  - [ ] nested\ntext [x] not a task") == (2, 4)
    assert task_counts("") == (0, 0)


def test_review_rounds_open_only_the_latest_due_round_before_the_end():
    starts, ends = date(2027, 1, 11), date(2027, 7, 11)
    every = Period(months=3)
    assert latest_round(starts, ends, every, every, date(2027, 4, 10)) is None
    assert latest_round(starts, ends, every, every, date(2027, 4, 11)) == (1, date(2027, 4, 11))
    assert latest_round(starts, ends, every, every, date(2027, 7, 20)) == (1, date(2027, 4, 11))  # round 2 = the end
    assert latest_round(starts, ends, Period(days=30), Period(days=60), date(2027, 4, 12)) == (2, date(2027, 4, 11))
    assert latest_round(starts, ends, Period(days=30), None, date(2027, 6, 1)) == (1, date(2027, 2, 10))


def test_projected_view_applies_label_and_body_edits():
    tracker = Issue(project="g/p", number=4, title="t", body="old", labels=("kind::progress", "pair::kickoff"))
    view = PairView(pair=None, project_path="g/p", project=None, issues={TRACKER: tracker})  # type: ignore[arg-type]
    actions = [
        EditIssue(pair="x", project="g/p", number=4, key=TRACKER, add_labels=("pair::stale",), remove_labels=("pair::kickoff",), body="new"),
        OpenIssue(pair="x", project="g/p", key="review:1", title="Review", body="b", labels=("kind::review",)),
    ]
    after = projected(view, actions)
    assert after.issues[TRACKER].labels == ("kind::progress", "pair::stale") and after.issues[TRACKER].body == "new"
    assert "review:1" in after.issues and view.issues[TRACKER].body == "old"


def test_sync_creates_the_coordinator_project_and_one_dashboard_then_nothing(forge, clock, tmp_path):
    program = load_program(write_program(tmp_path / "program.yml", program_data(forge.provider_config())))
    for person in ("alice", "bob", "carol", "dave", "erin", "dana"):
        forge.add_user(person)
    templates = Templates()
    first = reconcile_program(forge.provider, program, templates, trigger="sync", now=clock())
    assert not first.outcome.errors and first.orphans == []
    path = forge.provider.project_path("coordination")
    board = [i for i in forge.provider.list_issues(path, state="all") if markers.find_marker(i.body) == "dashboard"]
    assert len(board) == 1 and board[0].labels == ("kind::dashboard",)
    if hasattr(forge.provider, "members"):
        assert forge.provider.members(path) == {"carol": "coordinator"}
    writes = forge.writes
    again = reconcile_program(forge.provider, program, templates, trigger="sync", now=clock())
    assert forge.writes == writes and not again.orphans


def test_dashboard_rows_hold_metadata_only(forge, clock, tmp_path):
    program = load_program(write_program(tmp_path / "program.yml", program_data(forge.provider_config())))
    for person in ("alice", "bob", "carol", "dave", "erin", "dana"):
        forge.add_user(person)
    result = reconcile_program(forge.provider, program, Templates(), trigger="sync", now=clock())
    views = {pid: projected(v, result.per_pair[pid]) for pid, v in result.views.items()}
    ctx = Context(program=program, templates=Templates(), now=datetime(2027, 1, 29, 9, tzinfo=timezone.utc), trigger="sweep")
    table = dashboard.rows(program, views, ctx)
    assert [r["pair"] for r in table] == ["bob-alice", "erin-dave"]
    assert table[0]["next_session_due"] == "2027-01-25" and table[0]["act"] == "mentee" and table[0]["goals_total"] == 1
    title, body, _labels = dashboard.render_body(Templates(), program, table, {"erin-dave": frozenset({"nudge"})})
    assert "- [x] nudge now <!-- issuebot:do:nudge:erin-dave -->" in body
    assert "Ship a service" not in body  # goal titles are pair text: not on the dashboard
    assert markers.find_marker(body) == "dashboard" and "Test mentoring" in title
    assert index_issues([Issue(project="p", number=1, title=title, body=body)]).keys() == {"dashboard"}


def test_a_dashboard_too_big_for_one_issue_lists_the_pairs_that_need_someone(tmp_path):
    people = [{"username": "carol", "role": "both"}]
    pairs = []
    for i in range(400):
        people += [{"username": f"mentor{i}", "role": "mentor"}, {"username": f"mentee{i}", "role": "mentee"}]
        pairs.append({"mentor": f"mentor{i}", "mentee": f"mentee{i}"})
    program = load_program(write_program(tmp_path / "program.yml", program_data(people=people, pairs=pairs)))
    table = [{"pair": p.id, "mentor": p.mentor.username, "mentee": p.mentee.username, "status": "active",
              "last_session": None, "next_session_due": "2027-02-01", "next_due": "2027-02-01", "sessions_held": 1, "goals_done": 0,
              "goals_total": 1, "url": "", "act": "mentee" if n % 40 == 0 else "-"} for n, p in enumerate(program.pairs)]
    ticked = {program.pairs[1].id: frozenset({"extend"})}
    _, body, _ = dashboard.render_body(Templates(), program, table, ticked, max_chars=20_000)
    assert len(body) <= 20_000
    assert f"| [{program.pairs[40].id}]" in body and f"| [{program.pairs[2].id}]" not in body
    assert dashboard.ticked_requests(body) == ticked  # a ticked pair stays listed
    assert "389 more pairs are not listed" in body and "389 active" in body
    _, small, _ = dashboard.render_body(Templates(), program, table, ticked, max_chars=3_000)
    assert len(small) <= 3_000


def test_a_box_ticked_from_the_web_app_reads_like_a_tick_by_hand():
    ticked = dashboard.tick_box(BODY, "bob-alice", "extend")
    assert "- [x] extend one month <!-- issuebot:do:extend:bob-alice -->" in ticked
    assert dashboard.ticked_requests(ticked)["bob-alice"] == frozenset({"snooze", "extend"})
    assert dashboard.tick_box(ticked, "bob-alice", "extend") == ticked  # ticked already: unchanged
    unlisted = dashboard.tick_box(BODY, "zoe-yann", "nudge")  # not on a dashboard too big to list everyone
    assert dashboard.ticked_requests(unlisted)["zoe-yann"] == frozenset({"nudge"})
    assert unlisted.startswith(BODY.rstrip())
