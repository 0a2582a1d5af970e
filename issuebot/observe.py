"""Bulk reads of the tracker into pair views: every pair of a program, or one pair."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable

from issuebot import markers
from issuebot.config import Program
from issuebot.models import Comment, Issue, Pair, Project
from issuebot.pairstate import issues_with_unseen_comments
from issuebot.plan import (
    CHANNEL_TOKEN,
    COHORT_TOKEN,
    INTAKE_TOKEN,
    TRACKER,
    PairView,
    SessionRef,
    SpaceView,
    channel_people,
    handle_of,
    index_issues,
    owner_token,
)
from issuebot.providers.base import NotFound, Provider, ProviderError


def observe_program(
    provider: Provider,
    program: Program,
    only: str | None = None,
    *,
    read_comments: Callable[[PairView], Iterable[str]] | None = None,
    find_orphans: bool = True,
    find_commands: bool = False,
) -> tuple[dict[str, PairView], list[Project]]:
    """Every pair's view from bulk reads: all projects, then all open issues of the group.

    Cost: ceil(projects/100) + ceil(open issues/100) list calls, plus one per-project read of
    closed issues for a pair whose progress tracker is missing (new or interrupted pairs only).
    With `find_orphans=False` (the sweep) the project list is read only when some pair has no
    open issue, since an open issue already proves its project exists. `read_comments(view)`
    names the issues (marker keys) whose comments a decision needs: one read each.
    `find_commands` (the sweep) also reads the comments of every open issue whose comment count
    moved since issuebot last looked: one read per active issue, none on a quiet day.
    Returns the views and the bot projects of pairs no longer in the program file.
    """
    pairs = [p for p in program.pairs if only is None or p.id == only]
    paths = {provider.project_path(program.project_name(p)): p for p in pairs}
    by_project: dict[str, list[Issue]] = defaultdict(list)
    for issue in provider.list_issues(None, state="open"):
        if issue.project in paths:
            by_project[issue.project].append(issue)
    indexed = {path: index_issues(issues) for path, issues in by_project.items()}
    ended = program.label("pair::ended")
    ended_pairs = any(TRACKER in found and ended in found[TRACKER].labels for found in indexed.values())
    # Ended pairs need the project list too: its archived flag says whether `/end` finished.
    if find_orphans or ended_pairs or any(path not in by_project for path in paths):
        projects = {p.path: p for p in provider.list_projects()}
        # A project at a pair's path that issuebot did not create is someone else's: seen as
        # missing, so ensure_project refuses it (ProjectTaken) and nothing is written into it.
        projects = {path: p for path, p in projects.items() if path not in paths or owner_token(paths[path]) in p.description}
    else:
        projects = {path: Project(path=path, name=path.rsplit("/", 1)[-1]) for path in paths}
    views = {}
    for path, pair in paths.items():
        view = PairView(pair=pair, project_path=path, project=projects.get(path), issues=indexed.get(path, {}),
                        listed=tuple(by_project.get(path, ())))
        if view.project is not None and view.project.archived:
            views[pair.id] = view  # read-only and over: nothing more to read or decide
            continue
        # A missing tracker or a state block a person damaged: closed issues must be seen too.
        if view.project is not None and (view.tracker is None or not view.state):
            view = _read_fully(provider, view)
        if view.project is not None:
            view = read_unlogged_sessions(provider, view)
        if find_commands and view.project is not None:
            read_threads(provider, view, issues_with_unseen_comments(view))
        if read_comments is not None and view.project is not None:
            for key in read_comments(view):
                needed = view.issues.get(key)
                if needed is not None:
                    view.comments[key] = view.threads.get(needed.number) or provider.list_comments(
                        view.project_path, needed.number)
        views[pair.id] = view
    known_tokens = {owner_token(p) for p in program.pairs}
    coordination = provider.project_path(program.settings.coordinator_project)
    orphans = [
        p for p in projects.values()
        if "[issuebot:" in p.description and not any(t in p.description for t in known_tokens)
        and p.path != coordination and not any(t in p.description for t in (CHANNEL_TOKEN, INTAKE_TOKEN, COHORT_TOKEN))
    ] if only is None and find_orphans else []
    return views, orphans


def observe_pair(provider: Provider, program: Program, pair: Pair, *, threads_of: Iterable[int] = ()) -> PairView:
    """One pair's view: its project's open issues, and closed ones too if the tracker is missing;
    the comments of every open issue with comments issuebot has not seen, and of the issues
    `threads_of` (those events are about), one read each."""
    path = provider.project_path(program.project_name(pair))
    try:
        issues = list(provider.list_issues(path, state="open"))
        project: Project | None = Project(path=path, name=program.project_name(pair))
    except ProviderError:
        return PairView(pair=pair, project_path=path, project=None)
    view = PairView(pair=pair, project_path=path, project=project, issues=index_issues(issues), listed=tuple(issues))
    if view.tracker is None or not view.state:
        view = _read_fully(provider, view)
    threads = list(dict.fromkeys(threads_of))
    for number in threads:
        if any(i.number == number for i in view.issues.values()):
            continue
        # A comment on a closed issue (e.g. a session already logged): its decision needs that issue.
        try:
            commented = provider.get_issue(path, number)
        except NotFound:
            continue
        key = markers.find_marker(commented.body)
        if key is not None and key not in view.issues:
            view.issues[key] = commented
    wanted = issues_with_unseen_comments(view)
    read_threads(provider, view, [*wanted, *(n for n in threads if n not in wanted)])
    return view


def read_threads(provider: Provider, view: PairView, numbers: Iterable[int]) -> None:
    """The comments of issues `numbers` into `view.threads` (one read each; a vanished issue has none)."""
    for number in numbers:
        try:
            view.threads[number] = provider.list_comments(view.project_path, number)
        except NotFound:
            view.threads[number] = []


def _read_fully(provider: Provider, view: PairView) -> PairView:
    issues = index_issues(provider.list_issues(view.project_path, state="all"))
    return PairView(pair=view.pair, project_path=view.project_path, project=view.project, issues=issues, complete=True,
                    listed=view.listed, threads=view.threads)


def read_unlogged_sessions(provider: Provider, view: PairView) -> PairView:
    """The view plus closed issues, when a session issue issuebot opened is neither open nor in the
    session log: a person closed it (held) and the event was lost or is being handled now.

    Cost: nothing in the usual case; one list call per 100 closed issues of the project otherwise.
    """
    if view.complete or view.project is None:
        return view
    logged = {SessionRef(e["n"]).key for e in view.state.get("sessions", []) if isinstance(e.get("n"), int)}
    missing = [k for k in view.state.get("issues", []) if SessionRef.is_key(k) and k not in logged and k not in view.issues]
    if not missing:
        return view
    closed = index_issues(provider.list_issues(view.project_path, state="closed"))
    issues = {**{k: i for k, i in closed.items() if SessionRef.is_key(k)}, **view.issues}
    return PairView(pair=view.pair, project_path=view.project_path, project=view.project, issues=issues,
                    complete=False, comments=view.comments, listed=view.listed, threads=view.threads)



def observe_coordination(provider: Provider, program: Program) -> tuple[str, bool, list[Issue]]:
    """(path, exists, all its issues) of the coordinators' project: one list call per 100 issues."""
    path = provider.project_path(program.settings.coordinator_project)
    try:
        return path, True, list(provider.list_issues(path, state="all"))
    except NotFound:
        return path, False, []


def observe_history(provider: Provider, program: Program) -> dict[str, PairView]:
    """Every pair's view with its closed issues too, for reports: one listing of the whole group.

    Cost: ceil(issues/100) list calls, open and closed together; no per-pair read. A pair
    without issues in the tracker gets a view without a project ("not created").
    """
    paths = {provider.project_path(program.project_name(p)): p for p in program.pairs}
    by_project: dict[str, list[Issue]] = defaultdict(list)
    for issue in provider.list_issues(None, state="all"):
        if issue.project in paths:
            by_project[issue.project].append(issue)
    views = {}
    for path, pair in paths.items():
        issues = by_project.get(path)
        project = Project(path=path, name=path.rsplit("/", 1)[-1]) if issues else None
        views[pair.id] = PairView(pair=pair, project_path=path, project=project,
                                  issues=index_issues(issues or ()), complete=True)
    return views


def observe_channels(provider: Provider, program: Program) -> tuple[dict[str, str], frozenset[str], list[Issue], dict[tuple[str, int], list[Comment]]]:
    """Every person's private channel: (username -> path, the paths that exist, their issues in all
    states, the comments of issuebot's open items there).

    Cost: one list call per 100 issues of each channel project (GitLab and the embedded tracker:
    one project; GitHub: one repository per person), plus one comment listing per open item of
    issuebot's (an unanswered survey, a manager's review): only those can need an answer.
    """
    kind = provider.kind
    channels = {u: provider.private_channel_path(program.surveys.channel, handle_of(program, u, kind))
                for u in channel_people(program)}
    existing: set[str] = set()
    issues: list[Issue] = []
    for path in dict.fromkeys(channels.values()):
        try:
            issues.extend(provider.list_issues(path, state="all"))
        except NotFound:
            continue
        existing.add(path)
    comments = {
        (i.project, i.number): provider.list_comments(i.project, i.number)
        for i in issues
        if i.state == "open" and i.author == provider.bot_username and markers.find_marker(i.body)
    }
    return channels, frozenset(existing), issues, comments


def observe_intake(provider: Provider, program: Program) -> SpaceView | None:
    """The intake project (`program.intake`): whether it exists and its issues in all states, one list
    call per 100 issues; None when the program has none."""
    intake = program.settings.intake
    if intake is None:
        return None
    path = provider.project_path(intake.project)
    # GitLab and the embedded tracker keep every private channel in one project: when it is the
    # intake project too, the call and the sign-ups sit beside the confidential items.
    channel = program.surveys.channel
    shared = channel == intake.project and provider.private_channel_path(channel, "a") == provider.private_channel_path(channel, "b")
    try:
        issues = list(provider.list_issues(path, state="all"))
    except NotFound:
        return SpaceView(path=path, shared_with_channels=shared)
    return SpaceView(path=path, exists=True, issues=issues, shared_with_channels=shared)


def observe_cohort(provider: Provider, program: Program, *, with_comments: bool = True) -> SpaceView | None:
    """The cohort space (`program.cohort_space`): its issues in all states, plus the comments of each
    activity issuebot opened whose credit is not recorded yet and whose comment count moved since
    issuebot last recorded it (one read each, none on a quiet day; none `with_comments=False`, for
    reports); None when the program has none."""
    space = program.settings.cohort_space
    if space is None:
        return None
    path = provider.project_path(space.project)
    try:
        issues = list(provider.list_issues(path, state="all"))
    except NotFound:
        return SpaceView(path=path)
    comments = {}
    for issue in issues if with_comments else ():
        if issue.author != provider.bot_username or not (markers.find_marker(issue.body) or "").startswith("activity:"):
            continue
        state = markers.read_state(issue.body)
        # A credited record is final; an unchanged comment count means nobody new said `/attended`.
        if "credited" not in state and (issue.comments is None or issue.comments != state.get("seen")):
            comments[issue.number] = provider.list_comments(path, issue.number)
    return SpaceView(path=path, exists=True, issues=issues, comments=comments)
