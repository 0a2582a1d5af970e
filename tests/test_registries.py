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
from issuebot import models
from issuebot.paths import shipped
from issuebot.providers import PROVIDERS
from issuebot.providers.base import Meter, Provider
from issuebot.reconcile import Applier
from issuebot.templates import Templates
from issuebot.workflows import TRIGGERS, WORKFLOWS
from tests.conftest import Clock
from tests.fakes import HARNESSES, harness

PACKAGE = Path(issuebot.__file__).resolve().parent


def module_docstring(path: Path) -> str | None:
    return ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")), clean=False)


# ----------------------------------------------------------------------------- workflows


def test_every_workflow_module_is_wired():
    names = {m.name for m in pkgutil.iter_modules(workflows_pkg.__path__)}
    wired = {m.__name__.rsplit(".", 1)[-1] for m in WORKFLOWS}
    assert names == wired, f"not in WORKFLOWS: {sorted(names - wired)}; not a module: {sorted(wired - names)}"
    assert len(WORKFLOWS) == len(set(WORKFLOWS)), "a workflow is wired twice"


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_each_workflow_has_docstring_triggers_and_decide(workflow):
    assert workflow.__doc__ and "\n" not in workflow.__doc__.strip(), "needs a one-line docstring"
    assert isinstance(workflow.triggers, frozenset | set) and workflow.triggers, "needs triggers"
    assert workflow.triggers <= TRIGGERS, f"unknown triggers {sorted(workflow.triggers - TRIGGERS)}"
    assert callable(workflow.decide)
    assert list(inspect.signature(workflow.decide).parameters) == ["plan"]


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
