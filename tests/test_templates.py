"""Issue templates: the shipped ones render with the workflows' context, override by file, fail clearly, stay sandboxed."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import jinja2
import pytest

from issuebot import markers
from issuebot.config import load_program
from issuebot.paths import shipped
from issuebot.plan import Context, PairView, Plan
from issuebot.providers.local import LocalProvider
from issuebot.reconcile import reconcile_program
from issuebot.templates import TemplateError, Templates, split_front_matter
from tests.conftest import program_data, write_program

NOW = datetime(2027, 1, 11, 9, 0, tzinfo=timezone.utc)
SHIPPED = shipped("issue_templates")


@pytest.fixture
def program(tmp_path):
    return load_program(write_program(tmp_path / "program.yml", program_data()))


def plan_for(program, templates: Templates | None = None, pair_index: int = 0) -> Plan:
    ctx = Context(program=program, templates=templates or Templates(), now=NOW, trigger="sync")
    pair = program.pairs[pair_index]
    return Plan(PairView(pair=pair, project_path=f"mentoring/mentoring-{pair.id}", project=None), ctx)


class Recording(Templates):
    """Templates that remember every render the workflows asked for."""

    def __init__(self, override_dir: Path | None = None):
        super().__init__(override_dir)
        self.calls: list[tuple[str, dict]] = []

    def render(self, name, **context):
        rendered = super().render(name, **context)
        self.calls.append((name, context))
        return rendered


# ----------------------------------------------------------------------------- shipped templates


def test_sync_renders_every_onboarding_template_with_the_workflows_context(program, tmp_path):
    templates = Recording()
    provider = LocalProvider(tmp_path / "local.db", clock=lambda: NOW)
    result = reconcile_program(provider, program, templates, trigger="sync", now=NOW)
    assert result.outcome.errors == []
    rendered = {name for name, _ in templates.calls}
    assert {"kickoff", "goal", "goals", "progress", "session"} <= rendered
    for issue in provider.list_issues(None, state="all"):
        text = markers.visible_text(issue.body)
        assert "{{" not in text and "{%" not in text and "{{" not in issue.title, issue.title
        assert all("{" not in a for a in issue.assignees), issue.assignees


def test_onboarding_bodies_say_what_the_issue_promises(program):
    plan = plan_for(program)
    templates = Templates()
    context = plan.render_context()
    kickoff = templates.render("kickoff", **context)
    assert kickoff.title == "Kickoff: Bob Brown & Alice Adams"
    assert kickoff.labels == ("kind::kickoff",) and kickoff.assignees == ("bob", "alice")
    for heading in ("## First coffee chat", "## Expectations", "## Cadence agreement", "## Confidentiality"):
        assert heading in kickoff.body
    assert "every **2w** for about **45 minutes**" in kickoff.body and "@carol" in kickoff.body

    goal = templates.render("goal", **plan.render_context(goal={"title": "Ship a service", "due": date(2027, 4, 30), "actions": ["Tutorial", "Deploy"]}))
    assert goal.title == "Goal: Ship a service" and goal.assignees == ("bob",)
    for column in ("Time-bound", "Certain", "Specific", "Positive", "Measurable", "Personal"):
        assert f"| {column} " in goal.body or f"| {column} |" in goal.body
    assert "## Purpose statement" in goal.body and "- [ ] Tutorial\n- [ ] Deploy\n" in goal.body
    assert "By 2027-04-30" in goal.body
    no_actions = templates.render("goal", **plan.render_context(goal={"title": "X", "due": None, "actions": []}))
    assert "- [ ] (first action)" in no_actions.body and "By (date)" in no_actions.body

    goals = templates.render("goals", **context)
    assert goals.title == "Define your goals" and "## Purpose statement" in goals.body

    progress = templates.render("progress", **context)
    assert set(progress.labels) == {"kind::progress", "pair::kickoff"}
    assert "- Ship a service (due 2027-04-30)" in progress.body
    for command in ("/session", "/skip", "/pause", "/resume", "/extend", "/end", "/help"):
        assert f"`{command}" in progress.body

    session = templates.render("session", **plan.render_context(session={"number": 1, "due": date(2027, 1, 25)}))
    assert session.title == "Session 1: Bob Brown & Alice Adams"
    assert set(session.labels) == {"kind::session", "session::planned"}
    assert "due **2027-01-25**" in session.body and "## Agenda (mentee-led)" in session.body

    ended = templates.render("ended", **plan.render_context(reason="moved teams", by="bob"))
    assert "(moved teams)" in ended.body and "@bob" in ended.body


def test_every_shipped_template_parses_with_valid_front_matter():
    env = jinja2.Environment()
    names = sorted(p.stem for p in SHIPPED.glob("*.md"))
    assert {"kickoff", "goal", "goals", "progress", "session", "ended"} <= set(names)
    for path in SHIPPED.glob("*.md"):
        front, body = split_front_matter(path.read_text(encoding="utf-8"), str(path))
        assert front.get("name"), f"{path.name}: front matter needs a name"
        env.parse(body, filename=str(path))
        env.parse(str(front.get("title", "")))
    assert Templates().names() == names


# ----------------------------------------------------------------------------- overrides


def test_program_templates_folder_overrides_file_by_file(program, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "kickoff.md").write_text("---\nname: Kickoff\ntitle: \"Hello {{ mentee.name }}\"\nlabels: kind::kickoff, team::a\n---\nOur own kickoff for {{ pair.id }}.\n")
    (folder / "extra.md").write_text("---\nname: Extra\ntitle: Extra\n---\nextra\n")
    templates = Templates(folder)
    context = plan_for(program, templates).render_context()
    mine = templates.render("kickoff", **context)
    assert (mine.title, mine.body, mine.labels) == ("Hello Bob Brown", "Our own kickoff for bob-alice.\n", ("kind::kickoff", "team::a"))
    assert templates.path_of("kickoff") == folder / "kickoff.md"
    assert templates.path_of("goals") == SHIPPED / "goals.md"
    assert templates.render("goals", **context).title == "Define your goals"  # not overridden
    assert "extra" in templates.names() and "session" in templates.names()
    with pytest.raises(TemplateError, match="does not exist"):
        Templates(tmp_path / "no-such-folder")
    with pytest.raises(TemplateError, match="no template named 'nope'"):
        templates.render("nope")


def test_sync_uses_the_programs_own_templates(tmp_path):
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "session.md").write_text("---\nname: Session\ntitle: \"Meeting {{ session.number }}\"\nlabels: kind::session, session::planned\n---\nSee you on {{ session.due }}.\n")
    data = program_data(templates="templates")
    data["program"]["provider"] = {"kind": "local", "path": str(tmp_path / "local.db")}
    program = load_program(write_program(tmp_path / "program.yml", data))
    provider = LocalProvider(tmp_path / "local.db", clock=lambda: NOW)
    reconcile_program(provider, program, Templates(program.templates_dir()), trigger="sync", now=NOW)
    sessions = [i for i in provider.list_issues(None) if markers.find_marker(i.body) == "session:1"]
    assert [(s.title, markers.visible_text(s.body)) for s in sessions] == [("Meeting 1", "See you on 2027-01-25.")] * 2


# ----------------------------------------------------------------------------- errors


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.md"
    path.write_text(text, encoding="utf-8")
    return path


def test_undefined_variable_names_template_line_and_variable(program, tmp_path):
    path = write(tmp_path / "t", "kickoff", "---\nname: Kickoff\ntitle: Hi\n---\nline five\nline six {{ mentee.nickname }}\n")
    templates = Templates(tmp_path / "t")
    with pytest.raises(TemplateError) as caught:
        templates.render("kickoff", **plan_for(program, templates).render_context())
    assert str(caught.value) == f"{path}:6: 'dict object' has no attribute 'nickname'"
    path = write(tmp_path / "t", "goals", "---\nname: Goals\ntitle: Hi\n---\n{{ surprise }}\n")
    with pytest.raises(TemplateError) as caught:
        Templates(tmp_path / "t").render("goals", **plan_for(program).render_context())
    assert str(caught.value) == f"{path}:5: 'surprise' is undefined"


def test_undefined_variable_in_the_title_names_the_template(program, tmp_path):
    path = write(tmp_path / "t", "kickoff", "---\nname: Kickoff\ntitle: \"Hi {{ nobody }}\"\n---\nbody\n")
    with pytest.raises(TemplateError) as caught:
        Templates(tmp_path / "t").render("kickoff", **plan_for(program).render_context())
    assert str(caught.value).startswith(f"{path}:") and "'nobody' is undefined" in str(caught.value)


def test_syntax_error_names_template_and_line(program, tmp_path):
    path = write(tmp_path / "t", "kickoff", "---\nname: Kickoff\ntitle: Hi\n---\nok\n{% if mentee %}\nnever closed\n")
    with pytest.raises(TemplateError) as caught:
        Templates(tmp_path / "t").render("kickoff", **plan_for(program).render_context())
    message = str(caught.value)
    assert message.startswith(f"{path}:") and "endif" in message
    path = write(tmp_path / "t", "goals", "---\nname: Goals\ntitle: Hi\n---\nline 5\nline 6 {{ mentee.name }\n")
    with pytest.raises(TemplateError) as caught:
        Templates(tmp_path / "t").render("goals", **plan_for(program).render_context())
    assert str(caught.value).startswith(f"{path}:6: ")


@pytest.mark.parametrize(
    ("front", "expected"),
    [
        ("---\nname: K: v\n---\nbody\n", ":2: front matter is not valid YAML"),
        ("---\n- a list\n---\nbody\n", ":2: front matter must be a mapping"),
        ("---\nname: K\ntitel: typo\n---\nbody\n", ":2: unknown front matter keys: titel"),
        ("---\nname: K\ntitle: never closed\nbody\n", ":1: front matter opened with '---' is never closed"),
    ],
)
def test_bad_front_matter_names_template_and_line(program, tmp_path, front, expected):
    path = write(tmp_path / "t", "kickoff", front)
    with pytest.raises(TemplateError) as caught:
        Templates(tmp_path / "t").render("kickoff", **plan_for(program).render_context())
    assert str(caught.value) == f"{path}{expected}"


def test_line_numbers_count_the_front_matter(program, tmp_path):
    text = "---\nname: K\nabout: long\ntitle: T\nlabels: kind::kickoff\n---\n1\n2\n3 {{ missing_here }}\n"
    path = write(tmp_path / "t", "kickoff", text)
    with pytest.raises(TemplateError) as caught:
        Templates(tmp_path / "t").render("kickoff", **plan_for(program).render_context())
    assert str(caught.value) == f"{path}:9: 'missing_here' is undefined"


def test_validate_reports_a_broken_override(tmp_path):
    from tests.conftest import run_cli

    write(tmp_path / "templates", "kickoff", "---\nname: K\ntitle: T\n---\n{{ mentee.nickname }}\n")
    write_program(tmp_path / "program.yml", program_data(templates="templates"))
    done = run_cli("validate", "-c", "program.yml", cwd=tmp_path)
    assert done.returncode == 2
    assert f"{tmp_path / 'templates' / 'kickoff.md'}:5: 'dict object' has no attribute 'nickname'" in done.stderr
    assert "Traceback" not in done.stderr


# ----------------------------------------------------------------------------- sandbox


@pytest.mark.parametrize(
    "expression",
    [
        "{{ mentee.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ mentee.items.__globals__ }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ (1).__class__.__base__.__subclasses__() }}",
    ],
)
def test_sandbox_refuses_unsafe_attribute_access(program, tmp_path, expression):
    path = write(tmp_path / "t", "kickoff", f"---\nname: K\ntitle: T\n---\nfine\n{expression}\n")
    with pytest.raises(TemplateError) as caught:
        Templates(tmp_path / "t").render("kickoff", **plan_for(program).render_context())
    assert str(caught.value).startswith(f"{path}:")


def test_sandbox_refuses_calling_unsafe_methods(program, tmp_path):
    path = write(tmp_path / "t", "kickoff", "---\nname: K\ntitle: T\n---\n{{ program.coordinators.append('eve') }}\n")
    with pytest.raises(TemplateError) as caught:
        Templates(tmp_path / "t").render("kickoff", **plan_for(program).render_context())
    assert str(caught.value).startswith(f"{path}:5: ")


def test_render_has_no_side_effects_between_calls(program):
    templates = Templates()
    context = plan_for(program).render_context(session={"number": 1, "due": date(2027, 1, 25)})
    first = templates.render("session", **context)
    context["session"] = {"number": 2, "due": date(2027, 1, 25) + timedelta(days=14)}
    second = templates.render("session", **context)
    assert first.title.startswith("Session 1") and second.title.startswith("Session 2")


def test_a_whole_program_term_renders_every_template_it_needs(tmp_path):
    """Sync, then a sweep every few days to the end of the term, on pairs that meet and pairs that
    go quiet: every template a workflow asks for renders with the context that workflow passes."""
    from issuebot.sweep import sweep

    data = program_data(reviews={"every": "1 month"}, feedback={"first_after": "30d", "every": "60d"})
    data["program"]["provider"] = {"kind": "local", "path": str(tmp_path / "local.db")}
    program = load_program(write_program(tmp_path / "program.yml", data))
    clock_now = [NOW]
    provider = LocalProvider(tmp_path / "local.db", clock=lambda: clock_now[0])
    templates = Recording()
    assert reconcile_program(provider, program, templates, trigger="sync", now=NOW).outcome.errors == []
    bob = "mentoring/mentoring-bob-alice"
    while clock_now[0].date() < program.settings.end_date + timedelta(days=7):
        clock_now[0] += timedelta(days=3)
        for issue in provider.list_issues(bob, labels=["session::planned"]):
            if issue.due and issue.due <= clock_now[0].date():  # bob-alice meet; erin-dave go quiet
                provider.as_user("bob").update_issue(bob, issue.number, state="closed")
        result = sweep(provider, program, templates, now=clock_now[0])
        assert result.errors == [] and result.run.outcome.errors == [], clock_now[0]
    rendered = {name for name, _ in templates.calls}
    assert {"kickoff", "goal", "goals", "progress", "session"} <= rendered
    assert len(rendered) >= 12, f"a term should need more templates than onboarding: {sorted(rendered)}"
    for issue in provider.list_issues(None, state="all"):
        assert "{{" not in issue.title and "{{" not in markers.visible_text(issue.body), issue.title
