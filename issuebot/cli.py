"""The `issuebot` command line: init, validate, schema, plan, sync, report (and the service verbs)."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import re
import shutil
import sys
from collections.abc import Callable
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

import click

from issuebot import __version__
from issuebot.config import ConfigError, Program, default_config_path, json_schema, load_program
from issuebot.labels import PAIR_STATUSES
from issuebot.paths import shipped
from issuebot.providers import make_provider
from issuebot.providers.base import ActsAsPerson, AuthenticationFailed, NotFound, Provider, ProviderError
from issuebot.templates import TemplateError, Templates

EXIT_FAILED = 1
EXIT_USAGE = 2


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(code)


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn expected failures into one clear message and an exit code, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            fail("\n".join(exc.problems))
        except TemplateError as exc:
            fail(f"template error: {exc}")
        except AuthenticationFailed as exc:
            fail(f"cannot sign in to the tracker: {exc}")
        except ProviderError as exc:
            fail(f"tracker error: {exc}", EXIT_FAILED)
        except OSError as exc:  # an output file in a folder that does not exist, a full disk...
            fail(f"{exc.filename or 'file'}: {exc.strerror or exc}", EXIT_FAILED)

    return wrapper


def config_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "-c", "--config", "config_path", type=click.Path(path_type=Path), default=None,
        help="program file (default: $ISSUEBOT_CONFIG or ./issuebot.yml)",
    )(func)


def now_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--now", "now", default=None, metavar="ISO8601",
        help="act as if it were this time (deterministic runs, rehearsals)",
    )(func)


def parse_now(value: str | None) -> datetime:
    if value is None:
        return datetime.now(timezone.utc)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        fail(f"--now: not an ISO 8601 date or time: {value!r}")
        raise
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def load(config_path: Path | None) -> Program:
    return load_program(config_path or default_config_path())


def templates_for(program: Program) -> Templates:
    return Templates(program.templates_dir())


def provider_for(program: Program, now: datetime | None = None) -> Provider:
    clock = (lambda: now) if now is not None else None
    return make_provider(program, clock)


@click.group()
@click.version_option(__version__, prog_name="issuebot")
@click.option("-v", "--verbose", count=True, help="more log output (-vv for debug)")
def main(verbose: int) -> None:
    """Run mentorship programs as issues in GitLab, GitHub or the embedded tracker."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


@main.command()
@click.argument("directory", type=click.Path(path_type=Path), default=Path("."))
@click.option("--force", is_flag=True, help="overwrite existing files")
@click.option("--from", "ready_made", default=None, metavar="PROGRAM",
              help="start from a ready-made program (pal, department-pilot, volunteer-scheme, ...)")
def init(directory: Path, force: bool, ready_made: str | None) -> None:
    """Write a starter program file and a copy of the templates into DIRECTORY."""
    programs = shipped("config") / "programs"
    if ready_made is not None and not (programs / f"{ready_made}.yml").is_file():
        names = sorted(p.stem for p in programs.glob("*.yml"))
        fail(f"--from: no ready-made program {ready_made!r}; choose one of {', '.join(names)}")
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "issuebot.yml"
    templates_target = directory / "issue_templates"
    if not force and (target.exists() or templates_target.exists()):
        fail(f"{target} or {templates_target} already exists; use --force to overwrite")
    if ready_made is None:
        text = (shipped("config") / "example.yml").read_text(encoding="utf-8")
        text = text.replace("  # templates: issue_templates", "  templates: issue_templates")
    else:  # the program's own templates on top of the shipped ones, in one folder the coordinator owns
        text = (programs / f"{ready_made}.yml").read_text(encoding="utf-8")
        text = re.sub(r"^(  templates:)[ \t]*\S+", r"\1 issue_templates", text, count=1, flags=re.MULTILINE)
    target.write_text(text, encoding="utf-8")
    shutil.copytree(shipped("issue_templates"), templates_target, dirs_exist_ok=True)
    if ready_made is not None and (programs / ready_made).is_dir():
        shutil.copytree(programs / ready_made, templates_target, dirs_exist_ok=True)
    click.echo(f"wrote {target} and {templates_target}/")
    click.echo(f"next: issuebot validate -c {target} && issuebot plan -c {target}")


@main.command()
@config_option
@click.option("--strict", is_flag=True, help="treat warnings as errors (exit 2)")
@handle_errors
def validate(config_path: Path | None, strict: bool) -> None:
    """Check the program file and its templates; warnings are printed, and refused with --strict."""
    program = load(config_path)
    for line in program.warnings:
        click.echo(f"{'error' if strict else 'warning'}: {line}", err=True)
    if strict and program.warnings:
        fail(f"{program.path.name}: {len(program.warnings)} warning(s), refused by --strict")
    templates = templates_for(program)
    from issuebot.plan import Context, PairView, Plan

    if program.pairs:
        pair = program.pairs[0]
        ctx = Context(program=program, templates=templates, now=datetime.now(timezone.utc), trigger="sync")
        plan = Plan(PairView(pair=pair, project_path="", project=None), ctx)
        sample = plan.render_context(
            goal={"title": "sample", "due": None, "actions": []}, session={"number": 1, "due": pair.starts},
        )
        problems = templates.check_all(sample)
        if problems:
            fail("\n".join(problems))
    if program.settings.intake is not None:
        from issuebot.people_import import signup_form

        signup_form(templates)  # the form's questions must each fill a person field
    click.echo(f"{program.path.name}: ok ({len(program.people)} people, {len(program.pairs)} pairs, "
               f"provider {program.settings.provider.kind})")


@main.command("doctor")
@config_option
@click.option("--webhook-url", default=None, metavar="URL", help="also check the forge's webhook for this URL")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@handle_errors
def doctor_command(config_path: Path | None, webhook_url: str | None, as_json: bool) -> None:
    """Check, with read-only calls, what `validate` cannot see: token, roles, usernames, projects, webhook."""
    from issuebot import doctor

    program = load(config_path)
    findings = doctor.diagnose(provider_for(program), program, webhook_url=webhook_url)
    if as_json:
        click.echo(json.dumps({"ok": not doctor.blocks(findings), "checks": [f.as_dict() for f in findings]}, indent=2))
    else:
        for finding in findings:
            click.echo(finding.line())
    if doctor.blocks(findings):
        sys.exit(EXIT_USAGE)


@main.command()
def schema() -> None:
    """Print the program file's JSON Schema (for editor completion)."""
    click.echo(json.dumps(json_schema(), indent=2))


def _print_plan(result: Any) -> None:
    for pair_id, actions in result.per_pair.items():
        notes = result.notes.get(pair_id, [])
        if not actions and not notes:
            click.echo(f"{pair_id}: up to date")
            continue
        click.echo(f"{pair_id}:" if actions else f"{pair_id}: up to date")
        for action in actions:
            click.echo(f"  - {action.describe()}")
        for note in notes:
            click.echo(f"  note: {note}")
    program_wide = result.program.actions  # labels, the coordinators' project, intake, cohort space...
    if program_wide:
        click.echo("program:")
        for action in program_wide:
            click.echo(f"  - {action.describe()}")
    _print_orphans(result)


def _print_orphans(result: Any) -> None:
    for project in result.orphans:
        click.echo(f"{project.path}: no longer in the program file (left as it is)")


@main.command()
@config_option
@now_option
@handle_errors
def plan(config_path: Path | None, now: str | None) -> None:
    """List the writes `sync` would make, per pair; writes nothing."""
    _sync(config_path, now, dry_run=True, as_json=False, max_writes=None)


@main.command()
@config_option
@now_option
@click.option("--dry-run", is_flag=True, help="print the writes instead of making them")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@click.option("--max-writes", type=click.IntRange(min=0), default=None, help="stop cleanly after N writes")
@handle_errors
def sync(config_path: Path | None, now: str | None, dry_run: bool, as_json: bool, max_writes: int | None) -> None:
    """Create or update every pair's project, issues and labels."""
    _sync(config_path, now, dry_run=dry_run, as_json=as_json, max_writes=max_writes)


def _sync(config_path: Path | None, now_text: str | None, *, dry_run: bool, as_json: bool, max_writes: int | None) -> None:
    from issuebot import doctor
    from issuebot.reconcile import reconcile_program

    program = load(config_path)
    now = parse_now(now_text)
    provider = provider_for(program, now if now_text else None)
    if not dry_run:  # the credentials can do what sync needs, before its first write
        problems = [f.line() for f in doctor.diagnose(provider, program, cheap=True) if f.blocking]
        if problems:
            fail("\n".join(problems))
    result = reconcile_program(provider, program, templates_for(program), trigger="sync", now=now,
                               max_writes=max_writes, dry_run=dry_run)
    outcome = result.outcome
    if as_json:
        data = outcome.as_dict()
        data["dry_run"] = dry_run
        data["orphans"] = [p.path for p in result.orphans]
        if dry_run:
            data["actions"] = [{"pair": a.pair, "action": a.describe()} for a in outcome.actions]
        data["notes"] = [{"pair": pair_id, "note": note} for pair_id, said in result.notes.items() for note in said]
        click.echo(json.dumps(data, indent=2))
    else:
        if dry_run:
            _print_plan(result)
        else:
            _print_orphans(result)
            click.echo(f"created {len(outcome.created)}, updated {len(outcome.updated)}, "
                       f"unchanged {len(outcome.unchanged)} pairs; {outcome.writes} writes")
        for error in outcome.errors:
            click.echo(f"error: {error['pair']}: {error['error']}", err=True)
        if outcome.stopped:
            click.echo(f"stopped after {outcome.writes} writes (--max-writes); run again to continue", err=True)
    if outcome.errors:
        sys.exit(EXIT_FAILED)


def parse_day(option: str, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{option}: not a date (YYYY-MM-DD): {value!r}")
        raise


@main.command()
@config_option
@now_option
@click.option("--summary", "as_summary", is_flag=True, help="program totals and month by month, instead of one row per pair")
@click.option("--since", default=None, metavar="YYYY-MM-DD", help="(--summary) count sessions, hours and months from this day")
@click.option("--until", default=None, metavar="YYYY-MM-DD", help="(--summary) ... up to this day (default: today)")
@click.option("--status", "statuses", multiple=True, type=click.Choice(PAIR_STATUSES),
              help="only pairs with this status (repeatable)")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "md", "html"]), default="table",
              help="html: one self-contained file (with --summary)")
@click.option("--surveys", "surveys", is_flag=True, help="survey rounds: response rates and figures withheld "
              "below surveys.min_group")
@handle_errors
def report(config_path: Path | None, now: str | None, as_summary: bool, since: str | None, until: str | None,
           statuses: tuple[str, ...], fmt: str, surveys: bool) -> None:
    """Status, sessions and goals of every pair, the program's summary, or survey aggregates (metadata only)."""
    from issuebot import report as reporting
    from issuebot.observe import observe_program

    program = load(config_path)
    moment = parse_now(now)
    today = moment.astimezone(ZoneInfo(program.settings.timezone)).date()
    provider = provider_for(program, moment if now else None)
    if surveys:
        from issuebot import survey_results
        from issuebot.observe import observe_channels
        from issuebot.surveys_report import survey_records

        _, _, issues, _ = observe_channels(provider, program)
        aggregates = survey_results.survey_aggregates(program, survey_records(issues, _form_answers(program)))
        if fmt == "json":
            click.echo(json.dumps(aggregates, indent=2, default=str))
        elif fmt == "csv":
            click.echo(survey_results.csv_text(aggregates), nl=False)
        elif fmt == "table":
            click.echo(survey_results.table(aggregates))
        else:
            fail(f"--format {fmt}: --surveys prints table, json or csv")
        return
    if as_summary:
        with reporting.bulk_reading():
            text = _summary_text(program, provider, today, parse_day("--since", since), parse_day("--until", until),
                                 statuses, fmt)
        click.echo(text, nl=fmt != "html")
        return
    if since or until:
        fail("--since/--until: only with --summary")
    if fmt in ("md", "html"):
        fail(f"--format {fmt}: only with --summary")
    from issuebot.cohort import credits as cohort_credits
    from issuebot.observe import observe_cohort

    with reporting.bulk_reading():
        views, _ = observe_program(provider, program)
        rows = reporting.with_status(reporting.rows(program, views, today), statuses)
        space = observe_cohort(provider, program, with_comments=False)
    hosts = reporting.cohort_rows(program, cohort_credits(program, space.issues, provider.kind)) if space else []
    # JSON and CSV carry the table's `cohort:<username>` rows after the pairs' (status "cohort host").
    hosted = reporting.cohort_report_rows(hosts, space.path if space else "")
    if fmt == "json":
        click.echo(json.dumps([r.as_dict() for r in [*rows, *hosted]], indent=2))
    elif fmt == "csv":
        click.echo(reporting.to_csv([*rows, *hosted]), nl=False)
    else:
        click.echo(reporting.table(rows, with_totals=True, cohort=hosts, cohort_project=space.path if space else ""))


def _form_answers(program: Program) -> list[Any]:
    """Survey answers given through personal links, from the service's database (where alone they
    live); none to read when nobody in the program answers that way."""
    from issuebot.plan import answers_by_form
    from issuebot.store import Store, StoreUnavailable

    if not any(answers_by_form(p) for p in program.people.values()):
        return []
    store = Store.for_program(program)
    try:
        store.create_schema()
        return store.survey_answer_rows()
    except StoreUnavailable as exc:
        fail(f"survey answers given through the form: {exc}", EXIT_FAILED)
    finally:
        store.dispose()


def _summary_text(program: Program, provider: Provider, today: date, since: date | None, until: date | None,
                  statuses: tuple[str, ...], fmt: str) -> str:
    from issuebot import summary as summarizing
    from issuebot.cohort import credits
    from issuebot.observe import observe_channels, observe_cohort, observe_coordination, observe_history
    from issuebot.report_html import standalone
    from issuebot.surveys_report import survey_figures
    from issuebot.workflows.program.rematch_requests import carried_out_requests

    if since and until and since > until:
        fail(f"--since {since} is after --until {until}")
    views = observe_history(provider, program)
    if statuses:
        views = {k: v for k, v in views.items() if (v.status(program) if v.project else "not created") in statuses}
    _, _, coordination = observe_coordination(provider, program)
    channel_issues = observe_channels(provider, program)[2]
    requests = coordination + channel_issues  # re-match requests live in both
    space = observe_cohort(provider, program, with_comments=False)
    result = summarizing.summarize(program, views, today, since=since, until=until,
                                   rematched=carried_out_requests(program, requests, provider.kind),
                                   surveys=survey_figures(program, channel_issues, _form_answers(program)),
                                   cohort=credits(program, space.issues, provider.kind) if space else ())
    if fmt == "json":
        return json.dumps(result.as_dict(), indent=2)
    if fmt == "csv":
        return summarizing.as_csv(result)
    if fmt == "md":
        return summarizing.as_markdown(result)
    if fmt == "html":
        return standalone(result)
    return summarizing.as_table(result)


@main.command("match")
@config_option
@now_option
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="write the proposed pairs to this file (default: print them)")
@click.option("--explain", is_flag=True, help="give each proposed pair's reasons")
@click.option("--no-tracker", is_flag=True, help="trust the program file alone; do not read which pairs ended")
@click.option("--apply", "apply_pairs", flag_value=True, default=None,
              help="add the proposed pairs to the program file itself (the diff is shown first)")
@click.option("--diff", "apply_pairs", flag_value=False, help="show what --apply would change in the program file")
@handle_errors
def match_command(config_path: Path | None, now: str | None, output: Path | None, explain: bool, no_tracker: bool,
                  apply_pairs: bool | None) -> None:
    """Propose pairs for everyone without one, as a `pairs:` fragment to review (or add them with --apply)."""
    from issuebot import matching
    from issuebot.observe import observe_program

    if missing := matching.solver_missing():
        fail(missing)
    program = load(config_path)
    moment = parse_now(now)
    ended: list[str] = []
    if not no_tracker and program.pairs:
        views, _ = observe_program(provider_for(program), program)
        ended = [pair_id for pair_id, view in views.items() if view.status(program) == "ended"]
    today = moment.date()
    pool = matching.build_pool(program, ended)
    result = matching.match(program, pool, today=max(today, program.settings.starts))
    starts = today if today > program.settings.starts else None
    text = matching.proposals_yaml(program.settings.name, result, starts=starts, explain=explain, today=today)
    if apply_pairs is not None:
        from issuebot import program_edit

        document = program_edit.open_document(program.path)
        program_edit.add_pairs(document, [program_edit.pair_entry(p.mentor, p.mentee, starts) for p in result.proposals])
        click.echo(text, nl=False)
        _show_and_write(document, apply_pairs)
        return
    if output is None:
        click.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    click.echo(f"wrote {len(result.proposals)} proposed pair(s) to {output} (total score {result.total_score:g})")
    for person in result.unmatched:
        click.echo(f"not matched: {person.username} ({person.side}): {person.reason}")


def _show_and_write(document: Any, apply: bool) -> None:
    """Print the program file's diff; with `apply`, write it once the edited file validates."""
    from issuebot.config import load_program as validate_program

    diff = document.diff()
    if not diff:
        click.echo(f"{document.path.name}: nothing to change")
        return
    click.echo(diff, nl=False)
    if not apply:
        click.echo(f"nothing written; run again with --apply to change {document.path.name}")
        return
    trial = document.path.with_name(f".{document.path.name}.check")
    try:
        trial.write_text(document.current, encoding="utf-8")
        validate_program(trial)
    except ConfigError as exc:
        fail("the edited program file would not validate; nothing written:\n" + "\n".join(
            p.replace(trial.name, document.path.name) for p in exc.problems))
    finally:
        trial.unlink(missing_ok=True)
    document.write()
    click.echo(f"wrote {document.path}")


@main.group("people")
def people_group() -> None:
    """Bring people into the program file: from the intake project's sign-ups or an HR export."""


@people_group.command("import")
@config_option
@click.argument("source", required=False, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--apply", "apply_changes", is_flag=True, help="write the new and changed people into the program file")
@handle_errors
def people_import_command(config_path: Path | None, source: Path | None, apply_changes: bool) -> None:
    """Read SOURCE (a CSV export; default: the sign-ups in the intake project) and report new, changed and
    unknown fields; with --apply, write them into the program file, keeping its comments and layout."""
    from issuebot import people_import, program_edit

    program = load(config_path)
    if source is not None:
        try:
            text = source.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError:
            fail(f"{source}: not UTF-8 text (export the CSV as UTF-8)")
        candidates, problems, unknown = people_import.read_csv(text, source.name, program.settings.people_import)
    else:
        intake = program.settings.intake
        if intake is None:
            fail(f"{program.path.name}: no program.intake project to read sign-ups from; give a CSV file instead")
        provider = provider_for(program)
        path = provider.project_path(intake.project)
        issues = [i for i in provider.list_issues(path, state="open") if i.author != provider.bot_username]
        candidates, unknown = people_import.read_signups(issues, program, provider.kind,
                                                         people_import.signup_form(templates_for(program)))
        problems = []
    report = people_import.compare(program, candidates)
    report.problems[:0] = problems
    report.unknown.extend(unknown)
    for line in report.lines():
        click.echo(line)
    document = program_edit.open_document(program.path)
    program_edit.change_people(document, report.changes())
    program_edit.add_people(document, report.new)
    _show_and_write(document, apply_changes)


@main.group("rematch")
def rematch_group() -> None:
    """Private re-match requests: file one (embedded tracker) or carry out the open ones."""


@rematch_group.command("request")
@config_option
@now_option
@click.option("--pair", "pair_id", default=None, help="the pairing (default: the person's only one)")
@click.option("--as", "username", required=True, help="the mentor or mentee asking")
@click.option("--note", default="", help="what did not work (read by coordinators only)")
@handle_errors
def rematch_request(config_path: Path | None, now: str | None, pair_id: str | None, username: str, note: str) -> None:
    """Ask the coordinators, in a confidential issue, to re-match a pairing (the partner does not see it)."""
    from issuebot import rematch

    program = load(config_path)
    moment = parse_now(now)
    person = program.people.get(username)
    if person is None:
        fail(f"--as: {username!r} is not a person in {program.path.name}")
    theirs = [p for p in program.pairs if username in p.usernames() and (pair_id is None or p.id == pair_id)]
    if len(theirs) != 1:
        fail(f"--pair: name one pairing of {username!r}" if theirs else f"{username!r} is in no such pairing")
    provider = provider_for(program, moment if now else None)
    try:
        acting = provider.as_user(person.handle(provider.kind)) if isinstance(provider, ActsAsPerson) else None
    except AuthenticationFailed:
        acting = None  # no token of theirs: they file it themselves
    if acting is None:
        project = provider.private_channel_path(program.surveys.channel, person.handle(provider.kind))
        fail(f"on {provider.kind}, {username} opens a confidential issue in {project} (their private channel) "
             f"containing `/rematch {theirs[0].id}` themselves (or name their own token in provider.person_tokens)")
    try:
        issue = rematch.file_request(acting, program, templates_for(program), theirs[0], person, note, now=moment)
    except rematch.NoChannel as exc:
        fail(str(exc))
    click.echo(f"opened confidential request #{issue.number} in {issue.project}")


@rematch_group.command("apply")
@config_option
@now_option
@click.option("--dry-run", is_flag=True, help="print the writes instead of making them")
@handle_errors
def rematch_apply(config_path: Path | None, now: str | None, dry_run: bool) -> None:
    """End every pairing with an open re-match request and answer the requester privately."""
    from issuebot import rematch

    program = load(config_path)
    moment = parse_now(now)
    provider = provider_for(program, moment if now else None)
    if not dry_run:
        provider.check_access()
    outcome = rematch.carry_out(provider, program, templates_for(program), now=moment, dry_run=dry_run)
    for action in outcome.actions if dry_run else ():
        click.echo(f"{action.pair or '-'}: {action.describe()}")
    click.echo(f"re-matched {len(outcome.ended)} pairing(s); {len(outcome.unclear)} request(s) left for "
               f"coordinators; {outcome.writes} writes")


@main.command("sweep")
@config_option
@now_option
@click.option("--dry-run", is_flag=True, help="print every nudge, label and issue with its text; write nothing")
@click.option("--max-writes", type=click.IntRange(min=0), default=None, help="stop cleanly after N writes")
@click.option("--only", "only", default=None, metavar="PAIR", help="sweep one pair (by id); the dashboard is left alone")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@handle_errors
def sweep_command(config_path: Path | None, now: str | None, dry_run: bool, max_writes: int | None,
                  only: str | None, as_json: bool) -> None:
    """Nudge quiet pairs, escalate, open reviews, feedback and wrap-ups, refresh the dashboard."""
    from issuebot import sweep as sweeping

    program = load(config_path)
    if only is not None and only not in {p.id for p in program.pairs}:
        fail(f"--only: no pair {only!r} in {program.path.name}")
    moment = parse_now(now)
    provider = provider_for(program, moment if now else None)
    total = 1 if only else len(program.pairs)
    show_bar = not as_json and sys.stderr.isatty()
    seen = [0]

    def progress(pair_id: str) -> None:
        seen[0] += 1
        if bar is not None:
            bar.update(1)
        elif not as_json and (seen[0] % 100 == 0 or seen[0] == total):
            click.echo(f"swept {seen[0]}/{total} pairs", err=True)

    bar_or_none = click.progressbar(length=total, label="sweeping", file=sys.stderr) if show_bar else None
    with bar_or_none or contextlib.nullcontext() as bar:
        result = sweeping.sweep(provider, program, templates_for(program), now=moment, dry_run=dry_run,
                                max_writes=max_writes, only=only, on_pair=progress)
    summary = result.summary()
    if as_json:
        if dry_run:
            summary["actions"] = [{"pair": a.pair, "action": a.describe(), "text": sweeping.describe_with_text(a)[1:]}
                                  for a in result.actions()]
        click.echo(json.dumps(summary, indent=2, default=str))
    else:
        if dry_run:
            for action in result.actions():
                lines = sweeping.describe_with_text(action)
                click.echo(f"{action.pair or 'program'}: {lines[0]}")
                for line in lines[1:]:
                    click.echo(line)
        click.echo(f"{'would sweep' if dry_run else 'swept'} {summary['pairs']} pairs: "
                   f"{len(summary['nudged'])} nudged, {len(summary['escalated'])} escalated, "
                   f"{len(summary['opened'])} issues opened; {summary['writes']} writes; dashboard {summary['dashboard']}")
        for error in summary["errors"]:
            click.echo(f"error: {error['pair']}: {error['error']}", err=True)
        if result.stopped:
            click.echo(f"stopped after {summary['writes']} writes (--max-writes); run again to continue", err=True)
    if summary["errors"]:
        sys.exit(EXIT_FAILED)
    from issuebot.notify import configured

    if only is None and not dry_run and not result.stopped and configured(program):
        _notify(program, now, dry_run=False)  # e-mail and chat notices of what this sweep decided


@main.command("notify")
@config_option
@now_option
@click.option("--dry-run", is_flag=True, help="print the notices that are due; send and record nothing")
@click.option("--resend-unconfirmed", is_flag=True,
              help="send again the e-mails a killed run left unconfirmed (same Message-ID)")
@handle_errors
def notify_command(config_path: Path | None, now: str | None, dry_run: bool, resend_unconfirmed: bool) -> None:
    """Send due e-mail notices (session dates, surveys, reminders) and the coordinators' chat digest, once each."""
    _notify(load(config_path), now, dry_run=dry_run, resend=resend_unconfirmed)


def _notify(program: Program, now_text: str | None, *, dry_run: bool, resend: bool = False) -> None:
    from issuebot import notify

    moment = parse_now(now_text)
    try:
        email, chat = notify.senders_for(program, lambda: moment)
    except notify.NoticeError as exc:
        fail(str(exc))
        return
    provider = provider_for(program, moment if now_text else None)
    outcome = notify.notify(provider, program, templates_for(program), now=moment, email=email, chat=chat,
                            dry_run=dry_run, resend_unconfirmed=resend)
    for notice in outcome.would_send:
        click.echo(f"would send {notice.channel} {notice.key}: {notice.subject}")
    for line in outcome.sent:
        click.echo(f"sent {line}")
    for line in outcome.unconfirmed:
        click.echo(f"unconfirmed: {line} (a run stopped while sending it; check the relay, then "
                   "`issuebot notify --resend-unconfirmed`)", err=True)
    for line in outcome.errors:
        click.echo(f"error: {line}", err=True)
    if outcome.errors:
        sys.exit(EXIT_FAILED)


@main.group("calendar")
def calendar_group() -> None:
    """Personal iCalendar feeds of sessions, reviews, feedback rounds and wrap-up."""


@calendar_group.command("export")
@config_option
@now_option
@click.option("--person", "usernames", multiple=True, help="only this person (repeatable; default: everyone in a pair)")
@click.option("--output-dir", "-o", type=click.Path(path_type=Path, file_okay=False), default=Path("calendars"),
              show_default=True, help="folder for one <username>.ics per person")
@handle_errors
def calendar_export(config_path: Path | None, now: str | None, usernames: tuple[str, ...], output_dir: Path) -> None:
    """Write each person's feed as <username>.ics, and print the secret URL `issuebot serve` answers it at."""
    from issuebot.calendar_feed import feed_token, person_feed
    from issuebot.config import secret
    from issuebot.observe import observe_program

    program = load(config_path)
    moment = parse_now(now)
    for username in usernames:
        if username not in program.people:
            fail(f"--person: {username!r} is not a person in {program.path.name}")
    chosen = list(usernames) or sorted({name for pair in program.pairs for name in pair.usernames()})
    views, _ = observe_program(provider_for(program, moment if now else None), program, find_orphans=False)
    output_dir.mkdir(parents=True, exist_ok=True)
    key = secret(program.settings.calendar.secret_env)
    for username in chosen:
        target = output_dir / f"{username}.ics"
        target.write_bytes(person_feed(program, views, username, now=moment))
        where = (f"/calendar/{username}/{feed_token(key, program, username)}.ics" if key
                 else f"(set {program.settings.calendar.secret_env} for a URL under `issuebot serve`)")
        click.echo(f"{target}  {where}")


@main.group("tracker")
def tracker_group() -> None:
    """Act on the embedded tracker as a person would (the same path as a webhook delivery)."""


def _tracker_act(config_path: Path | None, now_text: str | None, pair_id: str, issue: str, user: str,
                 comment: str | None, deliver: bool = True) -> None:
    from issuebot.events import TrackerUsageError, act_on_tracker

    program = load(config_path)
    now = parse_now(now_text)
    kind = program.settings.provider.kind
    if kind != "local":  # known before any credential is read
        fail(f"`issuebot tracker` acts on the embedded tracker only; {program.path.name} uses {kind}, "
             "where people act in the tracker itself")
    provider = provider_for(program, now if now_text else None)
    try:
        done = act_on_tracker(program, provider, templates_for(program), pair_id=pair_id, issue=issue, user=user,
                              now=now, comment=comment, deliver=deliver)
    except TrackerUsageError as exc:
        fail(str(exc))
        return
    event, outcome = done.event, done.outcome
    what = f"commented on #{event.issue_number} (comment {event.comment_id})" if comment is not None \
        else f"closed #{event.issue_number}"
    click.echo(f"{event.actor} {what} in {event.project}")
    for line in outcome.commands:
        click.echo(f"  command: {line}")
    if not deliver:
        click.echo("not delivered: the next `issuebot sweep` carries it out")
    elif outcome.ignored:
        click.echo(f"ignored: {outcome.ignored}")
    else:
        click.echo(f"{outcome.pair or event.project}: {outcome.writes} writes")  # a program-level project has no pair
        for action in outcome.actions:
            click.echo(f"  - {action}")
    for reply in done.replies:
        click.echo("issuebot replied:")
        click.echo("\n".join(f"  {line}" for line in reply.splitlines()))


@tracker_group.command("comment")
@config_option
@now_option
@click.argument("pair_id", metavar="PAIR_OR_PROJECT")
@click.argument("issue")
@click.argument("text")
@click.option("--as", "user", required=True, metavar="USER", help="the person who writes the comment")
@click.option("--no-webhook", is_flag=True,
              help="only record the comment, as a person would, without delivering it (a schedule-only program)")
@handle_errors
def tracker_comment(config_path: Path | None, now: str | None, pair_id: str, issue: str, text: str, user: str,
                    no_webhook: bool) -> None:
    """Comment TEXT on ISSUE (a number or a key such as session:1 or progress) of PAIR as USER."""
    _tracker_act(config_path, now, pair_id, issue, user, text, deliver=not no_webhook)


@tracker_group.command("close")
@config_option
@now_option
@click.argument("pair_id", metavar="PAIR_OR_PROJECT")
@click.argument("issue")
@click.option("--as", "user", required=True, metavar="USER", help="the person who closes the issue")
@handle_errors
def tracker_close(config_path: Path | None, now: str | None, pair_id: str, issue: str, user: str) -> None:
    """Close ISSUE (a number or a key such as session:1) of PAIR as USER."""
    _tracker_act(config_path, now, pair_id, issue, user, None)


def _tracker_as(config_path: Path | None, user: str) -> tuple[Program, Any]:
    """The embedded tracker acting as `user` (a program username or a handle)."""
    program = load(config_path)
    kind = program.settings.provider.kind
    if kind != "local":
        fail(f"`issuebot tracker` acts on the embedded tracker only; {program.path.name} uses {kind}, "
             "where each person sees their own view in the tracker itself")
    provider = provider_for(program)
    person = program.people.get(user)
    return program, provider.as_user(person.handle(provider.kind) if person else user)  # type: ignore[attr-defined]


@tracker_group.command("list")
@config_option
@click.option("--as", "user", required=True, metavar="USER", help="whose view of the tracker")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@handle_errors
def tracker_list(config_path: Path | None, user: str, as_json: bool) -> None:
    """Every issue USER could see in the tracker, and nothing else."""
    from issuebot.markers import find_marker

    _, acting = _tracker_as(config_path, user)
    items = [{"project": i.project, "number": i.number, "key": find_marker(i.body), "title": i.title, "state": i.state,
              "confidential": i.confidential}
             for i in acting.list_issues(None, state="all")]
    if as_json:
        click.echo(json.dumps({"user": user, "issues": items}, indent=2))
        return
    for item in items:
        flag = " (confidential)" if item["confidential"] else ""
        click.echo(f"{item['project']}#{item['number']} [{item['state']}] {item['title']}{flag}")
    if not items:
        click.echo(f"{user} can see no issue")


@tracker_group.command("show")
@config_option
@click.argument("pair_id", metavar="PAIR_OR_PROJECT")
@click.argument("issue")
@click.option("--as", "user", required=True, metavar="USER", help="whose view of the tracker")
@handle_errors
def tracker_show(config_path: Path | None, pair_id: str, issue: str, user: str) -> None:
    """One issue and its comments as USER sees it (`not found` when USER may not read it)."""
    from issuebot.events import TrackerUsageError, project_of
    from issuebot.markers import find_marker, visible_text

    program, acting = _tracker_as(config_path, user)
    try:
        path = project_of(program, provider_for(program), pair_id)
    except TrackerUsageError as exc:
        fail(str(exc))
        return
    found = None
    if issue.lstrip("#").isdigit():
        try:
            found = acting.get_issue(path, int(issue.lstrip("#")))
        except NotFound:
            found = None
    else:
        try:
            found = next((i for i in acting.list_issues(path, state="all") if find_marker(i.body) == issue), None)
        except NotFound:
            found = None
    if found is None:
        fail(f"ISSUE: {user} can see no issue {issue!r} in {path}", EXIT_FAILED)
        return
    click.echo(f"{found.project}#{found.number} [{found.state}] {found.title}"
               f"{' (confidential)' if found.confidential else ''}")
    click.echo(visible_text(found.body))
    for comment in acting.list_comments(path, found.number):
        click.echo(f"--- {comment.author}:")
        click.echo(visible_text(comment.body))


@main.command("serve")
@config_option
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True, help="0 picks a free port")
@click.option("--no-worker", is_flag=True, help="only receive deliveries; run `issuebot worker` elsewhere")
@click.option("--insecure-no-verify", is_flag=True, help="accept deliveries without checking signatures (testing only)")
@click.option("--threads", type=click.IntRange(1, 256), default=16, show_default=True,
              help="threads per web process for the web pages (deliveries are answered on the event loop)")
@click.option("--processes", type=click.IntRange(1, 64), default=None, help="web processes [default: one per core]")
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True, help="queue worker threads")
@handle_errors
def serve_command(config_path: Path | None, host: str, port: int, no_worker: bool, insecure_no_verify: bool,
                  threads: int, processes: int | None, workers: int) -> None:
    """Run the webhook service (uvicorn, one web process per core), with the queue worker unless --no-worker."""
    from issuebot.server import serve
    from issuebot.service import ServiceError

    program = load(config_path)
    if insecure_no_verify:
        logging.getLogger("issuebot").warning(
            "INSECURE: --insecure-no-verify given; webhook signatures are NOT checked and anyone who can "
            "reach this port can inject events")
    try:
        serve(program, host=host, port=port, with_worker=not no_worker, insecure_no_verify=insecure_no_verify,
              threads=threads, processes=processes, workers=workers, announce=lambda line: click.echo(line, err=True))
    except ServiceError as exc:
        fail(f"issuebot serve: {exc}")


@main.command("worker")
@config_option
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True, help="worker threads")
@handle_errors
def worker_command(config_path: Path | None, workers: int) -> None:
    """Run the queue worker alone (scale-out beside `issuebot serve --no-worker`)."""
    from issuebot.service import ServiceError, open_service, run_worker

    program = load(config_path)
    try:
        service = open_service(program, need_secret=False)
        run_worker(service, workers=workers, announce=lambda line: click.echo(line, err=True))
    except ServiceError as exc:
        fail(f"issuebot worker: {exc}")


if __name__ == "__main__":  # pragma: no cover
    main()
