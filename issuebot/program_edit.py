"""Round-trip edits of the program file (people and pairs added or changed) that keep its comments, order and layout.

ruamel.yaml reads the file into a tree that remembers comments, key order, flow or block
style and quoting, so writing it back changes only what an edit touched. Every edit is shown as
a unified diff first; the CLI writes the file only when asked to (`--apply`).
"""

from __future__ import annotations

import difflib
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from issuebot.config import ConfigError

# `people:` / `pairs:` followed by an item indented by N spaces: the file's own list layout.
_LIST_LAYOUT_RE = re.compile(r"^(?:people|pairs):[^\n]*\n(?:[ \t]*#[^\n]*\n|[ \t]*\n)*( *)- ", re.MULTILINE)


@dataclass
class ProgramDocument:
    """The program file being edited: the text it was read from and the text after the edits so far."""

    path: Path
    original: str
    current: str
    yaml: YAML

    def tree(self) -> CommentedMap:
        """The current text as a round-trip tree (comments and layout attached)."""
        return _load(self.yaml, self.current, self.path)

    def diff(self) -> str:
        """A unified diff of the edits made so far ("" when nothing changed)."""
        name = self.path.name
        return "".join(difflib.unified_diff(self.original.splitlines(keepends=True), self.current.splitlines(keepends=True),
                                            fromfile=f"{name} (now)", tofile=f"{name} (after --apply)"))

    def write(self) -> bool:
        """Write the edited file; False when nothing changed."""
        if self.current == self.original:
            return False
        self.path.write_text(self.current, encoding="utf-8")
        return True


def open_document(path: Path) -> ProgramDocument:
    """Read the program file for editing, keeping its layout; ConfigError names the file on a problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such program file"]) from None
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a long line the author wrote
    offset = _list_offset(text)
    yaml.indent(mapping=2, sequence=offset + 2, offset=offset)
    _load(yaml, text, path)
    return ProgramDocument(path=path, original=text, current=text, yaml=yaml)


def _load(yaml: YAML, text: str, path: Path) -> CommentedMap:
    try:
        data = yaml.load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError([f"{path}{where}: not valid YAML: {getattr(exc, 'problem', None) or exc}"]) from None
    if not isinstance(data, CommentedMap):
        raise ConfigError([f"{path}:1: the program file is not a mapping of keys"])
    return data


def _list_offset(text: str) -> int:
    found = _LIST_LAYOUT_RE.search(text)
    return len(found.group(1)) if found else 2


def _flow(entry: Mapping[str, Any]) -> CommentedMap:
    item = CommentedMap()
    for name, value in entry.items():
        item[name] = _flow(value) if isinstance(value, Mapping) else _flow_value(value)
    item.fa.set_flow_style()
    return item


def _flow_value(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        seq = CommentedSeq(list(value))
        seq.fa.set_flow_style()
        return seq
    return value


def _one_line(doc: ProgramDocument, entry: Mapping[str, Any]) -> str:
    out = io.StringIO()
    doc.yaml.dump(_flow(entry), out)
    return out.getvalue().strip()


def _append(doc: ProgramDocument, key: str, entries: Iterable[Mapping[str, Any]]) -> int:
    """Insert entries, one line each, right after the last item of the top-level list `key`.

    The new lines go in as text at the place the tree says the list ends, so blank lines and
    comments after the list (which a dump would attach to its last item) stay where they were.
    """
    entries = list(entries)
    if not entries:
        return 0
    data = doc.tree()
    lines = doc.current.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    indent = " " * _list_offset(doc.current)
    new = [f"{indent}- {_one_line(doc, entry)}\n" for entry in entries]
    keys = list(data)
    if key not in data:
        lines += ["\n", f"{key}:\n", *new]
    elif not data[key]:  # `pairs: []`, `pairs:` or `pairs: null`: the items follow the key's line
        at = data.lc.key(key)[0]
        lines[at] = re.sub(rf"^{key}:[ \t]*(?:\[[ \t]*\]|null|~)?", f"{key}:", lines[at])
        lines[at + 1:at + 1] = new
    else:
        following = keys.index(key) + 1
        end = data.lc.key(keys[following])[0] if following < len(keys) else len(lines)
        while end > 0 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
            end -= 1
        lines[end:end] = new
    doc.current = "".join(lines)
    return len(entries)


def add_pairs(doc: ProgramDocument, pairs: Iterable[Mapping[str, Any]]) -> int:
    """Append `pairs:` entries (mentor, mentee, optional starts) as one line each."""
    return _append(doc, "pairs", pairs)


def add_people(doc: ProgramDocument, people: Iterable[Mapping[str, Any]]) -> int:
    """Append `people:` entries, one line each."""
    return _append(doc, "people", people)


def change_people(doc: ProgramDocument, changes: Mapping[str, Mapping[str, Any]]) -> int:
    """Set changed fields of existing people in place (`attributes.x` sets one attribute); returns fields set."""
    data = doc.tree()
    people = data.get("people")
    if not isinstance(people, CommentedSeq):
        return 0
    done = 0
    for entry in people:
        if not isinstance(entry, CommentedMap) or entry.get("username") not in changes:
            continue
        for name, value in changes[entry["username"]].items():
            target, field_name = entry, name
            if name.startswith("attributes."):
                field_name = name.split(".", 1)[1]
                if not isinstance(entry.get("attributes"), CommentedMap):
                    entry["attributes"] = _flow({})
                target = entry["attributes"]
            target[field_name] = _flow_value(value)
            done += 1
    if done:
        out = io.StringIO()
        doc.yaml.dump(data, out)
        doc.current = out.getvalue()
    return done


def pair_entry(mentor: str, mentee: str, starts: date | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"mentor": mentor, "mentee": mentee}
    if starts is not None:
        entry["starts"] = starts
    return entry
