"""The label scheme: every canonical label issuebot uses, with its colour and meaning."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class LabelSpec:
    name: str
    color: str
    description: str


# Canonical names; a program may rename any of them under `program.labels`.
LABELS: dict[str, LabelSpec] = {
    spec.name: spec
    for spec in (
        LabelSpec("pair::kickoff", "6699cc", "Pair formed; first session not yet held"),
        LabelSpec("pair::active", "2da44e", "Pair meets on cadence"),
        LabelSpec("pair::stale", "d93f0b", "Sessions overdue; coordinators alerted"),
        LabelSpec("pair::paused", "bfbfbf", "Pair paused by agreement"),
        LabelSpec("pair::wrapping-up", "a371f7", "Program end is near; wrap-up open"),
        LabelSpec("pair::ended", "57606a", "Pair ended"),
        LabelSpec("session::planned", "0969da", "Session planned"),
        LabelSpec("session::held", "1a7f37", "Session held"),
        LabelSpec("session::skipped", "9a6700", "Session skipped"),
        LabelSpec("kind::kickoff", "c5def5", "Kickoff and expectations"),
        LabelSpec("kind::goal", "c5def5", "A mentee goal"),
        LabelSpec("kind::progress", "c5def5", "Progress tracker of the pair"),
        LabelSpec("kind::session", "c5def5", "One mentoring session"),
        LabelSpec("kind::review", "c5def5", "Periodic review"),
        LabelSpec("kind::feedback", "c5def5", "Feedback round"),
        LabelSpec("kind::wrapup", "c5def5", "End-of-term wrap-up"),
        LabelSpec("kind::dashboard", "c5def5", "Coordinators' dashboard"),
    )
}

PAIR_STATUSES = ("kickoff", "active", "stale", "paused", "wrapping-up", "ended")
SESSION_OUTCOMES = ("planned", "held", "skipped")


def scope_of(name: str) -> str | None:
    """`pair` for `pair::active`: scoped labels of one scope exclude each other."""
    return name.split("::", 1)[0] if "::" in name else None


def with_exclusive_labels(current: Sequence[str], added: Sequence[str]) -> list[str]:
    """`current` plus `added`, where adding a scoped label drops its siblings (GitLab's scoped
    labels on paid tiers; trackers without them get the same outcome from here)."""
    labels = list(current)
    for name in added:
        scope = scope_of(name)
        if scope is not None:
            labels = [l for l in labels if scope_of(l) != scope or l == name]
        if name not in labels:
            labels.append(name)
    return labels
