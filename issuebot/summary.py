"""Is the program working: totals and month-by-month history computed from the pairs' views alone."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from issuebot.cohort import Credit
from issuebot.config import Program, add_months
from issuebot.labels import PAIR_STATUSES
from issuebot.models import Issue
from issuebot.pairstate import goal_progress, tracked_items, who_acts
from issuebot.plan import PairView, SessionRef, state_date

RUNNING = ("kickoff", "active", "stale", "wrapping-up")  # pairs expected to meet (not paused, not ended)


@dataclass(frozen=True)
class Month:
    """One calendar month of the program."""

    month: str  # YYYY-MM
    active_pairs: int  # pairs that had started and not yet ended during the month
    sessions_held: int
    mentor_hours: float  # held sessions plus credited activities closed that month
    new_stale: int  # pairs that turned stale that month
    goals_done: int  # goals (and goal trackers) closed that month
    kpis_done: int


@dataclass(frozen=True)
class Summary:
    """The program's outcome figures; counts of sessions, hours and months honour since/until."""

    program: str
    today: str
    since: str | None
    until: str | None
    pairs: int
    by_status: dict[str, int]
    running_pairs: int
    met_last_cycle_pct: float | None  # share of running pairs with a held session within one cadence
    sessions_held: int
    sessions_skipped: int
    sessions_planned: int  # open session issues
    mentor_hours: float
    session_hours: float
    credited_hours: float  # credited activities, e.g. a lunch and learn
    goals_total: int
    goals_done: int
    kpis_total: int
    kpis_done: int
    goal_completion_pct: float | None  # goals and KPIs together
    signatures: int  # ticked signature lines (e.g. a code of conduct)
    signatures_expected: int
    pairs_signed: int  # pairs whose every signature is in (or whose issue is closed)
    rematches: int
    needing_action: int
    surveys: dict[str, Any] | None
    months: list[Month] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def month_key(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def month_starts(first: date, last: date) -> list[date]:
    """The first day of every month from `first`'s to `last`'s, none skipped."""
    months, current = [], first.replace(day=1)
    while current <= last:
        months.append(current)
        current = add_months(current, 1)
    return months


def _pct(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _local_date(moment: datetime | None, zone: ZoneInfo) -> date | None:
    return moment.astimezone(zone).date() if moment is not None else None


@dataclass
class _PairFacts:
    """What one pair contributes, dated."""

    started: date
    ended: date | None
    status: str
    held: list[tuple[date, int]]  # (date, minutes)
    skipped: int
    planned: int
    stale_on: list[date]
    goals: list[tuple[bool, date | None]]  # (done, done on)
    kpis: list[tuple[bool, date | None]]
    credited: list[tuple[date | None, int]]  # (closed on, minutes)
    signatures: tuple[int, int, bool]  # (ticked, expected, all signed)


def pair_facts(program: Program, view: PairView) -> _PairFacts:
    zone = ZoneInfo(program.settings.timezone)
    state = view.state
    sessions = [s for s in state.get("sessions", []) if isinstance(s, dict)]
    held = [(day, int(s.get("minutes") or program.settings.session_length))
            for s in sessions if s.get("outcome") == "held" and (day := state_date(s.get("date")))]
    planned = program.label("session::planned")
    ended = state.get("ended")
    goals = []
    for goal in goal_progress(view):
        issue = view.issues.get(goal.key)
        goals.append((goal.done, _done_on(issue, goal.done, zone)))
    items = tracked_items(program, view)
    for item in items:
        if item.counts_as == "goal":
            goals.append((item.done, _done_on(view.issues.get(item.key), item.done, zone)))
    kpis = [(i.done, _done_on(view.issues.get(i.key), i.done, zone)) for i in items if i.counts_as == "kpi"]
    signed = [i for i in items if i.counts_as == "signatures"]
    history = state.get("stale_on")
    return _PairFacts(
        started=view.pair.starts,
        ended=state_date(ended.get("on")) if isinstance(ended, dict) else None,
        status=view.status(program) if view.project is not None else "not created",
        held=held,
        skipped=sum(1 for s in sessions if s.get("outcome") == "skipped"),
        planned=sum(1 for k, i in view.issues.items() if SessionRef.is_key(k) and i.state == "open" and planned in i.labels),
        stale_on=[d for d in map(state_date, history if isinstance(history, list) else []) if d],
        goals=goals,
        kpis=kpis,
        credited=[(i.closed_on, i.credit_minutes) for i in items if i.counts_as == "activity" and i.credit_minutes],
        signatures=(sum(i.ticked for i in signed), sum(i.boxes for i in signed), bool(signed) and all(i.done for i in signed)),
    )


def _done_on(issue: Issue | None, done: bool, zone: ZoneInfo) -> date | None:
    """When a goal was done: its closing date, or its last edit when its task list was completed."""
    if not done or issue is None:
        return None
    return _local_date(issue.closed_at if issue.state == "closed" else issue.updated_at, zone)


def _within(day: date | None, since: date | None, until: date | None) -> bool:
    return day is not None and (since is None or day >= since) and (until is None or day <= until)


def summarize(program: Program, views: dict[str, PairView], today: date, *, since: date | None = None,
              until: date | None = None, rematched: Collection[str] = (),
              surveys: dict[str, Any] | None = None, acting: dict[str, str] | None = None,
              cohort: Sequence[Credit] = ()) -> Summary:
    """The summary of every pair in `views` as of `today` (pure). `rematched`: pairs whose re-match
    request was carried out; `acting` (pair id -> who must act, from report rows of the same day)
    spares working that out again; `cohort`: mentor time credited for cohort-wide activities."""
    until = min(until, today) if until is not None else today
    facts = {pair_id: pair_facts(program, view) for pair_id, view in views.items()}
    statuses = Counter(f.status for f in facts.values())
    by_status = {s: statuses[s] for s in (*PAIR_STATUSES, "not created") if statuses[s]}
    running = [f for f in facts.values() if f.status in RUNNING and f.started <= today]
    cycle_start = program.settings.cadence.before(today)
    met = sum(1 for f in running if any(cycle_start < d <= today for d, _ in f.held))
    held = [(d, m) for f in facts.values() for d, m in f.held if _within(d, since, until)]
    hosted = [(c.on, c.minutes) for c in cohort]
    credited = [(d, m) for f in facts.values() for d, m in f.credited if d is None or _within(d, since, until)]
    credited += [(d, m) for d, m in hosted if d is None or _within(d, since, until)]
    session_minutes = sum(m for _, m in held)
    credited_minutes = sum(m for _, m in credited)
    goals = [g for f in facts.values() for g in f.goals]
    kpis = [k for f in facts.values() for k in f.kpis]
    goals_done = sum(1 for done, _ in goals if done)
    kpis_done = sum(1 for done, _ in kpis if done)
    first = max(program.settings.starts, since) if since else min([program.settings.starts, *(f.started for f in facts.values())])
    months = [_month(start, facts.values(), until, hosted) for start in month_starts(first, until)] if first <= until else []
    return Summary(
        program=program.settings.name, today=today.isoformat(),
        since=since.isoformat() if since else None, until=until.isoformat(),
        pairs=len(facts), by_status=by_status, running_pairs=len(running),
        met_last_cycle_pct=_pct(met, len(running)),
        sessions_held=len(held), sessions_skipped=sum(f.skipped for f in facts.values()),
        sessions_planned=sum(f.planned for f in facts.values()),
        mentor_hours=round((session_minutes + credited_minutes) / 60, 2),
        session_hours=round(session_minutes / 60, 2), credited_hours=round(credited_minutes / 60, 2),
        goals_total=len(goals), goals_done=goals_done, kpis_total=len(kpis), kpis_done=kpis_done,
        goal_completion_pct=_pct(goals_done + kpis_done, len(goals) + len(kpis)),
        signatures=sum(f.signatures[0] for f in facts.values()),
        signatures_expected=sum(f.signatures[1] for f in facts.values()),
        pairs_signed=sum(1 for f in facts.values() if f.signatures[2]),
        rematches=sum(1 for pair_id in set(rematched) if pair_id in facts and facts[pair_id].status == "ended"),
        needing_action=sum(1 for pair_id, view in views.items()
                           if (acting[pair_id] if acting is not None else who_acts(program, view, today)) != "-"),
        # Program totals only: each pair's rounds (who was invited) stay on that pair's page.
        surveys={k: v for k, v in surveys.items() if k != "pairs"} if surveys is not None else None, months=months,
    )


def _month(start: date, facts: Any, until: date, hosted: Sequence[tuple[date | None, int]] = ()) -> Month:
    end = min(date.fromordinal(add_months(start, 1).toordinal() - 1), until)
    key = month_key(start)
    facts = list(facts)
    held = [(d, m) for f in facts for d, m in f.held if start <= d <= end]
    credited = sum(m for f in facts for d, m in f.credited if d is not None and start <= d <= end)
    credited += sum(m for d, m in hosted if d is not None and start <= d <= end)
    return Month(
        month=key,
        active_pairs=sum(1 for f in facts if f.started <= end and (f.ended is None or f.ended >= start)
                         and f.status != "not created"),
        sessions_held=len(held),
        mentor_hours=round((sum(m for _, m in held) + credited) / 60, 2),
        new_stale=sum(1 for f in facts for d in f.stale_on if start <= d <= end),
        goals_done=sum(1 for f in facts for done, d in f.goals if done and d is not None and start <= d <= end),
        kpis_done=sum(1 for f in facts for done, d in f.kpis if done and d is not None and start <= d <= end),
    )


# ----------------------------------------------------------------------------- plain formats

HEADLINES = (
    ("pairs", "pairs"), ("running_pairs", "running pairs"), ("met_last_cycle_pct", "met within the last cadence (%)"),
    ("sessions_held", "sessions held"), ("sessions_skipped", "sessions skipped"), ("sessions_planned", "sessions planned"),
    ("mentor_hours", "mentor hours"), ("credited_hours", "of which credited activities"),
    ("goals_done", "goals done"), ("goals_total", "goals"), ("kpis_done", "KPI items done"), ("kpis_total", "KPI items"),
    ("goal_completion_pct", "goal and KPI completion (%)"), ("signatures", "signatures"),
    ("signatures_expected", "signatures expected"), ("pairs_signed", "pairs fully signed"), ("rematches", "re-matches"),
    ("needing_action", "pairs needing action"),
)
MONTH_COLUMNS = ("month", "active_pairs", "sessions_held", "mentor_hours", "new_stale", "goals_done", "kpis_done")


def headline_rows(summary: Summary) -> list[tuple[str, str]]:
    data = summary.as_dict()
    found = [(label, "-" if data[key] is None else f"{data[key]:g}" if isinstance(data[key], float) else str(data[key]))
             for key, label in HEADLINES]
    found += [(f"status {status}", str(count)) for status, count in summary.by_status.items()]
    if summary.surveys:
        found += [(f"surveys {key}", str(value)) for key, value in summary.surveys.items() if not isinstance(value, dict)]
    return found


def _aligned(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def as_table(summary: Summary) -> str:
    period = f"{summary.since or 'start'} to {summary.until}"
    head = _aligned([[label, value] for label, value in headline_rows(summary)])
    months = _aligned([list(MONTH_COLUMNS), *([format_cell(getattr(m, c)) for c in MONTH_COLUMNS] for m in summary.months)])
    return f"{summary.program}: {period}\n\n{head}\n\n{months}"


def format_cell(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def as_markdown(summary: Summary) -> str:
    lines = [f"## {summary.program}", "", f"From {summary.since or 'the start'} to {summary.until}.", "",
             "| figure | value |", "| --- | --- |"]
    lines += [f"| {label} | {value} |" for label, value in headline_rows(summary)]
    lines += ["", "| " + " | ".join(MONTH_COLUMNS) + " |", "|" + " --- |" * len(MONTH_COLUMNS)]
    lines += ["| " + " | ".join(format_cell(getattr(m, c)) for c in MONTH_COLUMNS) + " |" for m in summary.months]
    return "\n".join(lines)


def as_csv(summary: Summary) -> str:
    """Month by month, one row each, then the headline figures as `figure,value` rows."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(MONTH_COLUMNS)
    for month in summary.months:
        writer.writerow([getattr(month, c) for c in MONTH_COLUMNS])
    writer.writerow([])
    writer.writerow(["figure", "value"])
    writer.writerows(headline_rows(summary))
    return out.getvalue()
