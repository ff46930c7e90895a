"""Key-based cursor pagination and Shopify's ``query:`` search syntax.

A cursor encodes the sort key of its item (``{"last_id": n, "last_value": v}`` in base64 JSON,
like Shopify's), never an offset, so paging stays correct while items are created, updated
or deleted between pages. While :data:`UNBOUNDED` is true (a bulk operation executing) every
connection answers all its nodes and ignores ``first``/``last``/``after``/``before``.
"""

from __future__ import annotations

import base64
import bisect
import json
import re
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from graphql import GraphQLError

MAX_PAGE = 250
#: True in a bulk operation's thread: connections are unbounded (see :mod:`.bulkshop`).
UNBOUNDED: ContextVar[bool] = ContextVar("fakeshopify_unbounded", default=False)

Key = tuple[Any, int]
Entry = tuple[Key, dict[str, Any]]
Predicate = Callable[[dict[str, Any]], bool]


def encode_cursor(key: Key) -> str:
    raw = json.dumps({"last_id": key[1], "last_value": key[0]}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_cursor(cursor: str) -> Key:
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return (payload["last_value"], int(payload["last_id"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise GraphQLError(f"Invalid cursor for current pagination sort: {cursor!r}") from exc


def check_page_args(first: int | None, last: int | None) -> int:
    """The page size, or a GraphQLError like Shopify's."""
    if first is None and last is None:
        raise GraphQLError("you must provide one of first or last")
    size = first if first is not None else last
    assert size is not None
    if size < 0:
        raise GraphQLError("Argument 'first' or 'last' must be a non-negative integer.")
    if size > MAX_PAGE:
        raise GraphQLError(
            f"The maximum page size is {MAX_PAGE}: 'first' or 'last' is {size}, "
            f"which exceeds {MAX_PAGE}."
        )
    return size


def paginate(
    entries: Sequence[Entry],
    keys: Sequence[Key],
    args: dict[str, Any],
    predicate: Predicate | None = None,
) -> dict[str, Any]:
    """A connection dict for ``entries`` (sorted ascending by key; ``keys`` parallel)."""
    if UNBOUNDED.get():
        args = {key: value for key, value in args.items()
                if key not in ("first", "last", "after", "before")}  # fmt: skip
        args["first"] = len(entries)
    first, last = args.get("first"), args.get("last")
    size = len(entries) if UNBOUNDED.get() else check_page_args(first, last)
    reverse = bool(args.get("reverse"))
    lo, hi = 0, len(entries)
    try:
        if args.get("after"):
            key = decode_cursor(args["after"])
            if reverse:
                hi = bisect.bisect_left(keys, key, lo, hi)
            else:
                lo = bisect.bisect_right(keys, key, lo, hi)
        if args.get("before"):
            key = decode_cursor(args["before"])
            if reverse:
                lo = bisect.bisect_right(keys, key, lo, hi)
            else:
                hi = bisect.bisect_left(keys, key, lo, hi)
    except TypeError as exc:
        raise GraphQLError("Invalid cursor for current pagination sort.") from exc
    forward = range(lo, hi) if not reverse else range(hi - 1, lo - 1, -1)
    before_window = range(lo - 1, -1, -1) if not reverse else range(hi, len(entries))
    after_window = range(hi, len(entries)) if not reverse else range(lo - 1, -1, -1)

    def matching(indexes: Iterable[int], limit: int) -> list[int]:
        found: list[int] = []
        if limit <= 0:
            return found
        for index in indexes:
            if predicate is None or predicate(entries[index][1]):
                found.append(index)
                if len(found) >= limit:
                    break
        return found

    if first is not None:
        picked = matching(forward, size + 1)
        has_next = len(picked) > size
        picked = picked[:size]
        has_previous = bool(args.get("after")) and bool(matching(before_window, 1))
    else:
        picked = matching(reversed(forward), size + 1)
        has_previous = len(picked) > size
        picked = picked[:size][::-1]
        has_next = bool(args.get("before")) and bool(matching(after_window, 1))
    page = [entries[index] for index in picked]
    return connection(page, has_next, has_previous)


def connection(page: list[Entry], has_next: bool, has_previous: bool) -> dict[str, Any]:
    nodes = [node for _, node in page]
    start = encode_cursor(page[0][0]) if page else None
    end = encode_cursor(page[-1][0]) if page else None

    def edges(*_: Any, **__: Any) -> list[dict[str, Any]]:
        return [{"cursor": encode_cursor(key), "node": node} for key, node in page]

    return {
        "nodes": nodes,
        "edges": edges,  # built only when a query selects edges
        "pageInfo": {
            "hasNextPage": has_next,
            "hasPreviousPage": has_previous,
            "startCursor": start,
            "endCursor": end,
        },
        "userErrors": [],
    }


# ------------------------------------------------------------------ search syntax

_TERM = re.compile(r"""(?:(\w+):\s*(<=|>=|<|>|=)?\s*('[^']*'|"[^"]*"|\S+))|('[^']*'|"[^"]*"|\S+)""")
_TIME_FIELDS = {
    "updated_at": "updatedAt",
    "created_at": "createdAt",
    "published_at": "publishedAt",
    "occurred_at": "occurredAt",
    "starts_at": "startsAt",
    "ends_at": "endsAt",
}
_TEXT_FIELDS = {
    "title": "title",
    "handle": "handle",
    "vendor": "vendor",
    "product_type": "productType",
    "status": "status",
    "filename": "filename",
}


@lru_cache(maxsize=65536)
def epoch(value: str) -> float:
    """Seconds since the epoch of an ISO-8601 time or date (naive means UTC)."""
    text = value.strip()
    if len(text) == 10:
        text += "T00:00:00"
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == ">":
        return bool(left > right)
    if op == ">=":
        return bool(left >= right)
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    return bool(left == right)


def parse_query(text: str | None, source: Callable[[dict[str, Any]], dict[str, Any]] | None = None
                ) -> Predicate | None:  # fmt: skip
    """A predicate for a ``query:`` string (terms ANDed); unknown terms are ignored."""
    if not text or not text.strip():
        return None
    tests: list[Predicate] = []
    for match in _TERM.finditer(text):
        name, op, raw = match.group(1), match.group(2) or "=", match.group(3)
        if name is None:
            continue
        name = name.lower()
        value = raw[1:-1] if raw[:1] in "'\"" and raw[-1:] == raw[:1] and len(raw) > 1 else raw
        tests.append(_term(name, op, value))
    tests = [test for test in tests if test is not None]
    if not tests:
        return None
    get = source or (lambda node: node)
    return lambda node: all(test(get(node)) for test in tests)


def _term(name: str, op: str, value: str) -> Any:
    if name in _TIME_FIELDS:
        field = _TIME_FIELDS[name]
        try:
            bound = epoch(value)
        except ValueError as exc:
            raise GraphQLError(f"Invalid value for {name}: {value!r}") from exc
        if op == "=" and len(value) == 10:  # a whole day
            return lambda node: (
                node.get(field) is not None and bound <= epoch(node[field]) < bound + 86400
            )
        return lambda node: node.get(field) is not None and _compare(op, epoch(node[field]), bound)
    if name == "id":
        number = int(value) if value.isdigit() else int(value.rsplit("/", 1)[-1] or 0)
        return lambda node: _compare(op, _number(node.get("id", "")), number)
    if name in ("tag", "tags"):
        return lambda node: value.lower() in (tag.lower() for tag in node.get("tags") or ())
    if name in _TEXT_FIELDS:
        field = _TEXT_FIELDS[name]
        return lambda node: str(node.get(field, "")).lower() == value.lower()
    return None


def _number(gid: str) -> int:
    tail = gid.rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else 0
