"""JSON from outside, made safe before it can reach Python's recursion limit or BSON.

Every JSON body (control API and webhooks) goes through `parse_json`: nesting is measured on
the raw bytes first, so a body nested 100,000 levels deep is refused without recursing, and
text that JSON allows but UTF-8 (so BSON) does not, a lone surrogate such as "\\ud800", is
refused with the field that holds it.
"""

from __future__ import annotations

import json
from typing import Any

from config_db.errors import ValidationFailed

# Far deeper than any Shopify payload or config (products nest ~6 levels), far below the
# ~1,000 frames where json.loads, bson.encode and our own walkers would raise RecursionError.
MAX_JSON_DEPTH = 64
_OPEN, _CLOSE, _QUOTE, _BACKSLASH = frozenset(b"[{"), frozenset(b"]}"), ord('"'), ord("\\")


def json_depth_exceeds(raw: bytes, max_depth: int = MAX_JSON_DEPTH) -> bool:
    """True when brackets outside strings nest deeper than `max_depth` (no parsing)."""
    depth, in_string, escaped = 0, False, False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == _BACKSLASH:
                escaped = True
            elif byte == _QUOTE:
                in_string = False
        elif byte == _QUOTE:
            in_string = True
        elif byte in _OPEN:
            depth += 1
            if depth > max_depth:
                return True
        elif byte in _CLOSE:
            depth -= 1
    return False


def parse_json(raw: bytes, *, field: str = "body", max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse a body: ValidationFailed(field) when too deep, not JSON, or not storable text."""
    try:
        raw.decode("utf-8")  # json.loads would also take UTF-16/32, which the depth scan cannot
    except UnicodeDecodeError:
        raise ValidationFailed(f"{field}: not UTF-8 JSON", field=field) from None
    if json_depth_exceeds(raw, max_depth):
        raise ValidationFailed(f"{field}: JSON nested deeper than {max_depth} levels", field=field)
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ValidationFailed(f"{field}: not valid JSON", field=field) from None
    bad = unstorable_path(value)
    if bad is not None:
        where = f"{field}.{bad}" if bad else field
        raise ValidationFailed(
            f"{where}: text is not valid UTF-8 (a lone surrogate escape such as \\ud800)",
            field=where,
        )
    return value


def is_storable_text(text: str) -> bool:
    """A str that encodes to UTF-8 (so to BSON): no lone surrogates."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def unstorable_path(value: Any, path: str = "") -> str | None:
    """The dotted path of the first key or string that is not valid UTF-8, else None."""
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            if not is_storable_text(item):
                return where
        elif isinstance(item, dict):
            for key, child in item.items():
                child_path = f"{where}.{key}" if where else str(key)
                if not is_storable_text(str(key)):
                    return where  # the object holding the key
                stack.append((child_path, child))
        elif isinstance(item, list):
            stack.extend((f"{where}[{index}]", child) for index, child in enumerate(item))
    return None
