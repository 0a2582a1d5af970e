"""The lean install: a sweep needs no matching solver, and `issuebot match` without it says how to add it."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.conftest import program_data, write_program

REPO = Path(__file__).resolve().parent.parent

# Runs the CLI in a fresh interpreter where importing the solver fails, as after `pip install issuebot`.
WITHOUT_SOLVER = """
import sys
for name in ("numpy", "scipy"):
    sys.modules[name] = None  # `import numpy` now raises ImportError
from issuebot.cli import main
main(sys.argv[1:], prog_name="issuebot")
"""

SWEEP_HELP = """
import sys
from click.testing import CliRunner
from issuebot.cli import main
done = CliRunner().invoke(main, ["sweep", "--help"])
assert done.exit_code == 0, done.output
print(sorted(name for name in ("numpy", "scipy") if name in sys.modules))
"""


def run_python(code: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def test_match_without_the_solver_exits_2_with_one_line_naming_the_extra(tmp_path):
    config = write_program(tmp_path / "program.yml", program_data())
    done = run_python(WITHOUT_SOLVER, "match", "--no-tracker", "-c", str(config), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert len(lines) == 1 and "pip install 'issuebot[match]'" in lines[0], lines
    assert "Traceback" not in done.stderr


def test_a_sweep_loads_no_solver(tmp_path):
    done = run_python(SWEEP_HELP, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_solver_is_an_extra_and_not_a_dependency():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = {dep.split(">")[0].split("<")[0].split("[")[0].strip().lower() for dep in project["dependencies"]}
    assert not names & {"scipy", "numpy"}
    assert {d.split(">")[0].lower() for d in project["optional-dependencies"]["match"]} == {"scipy", "numpy"}
