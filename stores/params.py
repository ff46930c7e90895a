"""Checking read-API inputs (path and query values) before any of them reaches MongoDB.

A malformed value is a 400 naming its field; a well-formed one that matches nothing is a
404 later. Werkzeug decodes invalid UTF-8 in a path to U+FFFD, so that character (like
NUL, other control characters and lone surrogates from Python callers) is malformed.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from stores.errors import BadQuery, StoreNotFound, quoted
from stores.naming import PUBLIC_COLLECTIONS

DEFAULT_LIMIT = 50
MAX_LIMIT = 250  # Shopify's own page cap; frontends expect the same
# GIDs and webhook event keys are far shorter; anything longer is not an id we store.
MAX_ID_CHARS = 512
_MAX_LIMIT_CHARS = 10  # int() of thousands of digits is slow, then a ValueError
_MAX_SINCE_CHARS = 64
# C0 controls, DEL, lone surrogates and U+FFFD (what werkzeug makes of invalid UTF-8).
_NOT_IN_IDS = re.compile("[\x00-\x1f\x7f\ud800-\udfff\ufffd]")
# A DNS host name, as the shops collection keys them (lower case, no port).
_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_HOST_RE = re.compile(rf"(?=.{{1,253}}\Z)({_LABEL}\.)+{_LABEL}")
_TRUE, _FALSE = ("true", "1"), ("false", "0", "")


def is_id_text(value: object) -> bool:
    """Whether `value` can be a stored `_id`: a GID or webhook event key (also in cursors)."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_ID_CHARS
        # Never an operator, even where a value would be compared rather than interpreted.
        and not value.startswith("$")
        and _NOT_IN_IDS.search(value) is None
    )


def check_doc_id(doc_id: str) -> str:
    """A path id (numeric or GID) that may name a document, else BadQuery on `id`."""
    if not is_id_text(doc_id):
        raise BadQuery(f"id: {quoted(doc_id)} is not a numeric id or GID", field="id")
    return doc_id


def check_shop_domain(shop_domain: str) -> str:
    """The shop domain lower-cased, or BadQuery when it is not a host name."""
    domain = shop_domain.strip().lower()
    if not _HOST_RE.fullmatch(domain):
        raise BadQuery(
            f"shopDomain: {quoted(shop_domain)} is not a shop domain", field="shopDomain"
        )
    return domain


def check_collection(collection: str) -> str:
    """A public collection name; anything else is not found (it is never looked up)."""
    if collection not in PUBLIC_COLLECTIONS:
        raise StoreNotFound(f"no collection {quoted(collection)}", field="collection")
    return collection


def parse_limit(raw: str | None) -> int:
    """`?limit=`: an integer from 1 to MAX_LIMIT, DEFAULT_LIMIT when absent."""
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    # isascii: "²" and "٣" are digits to str.isdigit but not numbers we accept.
    if (
        len(raw) > _MAX_LIMIT_CHARS
        or not (raw.isascii() and raw.isdigit())
        or not 1 <= int(raw) <= MAX_LIMIT
    ):
        raise BadQuery(f"limit: must be an integer from 1 to {MAX_LIMIT}", field="limit")
    return int(raw)


def parse_since(raw: str | None) -> datetime | None:
    """`?updated_since=`: ISO-8601, UTC when it has no offset; None when absent."""
    if not raw:
        return None
    try:
        if len(raw) > _MAX_SINCE_CHARS:
            raise ValueError(raw)
        # A `+` left unencoded in a query string arrives as a space.
        moment = datetime.fromisoformat(raw.replace(" ", "+"))
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        # Offsets can push year 1 or 9999 out of range: fail here, not in BSON.
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise BadQuery("updated_since: not an ISO-8601 timestamp", field="updated_since") from None


def parse_include_deleted(raw: str | None) -> bool:
    """`?include_deleted=`: true/1 or false/0 (any case); absent or empty is false."""
    value = (raw or "").lower()
    if value not in _TRUE + _FALSE:
        raise BadQuery("include_deleted: must be true or false", field="include_deleted")
    return value in _TRUE
