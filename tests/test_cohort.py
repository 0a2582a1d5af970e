"""The intake project and the cohort space on every tracker: access, the call, the sign-up form, activities and credits."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from issuebot import cohort, markers, people_import
from issuebot.config import load_program
from issuebot.providers.base import Forbidden, NotFound
from issuebot.reconcile import reconcile_program
from issuebot.templates import Templates
from tests.conftest import program_data, write_program

PEOPLE = ("alice", "bob", "carol", "dave", "erin", "dana", "fay", "gus")
START = datetime(2027, 1, 11, 9, tzinfo=timezone.utc)


def cohort_program(tmp_path: Path, forge: Any, **spaces: Any) -> Any:
    for person in PEOPLE:
        forge.add_user(person)
    data = program_data(forge.provider_config())
    data["program"].update(spaces)
    return load_program(write_program(tmp_path / "program.yml", data))


def sync(forge: Any, program: Any, clock: Any, trigger: str = "sync") -> Any:
    result = reconcile_program(forge.provider, program, Templates(program.templates_dir()), trigger=trigger, now=clock())
    assert result.outcome.errors == []
    return result


INTAKE = {"intake": {"project": "join", "readers": ["fay"]}}
SPACE = {"cohort_space": {"project": "cohort", "readers": ["gus"], "activities": [
    {"key": "lunch", "title": "Lunch and learn", "every": "1 month", "starts": "2027-02-01", "host": "alice", "credit": "1h"},
    {"key": "core", "title": "Core group meeting", "dates": ["2027-01-20", "2027-03-15"]},
]}}


def lunch_issue(forge: Any, path: str) -> Any:
    """The lunch-and-learn activity issue open in the cohort space."""
    return next(i for i in forge.provider.list_issues(path) if "lunch" in (markers.find_marker(i.body) or ""))


def lunch_opened(tmp_path: Path, clock: Any) -> tuple[Any, Any, str, Any]:
    """An embedded tracker synced on 2027-02-01, the day the lunch and learn opens: (forge, program, cohort path, lunch)."""
    from tests.fakes.local import LocalHarness

    forge = LocalHarness(tmp_path, clock)
    program = cohort_program(tmp_path, forge, **SPACE)
    clock.set(datetime(2027, 2, 1, 8, tzinfo=timezone.utc))
    sync(forge, program, clock)
    path = forge.provider.project_path("cohort")
    return forge, program, path, lunch_issue(forge, path)


def test_sync_keeps_the_intake_project_the_call_and_the_form_and_a_rerun_writes_nothing(forge, tmp_path, clock):
    program = cohort_program(tmp_path, forge, **INTAKE)
    planned = reconcile_program(forge.provider, program, Templates(), trigger="sync", now=clock(), dry_run=True)
    described = [a.describe() for a in planned.outcome.actions]
    assert any("ensure issue form 'sign-up' (11 questions)" in d for d in described)
    assert any("guest access" in d and "fay" in d for d in described)
    sync(forge, program, clock)
    path = forge.provider.project_path("join")
    issues = list(forge.provider.list_issues(path, state="all"))
    assert [markers.find_marker(i.body) for i in issues] == [cohort.CALL_KEY]
    assert "sign-up" in issues[0].body.lower()
    writes = forge.writes
    again = sync(forge, program, clock)
    assert again.outcome.writes == 0 and forge.writes == writes


def test_a_participant_reads_the_intake_project_files_a_sign_up_that_imports_cleanly_and_cannot_change_the_form(
        forge, tmp_path, clock):
    program = cohort_program(tmp_path, forge, **INTAKE)
    sync(forge, program, clock)
    path = forge.provider.project_path("join")
    form = people_import.signup_form(Templates())
    answers = {"name": "Fay Fox", "role": "mentee", "level": "2", "department": "Payments", "skills": "sql",
               "wants": "python, testing", "interests": "climbing", "timezone": "Europe/Berlin",
               "capacity": "1", "bio": "New in payments."}
    body = "".join(f"### {f.label}\n\n{answers.get(f.id, '_No response_')}\n\n" for f in form)
    fay = forge.as_user("fay")
    assert [i.title for i in fay.list_issues(path, state="all")]  # she reads the call
    fay.create_issue(path, "Sign-up: Fay", body)
    signups = [i for i in forge.provider.list_issues(path, state="open") if i.author != forge.provider.bot_username]
    candidates, unknown = people_import.read_signups(signups, program, forge.name, form)
    report = people_import.compare(program, candidates)
    assert unknown == [] and report.problems == []
    assert report.new == [{"username": "fay", "name": "Fay Fox", "role": "mentee", "level": 2, "department": "Payments",
                           "timezone": "Europe/Berlin", "capacity": 1, "skills": ["sql"], "wants": ["python", "testing"],
                           "interests": ["climbing"], "attributes": {"bio": "New in payments."}}]
    with pytest.raises((Forbidden, NotFound)):
        fay.ensure_issue_form(path, "sign-up", "Mine now", "", [], form[:1])
    assert sync(forge, program, clock).outcome.writes == 0  # the form is as issuebot wrote it


def test_activities_open_on_their_days_once_and_the_host_is_credited_once_after_close(forge, tmp_path, clock):
    program = cohort_program(tmp_path, forge, **SPACE)
    sync(forge, program, clock)
    path = forge.provider.project_path("cohort")

    def opened() -> list[str]:
        return sorted(markers.find_marker(i.body) or "" for i in forge.provider.list_issues(path, state="all"))

    assert opened() == []  # nothing is due on 2027-01-11
    clock.set(datetime(2027, 1, 20, 8, tzinfo=timezone.utc))
    sync(forge, program, clock, "sweep")
    assert opened() == ["activity:core:2027-01-20"]
    clock.set(datetime(2027, 2, 1, 8, tzinfo=timezone.utc))
    sync(forge, program, clock, "sweep")
    assert opened() == ["activity:core:2027-01-20", "activity:lunch:2027-02-01"]
    assert sync(forge, program, clock, "sweep").outcome.writes == 0
    lunch = lunch_issue(forge, path)
    assert lunch.assignees == ("alice",)
    for person in ("bob", "erin"):
        forge.as_user(person).create_comment(path, lunch.number, "/attended - thanks!")
    forge.as_user("gus").create_comment(path, lunch.number, "sorry, could not make it")
    sync(forge, program, clock, "sweep")
    recorded = forge.provider.get_issue(path, lunch.number)
    assert markers.read_state(recorded.body)["attendees"] == ["bob", "erin"]
    assert "@bob, @erin" in recorded.body
    threads_read = forge.provider.meter.by_verb["list_comments"]
    assert sync(forge, program, clock, "sweep").outcome.writes == 0
    assert forge.provider.meter.by_verb["list_comments"] == threads_read  # a quiet day reads no thread
    forge.provider.update_issue(path, lunch.number, state="closed")
    sync(forge, program, clock, "sweep")
    closed = forge.provider.get_issue(path, lunch.number)
    assert markers.read_state(closed.body)["credited"] == 60
    assert sync(forge, program, clock, "sweep").outcome.writes == 0
    credits = cohort.credits(program, forge.provider.list_issues(path, state="all"), forge.name)
    assert cohort.credited_minutes(credits) == {"alice": 60}


def test_participants_can_read_the_cohort_space(forge, tmp_path, clock):
    program = cohort_program(tmp_path, forge, **SPACE)
    clock.set(datetime(2027, 1, 20, 8, tzinfo=timezone.utc))
    sync(forge, program, clock)
    path = forge.provider.project_path("cohort")
    for person in ("bob", "gus"):
        assert [i.title for i in forge.as_user(person).list_issues(path)] == ["Core group meeting: 2027-01-20"]


def test_occurrences_follow_every_or_dates_within_the_program(tmp_path):
    data = program_data()
    data["program"].update(SPACE)
    program = load_program(write_program(tmp_path / "p.yml", data))
    lunch, core = program.settings.cohort_space.activities
    assert cohort.occurrences(lunch, program)[:3] == [date(2027, 2, 1), date(2027, 3, 1), date(2027, 4, 1)]
    assert cohort.occurrences(lunch, program)[-1] == date(2027, 7, 1)
    assert cohort.due_occurrence(core, program, date(2027, 3, 14)) == date(2027, 1, 20)
    assert cohort.due_occurrence(lunch, program, date(2027, 1, 31)) is None


def test_report_and_summary_count_a_hosts_credited_minutes(tmp_path, clock):
    from tests.conftest import run_cli

    forge, program, path, lunch = lunch_opened(tmp_path, clock)
    clock.set(datetime(2027, 2, 2, 12, tzinfo=timezone.utc))
    forge.provider.update_issue(path, lunch.number, state="closed")
    sync(forge, program, clock, "sweep")
    now = "2027-02-03T09:00:00+00:00"
    table = run_cli("report", "-c", str(program.path), "--now", now, cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    line = next(line for line in table.stdout.splitlines() if line.startswith("cohort:alice"))
    assert "hosted 1" in line and line.split()[-2] == "1"
    total = next(line for line in table.stdout.splitlines() if line.startswith("total"))
    assert total.split()[-1] == "1"  # no session held yet: the lunch and learn is all the mentor time
    summary = run_cli("report", "-c", str(program.path), "--now", now, "--summary", "--format", "json", cwd=tmp_path)
    import json

    figures = json.loads(summary.stdout)
    assert (figures["credited_hours"], figures["mentor_hours"]) == (1.0, 1.0)
    assert [m["mentor_hours"] for m in figures["months"]] == [0, 1.0]


def test_the_intake_project_may_be_the_private_channels_project(forge, tmp_path, clock):
    """GitLab and the embedded tracker keep the channels in one project (`surveys.channel: intake`):
    the intake project is that project, its call public, each person's items still confidential."""
    for person in PEOPLE:
        forge.add_user(person)
    data = program_data(forge.provider_config())
    data["program"]["intake"] = {"project": "intake"}
    data["surveys"] = {"channels": "always"}
    program = load_program(write_program(tmp_path / "program.yml", data))
    sync(forge, program, clock)
    path = forge.provider.project_path("intake")
    assert cohort.CALL_KEY in {markers.find_marker(i.body) for i in forge.provider.list_issues(path, state="all")}
    assert sync(forge, program, clock).outcome.writes == 0
    sync(forge, program, clock, "sweep")
    assert sync(forge, program, clock, "sweep").outcome.writes == 0


def test_a_reopened_and_closed_activity_credits_its_host_once(tmp_path, clock):

    forge, program, path, lunch = lunch_opened(tmp_path, clock)
    forge.provider.update_issue(path, lunch.number, state="closed")
    sync(forge, program, clock, "sweep")
    forge.provider.update_issue(path, lunch.number, state="open")
    forge.provider.update_issue(path, lunch.number, state="closed")
    assert sync(forge, program, clock, "sweep").outcome.writes == 0
    credits = cohort.credits(program, forge.provider.list_issues(path, state="all"), "local")
    assert [(c.username, c.minutes) for c in credits] == [("alice", 60)]


def test_plan_lists_the_intake_and_cohort_writes_and_people_import_reads_a_filed_sign_up(tmp_path, clock):
    from tests.conftest import run_cli
    from tests.fakes.local import LocalHarness

    forge = LocalHarness(tmp_path, clock)
    program = cohort_program(tmp_path, forge, **INTAKE, **SPACE)
    now = "2027-02-01T09:00:00+00:00"
    planned = run_cli("plan", "-c", str(program.path), "--now", now, cwd=tmp_path)
    assert planned.returncode == 0, planned.stderr
    lines = planned.stdout.splitlines()
    section = lines[lines.index("program:"):]
    for wanted in ("  - create private project join", "  - give alice, dave, bob, erin, fay guest access to mentoring/join",
                   "  - ensure issue form 'sign-up' (11 questions) in mentoring/join",
                   "  - create private project cohort", "  - give alice, dave, bob, erin, gus guest access to mentoring/cohort",
                   "  - open issue [activity:lunch:2027-02-01] 'Lunch and learn: 2027-02-01'",
                   "  - open issue [activity:core:2027-01-20] 'Core group meeting: 2027-01-20'"):
        assert wanted in section, (wanted, section)
    assert any(line.startswith("  - open issue [call-for-participants]") for line in section)
    assert run_cli("sync", "-c", str(program.path), "--now", now, cwd=tmp_path).returncode == 0
    form = people_import.signup_form(Templates())
    answers = {"name": "Fay Fox", "role": "mentor", "level": "5", "capacity": "2", "skills": "go\nkubernetes"}
    body = "".join(f"### {f.label}\n\n{answers.get(f.id, '_No response_')}\n\n" for f in form)
    forge.as_user("fay").create_issue(forge.provider.project_path("join"), "Sign-up: Fay", body)
    imported = run_cli("people", "import", "-c", str(program.path), cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert "new: fay (Fay Fox, mentor, level 5)" in imported.stdout
    assert "unknown:" not in imported.stdout and "left out:" not in imported.stdout


def test_an_activity_whose_create_answer_was_lost_opens_once(forge, tmp_path, clock):
    if not forge.supports_injected_errors:
        pytest.skip(f"{forge.name} has no HTTP answer to lose")
    program = cohort_program(tmp_path, forge, **SPACE)
    sync(forge, program, clock)
    clock.set(datetime(2027, 1, 20, 8, tzinfo=timezone.utc))
    forge.lose_next_answer()  # the issue is created, the answer never arrives
    reconcile_program(forge.provider, program, Templates(), trigger="sweep", now=clock())
    sync(forge, program, clock, "sweep")
    path = forge.provider.project_path("cohort")
    keys = [markers.find_marker(i.body) for i in forge.provider.list_issues(path, state="all")]
    assert keys == ["activity:core:2027-01-20"]


@pytest.mark.parametrize(("spaces", "message"), [
    ({"cohort_space": {"activities": [{"key": "a", "title": "A", "every": "1 month", "dates": ["2027-02-01"]}]}},
     "give 'every' (with an optional 'starts') or 'dates', not both"),
    ({"cohort_space": {"activities": [{"key": "a", "title": "A"}, {"key": "a", "title": "B"}]}},
     "two activities have the key 'a'"),
    ({"cohort_space": {"project": "coordination"}}, "cohort_space.project and coordinator_project name the same project"),
    ({"intake": {"project": "cohort"}, "cohort_space": {}}, "cohort_space.project and intake.project name the same project"),
])
def test_a_cohort_space_that_cannot_work_is_refused_with_its_reason(tmp_path, spaces, message):
    from issuebot.config import ConfigError

    data = program_data()
    data["program"].update(spaces)
    with pytest.raises(ConfigError, match=r"program\.yml:\d+: program") as raised:
        load_program(write_program(tmp_path / "program.yml", data))
    assert message in str(raised.value)


def test_validate_refuses_a_sign_up_form_whose_question_fills_no_person_field(tmp_path):
    from tests.conftest import run_cli

    folder = tmp_path / "templates"
    folder.mkdir()
    shipped_form = (Path(Templates().path_of("sign-up"))).read_text(encoding="utf-8")
    (folder / "sign-up.md").write_text(shipped_form.replace("{id: department,", "{id: team,"), encoding="utf-8")
    data = program_data(templates="templates")
    data["program"].update(INTAKE)
    program = write_program(tmp_path / "program.yml", data)
    done = run_cli("validate", "-c", str(program), cwd=tmp_path)
    assert done.returncode != 0
    assert "sign-up.md: question 5: id 'team' is no person field" in done.stderr


def _cohort_run(name: str, tmp_path: Path, clock: Any, *, webhook: bool) -> dict[str, Any]:
    """Two attend a lunch and learn, one chats, the coordinator closes it: delivered by webhook (and
    every event delivered again), or found by one sweep. What the tracker holds afterwards."""
    from issuebot.events import handle_event
    from issuebot.models import Event, EventKind
    from tests.fakes import harness

    clock.set(START)
    with harness(name, tmp_path, clock) as forge:
        program = cohort_program(tmp_path, forge, **SPACE)
        templates = Templates(program.templates_dir())
        sync(forge, program, clock)
        clock.set(datetime(2027, 2, 1, 8, tzinfo=timezone.utc))
        sync(forge, program, clock, "sweep")
        path = forge.provider.project_path("cohort")
        lunch = lunch_issue(forge, path)
        events, outcomes = [], []

        def acted(event: Event) -> None:
            events.append(event)
            if webhook:  # delivered as it happens
                outcomes.append(handle_event(program, forge.provider, templates, event, now=clock()))

        for person, text in (("bob", "/attended"), ("gus", "Sorry, could not make it"), ("erin", "Great talk!\n/attended")):
            clock.set(clock() + timedelta(hours=1))
            written = forge.as_user(person).create_comment(path, lunch.number, text)
            acted(Event(kind=EventKind.COMMENT_CREATED, provider=forge.name, project=path, issue_number=lunch.number,
                        actor=person, comment_id=written.id, comment_body=written.body, at=clock()))
        clock.set(datetime(2027, 2, 2, 12, tzinfo=timezone.utc))
        forge.as_user("carol").update_issue(path, lunch.number, state="closed")
        acted(Event(kind=EventKind.ISSUE_CLOSED, provider=forge.name, project=path, issue_number=lunch.number,
                    actor="carol", at=clock()))
        if webhook:
            assert [o.ignored for o in outcomes] == [None] * 4
            assert [o.commands for o in outcomes] == [["/attended"], [], ["/attended"], []]
            assert [o.writes for o in outcomes] == [1, 1, 1, 1]  # each brings the record up to date at once
            writes = forge.writes
            again = [handle_event(program, forge.provider, templates, e, now=clock()) for e in events]
            assert [o.writes for o in again] == [0] * 4 and forge.writes == writes  # redelivery writes nothing
        else:
            assert sync(forge, program, clock, "sweep").outcome.writes == 1
        writes = forge.writes
        assert sync(forge, program, clock, "sweep").outcome.writes == 0 and forge.writes == writes
        issues = list(forge.provider.list_issues(path, state="all"))
        closed = forge.provider.get_issue(path, lunch.number)
        return {
            "record": markers.read_state(closed.body),
            "body": markers.visible_text(closed.body),
            "state": closed.state,
            "credits": [(c.username, c.minutes, c.on, c.key) for c in cohort.credits(program, issues, forge.name)],
            "replies": [c.body for c in forge.provider.list_comments(path, lunch.number)
                        if c.author == forge.provider.bot_username],
        }


@pytest.mark.parametrize("name", ["local", "github", "gitlab"])
def test_the_webhook_alone_and_the_sweep_alone_record_the_same_attendance_and_credit(name, tmp_path, clock):
    by_webhook = _cohort_run(name, tmp_path / "webhook", clock, webhook=True)
    by_sweep = _cohort_run(name, tmp_path / "sweep", clock, webhook=False)
    assert by_webhook == by_sweep
    assert by_webhook["record"] == {"hosts": ["alice"], "attendees": ["bob", "erin"], "seen": 3, "credited": 60}
    assert by_webhook["credits"] == [("alice", 60, date(2027, 2, 2), "activity:lunch:2027-02-01")]
    # As on the sweep, `/attended` is answered by the record in the issue, not by a comment per attendee.
    assert by_webhook["replies"] == []


def test_events_by_issuebot_in_the_cohort_space_and_sign_ups_in_the_intake_project_change_nothing(tmp_path, clock):
    from issuebot.events import handle_events
    from issuebot.models import Event, EventKind
    from tests.fakes.local import LocalHarness

    forge = LocalHarness(tmp_path, clock)
    program = cohort_program(tmp_path, forge, **SPACE, **INTAKE)
    clock.set(datetime(2027, 2, 1, 8, tzinfo=timezone.utc))
    sync(forge, program, clock)
    writes = forge.writes
    cohort_path, intake_path = forge.provider.project_path("cohort"), forge.provider.project_path("join")
    events = [Event(kind=EventKind.ISSUE_EDITED, provider="local", project=cohort_path, issue_number=1,
                    actor=forge.provider.bot_username, at=clock()),
              Event(kind=EventKind.ISSUE_OPENED, provider="local", project=intake_path, issue_number=2,
                    actor="fay", at=clock())]
    outcomes = handle_events(program, forge.provider, Templates(), events, now=clock())
    assert [o.ignored for o in outcomes] == ["made by issuebot itself", "sign-ups are read by `issuebot people import`"]
    assert forge.writes == writes


def test_report_json_and_csv_carry_the_hosts_rows_that_the_table_counts(tmp_path, clock):
    import csv
    import io
    import json

    from issuebot.events import act_on_tracker
    from tests.conftest import run_cli

    forge, program, path, lunch = lunch_opened(tmp_path, clock)
    clock.set(datetime(2027, 2, 2, 12, tzinfo=timezone.utc))
    act_on_tracker(program, forge.provider, Templates(), pair_id="bob-alice", issue="session:1", user="bob", now=clock())
    act_on_tracker(program, forge.provider, Templates(), pair_id="cohort", issue=str(lunch.number), user="carol",
                   now=clock())
    now = "2027-02-03T09:00:00+00:00"

    def report(fmt: str) -> str:
        done = run_cli("report", "-c", str(program.path), "--now", now, "--format", fmt, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        return done.stdout

    total = next(line for line in report("table").splitlines() if line.startswith("total"))
    assert total.split()[-1] == "1.75"  # a 45-minute session and the hour credited for the lunch and learn
    rows = json.loads(report("json"))
    assert [r["pair"] for r in rows] == ["bob-alice", "erin-dave", "cohort:alice"]
    host = rows[-1]
    assert (host["status"], host["mentor"], host["mentor_name"], host["activities_hosted"]) == (
        "cohort host", "alice", "Alice Adams", 1)
    assert (host["mentor_hours"], host["credited_hours"], host["project"], host["sessions_held"]) == (1.0, 1.0, path, 0)
    assert sum(r["mentor_hours"] for r in rows) == 1.75
    table = list(csv.DictReader(io.StringIO(report("csv"))))
    assert [r["pair"] for r in table] == [r["pair"] for r in rows]
    assert (table[-1]["status"], table[-1]["activities_hosted"], table[-1]["mentor_hours"]) == ("cohort host", "1", "1.0")
    assert sum(float(r["mentor_hours"]) for r in table) == 1.75


def test_events_of_the_cohort_space_that_waited_together_share_one_run(tmp_path, clock):
    from issuebot.events import handle_events
    from issuebot.models import Event, EventKind

    forge, program, path, lunch = lunch_opened(tmp_path, clock)
    events = []
    for person in ("bob", "erin"):
        written = forge.as_user(person).create_comment(path, lunch.number, "/attended")
        events.append(Event(kind=EventKind.COMMENT_CREATED, provider="local", project=path, issue_number=lunch.number,
                            actor=person, comment_id=written.id, comment_body=written.body, at=clock()))
    listed = forge.provider.meter.by_verb["list_issues"]
    outcomes = handle_events(program, forge.provider, Templates(), events, now=clock())
    assert [(o.writes, o.commands) for o in outcomes] == [(1, ["/attended"]), (0, ["/attended"])]
    assert forge.provider.meter.by_verb["list_issues"] == listed + 1  # one read of the space for both
    assert markers.read_state(forge.provider.get_issue(path, lunch.number).body)["attendees"] == ["bob", "erin"]
    swept = sync(forge, program, clock, "sweep").outcome.actions
    assert [a for a in swept if getattr(a, "project", None) == path] == []  # the sweep finds the record current
