"""Opaque paging cursors, refused unless they are exactly what this API issues.

A cursor is URL-safe base64 of `json.dumps({"after": <_id>})` (collection pages, in `_id`
order) or of `json.dumps({"chunk": <int>, "offset": <int>})` (member and code lists, by
position; chunk 0 is the inline list or the first spilled chunk). Decoding is strict
rather than signed: the JSON must have exactly that shape, its values must pass the same
checks as a path id (or be in range), and encoding it again must give the very same text.
So a tampered cursor either fails (400 on `cursor`) or is one we could have issued, and
both reach MongoDB only as a compared string or a list position, never as an operator.
Signing would add nothing to that and would break every cursor when the secret rotates.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, NamedTuple

from stores.errors import BadQuery
from stores.params import is_id_text

# Larger than any cursor we issue (a 512-character id, fully \u-escaped, in base64).
MAX_CURSOR_CHARS = 8192
# MongoDB arrays hold fewer elements than this; `$slice` takes a 32-bit position.
MAX_POSITION = 2**31 - 1
_AFTER = "after"


class Position(NamedTuple):
    """Where an item sits in a stored list: chunk index (0 when inline), offset in it."""

    chunk: int
    offset: int


def _encode(body: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode()


def _refused() -> BadQuery:
    return BadQuery("cursor: not a cursor this API returned", field="cursor")


def _decode(cursor: str, keys: tuple[str, ...]) -> dict[str, Any]:
    """The JSON body of a cursor whose text is exactly `_encode(body)`, keys in that order."""
    try:
        if len(cursor) > MAX_CURSOR_CHARS:
            raise ValueError(cursor)
        raw = base64.b64decode(cursor.encode("ascii"), altchars=b"-_", validate=True)
        body = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeError, RecursionError):
        raise _refused() from None
    if not isinstance(body, dict) or tuple(body) != keys or _encode(body) != cursor:
        raise _refused()
    return body


def encode_after(last_id: str) -> str:
    """The cursor of the page after the document `last_id` (collection pages)."""
    return _encode({_AFTER: last_id})


def decode_after(cursor: str) -> str:
    """The `_id` a collection page continues after; BadQuery unless we issued it."""
    after = _decode(cursor, (_AFTER,))[_AFTER]
    if not is_id_text(after):
        raise _refused()
    return str(after)


def encode_position(position: Position) -> str:
    """The cursor of the list page starting at `position` (members, codes)."""
    return _encode(position._asdict())


def decode_position(cursor: str) -> Position:
    """The list position a page starts at; BadQuery unless we issued it."""
    body = _decode(cursor, Position._fields)
    # bool is an int to isinstance, and `{"chunk": true, ...}` encodes back to itself.
    if not all(type(value) is int and 0 <= value <= MAX_POSITION for value in body.values()):
        raise _refused()
    return Position(**body)
