"""Carry out what was asked for a pair outside it: the dashboard's boxes and private re-match requests."""

from __future__ import annotations

from datetime import date

from issuebot.config import add_months
from issuebot.pairstate import book
from issuebot.plan import Plan
from issuebot.workflows import offboarding

triggers = frozenset({"sweep", "rematch"})

SNOOZE_DAYS = 14
# Who the tracker records as having ended a re-matched pair: never the person who asked.
ENDED_BY = "coordinators"


def decide(plan: Plan) -> None:
    """Snooze, extend or end the pair as coordinators ticked; end it neutrally when a re-match was asked
    (`nudge` is carried out by the nudges workflow)."""
    requests = plan.ctx.requests.get(plan.pair.id, frozenset())
    if not requests or plan.view.tracker is None or plan.status == "ended":
        return
    if "rematch" in requests:
        reason = plan.ctx.templates.render("rematch-reason", **plan.render_context()).body.strip()
        offboarding.end_pair(plan, reason=reason, by=ENDED_BY)
        return
    today = plan.ctx.today
    done = book(plan.state).get("requests_done", {})
    done = done if isinstance(done, dict) else {}

    def first_time_today(request: str) -> bool:
        # A sweep that stopped before clearing the box must not extend twice on its rerun.
        return done.get(request) != today.isoformat()

    carried = {}
    if "snooze" in requests and first_time_today("snooze"):
        plan.bookkeeping()["snoozed_until"] = date.fromordinal(today.toordinal() + SNOOZE_DAYS).isoformat()
        carried["snooze"] = today.isoformat()
    if "extend" in requests and first_time_today("extend"):
        plan.state["ends"] = add_months(plan.ends, 1).isoformat()
        carried["extend"] = today.isoformat()
    if "end" in requests:
        offboarding.end_pair(plan, "ended by the program coordinators", by="coordinators")
    if carried:
        plan.bookkeeping()["requests_done"] = {**done, **carried}
