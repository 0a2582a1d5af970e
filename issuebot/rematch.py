"""Private re-match requests as a person files them, and `rematch apply`, which carries them out.

The decisions (which requests can be carried out, the neutral end, the private answers) are the
program steps `rematch_requests` and `rematch_answers` and the pair workflow `requests`;
`issuebot match` then treats both people as looking for a partner and never proposes the same
two again (every declared pair counts as former partners).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from issuebot.config import Program
from issuebot.models import Action, ArchiveProject, Issue, Pair, Person, PostComment
from issuebot.observe import observe_pair
from issuebot.plan import Plan, channel_people
from issuebot.providers.base import Provider
from issuebot.reconcile import context_for, reconcile_program
from issuebot.templates import Templates


@dataclass
class RematchOutcome:
    ended: list[str] = field(default_factory=list)
    unclear: list[int] = field(default_factory=list)
    writes: int = 0
    actions: list[Action] = field(default_factory=list)


def file_request(provider: Provider, program: Program, templates: Templates, pair: Pair, requester: Person,
                 note: str = "", *, now: datetime) -> Issue:
    """Open the confidential request as `provider`'s acting person (the embedded tracker's `as_user`)
    in their private channel, which `sync` opened: only they and the coordinators can read it."""
    if requester.username not in channel_people(program):
        raise NoChannel(f"{requester.username} has no private channel in {program.path.name}: set "
                        "`surveys.channels: always` (or add a survey) and run `issuebot sync`")
    project = provider.private_channel_path(program.surveys.channel, requester.handle(provider.kind))
    ctx = context_for(provider, program, templates, "rematch", now)
    plan = Plan(observe_pair(provider, program, pair), ctx)
    rendered = templates.render("rematch", **plan.render_context(requester=ctx.person(requester), note=note))
    return provider.create_issue(project, rendered.title, rendered.body, labels=(), confidential=True)


class NoChannel(Exception):
    """The person has no private channel to file a request in; the message says how to open one."""


def carry_out(provider: Provider, program: Program, templates: Templates, *, now: datetime,
              dry_run: bool = False) -> RematchOutcome:
    """End every pair with an open request, answer each requester privately and close the request.

    Idempotent: a closed request is not read again; a pair already ended is not ended twice;
    answers carry markers and are not posted twice after an interrupted run.
    """
    run = reconcile_program(provider, program, templates, trigger="rematch", now=now, dry_run=dry_run)
    where = {run.program.view.coordination_path, *run.program.view.channels.values()}
    answers = [a for a in run.outcome.actions if isinstance(a, PostComment) and a.project in where
               and a.key.startswith(("rematched:", "rematch-unclear:"))]
    ended = [pair_id for pair_id, actions in run.per_pair.items()
             if any(isinstance(a, ArchiveProject) for a in actions)]
    return RematchOutcome(ended=sorted({*ended, *(a.pair for a in answers if a.key.startswith("rematched:"))}),
                          unclear=[a.number for a in answers if a.key.startswith("rematch-unclear:")],
                          writes=run.outcome.writes, actions=run.outcome.actions)
