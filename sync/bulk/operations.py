"""Shopify's bulk operations: start, read, find and cancel them; stream their JSONL.

Facts: reference "Bulk operations" and "2025–2026 changes" (`bulkOperation(id:)` and
`bulkOperations(query:)` from 2026-01; `groupObjects` false; 5 at once per shop).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from config_db import metrics
from sync.errors import BulkBusy, BulkExportGone, BulkRefused, ShopifyUnavailable
from sync.orchestration.context import SyncContext

MUTATION_COST = 10  # Shopify charges every mutation 10 points
STATUS_COST = 1
TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELED", "EXPIRED"})
RUNNING = frozenset({"CREATED", "RUNNING", "CANCELING"})
_FIELDS = (
    "id status errorCode objectCount rootObjectCount fileSize url partialDataUrl createdAt "
    "completedAt query"
)
RUN_MUTATION = """
mutation BulkRun($query: String!) {
  bulkOperationRunQuery(query: $query, groupObjects: false) {
    bulkOperation { id status }
    userErrors { field message code }
  }
}
"""
STATUS_QUERY = f"query BulkStatus($id: ID!) {{ bulkOperation(id: $id) {{ {_FIELDS} }} }}"
FIND_QUERY = f"""
query BulkFind($query: String) {{
  bulkOperations(first: 25, query: $query, sortKey: CREATED_AT, reverse: true) {{
    nodes {{ {_FIELDS} }}
  }}
}}
"""
CANCEL_MUTATION = """
mutation BulkCancel($id: ID!) {
  bulkOperationCancel(id: $id) { bulkOperation { id status } userErrors { field message } }
}
"""
READ_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Operation:
    """What `bulkOperation(id:)` tells (UnsignedInt64 counts arrive as strings)."""

    id: str
    status: str
    error_code: str | None = None
    object_count: int = 0
    # Top-level objects only (products, not their variants): the documents the run will see.
    root_object_count: int = 0
    url: str | None = None
    partial_data_url: str | None = None
    query: str | None = None
    created_at: str | None = None

    @classmethod
    def parse(cls, node: dict[str, Any]) -> Operation:
        return cls(
            id=str(node["id"]),
            status=str(node.get("status") or ""),
            error_code=node.get("errorCode"),
            object_count=int(node.get("objectCount") or 0),
            root_object_count=int(node.get("rootObjectCount") or 0),
            url=node.get("url"),
            partial_data_url=node.get("partialDataUrl"),
            query=node.get("query"),
            created_at=node.get("createdAt"),
        )

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL


def start(ctx: SyncContext, query: str) -> Operation:
    """Start a bulk query; BulkBusy when the shop already runs Shopify's maximum.

    Sent once: after a lost answer Shopify may have started it, so the caller looks for it
    (`find`) before asking again.
    """
    data = ctx.query(RUN_MUTATION, {"query": query}, cost=MUTATION_COST, attempts=1)
    payload = data.get("bulkOperationRunQuery") or {}
    errors = payload.get("userErrors") or []
    if errors:
        text = "; ".join(str(error.get("message")) for error in errors)[:300]
        codes = {error.get("code") for error in errors}
        if "OPERATION_IN_PROGRESS" in codes or "already in progress" in text:
            raise BulkBusy(f"{ctx.store.shop_domain}: {text}")
        raise BulkRefused(f"{ctx.store.shop_domain}: bulk query refused: {text}")
    operation = payload.get("bulkOperation")
    if not isinstance(operation, dict) or not operation.get("id"):
        raise BulkRefused(f"{ctx.store.shop_domain}: bulk query answered without an operation")
    metrics.BULK_OPERATIONS.labels(ctx.store.client_key, "created").inc()
    return Operation.parse(operation)


def status(ctx: SyncContext, operation_id: str) -> Operation | None:
    """The operation as Shopify sees it now (None: Shopify does not know it)."""
    node = ctx.query(STATUS_QUERY, {"id": operation_id}, cost=STATUS_COST).get("bulkOperation")
    return Operation.parse(node) if isinstance(node, dict) else None


def find(ctx: SyncContext, search: str) -> list[Operation]:
    """Operations matching a `bulkOperations(query:)` filter (e.g. `status:RUNNING`)."""
    data = ctx.query(FIND_QUERY, {"query": search}, cost=STATUS_COST + 25)
    nodes = (data.get("bulkOperations") or {}).get("nodes") or []
    return [Operation.parse(node) for node in nodes if isinstance(node, dict)]


def cancel(ctx: SyncContext, operation_id: str) -> None:
    ctx.query(CANCEL_MUTATION, {"id": operation_id}, cost=MUTATION_COST)


def stream_lines(http: httpx.Client, url: str, offset: int = 0) -> Iterator[tuple[bytes, int]]:
    """Each JSONL line of the export from byte `offset` on, with the offset after it.

    Streams through the shared client: only one chunk and one line are held at a time. A
    server that ignores `Range` gets the skipped bytes read and dropped.
    """
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        with http.stream("GET", url, headers=headers) as answer:
            if answer.status_code in (401, 403, 404, 410):
                raise BulkExportGone(f"bulk export answered HTTP {answer.status_code}")
            if answer.status_code == 416:
                return  # nothing after `offset`
            if answer.status_code not in (200, 206):
                raise ShopifyUnavailable(f"bulk export answered HTTP {answer.status_code}")
            skip = offset if (offset and answer.status_code == 200) else 0
            yield from _split(answer.iter_bytes(READ_CHUNK), offset, skip)
    except (httpx.TimeoutException, httpx.TransportError) as error:
        raise ShopifyUnavailable(f"bulk export download failed: {type(error).__name__}") from None


def _split(chunks: Iterator[bytes], offset: int, skip: int) -> Iterator[tuple[bytes, int]]:
    position, rest = offset, b""
    for chunk in chunks:
        if skip:
            dropped = min(skip, len(chunk))
            chunk, skip = chunk[dropped:], skip - dropped
        rest += chunk
        start = 0
        while (end := rest.find(b"\n", start)) >= 0:
            position += end + 1 - start
            if end > start:
                yield rest[start:end], position
            start = end + 1
        rest = rest[start:]
    if rest.strip():
        yield rest, position + len(rest)
