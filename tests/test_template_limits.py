"""Coordinators' templates that recurse, grow without end or overflow fail as template errors naming file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from issuebot.templates import MAX_OUTPUT_CHARS, RENDER_SECONDS, TemplateError, Templates


def render_error(tmp_path: Path, body: str, templates: Templates | None = None) -> str:
    (tmp_path / "mine.md").write_text("---\ntitle: Mine\n---\nHello\n" + body + "\n")
    with pytest.raises(TemplateError) as caught:
        (templates or Templates(tmp_path)).render("mine")
    return str(caught.value)


@pytest.mark.parametrize(("body", "message"), [
    ("{% macro again(n) %}{{ again(n) }}{% endmacro %}{{ again(1) }}",
     "calls nest too deeply (a macro that calls itself without end?)"),
    ("{% for i in [1] recursive %}{{ loop([1]) }}{% endfor %}",
     "calls nest too deeply (a macro that calls itself without end?)"),
    ("{{ 'x' * 3000000000 }}", f"'*' would make 3,000,000,000 characters or items (at most {MAX_OUTPUT_CHARS:,})"),
    ("{% for i in range(10 ** 30) %}{{ i }}{% endfor %}", "range() of more than 10,000 numbers"),
    ("{% for i in range(99999999999999999999999, 99999999999999999999999 + 2) %}{% endfor %}",
     "range() of more than 10,000 numbers"),
    ("{{ 2 ** 100000 }}", "2 ** 100000 is too large a number"),
    ("{{ (10 ** 400) / 3 }}", "integer division result too large for a float"),
    ("{{ 'x'|center(3000000000) }}", f"the filter would make more than {MAX_OUTPUT_CHARS:,} characters"),
    ("{{ ('a' * 100000)|replace('a', 'b' * 100000) }}", f"the filter would make more than {MAX_OUTPUT_CHARS:,} characters"),
    ("{{ '%9999999999d' % 1 }}", "a format width is too large"),
    ("{{ '{:9999999999}'.format(1) }}", "a format width is too large"),
    ("{% for i in range(10000) %}{% for j in range(10000) %}some text{% endfor %}{% endfor %}",
     f"the text grew past {MAX_OUTPUT_CHARS:,} characters"),
])
def test_runaway_templates_are_template_errors_naming_file_and_line(tmp_path, body, message):
    assert render_error(tmp_path, body) == f"{tmp_path / 'mine.md'}:5: {message}"


def test_a_render_that_takes_too_long_stops_at_the_time_limit(tmp_path):
    ticks = iter(range(10**9))
    templates = Templates(tmp_path, clock=lambda: next(ticks) * RENDER_SECONDS / 1000)  # 1000 looks at the clock
    body = "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}"
    assert render_error(tmp_path, body, templates) == (
        f"{tmp_path / 'mine.md'}:5: rendering took longer than {RENDER_SECONDS:g} s (a loop that never ends?)")


def test_ordinary_loops_ranges_and_formats_still_render(tmp_path):
    (tmp_path / "mine.md").write_text(
        "{% for i in range(3) %}{{ i }}{% endfor %} {{ range(5)|length }} {{ 'ab' * 2 }} {{ 2 ** 10 }} "
        "{{ '%03d'|format(7) }} {{ '{:>3}'.format(1) }} {{ 'x'|center(5) }}|{{ 'a\nb'|indent(2) }}\n")
    assert Templates(tmp_path).render("mine").body == "012 5 abab 1024 007   1   x  |a\n  b\n"
