"""What a resource's bulk path needs beyond a page query, and what it is told per resource."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from sync.auth.tokens import as_utc
from sync.bulk.assembly import Node, Placement
from sync.orchestration.context import SliceExpired, SyncContext
from sync.orchestration.coordination import Coordinator

# How a resource writes a batch of nodes: the same function its paged path calls per page.
Write = Callable[[list[Node]], None]
WAIT_STEP_SECONDS = 0.5
# The job record's facts about a resource's run (interface.md "Sync jobs"): set, not summed.
FACTS = (
    "path", "bulkOperationId", "bulkStatus", "objectCount", "bytesDownloaded", "linesIngested",
    "fallbackReason", "expected",
)  # fmt: skip


def has_all(node: Node, connection: tuple[str, ...], count: tuple[str, ...]) -> bool:
    """The assembled `connection` holds at least as many nodes as the selected `count` says
    (`productsCount` stops at 10,000 on Shopify: "at least" is the safe reading)."""
    holder: Any = node
    for key in connection:
        holder = holder.get(key) if isinstance(holder, dict) else None
    total: Any = node
    for key in count:
        total = total.get(key) if isinstance(total, dict) else None
    have = len(holder.get("nodes", [])) if isinstance(holder, dict) else 0
    return not isinstance(total, int) or have >= total


@dataclass(frozen=True)
class BulkSpec:
    """One resource's export: its root connection, the node's fields, where children go."""

    root: str
    # The node selection with nested connections as `name { edges { node { … } } }`.
    fields: str
    place: Placement = lambda _line: ("children",)
    # `query($id: ID!)` for one node, and the path to it: parents whose children missed them.
    refetch_query: str | None = None
    refetch_path: tuple[str, ...] = ()
    # `productsCount`-style root field: sizes an incremental delta (None: always paged).
    count_root: str | None = None
    # Whether an assembled node holds all its children (from the counts it selects).
    complete: Callable[[Node], bool] = lambda _node: True

    def query(self, search: str | None) -> str:
        """The bulk query text; a search filter goes in as a GraphQL string literal."""
        arguments = f"(query: {json.dumps(search)})" if search else ""
        return f"{{ {self.root}{arguments} {{ edges {{ node {{ {self.fields} }} }} }} }}"


@dataclass
class BulkRuntime:
    """The shared HTTP client, Redis slots and wake-ups, and the client's bulk standing."""

    http: httpx.Client
    coordinator: Coordinator
    slots: int
    # The client's `bulkFallback` ({fallbackReason, since, retryAt}) when Shopify refused bulk.
    denied: dict[str, Any] | None
    note_client: Callable[[dict[str, Any]], None]
    sleep: Callable[[float], None] = time.sleep
    # The shop slot this run holds while its operation runs, refreshed with the leases.
    held: tuple[str, str] | None = None

    def take_slot(self, shop_domain: str, holder: str) -> bool:
        taken = self.coordinator.take_bulk_slot(shop_domain, holder, self.slots)
        if taken:
            self.held = (shop_domain, holder)
        return taken

    def free_slot(self) -> None:
        if self.held is not None:
            self.coordinator.free_bulk_slot(*self.held)
            self.held = None

    def keep_slot(self) -> None:
        if self.held is not None:
            self.coordinator.take_bulk_slot(*self.held, self.slots)

    def denied_now(self, now: datetime) -> str | None:
        """The reason this shop goes paged for now, or None."""
        if not self.denied:
            return None
        retry_at = self.denied.get("retryAt")
        if isinstance(retry_at, datetime) and as_utc(retry_at) <= now:
            return None
        return str(self.denied.get("fallbackReason") or "bulk operations refused")


def pause(ctx: SyncContext, seconds: float, woken: Callable[[], bool] | None = None) -> None:
    """Wait up to `seconds` with the leases kept; end early when `woken`; stop at the deadline."""
    runtime: BulkRuntime = ctx.bulk
    end = time.monotonic() + seconds
    beat = time.monotonic()
    while time.monotonic() < end:
        if woken is not None and woken():
            return
        if time.monotonic() > ctx.deadline or ctx.stopping():
            raise SliceExpired()
        runtime.sleep(min(WAIT_STEP_SECONDS, max(end - time.monotonic(), 0.0)))
        if time.monotonic() - beat >= 1.0:
            ctx.heartbeat()
            runtime.keep_slot()
            beat = time.monotonic()
