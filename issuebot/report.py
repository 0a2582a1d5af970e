"""Per-pair metadata rows for coordinators (never the text of pair issues)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from issuebot.config import Program
from issuebot.pairstate import goal_progress
from issuebot.plan import PairView, SessionRef


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

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


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
    return PairRow(
        pair=view.pair.id,
        mentor=view.pair.mentor.username,
        mentee=view.pair.mentee.username,
        project=view.project_path,
        status=status,
        sessions_held=len(held),
        sessions_skipped=sum(1 for s in sessions if s.get("outcome") == "skipped"),
        last_session=max((s["date"] for s in held), default=None),
        next_session_due=open_sessions[-1].due.isoformat() if open_sessions and open_sessions[-1].due else None,
        goals_total=len(goals),
        goals_done=sum(1 for g in goals if g.closed),
        url=view.project.url if view.project else "",
        # One meeting logged twice (same day, two issues) is credited once.
        mentor_hours=round(sum(s.get("minutes") or program.settings.session_length
                               for s in {s["date"]: s for s in held}.values()) / 60, 2),
    )


def rows(program: Program, views: dict[str, PairView]) -> list[PairRow]:
    return [pair_row(program, views[p.id]) for p in program.pairs if p.id in views]


def table(report_rows: list[PairRow]) -> str:
    headers = ["pair", "status", "held", "last session", "next due", "goals", "mentor hours", "project"]
    lines = [
        [r.pair, r.status, str(r.sessions_held), r.last_session or "-", r.next_session_due or "-",
         f"{r.goals_done}/{r.goals_total}", f"{r.mentor_hours:g}", r.project]
        for r in report_rows
    ]
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(headers)]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(c.ljust(w) for c, w in zip(line, widths)) for line in lines]
    return "\n".join(out)
