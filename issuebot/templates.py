"""Sandboxed Jinja2 over issue_templates/: front matter (title, labels, assignees) plus a strict body."""

from __future__ import annotations

import contextvars
import re
import time
import traceback
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import jinja2
import yaml
from jinja2.sandbox import ImmutableSandboxedEnvironment

from issuebot.paths import shipped


class TemplateError(Exception):
    """A template could not be loaded or rendered; the message names template, line and variable."""


# Limits of one render. Coordinators write templates, so a slip (a macro that calls itself, a loop
# over range(10**9), 'x' * 3000000000) must end as a TemplateError, not a hang or a full memory.
MAX_OUTPUT_CHARS = 1_000_000  # far above any forge's issue body limit (GitHub: 65,536 characters)
MAX_RANGE = 10_000
MAX_POWER_BITS = 4096  # `2 ** 4096` is fine; `9 ** 9 ** 9` is not
RENDER_SECONDS = 2.0

class _LimitExceeded(jinja2.TemplateRuntimeError):
    """A render went past one of the limits above."""


_deadline: contextvars.ContextVar[float] = contextvars.ContextVar("issuebot_template_deadline", default=float("inf"))


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, bounded in output size, arithmetic and time."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self, clock: Callable[[], float], **options: Any):
        super().__init__(**options)
        self.clock = clock
        self.globals["range"] = self.bounded_range
        self.globals["lipsum"] = _bounded_filter(cast(Callable[..., Any], self.globals["lipsum"]),
                                                 lambda n=5, *args, **kwargs: n * 1000)
        # Filters that are given a width or a replacement can grow a short text without end; Jinja
        # even runs them while compiling when their arguments are constants.
        for name, grown in (("center", lambda value, width=80: width), ("indent", _indent_growth),
                            ("replace", _replace_growth), ("format", _format_growth)):
            self.filters[name] = _bounded_filter(self.filters[name], grown)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """`'{:>9}'.format(x)` in a template: the sandbox's own, with its widths bounded."""
        wrapped = super().wrap_str_format(value)
        if wrapped is not None:
            _check_widths(value.__self__)
        return wrapped

    def check_time(self) -> None:
        if self.clock() > _deadline.get():
            raise _LimitExceeded(f"rendering took longer than {RENDER_SECONDS:g} s (a loop that never ends?)")

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        self.check_time()
        if operator == "*":
            for times, sequence in ((left, right), (right, left)):
                if isinstance(times, int) and isinstance(sequence, (str, list, tuple)) \
                        and times * len(sequence) > MAX_OUTPUT_CHARS:
                    raise _LimitExceeded(f"'*' would make {times * len(sequence):,} characters or items "
                                         f"(at most {MAX_OUTPUT_CHARS:,})")
        elif operator == "**" and isinstance(left, int) and isinstance(right, int):
            if right > 0 and max(left.bit_length(), 1) * right > MAX_POWER_BITS:
                raise _LimitExceeded(f"{left} ** {right} is too large a number")
        elif operator == "%" and isinstance(left, str):
            _check_widths(left)
        return super().call_binop(context, operator, left, right)

    def bounded_range(self, *args: Any) -> _TimedRange:
        if not all(isinstance(arg, int) for arg in args):
            raise _LimitExceeded("range() takes whole numbers")
        numbers = range(*args)
        if numbers.stop.bit_length() > 62 or numbers.start.bit_length() > 62 or len(numbers) > MAX_RANGE:
            raise _LimitExceeded(f"range() of more than {MAX_RANGE:,} numbers")
        return _TimedRange(numbers, self)


def _check_widths(text: str) -> None:
    """Refuse a format string (`%9999999d`, `{:9999999}`) whose field width alone is too long."""
    if any(len(run) > 6 for run in re.findall(r"\d+", text)) and re.search(r"[%:]", text):
        raise _LimitExceeded("a format width is too large")


def _indent_growth(value: Any, width: Any = 4, *args: Any, **kwargs: Any) -> int:
    width = len(width) if isinstance(width, str) else width
    return (str(value).count("\n") + 1) * width if isinstance(width, int) else 0


def _replace_growth(value: Any, old: Any = "", new: Any = "", count: Any = None) -> int:
    text = str(value)
    return (text.count(str(old)) if old else len(text) + 1) * len(str(new))


def _format_growth(value: Any, *args: Any, **kwargs: Any) -> int:
    _check_widths(str(value))
    return 0


def _bounded_filter(original: Callable[..., Any], grown: Callable[..., int]) -> Callable[..., Any]:
    """`original`, refused when `grown` (same arguments) says its text would pass MAX_OUTPUT_CHARS."""

    def bounded(*args: Any, **kwargs: Any) -> Any:
        extra = grown(*args[1:], **kwargs) if getattr(original, "jinja_pass_arg", None) else grown(*args, **kwargs)
        if isinstance(extra, int) and extra > MAX_OUTPUT_CHARS:
            raise _LimitExceeded(f"the filter would make more than {MAX_OUTPUT_CHARS:,} characters")
        return original(*args, **kwargs)

    if getattr(original, "jinja_pass_arg", None) is not None:
        bounded.jinja_pass_arg = original.jinja_pass_arg  # type: ignore[attr-defined]
    return bounded


class _TimedRange:
    """A range whose iteration gives up when the render's time is over (nested loops add up)."""

    def __init__(self, numbers: range, sandbox: _BoundedSandbox):
        self.numbers, self.sandbox = numbers, sandbox

    def __iter__(self) -> Iterator[int]:
        for index, number in enumerate(self.numbers):
            if index % 256 == 0:
                self.sandbox.check_time()
            yield number

    def __len__(self) -> int:
        return len(self.numbers)

    def __getitem__(self, index: Any) -> Any:
        return self.numbers[index]

    def __contains__(self, item: Any) -> bool:
        return item in self.numbers

    def __repr__(self) -> str:
        return repr(self.numbers)


@dataclass(frozen=True)
class Rendered:
    name: str
    title: str
    body: str
    labels: tuple[str, ...]
    assignees: tuple[str, ...]
    about: str = ""


_FRONT_FIELDS = {"name", "about", "title", "labels", "assignees", "questions"}  # questions: a form's (sign-up)


class Templates:
    """The shipped templates, overridden file by file by a program's own folder."""

    def __init__(self, override_dir: Path | None = None, clock: Callable[[], float] = time.monotonic):
        self.shipped_dir = shipped("issue_templates")
        self.override_dir = override_dir
        if override_dir is not None and not override_dir.is_dir():
            raise TemplateError(f"{override_dir}: templates folder does not exist")
        search = [str(override_dir)] if override_dir is not None else []
        search.append(str(self.shipped_dir))
        # Immutable: a template may read the context (which can be the plan's own state) but never change it.
        self._env = _BoundedSandbox(
            clock,
            loader=_FrontMatterLoader(search),
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._env.filters["checkbox"] = lambda done: "x" if done else " "
        self._front: dict[str, tuple[Path, dict[str, Any]]] = {}  # name -> (file, front matter)
        self._strings: dict[str, jinja2.Template] = {}

    def names(self) -> list[str]:
        return template_names(self.override_dir)

    def path_of(self, name: str) -> Path:
        path = template_file(name, self.override_dir)
        if path is None:
            raise TemplateError(f"no template named {name!r} (have: {', '.join(self.names())})")
        return path

    def front_matter(self, name: str) -> dict[str, Any]:
        return self._load(name)[1]

    def _load(self, name: str) -> tuple[Path, dict[str, Any]]:
        """The template's file and front matter, read once."""
        if name not in self._front:
            path = self.path_of(name)
            front, _ = split_front_matter(path.read_text(encoding="utf-8"), str(path))
            self._front[name] = (path, front)
        return self._front[name]

    def _compiled(self, source: str) -> jinja2.Template:
        """A front-matter string compiled once: compiling dominated the cost of rendering many pairs."""
        if source not in self._strings:
            self._strings[source] = self._env.from_string(source)
        return self._strings[source]

    def render(self, name: str, **context: Any) -> Rendered:
        """Render template `name`; raise TemplateError naming the template, line and variable."""
        path, front = self._load(name)
        token = _deadline.set(self._env.clock() + RENDER_SECONDS)
        try:
            body = self._bounded(self._env.get_template(f"{name}.md"), context)
            title = self._bounded(self._compiled(str(front.get("title", ""))), context)
            # Assignees are templates too ("{{ mentee.handle }}"); a forge needs real usernames.
            assignees = [self._bounded(self._compiled(a), context).strip() for a in _as_list(front.get("assignees"))]
        except jinja2.UndefinedError as exc:
            raise TemplateError(f"{path}:{_template_line(exc, path)}: {exc.message}") from None
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"{exc.filename or path}:{exc.lineno}: {exc.message}") from None
        except jinja2.exceptions.SecurityError as exc:
            raise TemplateError(f"{path}:{_template_line(exc, path)}: not allowed in a template: {exc}") from None
        except RecursionError as exc:
            raise TemplateError(f"{path}:{_template_line(exc, path)}: calls nest too deeply "
                                "(a macro that calls itself without end?)") from None
        except (TypeError, ValueError, ArithmeticError, jinja2.TemplateError) as exc:
            raise TemplateError(f"{path}:{_template_line(exc, path)}: {exc}") from None
        finally:
            _deadline.reset(token)
        return Rendered(
            name=name,
            title=" ".join(title.split()),
            body=body.lstrip("\n").rstrip() + "\n",
            labels=tuple(_as_list(front.get("labels"))),
            assignees=tuple(a for a in assignees if a),
            about=str(front.get("about", "")),
        )

    def _bounded(self, template: jinja2.Template, context: dict[str, Any]) -> str:
        """The rendered text, stopped inside the template (so the error has its line) when too long or too slow."""
        chunks = cast(Generator[str, None, None], template.generate(**context))
        parts: list[str] = []
        size = 0
        for chunk in chunks:
            parts.append(chunk)
            size += len(chunk)
            try:
                if size > MAX_OUTPUT_CHARS:
                    raise _LimitExceeded(f"the text grew past {MAX_OUTPUT_CHARS:,} characters")
                self._env.check_time()
            except _LimitExceeded as exc:
                chunks.throw(exc)
        return "".join(parts)

    def check_all(self, context: dict[str, Any]) -> list[str]:
        """Problems found rendering every template with a sample context."""
        problems = []
        for name in self.names():
            try:
                self.render(name, **context)
            except TemplateError as exc:
                problems.append(str(exc))
        return problems


def template_names(override_dir: Path | None = None) -> list[str]:
    """Every template a program can use: the shipped ones and those of its own folder."""
    found = {p.stem for p in shipped("issue_templates").glob("*.md")}
    if override_dir is not None:
        found |= {p.stem for p in override_dir.glob("*.md")}
    return sorted(found)


def template_file(name: str, override_dir: Path | None = None) -> Path | None:
    """The file of template `name`: the program's own folder first, then the shipped one."""
    for folder in (override_dir, shipped("issue_templates")):
        if folder is not None and (folder / f"{name}.md").is_file():
            return folder / f"{name}.md"
    return None


def split_front_matter(text: str, where: str) -> tuple[dict[str, Any], str]:
    """(front matter, body) where the body keeps blank lines in place of the front matter,
    so line numbers in errors are line numbers of the file."""
    if not text.startswith("---"):
        return {}, text
    lines = text.splitlines(keepends=True)
    for index in range(1, len(lines)):
        if lines[index].strip() == "---":
            try:
                front = yaml.safe_load("".join(lines[1:index])) or {}
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                line = mark.line + 2 if mark is not None else 1
                raise TemplateError(f"{where}:{line}: front matter is not valid YAML") from None
            if not isinstance(front, dict):
                raise TemplateError(f"{where}:2: front matter must be a mapping")
            unknown = set(front) - _FRONT_FIELDS
            if unknown:
                raise TemplateError(f"{where}:2: unknown front matter keys: {', '.join(sorted(unknown))}")
            return front, "\n" * (index + 1) + "".join(lines[index + 1 :])
    raise TemplateError(f"{where}:1: front matter opened with '---' is never closed")


class _FrontMatterLoader(jinja2.FileSystemLoader):
    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Any]:
        source, filename, uptodate = super().get_source(environment, template)
        _, body = split_front_matter(source, filename)
        return body, filename, uptodate


def _template_line(exc: BaseException, path: Path) -> int | str:
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename == str(path):
            return frame.lineno or "?"
    return "?"


def _as_list(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return [str(item) for item in value]
