"""Private re-match requests in the coordinators' project: which pairings to end neutrally, and the answers.

A comment in the pair's own project would be read by the partner, so a person who finds the
pairing is not working opens a confidential issue in their private channel (or, where they are
a member, in `program.coordinator_project`) containing `/rematch [pair id]` (the `rematch`
template writes one). Carrying it out ends the pair through
the pair's workflows with a neutral reason that does not say who asked (`requests`), then the
`after` step answers the requester privately and closes the request.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from issuebot import markers
from issuebot.config import Program
from issuebot.models import EditIssue, Issue, Pair, Person, PostComment
from issuebot.plan import ProgramPlan, program_context

triggers = frozenset({"sweep", "rematch"})
phase = "before"

_REQUEST_RE = re.compile(r"^ {0,3}/rematch(?:[ \t]+(?P<pair>[A-Za-z0-9][A-Za-z0-9._-]*))?[ \t]*$", re.MULTILINE)


@dataclass(frozen=True)
class Request:
    """One open re-match request and whether it can be carried out."""

    issue: Issue
    pair: Pair | None
    requester: Person | None
    problem: str = ""  # why not: "unknown-pair", "not-a-member", "which-pair", "not-started"


def person_by_handle(program: Program, handle: str, provider_kind: str) -> Person | None:
    return next((p for p in program.people.values() if p.handle(provider_kind) == handle), None)


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


def open_requests(plan: ProgramPlan) -> list[Request]:
    """Open requests people (not issuebot) filed in the coordinators' project."""
    found = []
    for issue in [*plan.view.coordination_issues, *plan.view.channel_issues]:
        if issue.state != "open" or issue.author == plan.ctx.bot_username:
            continue
        request = read_request(plan.program, issue, plan.ctx.provider_kind)
        if request is not None:
            found.append(request)
    return found


def carried_out_requests(program: Program, coordination_issues: list[Issue], provider_kind: str) -> set[str]:
    """Pairs whose re-match request was carried out (closed): what reports count as re-matches."""
    found = set()
    for issue in coordination_issues:
        request = read_request(program, issue, provider_kind) if issue.state == "closed" else None
        if request is not None and not request.problem and request.pair is not None:
            found.add(request.pair.id)
    return found


def shared_paths(paths: Iterable[str]) -> set[str]:
    """Channel projects several people share (GitLab, the embedded tracker): there an item is private
    only while it is confidential. A channel of one person's own (GitHub) is private as a whole."""
    listed = list(paths)
    return {p for p in listed if listed.count(p) > 1}


def must_be_hidden(program: Program, issue: Issue, shared: set[str], provider_kind: str) -> bool:
    """An open re-match request a person filed in a shared channel without making it confidential:
    the other participants there could read it until it is."""
    return (issue.project in shared and not issue.confidential and issue.state == "open"
            and read_request(program, issue, provider_kind) is not None)


def decide(plan: ProgramPlan) -> None:
    shared = shared_paths(plan.view.channels.values())
    for request in open_requests(plan):
        issue = request.issue
        if must_be_hidden(plan.program, issue, shared, plan.ctx.provider_kind):
            # Filed without ticking "confidential": other participants of the channel could read it.
            plan.actions.append(EditIssue(pair="", project=issue.project, number=issue.number, key="rematch",
                                          confidential=True, reason="a re-match request is private"))
        if not request.problem and request.pair is not None:
            plan.ask(request.pair.id, "rematch")


def answer(plan: ProgramPlan) -> None:
    """After the pairs' writes: answer each requester privately; close the requests carried out."""
    ctx = plan.ctx
    for request in open_requests(plan):
        number = request.issue.number
        requester = ctx.person(request.requester) if request.requester else {"handle": request.issue.author}
        view = plan.view.pairs.get(request.pair.id) if request.pair is not None else None
        problem = request.problem or ("not-started" if view is None or view.project is None else "")
        if problem:
            rendered = ctx.templates.render("rematch-unclear", program=program_context(plan.program), requester=requester,
                                            problem=problem, today=ctx.today)
            key = f"rematch-unclear:{number}"
        elif request.pair is not None and plan.carried_out(request.pair.id):
            context = plan.pair_plan(request.pair.id).render_context(requester=requester, problem="")
            rendered = ctx.templates.render("rematch-done", **context)
            key = f"rematched:{request.pair.id}"
        else:
            continue  # the pair's writes failed or were not reached: the next run answers
        pair_id = "" if problem or request.pair is None else request.pair.id
        plan.actions.append(PostComment(pair=pair_id, project=request.issue.project, number=number, key=key,
                                        body=markers.with_marker(rendered.body, key)))
        if not problem:
            plan.actions.append(EditIssue(pair=pair_id, project=request.issue.project, number=number,
                                          key="rematch", state="closed", reason="re-match carried out"))

