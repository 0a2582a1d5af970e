"""Small pure helpers the forge webhook parsers share: header lookup, HMAC check, total strict reading."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs

import orjson

JSON_TYPES = frozenset({"application/json", "text/json"})
FORM_TYPE = "application/x-www-form-urlencoded"
MAX_TEXT = 1000  # longer names, paths and handles are not a forge's
MAX_PROJECT = 300  # the inbox's project column
_NUMBER = re.compile(r"[0-9]{1,18}")  # ASCII digits only: "²" or "١" are not issue numbers
_LARGEST_NUMBER = 2**63 - 1


class UnsupportedBody(ValueError):
    """The body's Content-Type is not one this endpoint reads (HTTP 415)."""


def header(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header `name`, whatever its case (WSGI environs and plain dicts alike)."""
    value = headers.get(name)
    if value is not None or type(headers) is not dict:  # other mappings (WSGI headers) ignore case already
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
    """The JSON document in `body`; ValueError (with a short reason) when it is not one.

    orjson refuses what would break later steps: nesting deeper than 1024, invalid UTF-8 and lone
    surrogates, numbers too large for a double.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None


def media_type(headers: Mapping[str, str]) -> str:
    """The Content-Type without parameters, lower-case ("" when absent)."""
    return (header(headers, "Content-Type") or "").split(";")[0].strip().lower()


def decode_body(headers: Mapping[str, str], body: bytes, *, form_field: str | None = None) -> Any:
    """JSON by Content-Type (absent counts as JSON), or, with `form_field`, the JSON in that field
    of a form-encoded body; UnsupportedBody for any other type, ValueError for a malformed body."""
    kind = media_type(headers)
    if kind in JSON_TYPES or kind == "" or kind.endswith("+json"):
        return decode_json(body)
    if form_field is not None and kind == FORM_TYPE:
        try:
            fields = parse_qs(body.decode("utf-8"), strict_parsing=False, max_num_fields=100)
        except UnicodeDecodeError as exc:
            raise ValueError(f"form-encoded body is not UTF-8 ({exc.reason})") from None
        if form_field not in fields:
            raise ValueError(f"form-encoded body has no {form_field!r} field")
        try:
            return decode_json(fields[form_field][0].encode("utf-8"))
        except UnicodeEncodeError:  # a %-escaped lone surrogate half cannot be UTF-8
            raise ValueError(f"the {form_field!r} field is not UTF-8") from None
    accepted = "application/json" + (f" or {FORM_TYPE}" if form_field is not None else "")
    raise UnsupportedBody(f"Content-Type {kind!r} is not read here; send {accepted}")


def dig(data: Any, *path: str) -> Any:
    """data[path[0]][path[1]]... or None as soon as a step is missing or not a mapping."""
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def text(value: Any, limit: int = MAX_TEXT) -> str | None:
    """A non-empty string of at most `limit` characters that UTF-8 and every database can carry; else None."""
    if not isinstance(value, str) or not value or len(value) > limit or "\x00" in value:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no database or forge would take it
        return None
    return value


def project_path(value: Any) -> str | None:
    return text(value, MAX_PROJECT)


def number(value: Any) -> int | None:
    """A non-negative integer (or its ASCII digits) that fits 64 bits; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= _LARGEST_NUMBER else None
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        return int(value)
    return None


def moment(value: Any) -> datetime | None:
    """ISO 8601 (`2019-05-15T15:20:33Z`) or GitLab's older `2015-05-17 18:08:09 UTC`; else None."""
    if not isinstance(value, str) or not value or len(value) > 64:
        return None
    candidate = value.strip()
    if candidate.endswith(" UTC"):
        candidate = candidate[: -len(" UTC")].replace(" ", "T") + "+00:00"
    try:
        parsed = datetime.fromisoformat(candidate)
        # Kept in UTC, so that a time at the edge of the calendar cannot overflow later on.
        return parsed.astimezone(timezone.utc) if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    except (ValueError, OverflowError):
        return None


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
