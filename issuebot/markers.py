"""Hidden markers, bot-owned sections and the state block that make every write findable and idempotent."""

from __future__ import annotations

import json
import re
from typing import Any

_KEY = r"[A-Za-z0-9][A-Za-z0-9._:@+-]*"
_MARKER_RE = re.compile(r"<!--\s*issuebot:(?P<key>" + _KEY + r")\s*-->")
# Any state comment, well-formed or damaged by an edit, so that write_state replaces it rather
# than appending a second block. The JSON never contains '-->' (write_state escapes '<' and '>').
_STATE_RE = re.compile(r"\n*<!--\s*issuebot:state(?:\s+(?P<json>(?:(?!-->).)*?))?\s*-->\n?", re.DOTALL)
_SECTION_RE = r"<!--\s*issuebot:begin:{name}\s*-->.*?<!--\s*issuebot:end:{name}\s*-->"


def _find_state(body: str) -> re.Match[str] | None:
    """The state block's match. The pattern's leading `\n*` defeats the regex engine's literal
    prefix scan, so start the search just before the first candidate instead of at every position."""
    at = body.find("issuebot:state")
    if at < 0:
        return None
    start = body.rfind("<!--", 0, at)
    while start > 0 and body[start - 1] == "\n":
        start -= 1
    return _STATE_RE.search(body, max(start, 0)) or _STATE_RE.search(body)


def marker(key: str) -> str:
    """`<!-- issuebot:goal:1 -->` for key `goal:1`."""
    if not re.fullmatch(_KEY, key) or key.startswith(("state", "begin:", "end:")):
        raise ValueError(f"not a marker key: {key!r}")
    return f"<!-- issuebot:{key} -->"


def with_marker(body: str, key: str) -> str:
    """`body` carrying the marker for `key` on its first line (once)."""
    if find_marker(body) == key:
        return body
    return f"{marker(key)}\n{body}"


def find_marker(body: str | None) -> str | None:
    """The identity key of the first marker in `body`, ignoring state blocks and sections."""
    for match in _MARKER_RE.finditer(body or ""):
        key = match.group("key")
        if not key.startswith(("begin:", "end:")):
            return key
    return None


def has_marker(body: str | None, key: str) -> bool:
    return any(m.group("key") == key for m in _MARKER_RE.finditer(body or ""))


def read_state(body: str | None) -> dict[str, Any]:
    """The state block of a bot-owned issue; `{}` when absent or damaged by an edit."""
    match = _find_state(body or "")
    if not match:
        return {}
    try:
        state = json.loads(match.group("json") or "")
    except ValueError:
        return {}
    return state if isinstance(state, dict) else {}


def write_state(body: str, state: dict[str, Any]) -> str:
    """`body` with its state block replaced (or appended); everything else untouched."""
    encoded = json.dumps(state, sort_keys=True, separators=(",", ":"), default=str)
    # '<' and '>' only occur inside JSON strings, so escaping them keeps '-->' out of the comment.
    encoded = encoded.replace("<", "\\u003c").replace(">", "\\u003e")
    block = f"<!-- issuebot:state {encoded} -->"
    match = _find_state(body)
    if match:
        return (body[: match.start()] + "\n\n" + block + "\n" + body[match.end():]).rstrip("\n") + "\n"
    return body.rstrip("\n") + "\n\n" + block + "\n"


def section(name: str, content: str) -> str:
    """A bot-owned section that `replace_section` can rewrite later."""
    return f"<!-- issuebot:begin:{name} -->\n{content.strip()}\n<!-- issuebot:end:{name} -->"


def replace_section(body: str, name: str, content: str) -> str:
    """`body` with bot-owned section `name` rewritten; appended if a person deleted it."""
    pattern = re.compile(_SECTION_RE.format(name=re.escape(name)), re.DOTALL)
    new = section(name, content)
    if pattern.search(body):
        return pattern.sub(lambda _m: new, body, count=1)
    # A person deleted the section or one of its ends: drop the orphaned end, append it afresh.
    body = re.sub(r"<!--\s*issuebot:(?:begin|end):" + re.escape(name) + r"\s*-->\n?", "", body)
    state = _find_state(body)
    if state:
        return body[: state.start()].rstrip("\n") + "\n\n" + new + body[state.start():]
    return body.rstrip("\n") + "\n\n" + new + "\n"


def get_section(body: str, name: str) -> str | None:
    pattern = re.compile(_SECTION_RE.format(name=re.escape(name)), re.DOTALL)
    match = pattern.search(body or "")
    if not match:
        return None
    inner = match.group(0)
    return inner[inner.index("-->") + 3 : inner.rindex("<!--")].strip()


def visible_text(body: str | None) -> str:
    """`body` without markers and state blocks: what a person reads."""
    text = _STATE_RE.sub("\n", body or "")
    return _MARKER_RE.sub("", text).strip()
