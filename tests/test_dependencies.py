"""Every distribution the package imports is declared in pyproject.toml, with an upper bound on its major."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _declared() -> dict[str, str]:
    """Normalised distribution name -> its requirement, runtime and extras alike."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = list(project["dependencies"])
    for name, extra in project["optional-dependencies"].items():
        if name != "test":
            requirements += extra
    return {_norm(re.split(r"[<>=!\[; ]", r, maxsplit=1)[0]): r for r in requirements}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _imported_top_level_modules() -> set[str]:
    found: set[str] = set()
    for path in (REPO / "issuebot").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m != "issuebot"}


def test_every_imported_distribution_is_declared():
    declared = _declared()
    owners = packages_distributions()
    undeclared = {}
    for module in _imported_top_level_modules():
        distributions = {_norm(d) for d in owners.get(module, [module])}
        if not distributions & set(declared):
            undeclared[module] = sorted(distributions)
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"


def test_every_runtime_dependency_names_the_major_it_was_tested_on():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    dated = {"tzdata"}  # calendar-versioned data: a new year is not a new API
    unbounded = [r for r in project["dependencies"] if "<" not in r and _norm(re.split(r"[<>=\[ ]", r)[0]) not in dated]
    assert not unbounded
