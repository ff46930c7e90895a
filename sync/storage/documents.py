"""Turning GraphQL nodes into store documents: timestamps, safe keys, content hashes."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from config_db.mongo import MongoDocument

# GraphQL DateTime fields stored as BSON dates so range queries compare correctly.
TIMESTAMP_FIELDS = frozenset(
    {
        "createdAt",
        "updatedAt",
        "publishedAt",
        "startsAt",
        "endsAt",
        "occurredAt",
        "deletedAt",
        "processedAt",
    }
)
# MongoDB field names must not contain "." or start with "$", and BSON keys cannot hold NUL
# or (usefully) be empty; parsed theme JSON and webhook payloads may. Each such character
# becomes a look-alike that MongoDB accepts: "." -> U+FF0E, a leading "$" -> U+FF04,
# NUL -> U+2400 (SYMBOL FOR NULL), and an empty key -> U+FF3F (FULLWIDTH LOW LINE).
_DOT, _DOLLAR, _NUL, _EMPTY = "\uff0e", "\uff04", "\u2400", "\uff3f"


def parse_datetime(value: str) -> datetime:
    """Shopify's ISO-8601 DateTime ("2026-01-01T00:00:00Z") as an aware UTC datetime."""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def convert_timestamps(value: Any) -> Any:
    """Recursively turn DateTime strings under the timestamp field names into datetimes."""
    if isinstance(value, dict):
        return {
            key: (
                parse_datetime(item)
                if key in TIMESTAMP_FIELDS and isinstance(item, str)
                else convert_timestamps(item)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [convert_timestamps(item) for item in value]
    return value


def safe_key(key: str) -> str:
    """A key MongoDB accepts: ".", a leading "$", NUL and "" become look-alikes (see above)."""
    if not key:
        return _EMPTY
    key = key.replace(".", _DOT).replace("\0", _NUL)
    return _DOLLAR + key[1:] if key.startswith("$") else key


def safe_keys(value: Any) -> Any:
    """Recursively make every dict key of parsed JSON safe for MongoDB."""
    if isinstance(value, dict):
        return {safe_key(str(key)): safe_keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [safe_keys(item) for item in value]
    return value


def unwrap_connections(node: Any) -> Any:
    """Replace `{nodes: [...], pageInfo}` / `{edges: [{node}]}` with plain arrays of nodes."""
    if isinstance(node, list):
        return [unwrap_connections(item) for item in node]
    if not isinstance(node, dict):
        return node
    if "nodes" in node and set(node) <= {"nodes", "pageInfo"}:
        return [unwrap_connections(item) for item in node["nodes"]]
    if "edges" in node and set(node) <= {"edges", "pageInfo"}:
        return [unwrap_connections(edge.get("node")) for edge in node["edges"]]
    return {key: unwrap_connections(item) for key, item in node.items()}


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def content_hash(document: MongoDocument) -> str:
    """A stable hash of a document's synced content (our bookkeeping fields excluded)."""
    content = {k: v for k, v in document.items() if not k.startswith("_") or k == "_id"}
    encoded = json.dumps(content, sort_keys=True, default=_default, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()


def numeric_id(gid: str) -> str:
    """The number at the end of a GID."""
    return gid.rsplit("/", 1)[-1]
