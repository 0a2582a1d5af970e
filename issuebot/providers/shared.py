"""What every tracker adapter checks and works out the same way: titles, ownership, label changes, times."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from issuebot.config import secret
from issuebot.labels import with_exclusive_labels
from issuebot.models import Issue
from issuebot.providers.base import AuthenticationFailed, InvalidRequest, ProjectSpec, ProjectTaken


def require_title(title: str) -> None:
    """An issue needs a title that is not only blanks (raises InvalidRequest before any call)."""
    if not title.strip():
        raise InvalidRequest("an issue needs a title")


def refuse_unless_created_by_issuebot(spec: ProjectSpec, path: str, description: str, noun: str = "project") -> None:
    """Raise ProjectTaken when the project at `path` lacks issuebot's owner token in its description."""
    if spec.owner_token not in (description or ""):
        raise ProjectTaken(
            f"{noun} {path} already exists and was not created by issuebot; "
            "rename it or choose another project_prefix"
        )


def person_token(person_tokens: Mapping[str, str], username: str, forge: str) -> str:
    """A person's own token, from the variable `provider.person_tokens` names for them (matched
    without regard to case, as forges match usernames); AuthenticationFailed, naming the variable
    but never its value, when none is named or it is unset."""
    variable = next((v for k, v in person_tokens.items() if k.casefold() == username.casefold()), None)
    if variable is None:
        raise AuthenticationFailed(f"issuebot cannot act as {username} on {forge}: provider.person_tokens "
                                   f"names no variable holding their own token")
    token = secret(variable)
    if not token:
        raise AuthenticationFailed(f"issuebot cannot act as {username} on {forge}: the environment variable "
                                   f"{variable} (provider.person_tokens) is not set")
    return token


def refuse_archived(project: str) -> InvalidRequest:
    """The error for a write to an archived (read-only) project."""
    return InvalidRequest(f"project {project} is archived (read-only)")


@dataclass(frozen=True)
class LabelChange:
    """The labels an issue should end with, and the delta that gets it there from what was read."""

    labels: list[str]
    added: list[str]
    removed: list[str]

    def __bool__(self) -> bool:
        return bool(self.added or self.removed)


def label_change(current: Sequence[str], add: Sequence[str] = (), remove: Sequence[str] = ()) -> LabelChange:
    """The delta for `update_issue(add_labels=..., remove_labels=...)` on every tracker.

    Only the delta is sent, never the whole list, so a label a person adds between issuebot's read
    and its write survives. Adding a scoped label (`pair::active`) removes its siblings, as GitLab's
    scoped labels do on paid tiers; trackers without scoped labels get the same outcome from here.
    """
    have = list(current)
    dropped = set(remove)
    labels = with_exclusive_labels([l for l in have if l not in dropped], add)
    return LabelChange(labels, [l for l in labels if l not in have], [l for l in have if l not in labels])


def labels_for_new_issue(labels: Sequence[str]) -> list[str]:
    """The labels `create_issue` writes: duplicates dropped, one label per scope (the last one named)."""
    return with_exclusive_labels([], labels)


def label_color(color: str) -> str:
    """A label colour as six lower-case hex digits, with or without a leading '#' given."""
    return color.strip().lstrip("#").lower()


def labels_to_write(have: Mapping[str, tuple[str, str]], wanted: Iterable[tuple[str, str, str]]) -> list[tuple[str, str, str, bool]]:
    """(name, colour, description, exists already) of each wanted label that is missing or differs;
    `have` maps a label name to its (colour, description) as the tracker holds them."""
    changes = []
    for name, color, description in wanted:
        current = have.get(name)
        color = label_color(color)
        if current is None:
            changes.append((name, color, description, False))
        elif (label_color(current[0] or ""), current[1] or "") != (color, description or ""):
            changes.append((name, color, description, True))
    return changes


def parse_time(value: str | datetime | None) -> datetime | None:
    """A tracker timestamp ("2027-01-11T09:00:00Z", "...+00:00", or a datetime) as an aware datetime."""
    if value is None or value == "":
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def is_updated_after(issue: Issue, cutoff: datetime | None) -> bool:
    """Whether `issue` counts for `list_issues(updated_after=cutoff)`: strictly after the instant
    (the forges' own filters include the instant itself)."""
    return cutoff is None or issue.updated_at is None or issue.updated_at > cutoff
