"""WORKFLOWS and PROGRAM_STEPS: the single wiring points of every decision step, in the order they run."""

from __future__ import annotations

from types import ModuleType

from issuebot.workflows import feedback, goals, nudges, offboarding, onboarding, requests, reviews, sessions
from issuebot.workflows.program import (
    board,
    cohort_space,
    coordinator_space,
    dashboard_issue,
    dashboard_requests,
    group_labels,
    intake,
    manager_reviews,
    monthly_report,
    private_channels,
    rematch_answers,
    rematch_requests,
    surveys,
)

# Each step module has a one-line docstring, `triggers` (a subset of TRIGGERS) and a pure
# `decide(plan)` that adds intended writes to the plan. Program steps also name their `phase`:
# `before` the pairs are decided, or `after` their writes are applied.
TRIGGERS = frozenset({"sync", "sweep", "event", "rematch"})
PHASES = ("before", "after")

# Per pair. Why this order (pinned by tests/test_registries.py):
WORKFLOWS: tuple[ModuleType, ...] = (
    onboarding,  # the project, members and first issues must exist before anything is logged in them
    sessions,  # what people did (closed issues, quick commands) before any rule judges the pair
    requests,  # coordinators' boxes and re-matches may snooze, extend or end the pair: before reminders
    nudges,  # reminders and escalations see the status the steps above left
    goals,
    reviews,
    feedback,
    offboarding,  # last: wrap-up and the end request see the end date `/extend` or a box may have moved
)

# Program-wide, around the pairs. Why this order (pinned by tests/test_registries.py):
PROGRAM_STEPS: tuple[ModuleType, ...] = (
    group_labels,  # labels first: every issue written after them may carry them
    coordinator_space,  # the coordinators' project before anything is asked of or written into it
    private_channels,  # each person's channel before a re-match request is read or a survey sent there
    intake,  # after the channels: on GitLab and the embedded tracker they may share one project
    cohort_space,  # the cohort's project and the activities due today, before the pairs are decided
    board,
    dashboard_requests,  # what coordinators ticked, before the pairs' workflows carry it out
    rematch_requests,  # the same for private re-match requests
    # --- the pairs are decided and written here ---
    rematch_answers,  # answer only requests whose pair's writes were applied
    surveys,  # rounds due from the session log and status the pairs' workflows read
    manager_reviews,  # after the pairs' writes: a review opened this run is in the views next run
    monthly_report,  # counts the re-matches answered above
    dashboard_issue,  # last: shows every pair as this run left it, clears only boxes carried out
)
