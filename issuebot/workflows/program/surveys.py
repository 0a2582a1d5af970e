"""Surveys in each person's private channel: send each round when due, read `N: answer` replies, remind once, close."""

from __future__ import annotations

from datetime import date
from typing import Any

from issuebot import markers
from issuebot.config import Survey
from issuebot.models import Comment, EditIssue, Issue, OpenIssue, PostComment
from issuebot.pairstate import latest_round
from issuebot.plan import PairView, ProgramPlan, answers_by_form, handle_of, projected, state_date
from issuebot.survey_replies import read_replies
from issuebot.survey_results import survey_key

triggers = frozenset({"sweep"})
phase = "after"


def round_due(survey: Survey, plan: ProgramPlan, view: PairView) -> tuple[int, date] | None:
    """(round, the day it is due) of the latest round of `survey` due for the pair by today, if any."""
    today, state, status = plan.ctx.today, view.state, view.status(plan.program)
    if view.project is None or view.tracker is None:
        return None
    ends = state_date(state.get("ends")) or view.pair.ends
    if survey.when == "end":
        ended = state.get("ended")
        on = state_date(ended.get("on")) if isinstance(ended, dict) else None
        return (1, on) if status == "ended" and on is not None else None
    if status in ("ended", "paused"):
        return None
    if survey.when == "first_session":
        held = sorted(str(s.get("date")) for s in state.get("sessions", []) if s.get("outcome") == "held")
        first = state_date(held[0]) if held else None
        return (1, first) if first is not None and first <= today else None
    if survey.when == "wrapup":
        starts = plan.program.settings.wrapup_before.before(ends)
        return (1, starts) if starts <= today else None
    return latest_round(view.pair.starts, ends, survey.every, survey.every, today)  # type: ignore[arg-type]


def respondents(survey: Survey, view: PairView) -> list[tuple[str, str]]:
    """(username, role) of who answers this survey for the pair."""
    pair = view.pair
    chosen = {"mentee": [(pair.mentee.username, "mentee")], "mentor": [(pair.mentor.username, "mentor")],
              "both": [(pair.mentee.username, "mentee"), (pair.mentor.username, "mentor")],
              "manager": [(pair.mentee.manager, "manager")] if pair.mentee.manager else []}
    return chosen[survey.who]


def survey_context(survey: Survey, number: int, state: dict[str, Any], min_group: int) -> dict[str, Any]:
    return {"id": survey.id, "title": survey.title, "round": number, "privacy": survey.privacy,
            "closes": state.get("closes"), "min_group": min_group,
            "questions": [q.model_dump() for q in survey.questions]}


def send_round(plan: ProgramPlan, survey: Survey, view: PairView, number: int, due: date) -> None:
    today = plan.ctx.today
    if today >= survey.closes_after.after(due):
        return  # a round missed entirely (e.g. the survey was added later) is not sent late
    items = plan.view.channel_items()
    kind = plan.ctx.provider_kind
    for username, role in respondents(survey, view):
        key = survey_key(survey.id, number, view.pair.id, username)
        path = plan.view.channels.get(username)
        if key in items or path is None or any(isinstance(a, OpenIssue) and a.key == key for a in plan.actions):
            continue
        state = {"survey": survey.id, "round": number, "pair": view.pair.id, "person": username, "role": role,
                 "sent": today.isoformat(), "remind": survey.remind_after.after(today).isoformat(),
                 "closes": survey.closes_after.after(today).isoformat()}
        by_form = answers_by_form(plan.program.people.get(username))
        if by_form:
            state["form"] = True  # no forge account: the item records the invitation, the e-mailed link answers it
        handle = handle_of(plan.program, username, kind)
        context = plan.pair_plan(view.pair.id).render_context(
            survey=survey_context(survey, number, state, plan.program.surveys.min_group),
            respondent={"handle": handle, "role": role, "username": username})
        rendered = plan.ctx.templates.render("survey", **context)
        body = markers.write_state(markers.with_marker(rendered.body, key), state)
        plan.actions.append(OpenIssue(pair="", project=path, key=key, title=rendered.title, body=body,
                                      assignees=() if by_form else (handle,), confidential=True))


def follow_up(plan: ProgramPlan, survey: Survey, issue: Issue, key: str, comments: list[Comment]) -> None:
    """Record a complete answer and close; answer an incomplete reply; remind once; close when due."""
    state = markers.read_state(issue.body)
    handle = handle_of(plan.program, str(state.get("person", "")), plan.ctx.provider_kind)
    theirs = [c for c in comments if c.author.casefold() == handle.casefold()]
    posted = {markers.find_marker(c.body) for c in comments if c.author == plan.ctx.bot_username}
    view = plan.view.pairs.get(str(state.get("pair")))
    if view is None:
        return
    context = plan.pair_plan(view.pair.id).render_context(
        survey=survey_context(survey, int(state.get("round", 1)), state, plan.program.surveys.min_group),
        respondent={"handle": handle, "role": state.get("role"), "username": state.get("person")})

    def post(comment_key: str, template: str, **extra: Any) -> None:
        if comment_key in posted:
            return
        body = plan.ctx.templates.render(template, **context, **extra).body
        plan.actions.append(PostComment(pair="", project=issue.project, number=issue.number, key=comment_key,
                                        body=markers.with_marker(body, comment_key)))

    today = plan.ctx.today
    read = read_replies(survey, [c.body for c in theirs])
    if theirs and read.complete:
        done = {**state, "answers": read.answers, "answered": today.isoformat()}
        plan.actions.append(EditIssue(pair="", project=issue.project, number=issue.number, key=key,
                                      body=markers.write_state(issue.body, done), state="closed", reason="answered"))
        post(f"survey-thanks:{key}", "survey-thanks")
        return
    if theirs:
        by_number = {n: q for n, q in enumerate(survey.questions, 1)}
        problems = [{"number": p.number, "code": p.code, "question": p.question,
                     "kind": by_number[p.number].kind if p.number in by_number else "",
                     "choices": list(by_number[p.number].choices) if p.number in by_number else []}
                    for p in read.problems]
        post(f"survey-missing:{theirs[-1].id}", "survey-missing", problems=problems)
    closes, remind = state_date(state.get("closes")), state_date(state.get("remind"))
    if closes is not None and today >= closes:
        post(f"survey-closed:{key}", "survey-closed")
        plan.actions.append(EditIssue(pair="", project=issue.project, number=issue.number, key=key, state="closed",
                                      reason="survey round closed"))
    elif remind is not None and today >= remind and not theirs and not state.get("form"):
        post(f"survey-reminder:{key}", "survey-reminder")


def decide(plan: ProgramPlan) -> None:
    surveys = {s.id: s for s in plan.program.surveys.items}
    if plan.view.partial or not surveys:
        return
    for key, issue in plan.view.channel_items().items():
        survey_id = key.split(":")[1] if key.startswith("survey:") else None
        if survey_id in surveys and issue.state == "open":
            follow_up(plan, surveys[survey_id], issue, key, plan.view.channel_comments.get((issue.project, issue.number), []))
    for pair_id, observed in plan.view.pairs.items():
        if plan.decide_only is not None and pair_id not in plan.decide_only:
            continue
        view = projected(observed, plan.results.get(pair_id, []))  # a session logged this run counts now
        for survey in surveys.values():
            found = round_due(survey, plan, view)
            if found is not None:
                send_round(plan, survey, view, *found)
