"""Session lifecycle: log held and skipped sessions, keep one session open, carry out quick commands."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from issuebot import commands, markers
from issuebot.commands import Command, UsageError
from issuebot.models import COMMENT_EVENTS, Comment, Event, EventKind, Issue
from issuebot.pairstate import held_any, settled_status
from issuebot.plan import Context, PairView, Plan, SessionRef, state_date
from issuebot.workflows import offboarding

triggers = frozenset({"sync", "sweep", "event"})

SECTION = "session-log"  # bot-owned section of the progress tracker body
DUE_SECTION = "session-due"  # bot-owned section of a session issue showing its due date


def decide(plan: Plan) -> None:
    """Recompute the session log from what the tracker shows, then carry out the quick commands of
    every comment not yet answered, in the order they were written."""
    if plan.view.project is None:
        return
    logged_now: set[int] = set()
    recompute_from_tracker(plan, logged_now)
    end_expired_pause(plan)
    replies = [carry_out_commands(plan, comment, logged_now) for comment in plan.ctx.commands]
    if plan.status == "kickoff" and held_any(plan.state):
        plan.set_status("active")
    keep_one_session_open(plan, logged_now)
    write_session_log(plan)
    carried = {str(r.comment_id): r.owed() for r in replies if r.carried_out}
    if carried:
        plan.state["handled"] = carried
    # The replies follow the tracker's write: a run that stops in between has recorded what it
    # carried out (`handled`) and posts the reply it still owes next time, never running it twice.
    for reply in [*replies, *owed_replies(plan)]:
        plan.reply_after_tracker(reply.number, reply.key, reply.template, **reply.context)


# ----------------------------------------------------------------------------- reading the tracker


def session_issues(plan: Plan) -> dict[int, Issue]:
    """The pair's session issues by session number."""
    found = {}
    for key, issue in plan.view.issues.items():
        ref = SessionRef.parse(key)
        if ref is not None:
            found[ref.number] = issue
    return found


def outcome_of(plan: Plan, issue: Issue) -> str | None:
    """`held` or `skipped` from the issue's `session::*` label, None while planned."""
    for label in issue.labels:
        canonical = plan.program.canonical_label(label) or ""
        if canonical in ("session::held", "session::skipped"):
            return canonical.split("::", 1)[1]
    return None


def log_entry(plan: Plan, number: int) -> dict[str, Any] | None:
    return next((e for e in plan.state["sessions"] if e.get("n") == number), None)


def record(plan: Plan, entry: dict[str, Any]) -> None:
    """Add or replace session `entry["n"]` in the tracker's session log, kept in order."""
    sessions = [e for e in plan.state["sessions"] if e.get("n") != entry["n"]]
    sessions.append(entry)
    plan.state["sessions"] = sorted(sessions, key=lambda e: e.get("n", 0))


def open_session(plan: Plan) -> tuple[int, Issue] | None:
    """The session issue a `/session` or `/skip` applies to: the oldest open one not yet logged."""
    for number, issue in sorted(session_issues(plan).items()):
        if issue.state == "open" and outcome_of(plan, issue) is None and log_entry(plan, number) is None:
            return number, issue
    return None


def local_day(plan: Plan, moment: datetime | None) -> date:
    if moment is None:
        return plan.ctx.today
    if moment.tzinfo is None:
        return moment.date()
    return moment.astimezone(ZoneInfo(plan.program.settings.timezone)).date()


def username_of(plan: Plan, handle: str) -> str:
    """The program username behind a tracker handle (the handle itself for anyone else)."""
    kind = plan.ctx.provider_kind
    for person in (plan.pair.mentor, plan.pair.mentee, *plan.program.people.values()):
        if person.handle(kind).casefold() == handle.casefold():
            return person.username
    return handle


def recompute_from_tracker(plan: Plan, logged_now: set[int]) -> None:
    """Respect what people did by hand: closed, relabelled or reopened session issues."""
    event = plan.ctx.event
    for number, issue in sorted(session_issues(plan).items()):
        key = SessionRef(number).key
        entry = log_entry(plan, number)
        outcome = outcome_of(plan, issue)
        if entry is None:
            if issue.state == "open" and outcome is None:
                continue  # the planned session
            outcome = outcome or "held"  # closing the session issue means it was held
            by = None
            if event is not None and event.issue_number == issue.number:
                by = username_of(plan, event.actor)
            held_on = local_day(plan, issue.closed_at) if issue.state == "closed" else plan.ctx.today
            record(plan, _entry(plan, number, held_on, outcome, by, issue=issue))
            logged_now.add(number)
            plan.edit_issue(key, add=[f"session::{outcome}"], state="closed", reason=f"session {outcome}")
            if outcome == "held":
                _now_active(plan)
        elif issue.state == "open" and (outcome is None or outcome == entry.get("outcome")):
            # Reopened by hand: the session counts as not held and is the open session again.
            plan.state["sessions"] = [e for e in plan.state["sessions"] if e.get("n") != number]
            plan.edit_issue(key, add=["session::planned"], reason="reopened")
        elif outcome is not None and outcome != entry.get("outcome"):
            record(plan, {**entry, "outcome": outcome})  # relabelled by hand
        elif outcome is None:
            plan.edit_issue(key, add=[f"session::{entry.get('outcome', 'held')}"], reason="label restored")


def _entry(plan: Plan, number: int, on: date, outcome: str, by: str | None, *, issue: Issue | None = None,
           minutes: int | None = None, mode: str = "sync") -> dict[str, Any]:
    entry: dict[str, Any] = {
        "n": number,
        "date": on.isoformat(),
        "minutes": 0 if outcome == "skipped" else (minutes or plan.program.settings.session_length),
        "mode": mode,
        "outcome": outcome,
        "by": by,
    }
    if outcome == "skipped" and issue is not None and issue.due is not None:
        entry["due"] = issue.due.isoformat()
    return entry


def _now_active(plan: Plan) -> None:
    if plan.status in ("kickoff", "stale"):
        plan.set_status("active")


def end_expired_pause(plan: Plan) -> None:
    """A `/pause until` date that has come ends the pause; a pause label removed by hand does too."""
    until = plan.state.get("paused_until")
    if plan.status != "paused":
        plan.state.pop("paused_until", None)
        return
    if until and (state_date(until) or plan.ctx.today) <= plan.ctx.today:
        plan.state.pop("paused_until", None)
        plan.set_status(settled_status(plan.state))
        replan_after_pause(plan, state_date(until) or plan.ctx.today)


def replan_after_pause(plan: Plan, resumed_on: date) -> None:
    """The session open during a pause is due one cadence after the pair resumed (never earlier
    than it was), so the date it shows is the one reminders count from."""
    target = open_session(plan)
    if target is None:
        return
    number, issue = target
    due = plan.program.settings.cadence.after(resumed_on)
    if issue.due is None or due > issue.due:
        move_due(plan, number, issue, due, reason="re-planned after the pause")


def move_due(plan: Plan, number: int, issue: Issue, due: date, *, reason: str) -> None:
    """Move a session issue's due date, and the date its body shows (its bot-owned due section)."""
    body = None
    if markers.get_section(issue.body, DUE_SECTION) is not None:
        rendered = plan.ctx.templates.render("session", **plan.render_context(session={"number": number, "due": due}))
        shown = markers.get_section(rendered.body, DUE_SECTION)
        body = markers.replace_section(issue.body, DUE_SECTION, shown) if shown is not None else None
    plan.edit_issue(SessionRef(number).key, due=due, body=body, reason=reason)


def next_due(plan: Plan, entry: dict[str, Any]) -> date:
    """One cadence after the session was held, or after a skipped session was due."""
    base = date.fromisoformat(entry["date"])
    if entry.get("outcome") == "skipped" and entry.get("due"):
        base = max(base, date.fromisoformat(entry["due"]))
    return plan.program.settings.cadence.after(base)


def keep_one_session_open(plan: Plan, logged_now: set[int]) -> None:
    """After the latest logged session, the next one is open (unless the pairing ends first)."""
    sessions = plan.state["sessions"]
    if not sessions or plan.status == "ended":
        return
    last = max(sessions, key=lambda e: e.get("n", 0))
    number = last["n"] + 1
    key = SessionRef(number).key
    due = next_due(plan, last)
    if plan.view.known(key):
        issue = plan.view.open_issue(key)
        # The next session already exists (its predecessor was reopened and closed again): move
        # its due date, but only right after logging, so a date a person set by hand stays.
        if issue is not None and last["n"] in logged_now and outcome_of(plan, issue) is None:
            move_due(plan, number, issue, due, reason="next session")
        return
    if open_session(plan) is not None or due > plan.ends:
        return
    plan.open_issue(key, "session", due=due, session={"number": number, "due": due})


def write_session_log(plan: Plan) -> None:
    sessions = plan.state["sessions"]
    if not sessions:
        return
    rendered = plan.ctx.templates.render("session-log", **plan.render_context(sessions=sessions))
    plan.sections[SECTION] = rendered.body


# ----------------------------------------------------------------------------- quick commands


@dataclass(frozen=True)
class Reply:
    """issuebot's one answer to a command comment, its marker naming the comment."""

    comment_id: int
    number: int  # the issue the comment is on
    key: str  # `ack:<comment id>`, or `usage:<comment id>` when nothing was carried out
    template: str
    context: dict[str, Any]

    @property
    def carried_out(self) -> bool:
        return self.key.startswith("ack:")

    def owed(self) -> dict[str, Any]:
        return {"issue": self.number, "key": self.key, "template": self.template, "context": self.context}


def reply_keys(comment_id: Any) -> tuple[str, str]:
    return f"ack:{comment_id}", f"usage:{comment_id}"


def _handled(state: dict[str, Any]) -> dict[str, Any]:
    """The comments the tracker records as carried out: {id: the reply owed}; older blocks kept a list of ids."""
    value = state.get("handled")
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, list):
        return {str(k): None for k in value}
    return {}


def answered(view: PairView, state: dict[str, Any], comment: Comment, bot: str) -> bool:
    """Whether issuebot already answered this comment: a reply of its own names it (a usage reply
    counts until the comment is edited again), or the tracker records it as carried out."""
    if str(comment.id) in _handled(state):
        return True
    ack, usage = reply_keys(comment.id)
    for other in view.threads.get(comment.issue_number, ()):
        if other.author.casefold() != bot.casefold():
            continue
        if markers.has_marker(other.body, ack):
            return True
        if markers.has_marker(other.body, usage):
            edited = comment.updated_at is not None and other.created_at is not None and comment.updated_at > other.created_at
            if not edited:
                return True
    return False


def commands_to_carry_out(view: PairView, ctx: Context) -> tuple[Event, ...]:
    """The comments whose quick commands this reconcile carries out, oldest first: every comment
    with commands in the threads read that issuebot has not answered, and the delivered one (pure)."""
    found: dict[int, Event] = {}
    for number, thread in view.threads.items():
        for comment in thread:
            if comment.author.casefold() == ctx.bot_username.casefold() or markers.find_marker(comment.body):
                continue
            if not commands.parse_commands(comment.body) or answered(view, view.state, comment, ctx.bot_username):
                continue
            found[comment.id] = Event(
                kind=EventKind.COMMENT_CREATED, provider=ctx.provider_kind, project=view.project_path,
                issue_number=number, actor=comment.author, comment_id=comment.id, comment_body=comment.body,
                at=comment.created_at,
            )
    event = ctx.event
    if event is not None and event.kind in COMMENT_EVENTS and event.comment_id is not None:
        found.pop(event.comment_id, None)
        if commands.parse_commands(event.comment_body) and not _delivery_answered(view, event, ctx.bot_username):
            written = next((c for c in view.threads.get(event.issue_number, ()) if c.id == event.comment_id), None)
            # The delivered text wins (an edit may be newer than the thread read); its date is the comment's own.
            found[event.comment_id] = replace(event, at=written.created_at if written and written.created_at else event.at)
    return tuple(sorted(found.values(), key=lambda e: (e.at or ctx.now, e.comment_id or 0)))


def _delivery_answered(view: PairView, event: Event, bot: str) -> bool:
    """A delivered comment is answered when carried out; an edit may still correct a usage error."""
    if str(event.comment_id) in _handled(view.state):
        return True
    ack, usage = reply_keys(event.comment_id)
    keys = (ack,) if event.kind == EventKind.COMMENT_EDITED else (ack, usage)
    return any(c.author.casefold() == bot.casefold() and markers.has_marker(c.body, k)
               for c in view.threads.get(event.issue_number, ()) for k in keys)


def owed_replies(plan: Plan) -> list[Reply]:
    """Replies a run that stopped after the tracker's write still owes (their threads show none)."""
    owed = []
    for comment_id, spec in _handled(plan.original_state).items():
        if not isinstance(spec, dict) or not isinstance(spec.get("issue"), int):
            continue
        thread = plan.view.threads.get(spec["issue"])
        if thread is None or any(markers.has_marker(c.body, k) for c in thread for k in reply_keys(comment_id)):
            continue
        owed.append(Reply(int(comment_id) if comment_id.isdigit() else 0, spec["issue"], str(spec.get("key")),
                          str(spec.get("template")), dict(spec.get("context") or {})))
    return owed


def carry_out_commands(plan: Plan, event: Event, logged_now: set[int]) -> Reply:
    """Run the quick commands of one comment, dated by when it was written; returns its reply."""
    assert event.comment_id is not None
    parsed = commands.parse_commands(event.comment_body)
    program, pair, kind = plan.program, plan.pair, plan.ctx.provider_kind
    coordinators = program.coordinator_handles(kind)
    role = commands.role_of(event.actor, [pair.mentor.handle(kind), pair.mentee.handle(kind)], coordinators)
    names = [item.name for item in parsed]
    ack, usage = reply_keys(event.comment_id)
    if not all(commands.may_use(name, role) for name in names):
        return Reply(event.comment_id, event.issue_number, ack, "command-refused",
                     {"actor": event.actor, "commands": names})
    by = username_of(plan, event.actor)
    written_on = local_day(plan, event.at)
    results = []
    for item in parsed:
        if isinstance(item, Command):
            item = commands.check_dates(item, today=written_on, starts=pair.starts, ends=plan.ends) or item
        if isinstance(item, UsageError):
            results.append(_usage(item))
        else:
            results.append(run_command(plan, item, by, logged_now, event))
    context = {"actor": event.actor, "results": results}
    if any(r["status"] != "usage" for r in results):
        return Reply(event.comment_id, event.issue_number, ack, "command-ack", context)
    # Nothing was carried out: an edited comment with a corrected argument may still run.
    return Reply(event.comment_id, event.issue_number, usage, "command-ack", context)


def _usage(error: UsageError) -> dict[str, Any]:
    return {"command": error.name, "line": error.line, "status": "usage", "problem": error.problem,
            "argument": error.argument, "syntax": error.syntax}


def _closed_just_now(plan: Plan, logged_now: set[int], outcome: str) -> int | None:
    """The session this reconcile found closed with `outcome` but not yet logged, if any."""
    found = [n for n in logged_now if (log_entry(plan, n) or {}).get("outcome") == outcome]
    return max(found) if found else None


def _same_meeting(plan: Plan, event: Event, command: Command, logged_now: set[int]) -> dict[str, Any] | None:
    """The held session a `/session` repeats: the session issue it is written on was logged already,
    or a session on the same day was (the other member logging the same meeting elsewhere)."""
    earlier = [e for e in plan.state["sessions"] if e.get("outcome") == "held" and e.get("n") not in logged_now]
    on_issue = next((n for n, i in session_issues(plan).items() if i.number == event.issue_number), None)
    same_issue = next((e for e in earlier if e.get("n") == on_issue), None)
    if same_issue is not None:
        return same_issue
    held_on = (command.on or local_day(plan, event.at)).isoformat()
    return next((e for e in earlier if e.get("date") == held_on), None)


def run_command(plan: Plan, command: Command, by: str, logged_now: set[int], event: Event) -> dict[str, Any]:
    """Carry out one well-formed command of `event`'s comment; the result feeds the acknowledgement template."""
    result: dict[str, Any] = {"command": command.name, "line": command.line, "status": "done"}
    if command.name == "session":
        target = open_session(plan)
        just_closed = _closed_just_now(plan, logged_now, "held")
        logged = None if just_closed is not None else _same_meeting(plan, event, command, logged_now)
        if logged is not None:
            result.update(status="unchanged", problem="already_logged", number=logged["n"], date=logged["date"])
            return result
        if just_closed is not None:
            # The session issue was closed with this comment ("close with comment"), or by a run
            # that died before it could reply: one session, described by the command.
            number = just_closed
            target = None
        elif target is not None:
            number = target[0]
        else:
            known = [ref.number for ref in map(SessionRef.parse, plan.state["issues"]) if ref is not None]
            number = max([0, *known, *(e.get("n", 0) for e in plan.state["sessions"])]) + 1
        held_on = command.on or local_day(plan, event.at)
        entry = _entry(plan, number, held_on, "held", by, minutes=command.minutes, mode=command.mode)
        record(plan, entry)
        logged_now.add(number)
        if target is not None:
            plan.edit_issue(SessionRef(number).key, add=["session::held"], state="closed", reason="session held")
        _now_active(plan)
        result.update(number=number, date=entry["date"], minutes=entry["minutes"], mode=entry["mode"],
                      next_due=next_due(plan, entry).isoformat())
    elif command.name == "skip":
        target = open_session(plan)
        just_skipped = _closed_just_now(plan, logged_now, "skipped")
        if just_skipped is not None:
            entry = log_entry(plan, just_skipped) or {}
            result.update(number=just_skipped, next_due=next_due(plan, entry).isoformat())
            return result
        if target is None:
            result.update(status="unchanged", problem="no_open_session")
            return result
        number, issue = target
        entry = _entry(plan, number, local_day(plan, event.at), "skipped", by, issue=issue)
        record(plan, entry)
        logged_now.add(number)
        plan.edit_issue(SessionRef(number).key, add=["session::skipped"], state="closed", reason="session skipped")
        result.update(number=number, next_due=next_due(plan, entry).isoformat())
    elif command.name == "pause":
        plan.set_status("paused")
        if command.until is not None:
            plan.state["paused_until"] = command.until.isoformat()
        else:
            plan.state.pop("paused_until", None)
        result.update(until=command.until.isoformat() if command.until else None)
    elif command.name == "resume":
        if plan.status != "paused":
            result.update(status="unchanged", problem="not_paused")
            return result
        plan.state.pop("paused_until", None)
        plan.set_status(settled_status(plan.state))
        replan_after_pause(plan, local_day(plan, event.at))
    elif command.name == "extend":
        ends = commands.new_end(command, plan.ends)
        plan.state["ends"] = ends.isoformat()
        result.update(ends=ends.isoformat())
    elif command.name == "end":
        offboarding.end_pair(plan, command.reason, by)
        result.update(reason=command.reason)
    elif command.name == "help":
        result.update(status="help")
    return result
