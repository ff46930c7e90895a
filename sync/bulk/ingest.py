"""Reading a finished export into the store: streamed, assembled, written in batches.

Memory stays flat: one chunk, one line and the assembler's bounded window are held at a time;
parents whose children missed the window are noted in `_bulkrefetch` and fetched again by id.
Every `CLEAN_LINES` lines (and when the slice ends) everything read so far is written and the
byte offset saved, so a later delivery goes on from there; a crash in between re-reads from the
last saved offset, and the writes are idempotent.
"""

from __future__ import annotations

import json
import time
from typing import Any

from pymongo import UpdateOne

from sync.bulk import operations
from sync.bulk.assembly import Assembler, Node
from sync.bulk.runtime import BulkRuntime, BulkSpec, Write
from sync.errors import BulkExportGone
from sync.orchestration.context import SliceExpired, SyncContext
from sync.orchestration.paging import dig

REFETCH = "_bulkrefetch"
CLEAN_LINES = 20_000
TIME_CHECK_LINES = 500
REFETCH_BATCH = 25
COUNTED = ("seen", "upserted", "skipped")


def ingest(
    ctx: SyncContext, spec: BulkSpec, write: Write, state: dict[str, Any], url: str
) -> dict[str, Any]:
    """Read the export from the saved offset to its end; answer the next stage."""
    runtime: BulkRuntime = ctx.bulk
    assembler = Assembler(spec.place)
    offset, lines, since_clean = int(state.get("offset", 0)), int(state.get("lines", 0)), 0
    try:
        for raw, end in operations.stream_lines(runtime.http, url, offset):
            lines, since_clean, offset = lines + 1, since_clean + 1, end
            ready = assembler.add(json.loads(raw))
            if ready:
                _write_whole(ctx, spec, write, ready)
            if since_clean >= CLEAN_LINES or (
                since_clean % TIME_CHECK_LINES == 0 and _out_of_time(ctx)
            ):
                state = _clean_point(ctx, spec, assembler, write, state, offset, lines)
                since_clean = 0
                ctx.check_deadline()
    except BulkExportGone:
        state = _clean_point(ctx, spec, assembler, write, state, offset, lines)
        return {**state, "stage": "running", "gone": int(state.get("gone", 0)) + 1}
    state = _clean_point(ctx, spec, assembler, write, state, offset, lines)
    return {**state, "stage": state.get("then", "refetch"), "gone": 0}


def _write_whole(ctx: SyncContext, spec: BulkSpec, write: Write, nodes: list[Node]) -> None:
    """Write the parents whose nested lists are complete; note the others to fetch by id.

    A parent written with part of its children would unlink (and tombstone) the rest of its
    media until the fetch by id; never written, it is simply written whole later.
    """
    whole = [node for node in nodes if spec.complete(node)]
    if whole:
        write(whole)
    remember(ctx, {str(node["id"]) for node in nodes if not spec.complete(node)}, counted=True)


def _out_of_time(ctx: SyncContext) -> bool:
    return time.monotonic() > ctx.deadline or ctx.stopping()


def _clean_point(
    ctx: SyncContext,
    spec: BulkSpec,
    assembler: Assembler,
    write: Write,
    state: dict[str, Any],
    offset: int,
    lines: int,
) -> dict[str, Any]:
    """Write every open parent, note the parents to fetch again, save the position."""
    nodes, again = assembler.drain()
    if nodes:
        _write_whole(ctx, spec, write, nodes)
    remember(ctx, again, counted=False)
    state = {**state, "offset": offset, "lines": lines}
    ctx.facts.update(bytesDownloaded=offset, linesIngested=lines)
    ctx.checkpoint.bulk = state
    ctx.save_progress()
    return state


def remember(ctx: SyncContext, parent_ids: set[str], *, counted: bool) -> None:
    """Note parents to fetch again by id (one document per run and parent).

    `counted`: the parent was not written yet, so its fetch counts it as seen.
    """
    if not parent_ids:
        return
    ctx.collection(REFETCH).bulk_write(
        [
            UpdateOne(
                {"_id": f"{ctx.run_id}:{parent}"},
                {"$set": {"run": ctx.run_id, "parentId": parent}, "$max": {"counted": counted}},
                upsert=True,
            )
            for parent in sorted(parent_ids)
        ],
        ordered=False,
    )


def refetch(ctx: SyncContext, spec: BulkSpec, write: Write) -> None:
    """Fetch the noted parents by id and write them whole."""
    noted = ctx.collection(REFETCH)
    if spec.refetch_query is None:
        noted.delete_many({"run": ctx.run_id})
        return
    while batch := list(noted.find({"run": ctx.run_id}).sort("_id", 1).limit(REFETCH_BATCH)):
        fetched: dict[bool, list[Node]] = {True: [], False: []}
        for entry in batch:
            node = dig(ctx.query(spec.refetch_query, {"id": entry["parentId"]}), spec.refetch_path)
            if isinstance(node, dict):
                # None: deleted since the export; unwritten, the sweep or deletions decide
                fetched[bool(entry.get("counted"))].append(node)
        if fetched[True]:
            write(fetched[True])
        _uncounted(ctx, write, fetched[False])
        noted.delete_many({"_id": {"$in": [entry["_id"] for entry in batch]}})
        ctx.save_progress()
        if _out_of_time(ctx):
            raise SliceExpired()


def _uncounted(ctx: SyncContext, write: Write, nodes: list[Node]) -> None:
    """Write again parents already counted, without counting them twice."""
    before = {name: ctx.counts.get(name, 0) for name in COUNTED}
    if nodes:
        write(nodes)
    ctx.counts.update(before)
    ctx.count(refetched=len(nodes))
