"""Meta tests: every registry is wired (workflows, providers, templates, actions, harnesses, docstrings)."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import pkgutil
import typing
from pathlib import Path

import pytest

import issuebot
import issuebot.workflows as workflows_pkg
import issuebot.workflows.program as program_steps_pkg
from issuebot import models
from issuebot.apply import Applier
from issuebot.paths import shipped
from issuebot.providers import PROVIDERS
from issuebot.providers.base import Meter, Provider
from issuebot.templates import Templates
from issuebot.workflows import PHASES, PROGRAM_STEPS, TRIGGERS, WORKFLOWS
from tests.conftest import Clock
from tests.fakes import HARNESSES, harness

PACKAGE = Path(issuebot.__file__).resolve().parent


def module_docstring(path: Path) -> str | None:
    return ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")), clean=False)


# ----------------------------------------------------------------------------- workflows


def step_modules(package) -> set[str]:
    return {m.name for m in pkgutil.iter_modules(package.__path__) if not m.ispkg}


def test_every_workflow_module_is_wired():
    wired = {m.__name__.rsplit(".", 1)[-1] for m in WORKFLOWS}
    names = step_modules(workflows_pkg)
    assert names == wired, f"not in WORKFLOWS: {sorted(names - wired)}; not a module: {sorted(wired - names)}"
    assert len(WORKFLOWS) == len(set(WORKFLOWS)), "a workflow is wired twice"


def test_every_program_step_module_is_wired():
    wired = {m.__name__.rsplit(".", 1)[-1] for m in PROGRAM_STEPS}
    names = step_modules(program_steps_pkg)
    assert names == wired, f"not in PROGRAM_STEPS: {sorted(names - wired)}; not a module: {sorted(wired - names)}"
    assert len(PROGRAM_STEPS) == len(set(PROGRAM_STEPS)), "a program step is wired twice"


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_each_workflow_has_docstring_triggers_and_decide(workflow):
    assert workflow.__doc__ and "\n" not in workflow.__doc__.strip(), "needs a one-line docstring"
    assert isinstance(workflow.triggers, frozenset | set) and workflow.triggers, "needs triggers"
    assert workflow.triggers <= TRIGGERS, f"unknown triggers {sorted(workflow.triggers - TRIGGERS)}"
    assert callable(workflow.decide)
    assert list(inspect.signature(workflow.decide).parameters) == ["plan"]


@pytest.mark.parametrize("step", PROGRAM_STEPS, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_each_program_step_has_docstring_triggers_phase_and_decide(step):
    assert step.__doc__ and step.__doc__.strip().splitlines()[0].endswith("."), "needs a one-line summary"
    assert isinstance(step.triggers, frozenset) and step.triggers <= TRIGGERS and step.triggers
    assert step.phase in PHASES
    assert list(inspect.signature(step.decide).parameters) == ["plan"]


# Why each registry is in its order: every entry must come after the ones it names here.
WORKFLOW_ORDER = {
    "sessions": ("onboarding", "the first session issue and the tracker exist before anything is logged"),
    "requests": ("sessions", "a box ticked the day a session was logged acts on the logged state"),
    "nudges": ("requests", "a snooze, extension or end from a ticked box silences today's reminder"),
    "goals": ("nudges", "goal reminders follow the session rules that may pause the pair"),
    "offboarding": ("requests", "wrap-up and the end request see an end date a box or /extend moved"),
}
PROGRAM_ORDER = {
    "coordinator_space": ("group_labels", "the dashboard issue is opened with labels that exist"),
    "dashboard_requests": ("coordinator_space", "boxes are read from the dashboard the space holds"),
    "rematch_answers": ("rematch_requests", "only requests that were read can be answered"),
    "rematch_requests": ("private_channels", "requests are read from channels that exist"),
    "private_channels": ("coordinator_space", "channels are shared with the coordinators the program names"),
    "intake": ("private_channels", "the intake project may be the channels' project, created as theirs first"),
    "cohort_space": ("coordinator_space", "the space is shared with the coordinators the program names"),
    "surveys": ("rematch_answers", "a survey is not sent about a pair a re-match ended this run"),
    "dashboard_issue": ("rematch_answers", "the dashboard is written last and shows every pair as this run left it"),
    "monthly_report": ("rematch_answers", "re-matches answered this run are counted"),
}


@pytest.mark.parametrize(("registry", "order"), [(WORKFLOWS, WORKFLOW_ORDER), (PROGRAM_STEPS, PROGRAM_ORDER)],
                         ids=["workflows", "program-steps"])
def test_registries_keep_the_order_their_steps_depend_on(registry, order):
    names = [m.__name__.rsplit(".", 1)[-1] for m in registry]
    for later, (earlier, why) in order.items():
        assert names.index(earlier) < names.index(later), f"{later} must follow {earlier}: {why}"


def test_program_steps_run_in_two_phases_around_the_pairs():
    phases = [step.phase for step in PROGRAM_STEPS]
    assert phases == sorted(phases, key=PHASES.index), "every `before` step comes before every `after` step"


# ----------------------------------------------------------------------------- imports


def import_graph() -> dict[str, set[str]]:
    """issuebot module -> the issuebot modules it imports, lazy imports inside functions included."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
                       for child in node.body for n in ast.walk(child)}
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            else:
                continue
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name and not name.startswith(target + "."):
                    graph[name].add(target)
    return graph


def test_no_import_cycle_in_issuebot():
    graph = import_graph()
    assert graph["issuebot.reconcile"] >= {"issuebot.workflows", "issuebot.plan"}, "the scan finds nothing"

    def reachable(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph[todo.pop()] - seen:
                seen.add(nxt)
                todo.append(nxt)
        return seen

    cycles = sorted(name for name in graph if name in reachable(name))
    assert cycles == [], f"modules on an import cycle: {cycles}"


def test_decisions_sit_below_the_io_that_feeds_them():
    graph = import_graph()
    io = {"issuebot.observe", "issuebot.apply", "issuebot.reconcile", "issuebot.sweep", "issuebot.events",
          "issuebot.rematch", "issuebot.cli", "issuebot.providers", "issuebot.store", "issuebot.queue"}
    pure = [name for name in graph if name.startswith("issuebot.workflows") or name in ("issuebot.plan", "issuebot.pairstate")]
    for name in pure:
        assert not graph[name] & io, f"{name} imports I/O: {sorted(graph[name] & io)}"


# ----------------------------------------------------------------------------- providers


PROTOCOL_METHODS = sorted(
    name for name, value in vars(Provider).items() if callable(value) and not name.startswith("_")
)


def provider_class(kind: str) -> type:
    module_name, factory = PROVIDERS[kind].split(":")
    module = importlib.import_module(module_name)
    assert callable(getattr(module, factory, None)), f"{PROVIDERS[kind]} is not a factory"
    classes = [c for c in vars(module).values()
               if inspect.isclass(c) and c.__module__ == module.__name__ and getattr(c, "kind", None) == kind]
    assert len(classes) == 1, f"{module_name} should define one class with kind = {kind!r}"
    return classes[0]


def test_protocol_is_what_the_design_names():
    expected = {"ensure_project", "ensure_members", "ensure_labels", "list_issues", "get_issue", "create_issue",
                "update_issue", "list_comments", "create_comment", "archive_project", "ensure_board"}
    assert expected <= set(PROTOCOL_METHODS)


@pytest.mark.parametrize("kind", sorted(PROVIDERS))
def test_every_provider_implements_the_whole_protocol(kind):
    cls = provider_class(kind)
    missing = [name for name in PROTOCOL_METHODS if not callable(getattr(cls, name, None))]
    assert missing == [], f"{cls.__name__} lacks {missing}"
    for name in PROTOCOL_METHODS:
        wanted = inspect.signature(getattr(Provider, name)).parameters
        have = inspect.signature(getattr(cls, name)).parameters
        assert [p for p in wanted if p not in have] == [], f"{cls.__name__}.{name} lacks parameters"
    assert isinstance(getattr(cls, "labels_per_project", None), bool), "labels_per_project must be a class attribute"
    factory = getattr(importlib.import_module(PROVIDERS[kind].split(":")[0]), PROVIDERS[kind].split(":")[1])
    assert len(inspect.signature(factory).parameters) >= 2, "factories take (program, clock)"


def test_program_file_kinds_and_providers_match():
    from issuebot.config import ProgramSettings

    annotation = ProgramSettings.model_fields["provider"].annotation
    kinds = set()
    for model in typing.get_args(annotation):
        kinds |= set(typing.get_args(model.model_fields["kind"].annotation))
    assert kinds == set(PROVIDERS), "a provider kind the program file accepts has no adapter (or the reverse)"


# ----------------------------------------------------------------------------- templates


# Calls that take a template name, and which positional argument holds it.
TEMPLATE_ARG = {"render": 0, "open_issue": 1, "comment": 2}


def referenced_templates() -> dict[str, list[str]]:
    """Template names passed as literals (or module constants) to render/open_issue/comment."""
    found: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = {
            target.id: node.value.value
            for node in tree.body if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
            for target in node.targets if isinstance(target, ast.Name)
        }
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in TEMPLATE_ARG):
                continue
            index = TEMPLATE_ARG[node.func.attr]
            arg = node.args[index] if len(node.args) > index else next(
                (k.value for k in node.keywords if k.arg in ("template", "name")), None)
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                name = arg.value
            elif isinstance(arg, ast.Name) and arg.id in constants:
                name = constants[arg.id]
            else:
                continue
            found.setdefault(name, []).append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    return found


def test_every_template_referenced_from_code_exists():
    referenced = referenced_templates()
    assert {"kickoff", "goal", "goals", "progress", "session", "ended"} <= set(referenced), "the scan finds nothing"
    shipped_names = set(Templates().names())
    missing = {name: where for name, where in referenced.items() if name not in shipped_names}
    assert missing == {}, f"templates used but not shipped: {missing}"
    assert (shipped("issue_templates") / "progress.md").is_file()


# ----------------------------------------------------------------------------- actions


class RecordingProvider:
    """Accepts every verb and remembers it; the meter never moves."""

    kind = "local"
    labels_per_project = False
    bot_username = "issuebot"

    def __init__(self):
        self.meter = Meter()
        self.calls: list[str] = []

    def __getattr__(self, name):
        def verb(*args, **kwargs):
            self.calls.append(name)
            if name == "ensure_project":
                return None, False  # (project, created), as the protocol says
            return [] if name.startswith("list_") else None
        return verb


def sample(field_type: object) -> object:
    text = str(field_type)
    if "tuple" in text:
        return ()
    if "int" in text and "str" not in text:
        return 1
    if text.startswith("date") or "date |" in text:
        return None
    if "bool" in text:
        return False
    return "[issuebot:sample]"


def action_classes() -> list[type]:
    return [c for c in vars(models).values()
            if inspect.isclass(c) and issubclass(c, models.Action) and c is not models.Action]


@pytest.mark.parametrize("cls", action_classes(), ids=lambda c: c.__name__)
def test_every_action_is_carried_out_by_the_applier(cls, tmp_path):
    values = {f.name: sample(f.type) for f in dataclasses.fields(cls)}
    values["pair"] = "bob-alice"
    action = cls(**values)
    assert action.describe()
    provider = RecordingProvider()
    Applier(provider).apply(action)  # raises TypeError("no way to apply ...") when unhandled
    assert provider.calls, f"applying {cls.__name__} made no provider call"


# ----------------------------------------------------------------------------- docstrings


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_module_opens_with_a_one_line_docstring(path):
    doc = module_docstring(path)
    assert doc is not None, "no module docstring"
    lines = doc.strip().splitlines()
    assert lines and lines[0].strip(), "empty docstring"
    # The responsibility fits on the first line; any more text follows a blank line (PEP 257).
    assert lines[0].rstrip().endswith("."), f"first line is not one finished sentence: {lines[0]!r}"
    assert len(lines) == 1 or not lines[1].strip(), f"the summary runs past its first line: {lines[:2]!r}"


def test_importing_issuebot_has_no_side_effects():
    source = (PACKAGE / "__init__.py").read_text()
    tree = ast.parse(source)
    assert all(isinstance(n, ast.Expr | ast.Assign) for n in tree.body), "__init__ holds the version only"


# ----------------------------------------------------------------------------- harnesses


@pytest.mark.parametrize("name", sorted(HARNESSES))
def test_every_harness_builds(name, tmp_path):
    with harness(name, tmp_path, Clock()) as made:
        assert made.name == name
        assert made.provider.kind == name
        assert isinstance(made.provider.meter, Meter)
        config = made.provider_config()
        assert config["kind"] == name
        made.add_user("bob")
        assert made.as_user("bob").kind == name
        assert isinstance(made.reads, int) and isinstance(made.writes, int)
        assert isinstance(made.supports_injected_errors, bool)
        assert list(made.provider.list_issues(None)) == []
