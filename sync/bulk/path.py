"""A resource's main listing through a bulk operation, or paged, with the choice recorded.

The run's checkpoint holds the operation (`checkpoint.bulk`): its id, stage and ingest
position (never its URL: a signed link to the whole export), so a redelivered message adopts
the same operation and never starts a second export. Stages: start → requesting → running →
ingest → refetch → done, or paged (with the reason).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from config_db import metrics
from sync.bulk import operations
from sync.bulk.ingest import REFETCH, ingest, refetch
from sync.bulk.runtime import BulkRuntime, BulkSpec, Write, pause
from sync.errors import BulkBusy, BulkRefused, ShopifyAccessDenied, ShopifyError, ShopifyQueryError
from sync.orchestration.context import SyncContext
from sync.orchestration.paging import finish_phase, phase
from sync.orchestration.progress import note_expected

log = logging.getLogger(__name__)
State = dict[str, Any]
MAX_RERUNS = {"EXPIRED": 3, "CANCELED": 1, "LOST": 3}
BUSY_RETRY_SECONDS = 2.0
ADOPT_EVERY = 8  # busy retries between looks for an operation of ours Shopify runs anyway
FIRST_POLL_SECONDS = 1.0
MAX_GONE = 3  # export URLs that vanished in a row before the operation is run again
FIRST_BULK_VERSION = "2026-01"  # bulkOperation(id:) and bulkOperations(query:)
COUNTED = ("seen", "upserted", "skipped", "refetched")


def main_phase(ctx: SyncContext, spec: BulkSpec, write: Write, paged: Callable[[], None]) -> None:
    """The resource's main listing: bulk where chosen (see `choose`), paged otherwise or after."""
    if not phase(ctx, "main"):
        return
    if ctx.checkpoint.bulk is None and ctx.checkpoint.phase != "main":
        note_expected(ctx, spec.count_root)  # once per run: the job keeps it
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
    if ctx.settings.shopify_api_version < FIRST_BULK_VERSION:
        # Without bulkOperation(id:) an operation could not be followed or adopted.
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
    """The delta counted on the run's `updated_at` filter (the run's `expected`)."""
    count = note_expected(ctx, spec.count_root)
    return count is not None and count >= ctx.settings.bulk_incremental_threshold


def _run(ctx: SyncContext, spec: BulkSpec, write: Write) -> None:
    ctx.facts["path"] = "bulk"
    while True:
        ctx.check_deadline()
        state: State = dict(ctx.checkpoint.bulk or {})
        stage = state.get("stage")
        if stage == "paged":
            return
        if stage == "done":
            finish_phase(ctx, "main")
            return
        try:
            state = _step(ctx, spec, write, state)
        except ShopifyAccessDenied:
            state = _deny(ctx, state)  # the bulk API itself refused (Partner Dashboard switch)
        except ShopifyQueryError as error:
            state = _paged(ctx, state, f"bulk operations unavailable: {error.message}")
        ctx.checkpoint.bulk = state
        ctx.save_progress()


def _step(ctx: SyncContext, spec: BulkSpec, write: Write, state: State) -> State:
    stage = state["stage"]
    if stage in ("start", "requesting"):
        return _start(ctx, spec, state)
    if stage == "running":
        if int(state.get("gone", 0)) > MAX_GONE:
            return _rerun(ctx, state, "LOST", "the export's URL kept failing")
        return _await(ctx, state)
    if stage == "ingest":
        url = _export_url(ctx, state)
        if url is None:
            return _rerun(ctx, state, "LOST", "the bulk operation's export is gone")
        state = ingest(ctx, spec, write, state, url)
        return _paged(ctx, state, str(state.get("reason"))) if state["stage"] == "paged" else state
    refetch(ctx, spec, write)
    return {**state, "stage": "done"}


def _export_url(ctx: SyncContext, state: State) -> str | None:
    """The operation's (fresh) result URL: read each time, never kept in the checkpoint."""
    operation = operations.status(ctx, state["id"])
    if operation is None:
        return None
    return operation.partial_data_url if state.get("partial") else operation.url


def _start(ctx: SyncContext, spec: BulkSpec, state: State) -> State:
    """Adopt our operation if Shopify runs it already; else take a shop slot and start one."""
    runtime: BulkRuntime = ctx.bulk
    query = spec.query(ctx.search_filter())
    adopted = _adopt(ctx, query, state)
    if adopted is not None:
        return _started(ctx, state, adopted)
    while not runtime.take_slot(ctx.store.shop_domain, ctx.run_id):
        pause(ctx, BUSY_RETRY_SECONDS)
    if state.get("stage") != "requesting":
        # Recorded first: a crash after Shopify accepted finds and adopts the operation.
        state = {**state, "stage": "requesting", "requestedAt": ctx.now().isoformat()}
        ctx.checkpoint.bulk = state
        ctx.save_progress()
    for attempt in range(1, 10**6):
        try:
            return _started(ctx, state, operations.start(ctx, query))
        except BulkBusy:
            pass  # another deployment, or an export of ours whose answer was lost: wait
        except BulkRefused as refused:
            runtime.free_slot()
            return _paged(ctx, state, refused.message)
        except ShopifyError as error:
            if isinstance(error, ShopifyQueryError):
                raise
            log.warning("%s %s: starting the export failed: %s", ctx.store.client_key,
                        ctx.resource, error.message)  # fmt: skip
        pause(ctx, BUSY_RETRY_SECONDS)
        if attempt % ADOPT_EVERY == 1:
            found = _adopt(ctx, query, state)
            if found is not None:
                return _started(ctx, state, found)
    raise AssertionError("unreachable")


def _started(ctx: SyncContext, state: State, operation: operations.Operation) -> State:
    ctx.facts.update(bulkOperationId=operation.id, bulkStatus=operation.status, objectCount=0)
    kept = {key: value for key, value in state.items() if key in ("reruns",)}
    return {**kept, "stage": "running", "id": operation.id}


def _normal(query: str | None) -> str:
    return re.sub(r"\s+", " ", query or "").strip()


def _created(operation: operations.Operation) -> datetime | None:
    try:
        return datetime.fromisoformat(str(operation.created_at))
    except ValueError:
        return None


def _adopt(ctx: SyncContext, query: str, state: State) -> operations.Operation | None:
    """An operation of this run that Shopify has (a dead delivery's, or one whose answer was
    lost): our exact query, created after this run (or its request) began.

    Never an older one: an export taken before the run started could miss objects written
    since, which the sweep would then tombstone. An older one still running (a dead job's)
    holds one of Shopify's five slots for nothing: it is cancelled. Other queries are left be.
    """
    floor = ctx.run_started
    if state.get("requestedAt"):
        floor = max(floor, datetime.fromisoformat(state["requestedAt"]) - timedelta(seconds=2))
    wanted = _normal(query)
    found = operations.find(ctx, "status:RUNNING") + operations.find(ctx, "status:CREATED")
    if state.get("stage") == "requesting":  # it may have finished while we were down
        since = f"created_at:>='{floor.strftime('%Y-%m-%dT%H:%M:%SZ')}'"
        found += operations.find(ctx, f"status:COMPLETED {since}")
    ours = [op for op in found if _normal(op.query) == wanted and _created(op) is not None]
    for operation in ours:
        if operation.status in operations.RUNNING and _created(operation) < floor:  # type: ignore[operator]
            log.warning("%s %s: cancelling stray bulk operation %s", ctx.store.client_key,
                        ctx.resource, operation.id)  # fmt: skip
            operations.cancel(ctx, operation.id)
    for operation in ours:
        if _created(operation) >= floor:  # type: ignore[operator]
            log.info("%s %s: adopting bulk operation %s", ctx.store.client_key,
                     ctx.resource, operation.id)  # fmt: skip
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
            runtime.free_slot()
            metrics.BULK_OPERATIONS.labels(ctx.store.client_key, "lost").inc()
            return _rerun(ctx, state, "LOST", "the bulk operation vanished")
        ctx.facts.update(bulkStatus=operation.status, objectCount=operation.object_count)
        if operation.finished:
            runtime.free_slot()
            metrics.BULK_OPERATIONS.labels(ctx.store.client_key, operation.status.lower()).inc()
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
        # The export's top-level objects are exactly what this run will see.
        ctx.facts["expected"] = operation.root_object_count
        if operation.url:
            return _ingest_from(state, operation, partial=False)
        if operation.object_count == 0:
            return {**state, "stage": "refetch"}  # nothing matched
        return _rerun(ctx, state, "LOST", "the completed export has no URL")
    if operation.status == "FAILED" and code == "ACCESS_DENIED":
        return _deny(ctx, state)
    if operation.status == "FAILED":
        reason = f"bulk operation failed ({code or 'no error code'})"
        if operation.partial_data_url:
            return {**_ingest_from(state, operation, partial=True), "then": "paged",
                    "reason": f"{reason}: partial data ingested, the rest paged"}  # fmt: skip
        return _paged(ctx, state, reason)
    reason = "expired" if operation.status == "EXPIRED" else "canceled by someone else"
    return _rerun(ctx, state, operation.status, f"bulk operation {reason}")


def _ingest_from(state: State, operation: operations.Operation, *, partial: bool) -> State:
    """Ingest this operation's file; a URL re-read for the same operation keeps its place."""
    same = state.get("ingestOf") == operation.id
    return {**state, "stage": "ingest", "partial": partial, "ingestOf": operation.id,
            "offset": state.get("offset", 0) if same else 0,
            "lines": state.get("lines", 0) if same else 0}  # fmt: skip


def _rerun(ctx: SyncContext, state: State, why: str, reason: str) -> State:
    reruns = int(state.get("reruns", 0)) + 1
    if reruns > MAX_RERUNS.get(why, 1):
        return _paged(ctx, state, f"{reason} {reruns - 1} time(s)")
    log.info("%s %s: %s; starting it again", ctx.store.client_key, ctx.resource, reason)
    _forget_counts(ctx, state)
    return {"stage": "start", "reruns": reruns}


def _deny(ctx: SyncContext, state: State) -> State:
    """ACCESS_DENIED: this shop goes paged until the retry time (Partner Dashboard switch)."""
    now = ctx.now()
    reason = "bulk operations ACCESS_DENIED (Partner Dashboard apps must switch bulk queries on)"
    retry_at = now + timedelta(seconds=ctx.settings.bulk_retry_after_denied_seconds)
    ctx.bulk.note_client(
        {"bulkFallback": {"fallbackReason": reason, "since": now, "retryAt": retry_at}}
    )
    ctx.bulk.free_slot()
    return _paged(ctx, state, reason)


def _paged(ctx: SyncContext, state: State, reason: str) -> State:
    log.warning("%s %s: paged instead of bulk: %s", ctx.store.client_key, ctx.resource, reason)
    ctx.facts["fallbackReason"] = reason
    ctx.collection(REFETCH).delete_many({"run": ctx.run_id})
    _forget_counts(ctx, state)
    return {"stage": "paged", "reason": reason, "reruns": state.get("reruns", 0)}


def _forget_counts(ctx: SyncContext, state: State) -> None:
    """An export read (in part) and then read again, or followed by pages, would count its
    objects twice (what this run wrote counts as its upserts once more): start again."""
    if state.get("lines"):
        for name in COUNTED:
            ctx.totals[name] = 0
            ctx.counts.pop(name, None)
