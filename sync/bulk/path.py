"""A resource's main listing through a bulk operation, or paged, with the choice recorded.

The run's checkpoint holds the operation (`checkpoint.bulk`): its id, stage and ingest
position, so a redelivered message adopts the same operation and never starts a second
export. Stages: start → running → ingest → refetch → done, or paged (with the reason).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sync.bulk import operations
from sync.bulk.ingest import REFETCH, ingest, refetch
from sync.bulk.runtime import BulkRuntime, BulkSpec, Write, pause
from sync.errors import BulkBusy, BulkRefused
from sync.orchestration.context import SyncContext
from sync.orchestration.paging import dig, finish_phase, phase

log = logging.getLogger(__name__)
State = dict[str, Any]
MAX_RERUNS = {"EXPIRED": 3, "CANCELED": 1, "LOST": 3}
BUSY_RETRY_SECONDS = 2.0
FIRST_POLL_SECONDS = 1.0


def main_phase(ctx: SyncContext, spec: BulkSpec, write: Write, paged: Callable[[], None]) -> None:
    """The resource's main listing: bulk where chosen (see `choose`), paged otherwise or after."""
    if not phase(ctx, "main"):
        return
    if ctx.checkpoint.bulk is None and ctx.checkpoint.phase != "main":
        ctx.checkpoint.bulk = choose(ctx, spec)
    if (ctx.checkpoint.bulk or {}).get("stage", "paged") != "paged":
        _run(ctx, spec, write)
    if phase(ctx, "main"):
        ctx.facts["path"] = "paged"
        paged()


def choose(ctx: SyncContext, spec: BulkSpec) -> State:
    """Bulk for full passes and large deltas (SHOPSYNC_SYNC_PATH=auto), unless refused lately."""
    setting, runtime = ctx.settings.sync_path, ctx.bulk
    if setting == "paged" or not isinstance(runtime, BulkRuntime):
        return {"stage": "paged"}
    if setting == "auto":
        denied = runtime.denied_now(ctx.now())
        if denied is not None:
            ctx.facts["fallbackReason"] = denied
            return {"stage": "paged", "reason": denied}
        if ctx.mode == "incremental" and not _large_delta(ctx, spec):
            return {"stage": "paged"}
    return {"stage": "start"}


def _large_delta(ctx: SyncContext, spec: BulkSpec) -> bool:
    if spec.count_root is None:
        return False
    query = f"query Delta($query: String) {{ {spec.count_root}(query: $query) {{ count }} }}"
    count = dig(ctx.query(query, {"query": ctx.search_filter()}), (spec.count_root, "count"))
    return isinstance(count, int) and count >= ctx.settings.bulk_incremental_threshold


def _run(ctx: SyncContext, spec: BulkSpec, write: Write) -> None:
    ctx.facts["path"] = "bulk"
    while True:
        state: State = dict(ctx.checkpoint.bulk or {})
        stage = state.get("stage")
        if stage == "paged":
            return
        if stage == "done":
            finish_phase(ctx, "main")
            return
        if stage in ("start", "requesting"):
            state = _start(ctx, spec, state)
        elif stage == "running":
            state = _await(ctx, state)
        elif stage == "ingest":
            state = ingest(ctx, spec, write, state)
            if state["stage"] == "paged":
                state = _paged(ctx, state, str(state.get("reason")))
        elif stage == "refetch":
            refetch(ctx, spec, write)
            state = {**state, "stage": "done"}
        ctx.checkpoint.bulk = state
        ctx.save_progress()


def _start(ctx: SyncContext, spec: BulkSpec, state: State) -> State:
    """Adopt our operation if one runs already; else take a shop slot and start one."""
    runtime: BulkRuntime = ctx.bulk
    query = spec.query(ctx.search_filter())
    adopted = _adopt(ctx, query, state)
    if adopted is not None:
        return _started(ctx, state, adopted)
    while not runtime.take_slot(ctx.store.shop_domain, ctx.run_id):
        pause(ctx, BUSY_RETRY_SECONDS)
    # Recorded first: a crash after Shopify accepted finds and adopts the operation.
    ctx.checkpoint.bulk = {**state, "stage": "requesting", "requestedAt": ctx.now().isoformat()}
    ctx.save_progress()
    while True:
        try:
            return _started(ctx, state, operations.start(ctx, query))
        except BulkBusy:
            # Another app instance or a stray of ours holds Shopify's slots: wait, never fail.
            pause(ctx, BUSY_RETRY_SECONDS)
        except BulkRefused as refused:
            runtime.free_slot()
            return _paged(ctx, state, refused.message)


def _started(ctx: SyncContext, state: State, operation: operations.Operation) -> State:
    ctx.facts.update(bulkOperationId=operation.id, bulkStatus=operation.status, objectCount=0)
    started = {key: value for key, value in state.items() if key != "requestedAt"}
    return {**started, "stage": "running", "id": operation.id}


def _normal(query: str | None) -> str:
    return re.sub(r"\s+", " ", query or "").strip()


def _adopt(ctx: SyncContext, query: str, state: State) -> operations.Operation | None:
    """A running operation with our exact query (a dead delivery's or a dead job's), if any.

    After a crash between starting and recording one, a finished one counts too.
    """
    wanted = _normal(query)
    found = operations.find(ctx, "status:RUNNING") + operations.find(ctx, "status:CREATED")
    if state.get("stage") == "requesting":
        found += operations.find(ctx, "status:COMPLETED")
    for operation in found:
        if _normal(operation.query) == wanted:
            log.info("%s %s: adopting bulk operation %s", ctx.store.client_key, ctx.resource,
                     operation.id)  # fmt: skip
            return operation
    return None


def _await(ctx: SyncContext, state: State) -> State:
    """Poll with growing intervals until the operation ends (the finish webhook wakes us)."""
    runtime: BulkRuntime = ctx.bulk
    interval = FIRST_POLL_SECONDS
    runtime.held = (ctx.store.shop_domain, ctx.run_id)  # adopted after a redelivery: ours
    while True:
        operation = operations.status(ctx, state["id"])
        if operation is None:
            return _rerun(ctx, state, "LOST", "the bulk operation vanished")
        ctx.facts.update(bulkStatus=operation.status, objectCount=operation.object_count)
        if operation.finished:
            runtime.free_slot()
            return _after(ctx, state, operation)
        runtime.keep_slot()
        ctx.save_progress()
        pause(ctx, interval, lambda: runtime.coordinator.bulk_woken(state["id"]))
        interval = min(interval * 2, ctx.settings.bulk_poll_max_seconds)


def _after(ctx: SyncContext, state: State, operation: operations.Operation) -> State:
    """What follows an operation's end: ingest, a rerun, or the paged path (and why)."""
    code = operation.error_code
    if operation.status == "COMPLETED":
        if ctx.bulk.denied:
            ctx.bulk.note_client({"bulkFallback": None})  # bulk works again for this shop
        if not operation.url:
            return {**state, "stage": "refetch"}  # nothing matched
        return {**state, "stage": "ingest", "url": operation.url, "offset": 0, "lines": 0}
    if operation.status == "FAILED" and code == "ACCESS_DENIED":
        return _deny(ctx, state)
    if operation.status == "FAILED":
        reason = f"bulk operation failed ({code or 'no error code'})"
        if operation.partial_data_url:
            return {**state, "stage": "ingest", "url": operation.partial_data_url, "offset": 0,
                    "lines": 0, "then": "paged",
                    "reason": f"{reason}: partial data ingested, the rest paged"}  # fmt: skip
        return _paged(ctx, state, reason)
    reason = "expired" if operation.status == "EXPIRED" else "canceled by someone else"
    return _rerun(ctx, state, operation.status, f"bulk operation {reason}")


def _rerun(ctx: SyncContext, state: State, why: str, reason: str) -> State:
    reruns = int(state.get("reruns", 0)) + 1
    if reruns > MAX_RERUNS.get(why, 1):
        return _paged(ctx, state, f"{reason} {reruns - 1} time(s)")
    log.info("%s %s: %s; starting it again", ctx.store.client_key, ctx.resource, reason)
    return {"stage": "start", "reruns": reruns}


def _deny(ctx: SyncContext, state: State) -> State:
    """ACCESS_DENIED: this shop goes paged until the retry time (Partner Dashboard switch)."""
    now = ctx.now()
    reason = "bulk operations ACCESS_DENIED (Partner Dashboard apps must switch bulk queries on)"
    retry_at = now + timedelta(seconds=ctx.settings.bulk_retry_after_denied_seconds)
    ctx.bulk.note_client(
        {"bulkFallback": {"fallbackReason": reason, "since": now, "retryAt": retry_at}}
    )
    return _paged(ctx, state, reason)


def _paged(ctx: SyncContext, state: State, reason: str) -> State:
    log.warning("%s %s: paged instead of bulk: %s", ctx.store.client_key, ctx.resource, reason)
    ctx.facts["fallbackReason"] = reason
    ctx.collection(REFETCH).delete_many({"run": ctx.run_id})
    return {"stage": "paged", "reason": reason, "reruns": state.get("reruns", 0)}
