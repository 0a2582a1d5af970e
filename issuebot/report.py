"""Per-pair metadata rows for coordinators (never the text of pair issues)."""

from __future__ import annotations

import contextlib
import csv
import gc
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, fields, replace
from datetime import date

from issuebot.cohort import Credit
from issuebot.config import Program
from issuebot.pairstate import exempt_until, goal_progress, overdue_items, tracked_items, who_acts
from issuebot.plan import PairView, SessionRef, state_date


@contextlib.contextmanager
def bulk_reading() -> Iterator[None]:
    """Reading a whole program builds millions of small objects and no reference cycles; Python's
    cyclic collector would rescan the growing heap again and again (about half the time of a
    10,000-pair report), so it waits until the read is done."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass(frozen=True)
class PairRow:
    pair: str
    mentor: str
    mentee: str
    project: str
    status: str
    sessions_held: int
    sessions_skipped: int
    last_session: str | None
    next_session_due: str | None
    goals_total: int
    goals_done: int
    url: str
    mentor_hours: float = 0.0  # time the mentor gave in held sessions: the report credits it
    mentor_name: str = ""
    mentee_name: str = ""
    act: str = ""  # who needs to act next (with a date: `rows(..., today=)`)
    paused_until: str | None = None
    overdue: tuple[str, ...] = ()  # open review, feedback, goal, KPI... issues past their due date
    kpis_total: int = 0
    kpis_done: int = 0
    credited_hours: float = 0.0  # credited activities (e.g. a lunch and learn), included in mentor_hours
    next_due: str = "-"  # what the "next due" column shows: the date, "paused until D", or "-" once ended
    activities_hosted: int = 0  # a `cohort:<username>` row: closed cohort activities the person hosted

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def next_due_shown(status: str, next_session_due: str | None, paused_until: str | None) -> str:
    """The next due date a coordinator reads: none once the pair ended, the pause while paused."""
    if status == "paused":
        return f"paused until {paused_until}" if paused_until else "paused"
    return next_session_due or "-"


def pair_row(program: Program, view: PairView) -> PairRow:
    state = view.state
    sessions = state.get("sessions", [])
    held = [s for s in sessions if s.get("outcome") == "held"]
    open_sessions = sorted(
        (i for k, i in view.issues.items() if SessionRef.is_key(k) and i.state == "open"),
        key=lambda i: i.number,
    )
    goals = goal_progress(view)
    status = view.status(program) if view.project is not None else "not created"
    # An ended pair has no next session, and a paused pair's is re-planned when it resumes.
    due = open_sessions[-1].due if open_sessions and status not in ("ended", "paused") else None
    paused = state_date(state.get("paused_until")) if status == "paused" else None
    return PairRow(
        pair=view.pair.id,
        mentor=view.pair.mentor.username,
        mentee=view.pair.mentee.username,
        project=view.project_path,
        status=status,
        sessions_held=len(held),
        sessions_skipped=sum(1 for s in sessions if s.get("outcome") == "skipped"),
        last_session=max((s["date"] for s in held), default=None),
        next_session_due=due.isoformat() if due else None,
        paused_until=paused.isoformat() if paused else None,
        next_due=next_due_shown(status, due.isoformat() if due else None, paused.isoformat() if paused else None),
        goals_total=len(goals),
        goals_done=sum(1 for g in goals if g.closed),
        url=view.project.url if view.project else "",
        # One meeting logged twice (same day, two issues) is credited once.
        mentor_hours=round(sum(s.get("minutes") or program.settings.session_length
                               for s in {s["date"]: s for s in held}.values()) / 60, 2),
    )


def rows(program: Program, views: dict[str, PairView], today: date | None = None) -> list[PairRow]:
    """One row per pair in file order; with `today`, who must act, what is overdue and pauses too."""
    found = [pair_row(program, views[p.id]) for p in program.pairs if p.id in views]
    if today is None:
        return found
    return [dated_row(program, views[row.pair], row, today) for row in found]


def dated_row(program: Program, view: PairView, row: PairRow, today: date) -> PairRow:
    """The row plus what depends on the day: display names, who acts, pauses, overdue items, KPIs, credits."""
    items = tracked_items(program, view)
    kpis = [i for i in items if i.counts_as == "kpi"]
    goals = [i for i in items if i.counts_as == "goal"]
    credited = sum(i.credit_minutes for i in items if i.counts_as == "activity") / 60
    exempt = exempt_until(view.state, row.status, today) if view.project is not None else None
    paused_until = row.paused_until if exempt else None
    return replace(
        row, mentor_name=view.pair.mentor.name, mentee_name=view.pair.mentee.name,
        act=who_acts(program, view, today),
        paused_until=paused_until, next_due=next_due_shown(row.status, row.next_session_due, paused_until),
        overdue=tuple(overdue_items(program, view, today)),
        goals_total=row.goals_total + len(goals), goals_done=row.goals_done + sum(1 for g in goals if g.done),
        kpis_total=len(kpis), kpis_done=sum(1 for k in kpis if k.done),
        credited_hours=round(credited, 2), mentor_hours=round(row.mentor_hours + credited, 2),
    )


@dataclass(frozen=True)
class CohortRow:
    """A host's mentor time credited for cohort-wide activities (a lunch and learn, a core-group meeting)."""

    username: str
    name: str
    activities: int  # closed activities the person hosted
    mentor_hours: float


def cohort_rows(program: Program, credits: Iterable[Credit]) -> list[CohortRow]:
    """One row per host, in the order they first hosted."""
    found: dict[str, list[Credit]] = {}
    for credit in credits:
        found.setdefault(credit.username, []).append(credit)
    return [CohortRow(username=name, name=program.people[name].name if name in program.people else name,
                      activities=len({c.key for c in given}), mentor_hours=round(sum(c.minutes for c in given) / 60, 2))
            for name, given in found.items()]


COHORT_STATUS = "cohort host"  # the status of a `cohort:<username>` row in JSON and CSV


def cohort_report_rows(cohort: Sequence[CohortRow], project: str) -> list[PairRow]:
    """The hosts' rows as report rows (`cohort:<username>`, as in the table), for JSON and CSV: their
    mentor hours are all credited, so a sum of the column gives the table's total."""
    return [PairRow(pair=f"cohort:{c.username}", mentor=c.username, mentee="", project=project, status=COHORT_STATUS,
                    sessions_held=0, sessions_skipped=0, last_session=None, next_session_due=None, goals_total=0,
                    goals_done=0, url="", mentor_hours=c.mentor_hours, mentor_name=c.name, act="-",
                    credited_hours=c.mentor_hours, activities_hosted=c.activities)
            for c in cohort]


def with_status(report_rows: list[PairRow], statuses: tuple[str, ...]) -> list[PairRow]:
    return [r for r in report_rows if not statuses or r.status in statuses]


@dataclass(frozen=True)
class Totals:
    pairs: int
    sessions_held: int
    sessions_skipped: int
    goals_total: int
    goals_done: int
    kpis_total: int
    kpis_done: int
    mentor_hours: float
    needing_action: int
    overdue_items: int


def totals(report_rows: list[PairRow], cohort: Sequence[CohortRow] = ()) -> Totals:
    """The rows' totals; mentor hours include the time credited for cohort activities."""
    return Totals(
        pairs=len(report_rows),
        sessions_held=sum(r.sessions_held for r in report_rows),
        sessions_skipped=sum(r.sessions_skipped for r in report_rows),
        goals_total=sum(r.goals_total for r in report_rows), goals_done=sum(r.goals_done for r in report_rows),
        kpis_total=sum(r.kpis_total for r in report_rows), kpis_done=sum(r.kpis_done for r in report_rows),
        mentor_hours=round(sum(r.mentor_hours for r in report_rows) + sum(c.mentor_hours for c in cohort), 2),
        needing_action=sum(1 for r in report_rows if r.act not in ("", "-")),
        overdue_items=sum(len(r.overdue) for r in report_rows),
    )


CSV_COLUMNS = tuple(f.name for f in fields(PairRow))


def to_csv(report_rows: list[PairRow]) -> str:
    """The rows as CSV (one column per field; lists joined with spaces), for spreadsheets."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in report_rows:
        values = row.as_dict()
        writer.writerow([" ".join(v) if isinstance(v, tuple | list) else ("" if v is None else v)
                         for v in (values[c] for c in CSV_COLUMNS)])
    return out.getvalue()


def table(report_rows: list[PairRow], with_totals: bool = False, cohort: Sequence[CohortRow] = (),
          cohort_project: str = "") -> str:
    """The rows as a text table; with totals, also a row per host of cohort activities (`cohort:<username>`)."""
    headers = ["pair", "status", "held", "last session", "next due", "goals", "mentor hours", "project"]
    lines = [
        [r.pair, r.status, str(r.sessions_held), r.last_session or "-", r.next_due,
         f"{r.goals_done}/{r.goals_total}", f"{r.mentor_hours:g}", r.project]
        for r in report_rows
    ]
    if with_totals:
        headers[1:1] = ["mentee & mentor", "act", "paused until", "overdue"]
        for line, r in zip(lines, report_rows):
            line[1:1] = [f"{r.mentee_name} & {r.mentor_name}", r.act or "-", r.paused_until or "-",
                         ",".join(r.overdue) or "-"]
        for c in cohort:
            lines.append([f"cohort:{c.username}", c.name, "-", "-", "-", f"hosted {c.activities}", "-", "-", "-", "-",
                          f"{c.mentor_hours:g}", cohort_project])
        t = totals(report_rows, cohort)
        total_line = (["total", f"{t.pairs} pairs", f"{t.needing_action} need action", "", f"{t.overdue_items} overdue", "",
                      str(t.sessions_held), "", "", f"{t.goals_done}/{t.goals_total}", f"{t.mentor_hours:g}", ""])
    else:
        total_line = None
    every = lines + ([total_line] if total_line else [])
    widths = [max(len(h), *(len(line[i]) for line in every)) if every else len(h) for i, h in enumerate(headers)]
    rule = "  ".join("-" * w for w in widths)
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)), rule]
    out += ["  ".join(c.ljust(w) for c, w in zip(line, widths)) for line in lines]
    if total_line:  # below a second rule: the totals of the rows above
        out += [rule, "  ".join(c.ljust(w) for c, w in zip(total_line, widths))]
    return "\n".join(line.rstrip() for line in out)
