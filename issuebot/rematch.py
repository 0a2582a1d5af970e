"""Private re-match requests: a confidential issue to the coordinators ends a pairing neutrally and frees both people.

A comment in the pair's own project would be read by the partner, so a person who finds the
pairing is not working opens a confidential issue in `program.coordinator_project` containing
`/rematch [pair id]` (the `rematch` template writes one). Carrying the request out ends the
pair through offboarding with a neutral reason that does not say who asked, answers the
requester privately and closes the request; `issuebot match` then treats both as looking for
a partner and never proposes the same two again (every declared pair counts as former partners).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from issuebot import markers
from issuebot.config import Program
from issuebot.models import Action, Issue, Pair, Person, PostComment
from issuebot.providers.base import Provider, ProjectSpec
from issuebot.reconcile import Applier, Context, Plan, observe_pair
from issuebot.templates import Templates
from issuebot.workflows import offboarding

_REQUEST_RE = re.compile(r"^ {0,3}/rematch(?:[ \t]+(?P<pair>[A-Za-z0-9][A-Za-z0-9._-]*))?[ \t]*$", re.MULTILINE)

# Who the tracker records as having ended the pair: never the requester.
ENDED_BY = "coordinators"


@dataclass(frozen=True)
class Request:
    """One open re-match request and what to do with it (pure decision)."""

    issue: Issue
    pair: Pair | None
    requester: Person | None
    problem: str = ""  # why it cannot be carried out: "unknown-pair", "not-a-member", "which-pair", "not-started"


@dataclass
class RematchOutcome:
    ended: list[str] = field(default_factory=list)
    unclear: list[int] = field(default_factory=list)
    writes: int = 0
    actions: list[Action] = field(default_factory=list)


def coordinator_project(provider: Provider, program: Program) -> str:
    return provider.project_path(program.settings.coordinator_project)


def person_by_handle(program: Program, handle: str, provider_kind: str) -> Person | None:
    for person in program.people.values():
        if person.handle(provider_kind) == handle:
            return person
    return None


def read_request(program: Program, issue: Issue, provider_kind: str) -> Request | None:
    """The request an issue in the coordinator project makes, or None when it is not one."""
    match = _REQUEST_RE.search(markers.visible_text(issue.body))
    if match is None:
        return None
    requester = person_by_handle(program, issue.author, provider_kind)
    theirs = [p for p in program.pairs if requester is not None and requester.username in p.usernames()]
    named = match.group("pair")
    if named:
        pair = next((p for p in program.pairs if p.id == named.lower()), None)
        if pair is None:
            return Request(issue, None, requester, "unknown-pair")
    elif len(theirs) == 1:
        pair = theirs[0]
    else:
        return Request(issue, None, requester, "which-pair" if theirs else "not-a-member")
    if requester is None or pair not in theirs:
        return Request(issue, pair, requester, "not-a-member")
    return Request(issue, pair, requester)


def open_requests(provider: Provider, program: Program, projects: set[str] | None = None) -> list[Request]:
    """Open requests in the coordinator project (one list call per 100 open issues there, plus the
    group's project list unless the caller passes the project paths it already read)."""
    project = coordinator_project(provider, program)
    if project not in (projects if projects is not None else {p.path for p in provider.list_projects()}):
        return []
    found = []
    for issue in provider.list_issues(project, state="open"):
        if issue.author == provider.bot_username:
            continue  # the dashboard and other bot issues
        request = read_request(program, issue, provider.kind)
        if request is not None:
            found.append(request)
    return found


def file_request(provider: Provider, program: Program, templates: Templates, pair: Pair, requester: Person,
                 note: str = "", *, now: datetime) -> Issue:
    """Open the confidential request as `provider`'s acting person (the embedded tracker's `as_user`)."""
    project = coordinator_project(provider, program)
    if project not in {p.path for p in provider.list_projects()}:
        token = f"[issuebot:{program.settings.coordinator_project}]"
        rendered = templates.render("coordination-project", program=_program_context(program), token=token)
        provider.ensure_project(ProjectSpec(program.settings.coordinator_project, rendered.title,
                                            rendered.body.strip(), owner_token=token))
    ctx = Context(program=program, templates=templates, now=now, trigger="event", provider_kind=provider.kind)
    plan = Plan(observe_pair(provider, program, pair), ctx)
    rendered = templates.render("rematch", **plan.render_context(requester=ctx.person(requester), note=note))
    return provider.create_issue(project, rendered.title, rendered.body, labels=(), confidential=True)


def carry_out(provider: Provider, program: Program, templates: Templates, *, now: datetime,
              dry_run: bool = False) -> RematchOutcome:
    """End every pair with an open request, answer each requester privately and close the request.

    Idempotent: a closed request is not read again; a pair already ended is not ended twice;
    answers carry markers and are not posted twice after an interrupted run.
    """
    outcome = RematchOutcome()
    applier = Applier(provider)
    ctx = Context(program=program, templates=templates, now=now, trigger="event", provider_kind=provider.kind,
                  labels_per_project=provider.labels_per_project)
    project = coordinator_project(provider, program)
    with provider.exclusive():
        existing = {p.path for p in provider.list_projects()}
        requests = open_requests(provider, program, existing)
        for request in requests:
            number = request.issue.number
            if request.problem or request.pair is None or request.requester is None:
                answer = _answer(ctx, request, "rematch-unclear", f"rematch-unclear:{number}", problem=request.problem)
                outcome.unclear.append(number)
                _run(applier, outcome, [answer], dry_run)
                continue
            view = observe_pair(provider, program, request.pair)
            if view.project is None or view.project_path not in existing:  # never synced: edit the file instead
                outcome.unclear.append(number)
                _run(applier, outcome, [_answer(ctx, request, "rematch-unclear", f"rematch-unclear:{number}",
                                                problem="not-started")], dry_run)
                continue
            plan = Plan(view, ctx)
            reason = templates.render("rematch-reason", **plan.render_context()).body.strip()
            offboarding.end_pair(plan, reason=reason, by=ENDED_BY)
            actions = plan.finish()
            actions.append(_answer(ctx, request, "rematch-done", f"rematched:{request.pair.id}", plan=plan))
            _run(applier, outcome, actions, dry_run)
            if not dry_run:
                provider.update_issue(project, number, state="closed")
            outcome.ended.append(request.pair.id)
    outcome.writes = applier.writes
    return outcome


def _answer(ctx: Context, request: Request, template: str, key: str, *, plan: Plan | None = None, problem: str = "") -> PostComment:
    pair_id = request.pair.id if request.pair else ""
    requester = ctx.person(request.requester) if request.requester else {"handle": request.issue.author}
    if plan is not None:
        context = plan.render_context(requester=requester, problem=problem)
    else:
        context = {"program": _program_context(ctx.program), "requester": requester, "problem": problem,
                   "today": ctx.today}
    rendered = ctx.templates.render(template, **context)
    return PostComment(pair=pair_id, project=request.issue.project, number=request.issue.number, key=key,
                       body=markers.with_marker(rendered.body, key))


def _run(applier: Applier, outcome: RematchOutcome, actions: Iterable[Action], dry_run: bool) -> None:
    for action in actions:
        outcome.actions.append(action)
        if not dry_run:
            applier.apply(action)


def _program_context(program: Program) -> dict[str, object]:
    settings = program.settings
    return {"name": settings.name, "coordinators": list(settings.coordinators),
            "coordinator_project": settings.coordinator_project}
