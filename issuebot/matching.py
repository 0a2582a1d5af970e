"""Propose mentor/mentee pairs for a whole cohort at once: rules, compatibility scores, optimal assignment."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from issuebot.config import MatchingSettings, Program
from issuebot.models import Person

# The solver comes with the `match` extra; a sweep's lean install (`pip install issuebot`) has none.
try:
    import numpy as np
    from scipy.optimize import linear_sum_assignment
except ImportError as missing:
    _SOLVER_MISSING: str | None = missing.name or "scipy"
else:
    _SOLVER_MISSING = None
INSTALL_SOLVER = "pip install 'issuebot[match]'"


def solver_missing() -> str | None:
    """None when the assignment solver (numpy, scipy) is installed, else the one line that says how to get it."""
    if _SOLVER_MISSING is None:
        return None
    return f"issuebot match needs the matching solver ({_SOLVER_MISSING} is not installed): {INSTALL_SOLVER}"

# Infeasible cells must never beat leaving a mentee unmatched (value 0).
_FORBIDDEN = -1e18


@dataclass(frozen=True)
class Proposal:
    """One proposed pair with its score and the reasons a coordinator reads."""

    mentor: str
    mentee: str
    score: float
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Unmatched:
    username: str
    side: str  # "mentee" or "mentor"
    reason: str


@dataclass(frozen=True)
class MatchResult:
    proposals: tuple[Proposal, ...]
    unmatched: tuple[Unmatched, ...]
    total_score: float


@dataclass(frozen=True)
class Pool:
    """Who is looking: mentees without a running pair, mentors with places left, past partners."""

    mentees: tuple[Person, ...]
    mentors: tuple[tuple[Person, int], ...]  # (mentor, free places)
    former: frozenset[tuple[str, str]] = field(default_factory=frozenset)  # (mentor, mentee)
    left_out: tuple[Unmatched, ...] = ()  # mentors the program's rules keep out of the pool, and why


def build_pool(program: Program, ended: Iterable[str] = ()) -> Pool:
    """The pool from the program file and the ids of pairs the tracker shows as ended.

    Every pair ever declared in the file, running or ended, counts as former partners: a
    re-matched person is never proposed the same partner again.
    """
    ended_ids = set(ended)
    settings = program.settings.matching
    coordinators = set(program.settings.coordinators)
    running = [p for p in program.pairs if p.id not in ended_ids]
    paired = {name for p in running for name in p.usernames()}
    current_mentees = {p.mentee.username for p in running}
    mentoring: dict[str, int] = {}
    for pair in running:
        mentoring[pair.mentor.username] = mentoring.get(pair.mentor.username, 0) + 1
    former = {(p.mentor.username, p.mentee.username) for p in program.pairs}
    former |= {(a, b) for a, b in settings.never_again}

    def eligible(person: Person) -> bool:
        return settings.include_coordinators or person.username not in coordinators

    people = [p for p in program.people.values() if eligible(p)]
    mentees = tuple(p for p in people if p.role in ("mentee", "both") and p.username not in paired)
    mentors = []
    left_out = []
    for person in people:
        if person.role not in ("mentor", "both"):
            continue
        if person.level in settings.opt_in_levels and person.attributes.get(settings.opt_in_attribute) is not True:
            left_out.append(Unmatched(person.username, "mentor",
                                      f"level {person.level} mentors only when marked "
                                      f"`attributes: {{{settings.opt_in_attribute}: true}}`, which they are not"))
            continue
        if person.username in current_mentees:
            continue  # somebody's mentee right now does not also take mentees
        free = person.capacity - mentoring.get(person.username, 0)
        if free > 0:
            mentors.append((person, free))
    return Pool(mentees=mentees, mentors=tuple(mentors), former=frozenset(former), left_out=tuple(left_out))


# ----------------------------------------------------------------------------- rules and scores


def _utc_offsets(people: Sequence[Person], on: date) -> np.ndarray:
    """Hours east of UTC at noon on `on` (NaN when a person gave no time zone)."""
    moment = datetime.combine(on, time(12), tzinfo=timezone.utc)
    cache: dict[str, float] = {}
    out = np.full(len(people), np.nan)
    for index, person in enumerate(people):
        if person.timezone:
            if person.timezone not in cache:
                offset = moment.astimezone(ZoneInfo(person.timezone)).utcoffset()
                cache[person.timezone] = offset.total_seconds() / 3600 if offset is not None else 0.0
            out[index] = cache[person.timezone]
    return out


def _incidence(items: Sequence[Iterable[str]], vocabulary: dict[str, int]) -> np.ndarray:
    matrix = np.zeros((len(items), max(1, len(vocabulary))), dtype=np.float32)
    for row, values in enumerate(items):
        for value in values:
            column = vocabulary.get(_norm(value))
            if column is not None:
                matrix[row, column] = 1.0
    return matrix


def _norm(value: Any) -> str:
    return str(value).strip().lower()


def _as_values(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple, set)):
        return [_norm(v) for v in value]
    return [_norm(value)]


def _overlap(left: Sequence[Iterable[str]], right: Sequence[Iterable[str]]) -> np.ndarray:
    """counts[i, j] = how many values left[i] and right[j] share (one sparse-free matrix product)."""
    vocabulary: dict[str, int] = {}
    for values in (*left, *right):
        for value in values:
            vocabulary.setdefault(_norm(value), len(vocabulary))
    return _incidence(left, vocabulary) @ _incidence(right, vocabulary).T


def _closeness(scale: Sequence[str], mentees: Sequence[Person], mentors: Sequence[Person], name: str) -> np.ndarray:
    """1 for equal values on an ordered scale, falling to 0 at its two ends (0 when a value is unknown)."""
    steps = {_norm(v): i for i, v in enumerate(scale)}
    span = max(1, len(scale) - 1)

    def position(people: Sequence[Person]) -> np.ndarray:
        return np.array([steps.get(_norm(p.attributes.get(name)), np.nan) if p.attributes.get(name) is not None
                         else np.nan for p in people], dtype=float)

    distance = np.abs(position(mentees)[:, None] - position(mentors)[None, :])
    return np.nan_to_num(1.0 - distance / span, nan=0.0)


@dataclass
class _Cohort:
    """Mentees x mentors matrices of scores and of the first rule each cell breaks."""

    mentees: tuple[Person, ...]
    mentors: tuple[Person, ...]
    free: np.ndarray
    score: np.ndarray
    blocked: np.ndarray  # int8: 0 allowed, else an index into RULES
    skills: np.ndarray
    interests: np.ndarray
    attributes: dict[str, np.ndarray]
    tz_hours: np.ndarray


RULES = (
    "",
    "is the same person",
    "is the mentee's manager",
    "is excluded by the coordinators",
    "was already paired with them",
    "works in another department",
    "has a level outside the program's rule for this mentee",
    "is in a time zone too far away",
    "cannot be checked against the department scope: a department is missing",
    "cannot be checked against the level rules: a level is missing",
)
_SELF, _MANAGER, _EXCLUDED, _FORMER, _DEPARTMENT, _LEVEL, _TIMEZONE, _NO_DEPARTMENT, _NO_LEVEL = range(1, 10)


def _levels_allowed(settings: MatchingSettings, mentees: Sequence[Person], mentors: Sequence[Person]) -> np.ndarray:
    allowed = np.ones((len(mentees), len(mentors)), dtype=bool)
    if not settings.level_rules and settings.min_level_gap is None:
        return allowed
    mentee_level = np.array([np.nan if p.level is None else p.level for p in mentees], dtype=float)
    mentor_level = np.array([np.nan if p.level is None else p.level for p in mentors], dtype=float)
    known = ~np.isnan(mentee_level)[:, None] & ~np.isnan(mentor_level)[None, :]
    allowed &= known
    if settings.min_level_gap is not None:
        with np.errstate(invalid="ignore"):
            allowed &= (mentor_level[None, :] - mentee_level[:, None]) >= settings.min_level_gap
    if settings.level_rules:
        covered = np.zeros(len(mentees), dtype=bool)
        for rule in settings.level_rules:
            rows = np.isin(mentee_level, rule.mentee_levels)
            covered |= rows
            ok = np.ones(len(mentors), dtype=bool)
            with np.errstate(invalid="ignore"):
                if rule.mentor_min is not None:
                    ok &= mentor_level >= rule.mentor_min
                if rule.mentor_max is not None:
                    ok &= mentor_level <= rule.mentor_max
            allowed[rows] &= ok[None, :]
        allowed[~covered] = False  # a mentee level no rule names has no mentor in this program
    return allowed


def _cohort(program: Program, pool: Pool, *, today: date) -> _Cohort:
    settings = program.settings.matching
    weights = settings.weights
    mentees = pool.mentees
    mentors = tuple(m for m, _ in pool.mentors)
    free = np.array([n for _, n in pool.mentors], dtype=int)
    shape = (len(mentees), len(mentors))

    skills = _overlap([p.wants for p in mentees], [p.skills for p in mentors])
    interests = _overlap([p.interests for p in mentees], [p.interests for p in mentors])
    score = weights.skills * skills + weights.interests * interests
    attributes = {}
    for name, weight in weights.attributes.items():
        if name in settings.scales:
            shared = _closeness(settings.scales[name], mentees, mentors, name)
        else:
            shared = _overlap([_as_values(p.attributes.get(name)) for p in mentees],
                              [_as_values(p.attributes.get(name)) for p in mentors])
        attributes[name] = shared
        score = score + weight * shared
    mentee_dept = np.array([_norm(p.department) if p.department else "" for p in mentees], dtype=object)
    mentor_dept = np.array([_norm(p.department) if p.department else "" for p in mentors], dtype=object)
    same_dept = (mentee_dept[:, None] == mentor_dept[None, :]) & (mentee_dept[:, None] != "")
    if weights.same_department:
        score = score + weights.same_department * same_dept

    blocked = np.zeros(shape, dtype=np.int8)

    def block(mask: np.ndarray, rule: int) -> None:
        blocked[(blocked == 0) & mask] = rule

    def block_one(i: int, j: int, rule: int) -> None:
        if blocked[i, j] == 0:
            blocked[i, j] = rule

    offsets = _utc_offsets(mentees, today)[:, None], _utc_offsets(mentors, today)[None, :]
    tz_hours = np.abs(offsets[0] - offsets[1])
    tz_hours = np.minimum(tz_hours, 24 - tz_hours)  # the clock wraps around the date line

    mentee_index = {p.username: i for i, p in enumerate(mentees)}
    mentor_index = {p.username: j for j, p in enumerate(mentors)}
    for username, i in mentee_index.items():
        if username in mentor_index:
            blocked[i, mentor_index[username]] = _SELF
    for i, person in enumerate(mentees):
        if person.manager and person.manager in mentor_index:
            block_one(i, mentor_index[person.manager], _MANAGER)
    for a, b in settings.exclude:
        for left, right in ((a, b), (b, a)):
            if left in mentee_index and right in mentor_index:
                block_one(mentee_index[left], mentor_index[right], _EXCLUDED)
    for mentor, mentee in pool.former:
        if mentee in mentee_index and mentor in mentor_index:
            block_one(mentee_index[mentee], mentor_index[mentor], _FORMER)
    if settings.scope == "department":
        # A missing department is said as missing, not as "another department".
        block((mentee_dept[:, None] == "") | (mentor_dept[None, :] == ""), _NO_DEPARTMENT)
        block(~same_dept, _DEPARTMENT)
    if settings.level_rules or settings.min_level_gap is not None:
        no_level = (np.array([p.level is None for p in mentees], dtype=bool).reshape(-1, 1)
                    | np.array([p.level is None for p in mentors], dtype=bool).reshape(1, -1))
        block(no_level, _NO_LEVEL)
    block(~_levels_allowed(settings, mentees, mentors), _LEVEL)
    if settings.max_timezone_hours is not None:
        with np.errstate(invalid="ignore"):
            block(tz_hours > settings.max_timezone_hours, _TIMEZONE)
    return _Cohort(mentees=mentees, mentors=mentors, free=free, score=score.astype(float), blocked=blocked,
                   skills=skills, interests=interests, attributes=attributes, tz_hours=tz_hours)


# ----------------------------------------------------------------------------- solve


def match(program: Program, pool: Pool, *, today: date | None = None) -> MatchResult:
    """The best proposals for the whole pool at once.

    Objective: first as many mentees matched as the rules allow, then the highest total score.
    Solved as one rectangular assignment (scipy's linear_sum_assignment): each mentor appears
    once per free place, and each mentee also has a "stay unmatched" column worth nothing, so
    the solver never has to take a forbidden pair.
    """
    today = today or program.settings.starts
    cohort = _cohort(program, pool, today=today)
    n_mentees = len(cohort.mentees)
    if n_mentees == 0:
        return MatchResult(proposals=(), unmatched=_idle_mentors(cohort, {}) + pool.left_out, total_score=0.0)
    allowed = cohort.blocked == 0
    # A bonus larger than any total score makes "one more mentee matched" win lexicographically.
    bonus = float(np.abs(cohort.score).max(initial=0.0)) * n_mentees * 2 + 1.0
    base = np.where(allowed, cohort.score + bonus, _FORBIDDEN)
    # Columns: one per free place of each mentor, then one "unmatched" column per mentee.
    slot_owner = np.repeat(np.arange(len(cohort.mentors)), cohort.free)
    # Only mentors someone may have are worth columns; only as many places as there are mentees.
    useful = allowed.any(axis=0)
    slot_owner = slot_owner[useful[slot_owner]] if len(slot_owner) else slot_owner
    slot_owner = _cap_places(slot_owner, n_mentees)
    values = np.concatenate([base[:, slot_owner], np.zeros((n_mentees, n_mentees))], axis=1)
    rows, cols = linear_sum_assignment(values, maximize=True)
    proposals = []
    matched_mentors: set[str] = set()
    taken: set[int] = set()
    for i, col in zip(rows, cols):
        if col >= len(slot_owner):
            continue
        j = int(slot_owner[col])
        taken.add(i)
        mentor, mentee = cohort.mentors[j], cohort.mentees[i]
        matched_mentors.add(mentor.username)
        proposals.append(Proposal(mentor=mentor.username, mentee=mentee.username,
                                  score=round(float(cohort.score[i, j]), 3), reasons=_reasons(program, cohort, i, j)))
    unmatched = [
        Unmatched(cohort.mentees[i].username, "mentee", _why_unmatched(cohort, i))
        for i in range(n_mentees) if i not in taken
    ]
    used: dict[str, int] = {}
    for proposal in proposals:
        used[proposal.mentor] = used.get(proposal.mentor, 0) + 1
    unmatched.extend(_idle_mentors(cohort, used))
    unmatched.extend(pool.left_out)
    proposals.sort(key=lambda p: (p.mentee, p.mentor))
    return MatchResult(proposals=tuple(proposals), unmatched=tuple(unmatched),
                       total_score=round(sum(p.score for p in proposals), 3))


def _cap_places(slot_owner: np.ndarray, limit: int) -> np.ndarray:
    """At most `limit` places per mentor: nobody can take more mentees than there are."""
    if not len(slot_owner):
        return slot_owner
    keep = np.ones(len(slot_owner), dtype=bool)
    seen: dict[int, int] = {}
    for index, owner in enumerate(slot_owner.tolist()):
        seen[owner] = seen.get(owner, 0) + 1
        keep[index] = seen[owner] <= limit
    return slot_owner[keep]


def _idle_mentors(cohort: _Cohort, used: Mapping[str, int]) -> tuple[Unmatched, ...]:
    """Mentors left with free places, and why."""
    out = []
    for j, mentor in enumerate(cohort.mentors):
        left = int(cohort.free[j]) - used.get(mentor.username, 0)
        if left <= 0:
            continue
        if not len(cohort.mentees):
            reason = "no mentees are looking for a mentor"
        elif used.get(mentor.username):
            reason = f"{left} place(s) left: no other mentee may have or fits better"
        elif len(cohort.mentees) and (cohort.blocked[:, j] == 0).any():
            reason = "every mentee this mentor may have went to a better-scoring pair"
        else:
            reason = "no mentee looking for a mentor may have this mentor" + _rule_summary(cohort.blocked[:, j])
        out.append(Unmatched(mentor.username, "mentor", reason))
    return tuple(out)


def _rule_summary(blocked: np.ndarray) -> str:
    counts = np.bincount(blocked.astype(int), minlength=len(RULES))
    parts = [f"{int(counts[k])} {RULES[k].replace('the mentee', 'their mentee')}" for k in range(1, len(RULES)) if counts[k]]
    return " (" + "; ".join(parts) + ")" if parts else ""


def _why_unmatched(cohort: _Cohort, i: int) -> str:
    row = cohort.blocked[i]
    if not len(cohort.mentors):
        return "no mentor has a free place"
    allowed = int((row == 0).sum())
    if allowed:
        return f"all {allowed} mentor(s) allowed for them are full with better-scoring pairs"
    counts = np.bincount(row.astype(int), minlength=len(RULES))
    parts = [f"{int(counts[k])} {RULES[k]}" for k in range(1, len(RULES)) if counts[k]]
    return "no mentor fits the program's rules: of " + f"{len(row)} with free places, " + "; ".join(parts)


def _reasons(program: Program, cohort: _Cohort, i: int, j: int) -> tuple[str, ...]:
    mentee, mentor = cohort.mentees[i], cohort.mentors[j]
    weights = program.settings.matching.weights
    out = []
    wanted = sorted({_norm(s) for s in mentee.wants} & {_norm(s) for s in mentor.skills})
    if wanted:
        out.append(f"offers what {mentee.username} wants to learn: {', '.join(wanted)} (+{weights.skills * len(wanted):g})")
    shared = sorted({_norm(s) for s in mentee.interests} & {_norm(s) for s in mentor.interests})
    if shared:
        out.append(f"shared interests: {', '.join(shared)} (+{weights.interests * len(shared):g})")
    for name, weight in weights.attributes.items():
        if name in program.settings.matching.scales and weight:
            value = float(cohort.attributes[name][i, j])
            if value:
                out.append(f"similar {name}: {mentee.attributes.get(name)} and {mentor.attributes.get(name)} "
                           f"({weight * value:+.3g})")
            continue
        common = sorted(set(_as_values(mentee.attributes.get(name))) & set(_as_values(mentor.attributes.get(name))))
        if common and weight:
            verb = "same" if weight > 0 else "same (the program prefers different)"
            out.append(f"{verb} {name}: {', '.join(common)} ({weight * len(common):+g})")
    if weights.same_department and mentee.department and _norm(mentee.department) == _norm(mentor.department or ""):
        out.append(f"same department {mentee.department} (+{weights.same_department:g})")
    if mentee.level is not None and mentor.level is not None:
        out.append(f"level {mentor.level} mentor for a level {mentee.level} mentee")
    hours = cohort.tz_hours[i, j]
    if not np.isnan(hours):
        out.append("same time zone" if hours == 0 else f"{hours:g}h apart")
    if not out:
        out.append("allowed by every rule; nothing in common recorded")
    return tuple(out)


# ----------------------------------------------------------------------------- proposals file


def proposals_yaml(program_name: str, result: MatchResult, *, starts: date | None, explain: bool, today: date) -> str:
    """A `pairs:` fragment (YAML with comments) for the coordinator to review and paste."""
    lines = [
        f"# Pairs proposed by `issuebot match` for {program_name} on {today.isoformat()}.",
        f"# {len(result.proposals)} pair(s), total score {result.total_score:g}. Review them, then add the",
        "# entries under `pairs:` in the program file and run `issuebot plan` and `issuebot sync`.",
        "pairs:",
    ]
    if not result.proposals:
        lines[-1] = "pairs: []"
    for proposal in result.proposals:
        entry: dict[str, Any] = {"mentor": proposal.mentor, "mentee": proposal.mentee}
        if starts is not None:
            entry["starts"] = starts
        lines.append(f"  # score {proposal.score:g}")
        if explain:
            lines.extend(f"  #   {reason}" for reason in proposal.reasons)
        dumped = yaml.safe_dump([entry], sort_keys=False, default_flow_style=False).splitlines()
        lines.extend("  " + line for line in dumped)
    if result.unmatched:
        lines.append("")
        lines.append("# Not matched:")
        lines.extend(f"#   {u.username} ({u.side}): {u.reason}" for u in result.unmatched)
    return "\n".join(lines) + "\n"
