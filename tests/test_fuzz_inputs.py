"""Fuzzed program files and templates: a clear error (exit 2) or success, never a traceback or a hang."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from issuebot.cli import main
from issuebot.paths import shipped
from issuebot.templates import TemplateError, Templates

PROGRAMS = [shipped("config") / "example.yml", *sorted((shipped("config") / "programs").glob("*.yml"))]
# What a coordinator's slip or an attacker puts where a value belongs.
VALUES = ["2027-13-40", "2027-02-30", "04/30/2027", "45m", "0d", "99999999999 months", "-1", "[", "{", "&a", "*a",
          "~", "''", "x" * 300, "1e999", "²", "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
          "[" * 100, "- - - -", "!!python/object:os.system", "<<: *a", "true", "null", "999999999999999999999"]


def mutate(text: str, rng: random.Random) -> str:
    lines = text.splitlines()
    for _ in range(rng.randint(1, 3)):
        index = rng.randrange(len(lines))
        choice = rng.randrange(5)
        if choice == 0:
            del lines[index]
        elif choice == 1:
            lines.insert(index, lines[rng.randrange(len(lines))])  # a duplicate key, a stray item
        elif choice == 2 and ":" in lines[index]:
            key = lines[index].split(":", 1)[0]
            lines[index] = f"{key}: {rng.choice(VALUES)}"
        elif choice == 3:
            position = rng.randrange(len(lines[index]) + 1)
            lines[index] = lines[index][:position] + rng.choice(VALUES) + lines[index][position:]
        else:
            lines[index] = " " * rng.randint(0, 6) + lines[index].lstrip()
        if not lines:
            lines = [""]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("original", PROGRAMS, ids=lambda p: p.name)
def test_mutated_program_files_give_a_clear_error_or_pass(tmp_path: Path, original: Path) -> None:
    templates = original.with_suffix("")
    if templates.is_dir():  # the program's own templates, next to the mutated copy
        shutil.copytree(templates, tmp_path / templates.name)
    rng = random.Random(f"issuebot-{original.name}")
    text = original.read_text()
    runner = CliRunner()
    for attempt in range(40):
        path = tmp_path / "mutated.yml"
        path.write_text(mutate(text, rng), encoding="utf-8")
        result = runner.invoke(main, ["validate", "-c", str(path)])
        assert result.exit_code in (0, 2), (attempt, path.read_text(), result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit), (path.read_text(), result.exc_info)
        assert "Traceback" not in result.output
        if result.exit_code == 2:
            assert all(line.strip() for line in result.output.splitlines()), result.output


FRAGMENTS = ["{{ x }}", "{{ 'a' * 99999999999 }}", "{% for i in range(10**12) %}", "{% endfor %}", "{{ 9 ** 99999 }}",
             "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}", "{{ ''.__class__ }}", "{{ pair.id }}", "{%", "}}",
             "{{ 1/0 }}", "{{ 1e308 * 10 }}", "{{ range(3)|list }}", "{{ 'x'|center(10**10) }}", "{{ '%999999999s' % 1 }}",
             "text\n", "{% set a = [1] %}{{ a * 10**9 }}", "{{ (10 ** 400) / 3 }}", "{{ lipsum(10**6) }}"]


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=5))
def test_fuzzed_templates_render_or_fail_as_template_errors(tmp_path: Path, fragments: list[str]) -> None:
    (tmp_path / "fuzzed.md").write_text("---\ntitle: Fuzzed\n---\n" + "".join(fragments) + "\n")
    try:
        rendered = Templates(tmp_path).render("fuzzed", pair={"id": "p"})
    except TemplateError as exc:
        assert str(exc).startswith(str(tmp_path / "fuzzed.md") + ":")
    else:
        assert len(rendered.body) <= 1_000_001
