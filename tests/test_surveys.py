"""Surveys end to end on each ready-made program: sent when due, answered by some, reminded once, closed, aggregated."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest

from issuebot import markers
from issuebot.config import Survey, SurveyQuestion
from issuebot.providers.base import NotFound
from issuebot.survey_replies import read_replies
from issuebot.survey_results import SurveyRecord, records_from_issues, survey_aggregates
from tests.test_programs import PROGRAMS, ProgramRun

SECRET = "TELL-NOBODY-42"  # written in every answer: must never leave the private channel


def answer_text(survey: Survey) -> str:
    values = {"scale": "4", "nps": "9", "text": SECRET}
    lines = [f"{n}: {values.get(q.kind) or q.choices[0]}" for n, q in enumerate(survey.questions, 1)]
    return "\n".join(lines) + f"\n\nthanks, {SECRET}"


def due_day(run: ProgramRun, survey: Survey, first_session: date) -> date:
    settings = run.program.settings
    if survey.when == "first_session":
        return first_session
    if survey.when == "wrapup":
        return settings.wrapup_before.before(run.program.pairs[0].ends)
    return survey.every.after(settings.starts)  # type: ignore[union-attr]


@pytest.mark.parametrize("name", PROGRAMS)
def test_a_survey_round_is_sent_answered_reminded_once_closed_and_aggregated(tmp_path: Path, name: str) -> None:
    run = ProgramRun(tmp_path, name)
    program = run.program
    survey = program.surveys.items[0]
    starts = program.settings.starts
    run.sync(f"{starts}T08:00:00+00:00")
    first = starts + timedelta(days=3)
    for pair in program.pairs:
        run.say(pair.id, "session:1", f"/session {first}", pair.mentee.username, f"{first}T18:00:00+00:00")
    day = due_day(run, survey, first)
    outputs = [run.sweep_twice(f"{day}T07:00:00+00:00")]

    tracker = run.tracker
    channel = tracker.private_channel_path(program.surveys.channel, "")
    items = {markers.find_marker(i.body): i for i in tracker.list_issues(channel, state="all")
             if (markers.find_marker(i.body) or "").startswith(f"survey:{survey.id}:1:")}
    def due_for(pair) -> bool:
        return survey.when != "every" or survey.every.after(pair.starts) <= day < pair.ends  # type: ignore[union-attr]

    expected = {(p.id, u) for p in program.pairs if due_for(p) for u in
                {"mentee": [p.mentee.username], "mentor": [p.mentor.username],
                 "both": [p.mentee.username, p.mentor.username]}[survey.who]}
    assert {(k.split(":")[3], k.split(":")[4]) for k in items} == expected
    coordinator = program.settings.coordinators[0]
    for key, item in items.items():
        pair_id, person = key.split(":")[3:5]
        pair = program.pair(pair_id)
        assert item.confidential and item.assignees == (person,)
        partner = pair.mentor.username if person == pair.mentee.username else pair.mentee.username
        others = [u for p in program.pairs if p.id != pair_id for u in p.usernames()]
        outsiders = [u for u in program.people if u not in pair.usernames() and u not in program.settings.coordinators]
        for reader in {partner, *outsiders[:1], *others[:1]}:
            with pytest.raises(NotFound):
                tracker.as_user(reader).get_issue(channel, item.number)
        assert tracker.as_user(person).get_issue(channel, item.number).title == item.title
        assert tracker.as_user(coordinator).get_issue(channel, item.number).title == item.title

    ordered = sorted(items.values(), key=lambda i: i.number)
    answering, rest = ordered[0], ordered[1:]
    answer_at = f"{day + timedelta(days=1)}T12:00:00+00:00"
    run.cli("tracker", "comment", "intake", str(answering.number), answer_text(survey), "--as",
            markers.read_state(answering.body)["person"], "--now", answer_at)
    if rest:
        run.cli("tracker", "comment", "intake", str(rest[0].number), "9: maybe", "--as",
                markers.read_state(rest[0].body)["person"], "--now", answer_at)
    outputs.append(run.sweep_twice(f"{day + timedelta(days=1)}T18:00:00+00:00"))
    done = tracker.get_issue(channel, answering.number)
    assert done.state == "closed" and markers.read_state(done.body)["answered"]
    if rest:
        [missing] = [c for c in tracker.list_comments(channel, rest[0].number)
                     if (markers.find_marker(c.body) or "").startswith("survey-missing:")]
        assert "no answer yet" in missing.body and "no question 9" in missing.body

    outputs.append(run.sweep_twice(f"{survey.remind_after.after(day)}T07:00:00+00:00"))
    outputs.append(run.sweep_twice(f"{survey.remind_after.after(day) + timedelta(days=1)}T07:00:00+00:00"))
    for item in rest:
        reminders = [c for c in tracker.list_comments(channel, item.number)
                     if (markers.find_marker(c.body) or "").startswith("survey-reminder:")]
        assert len(reminders) == (0 if item.number == rest[0].number else 1)  # once, and not to who replied
    outputs.append(run.cli("sweep", "--json", "--now", f"{survey.closes_after.after(day)}T07:00:00+00:00"))
    assert all(tracker.get_issue(channel, i.number).state == "closed" for i in items.values())

    report = json.loads(run.cli("report", "--surveys", "--format", "json"))
    [entry] = [e for e in report["surveys"] if e["survey"] == survey.id and e["round"] == 1]
    assert (entry["invited"], entry["answered"]) == (len(items), 1)
    assert entry["response_rate"] == round(1 / len(items), 2)
    for question in entry["questions"]:
        assert question["n"] == 1
        if question["kind"] != "text":
            assert question["withheld"] == "fewer than 3 answers" and not {"mean", "nps", "counts"} & set(question)
    if survey.privacy == "anonymous":
        text = json.dumps(report)
        assert SECRET not in text and not any(f'"{u}"' in text for u in program.people)
    # With a group as small as the answers, the figures appear.
    small = replace(program, surveys=program.surveys.model_copy(update={"min_group": 1}))
    [shown] = [e for e in survey_aggregates(small, records_from_issues(tracker.list_issues(channel, state="all")))["surveys"]
               if e["survey"] == survey.id]
    scale = next((q for q in shown["questions"] if q["kind"] == "scale"), None)
    assert scale is None or scale["mean"] == 4

    # Nothing of the answers leaves the channel: not the sweep's output, not the dashboard, not the pairs.
    assert not any(SECRET in out for out in outputs)
    everywhere = [i for i in tracker.list_issues(None, state="all") if i.project != channel]
    assert not any(SECRET in i.body for i in everywhere)
    assert not any(SECRET in c.body for i in everywhere for c in tracker.list_comments(i.project, i.number))


QUESTIONS = [SurveyQuestion(kind="scale", text="Useful?"), SurveyQuestion(kind="nps", text="Recommend?"),
             SurveyQuestion(kind="choice", text="Again?", choices=["yes", "no"]),
             SurveyQuestion(kind="text", text="Why?", required=False)]
SURVEY = Survey(id="s", title="S", when="every", every="1 month", questions=QUESTIONS)


def test_replies_read_numbered_lines_and_name_what_is_missing() -> None:
    read = read_replies(SURVEY, ["1: 4 - good\n2. 10\n3) No\n4: because\nit helps\n> 1: 1 (a quote)"])
    assert read.complete and read.answers == {"q1": 4, "q2": 10, "q3": "no", "q4": "because\nit helps"}
    read = read_replies(SURVEY, ["1: 7\n3: maybe\n9: hi"])
    assert [(p.number, p.code) for p in read.problems] == [(1, "out-of-range"), (2, "missing"), (3, "unknown-choice"),
                                                           (9, "no-such-question")]
    assert read_replies(SURVEY, ["1: 2\n3: 2", "2: 0\n1: 5"]).answers == {"q1": 5, "q3": "no", "q2": 0}  # later wins


def test_aggregates_withhold_small_groups_and_anonymous_never_names_anyone(tmp_path: Path) -> None:
    run = ProgramRun(tmp_path, "structured-programme")
    anonymous = SURVEY.model_copy(update={"privacy": "anonymous"})
    program = replace(run.program, surveys=run.program.surveys.model_copy(update={"items": [anonymous]}))
    answers = [{"q1": 5, "q2": 10, "q3": "yes", "q4": "ann's words"}, {"q1": 3, "q2": 6, "q3": "no"},
               {"q1": 4, "q2": 9, "q3": "yes"}]
    records = [SurveyRecord("s", 1, f"p{n}", f"person{n}", "mentee", True, a) for n, a in enumerate(answers)]
    records.append(SurveyRecord("s", 1, "p9", "person9", "mentor"))
    records += [SurveyRecord("s", 2, "p0", "person0", "mentee", True, answers[0])]
    result = survey_aggregates(program, records)
    one, two = result["surveys"]
    assert (one["invited"], one["answered"], one["response_rate"]) == (4, 3, 0.75)
    by_id = {q["id"]: q for q in one["questions"]}
    assert by_id["q1"]["mean"] == 4 and by_id["q2"]["nps"] == 33 and by_id["q3"]["counts"] == {"yes": 2, "no": 1}
    assert by_id["q4"] == {"id": "q4", "kind": "text", "n": 1}  # anonymous: no text
    assert all(q.get("withheld") == "fewer than 3 answers" for q in two["questions"] if q["kind"] != "text")
    assert "person" not in json.dumps(result) and "responses" not in one
