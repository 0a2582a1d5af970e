"""Small pure helpers the forge webhook parsers share: header lookup, HMAC check, lenient reading."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any


def header(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header `name`, whatever its case (WSGI environs and plain dicts alike)."""
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def keep(headers: Mapping[str, str], names: tuple[str, ...]) -> dict[str, str]:
    """The headers among `names` that are present, under their canonical spelling."""
    kept = {}
    for name in names:
        value = header(headers, name)
        if value is not None:
            kept[name] = value
    return kept


def sha256_signature_ok(given: str | None, body: bytes, secret: str) -> bool:
    """`given` is exactly "sha256=" + lower-case hex HMAC-SHA256 of `body` keyed with `secret`."""
    if not given or not secret:
        return False
    expected = "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode("ascii"), given.encode("utf-8", "replace"))


def token_ok(given: str | None, secret: str) -> bool:
    """A plain shared token, compared in constant time."""
    if not given or not secret:
        return False
    return hmac.compare_digest(given.encode("utf-8", "replace"), secret.encode("utf-8"))


def decode_json(body: bytes) -> Any:
    """The JSON document in `body`; ValueError (with a short reason) when it is not one."""
    try:
        return json.loads(body)
    except UnicodeDecodeError as exc:
        raise ValueError(f"body is not UTF-8 ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None


def dig(data: Any, *path: str) -> Any:
    """data[path[0]][path[1]]... or None as soon as a step is missing or not a mapping."""
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def number(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def moment(value: Any) -> datetime | None:
    """ISO 8601 (`2019-05-15T15:20:33Z`) or GitLab's older `2015-05-17 18:08:09 UTC`; else None."""
    if not isinstance(value, str) or not value:
        return None
    candidate = value.strip()
    if candidate.endswith(" UTC"):
        candidate = candidate[: -len(" UTC")].replace(" ", "T") + "+00:00"
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def make_parse(
    decode: Callable[[Mapping[str, str], bytes], Any],
    event_from: Callable[[Mapping[str, str], Any], Any],
) -> Callable[[Mapping[str, str], bytes], Any]:
    """A parser's `parse`: decode, then normalise; None for a malformed body, never an exception."""

    def parse(headers: Mapping[str, str], body: bytes) -> Any:
        try:
            return event_from(headers, decode(headers, body))
        except ValueError:
            return None

    return parse


def make_stored_headers(names: tuple[str, ...]) -> Callable[[Mapping[str, str]], dict[str, str]]:
    """A parser's `stored_headers`: the delivery headers among `names` worth keeping in the inbox."""
    return lambda headers: keep(headers, names)
