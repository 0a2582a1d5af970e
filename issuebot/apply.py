"""Budgeted, idempotent writes: carry out a plan's actions on a provider."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from issuebot import markers
from issuebot.models import (
    Action,
    ArchiveProject,
    CreateProject,
    EditIssue,
    EnsureBoard,
    EnsureIssueForm,
    GrantAccess,
    OpenIssue,
    PostComment,
    SetLabels,
    SetMembers,
)
from issuebot.providers.base import UNSET, ProjectSpec, Provider, ProviderUnavailable


class BudgetExhausted(Exception):
    """`--max-writes` reached: stop cleanly; the next run continues where this one stopped."""


@dataclass
class Outcome:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    writes: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    stopped: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "writes": self.writes,
            "errors": self.errors,
            "stopped_at_max_writes": self.stopped,
        }


class Applier:
    """Carries out actions on a provider, counting writes against an optional budget."""

    def __init__(self, provider: Provider, max_writes: int | None = None):
        self.provider = provider
        self.max_writes = max_writes
        self.start_writes = provider.meter.writes
        self.created_projects: set[str] = set()

    @property
    def writes(self) -> int:
        return self.provider.meter.writes - self.start_writes

    def _check_budget(self) -> None:
        if self.max_writes is not None and self.writes >= self.max_writes:
            raise BudgetExhausted()

    def _within_budget(self, items: Iterable[Any], ensure: Callable[[tuple[Any, ...]], Any]) -> None:
        """`ensure` over `items` in chunks no larger than the writes left, so `--max-writes N`
        never makes more than N writes (a verb writes at most once per item)."""
        items = tuple(items)
        while True:
            left = len(items) if self.max_writes is None else max(1, self.max_writes - self.writes)
            ensure(items[:left])
            items = items[left:]
            if not items:
                return
            self._check_budget()

    def apply(self, action: Action) -> None:
        self._check_budget()
        provider = self.provider
        if isinstance(action, CreateProject):
            project, created = provider.ensure_project(
                ProjectSpec(action.name, action.title, action.description, owner_token=_token_of(action.description)))
            if created:
                self.created_projects.add(project.path)
        elif isinstance(action, SetMembers):
            self._within_budget(action.members, lambda chunk: provider.ensure_members(action.project, chunk))
        elif isinstance(action, SetLabels):
            self._within_budget(action.labels, lambda chunk: provider.ensure_labels(chunk, action.project))
        elif isinstance(action, OpenIssue):
            # Right before the create: a run that overlapped this one may have opened it meanwhile
            # (not in a project this run created itself: nobody else has written there).
            if action.project not in self.created_projects and self._issue_exists(action):
                return
            self._create_once(
                lambda: provider.create_issue(action.project, action.title, action.body, labels=action.labels,
                                              assignees=action.assignees, due=action.due, confidential=action.confidential),
                lambda: self._issue_exists(action),
            )
        elif isinstance(action, EditIssue):
            provider.update_issue(action.project, action.number, title=action.title, body=action.body,
                                  add_labels=action.add_labels,
                                  remove_labels=action.remove_labels, state=action.state,
                                  due=action.due if action.due else UNSET, confidential=action.confidential)
        elif isinstance(action, PostComment):
            # A rerun after an interrupted write finds the marker and does not post twice.
            if not self._comment_exists(action):
                self._create_once(lambda: provider.create_comment(action.project, action.number, action.body),
                                  lambda: self._comment_exists(action))
        elif isinstance(action, ArchiveProject):
            provider.archive_project(action.project)
        elif isinstance(action, EnsureBoard):
            provider.ensure_board(action.name, action.labels)
        elif isinstance(action, EnsureIssueForm):
            provider.ensure_issue_form(action.project, action.name, action.title, action.about, action.labels,
                                       action.fields, opening=action.opening, confidential=action.confidential)
        elif isinstance(action, GrantAccess):
            self._within_budget(action.usernames, lambda chunk: provider.ensure_access(action.project, chunk, action.access))
        else:  # pragma: no cover - guarded by the meta test over Action subclasses
            raise TypeError(f"no way to apply {type(action).__name__}")


    # A forge may answer 5xx after it carried out a create (a proxy timing out): issuebot never
    # retries a create blindly, it looks for the marker first, so the write happens exactly once.
    CREATE_ATTEMPTS = 3

    def _create_once(self, create: Callable[[], Any], exists: Callable[[], bool]) -> None:
        for attempt in range(1, self.CREATE_ATTEMPTS + 1):
            try:
                create()
                return
            except ProviderUnavailable:
                if exists():
                    return
                if attempt == self.CREATE_ATTEMPTS:
                    raise

    def _issue_exists(self, action: OpenIssue) -> bool:
        issues = self.provider.list_issues(action.project, state="all")
        return any(markers.find_marker(issue.body) == action.key for issue in issues)

    def _comment_exists(self, action: PostComment) -> bool:
        comments = self.provider.list_comments(action.project, action.number)
        return any(markers.has_marker(comment.body, action.key) for comment in comments)


def _token_of(description: str) -> str:
    start = description.index("[issuebot:")
    return description[start : description.index("]", start) + 1]

