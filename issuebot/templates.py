"""Sandboxed Jinja2 over issue_templates/: front matter (title, labels, assignees) plus a strict body."""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import yaml
from jinja2.sandbox import ImmutableSandboxedEnvironment

from issuebot.paths import shipped


class TemplateError(Exception):
    """A template could not be loaded or rendered; the message names template, line and variable."""


@dataclass(frozen=True)
class Rendered:
    name: str
    title: str
    body: str
    labels: tuple[str, ...]
    assignees: tuple[str, ...]
    about: str = ""


_FRONT_FIELDS = {"name", "about", "title", "labels", "assignees"}


class Templates:
    """The shipped templates, overridden file by file by a program's own folder."""

    def __init__(self, override_dir: Path | None = None):
        self.shipped_dir = shipped("issue_templates")
        self.override_dir = override_dir
        if override_dir is not None and not override_dir.is_dir():
            raise TemplateError(f"{override_dir}: templates folder does not exist")
        search = [str(override_dir)] if override_dir is not None else []
        search.append(str(self.shipped_dir))
        # Immutable: a template may read the context (which can be the plan's own state) but never change it.
        self._env = ImmutableSandboxedEnvironment(
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
        try:
            body = self._env.get_template(f"{name}.md").render(**context)
            title = self._compiled(str(front.get("title", ""))).render(**context)
            # Assignees are templates too ("{{ mentee.handle }}"); a forge needs real usernames.
            assignees = [self._compiled(a).render(**context).strip() for a in _as_list(front.get("assignees"))]
        except jinja2.UndefinedError as exc:
            raise TemplateError(f"{path}:{_template_line(exc, path)}: {exc.message}") from None
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"{exc.filename or path}:{exc.lineno}: {exc.message}") from None
        except jinja2.exceptions.SecurityError as exc:
            raise TemplateError(f"{path}:{_template_line(exc, path)}: not allowed in a template: {exc}") from None
        except (TypeError, ValueError, jinja2.TemplateError) as exc:
            raise TemplateError(f"{path}:{_template_line(exc, path)}: {exc}") from None
        return Rendered(
            name=name,
            title=" ".join(title.split()),
            body=body.lstrip("\n").rstrip() + "\n",
            labels=tuple(_as_list(front.get("labels"))),
            assignees=tuple(a for a in assignees if a),
            about=str(front.get("about", "")),
        )

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
