"""Paging through Shopify connections with checkpoints, and fetching nested overflow."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from config_db.logs import carry_log_context
from sync.orchestration.context import SyncContext


def dig(data: Any, path: tuple[str, ...]) -> Any:
    """data[path[0]][path[1]]..., or None where a level is missing."""
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def phase(ctx: SyncContext, name: str) -> bool:
    """True when phase `name` still has to run (it is not recorded as done)."""
    return name not in ctx.checkpoint.done


def finish_phase(ctx: SyncContext, name: str) -> None:
    ctx.checkpoint.done.append(name)
    ctx.checkpoint.phase, ctx.checkpoint.cursor = None, None
    ctx.save_progress()


def pages(
    ctx: SyncContext,
    name: str,
    query: str,
    path: tuple[str, ...],
    variables: dict[str, Any] | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """Yield each page's nodes; the checkpoint advances only after the caller has written them.

    The next page is fetched on another thread while the caller writes this one, so
    Shopify's bucket keeps draining while MongoDB works. Resumes from the stored cursor of
    this phase; raises SliceExpired between pages when the message has used its time, and
    does nothing for a phase already done.
    """
    if not phase(ctx, name):
        return
    base = dict(variables or {})

    @carry_log_context  # its lines (retries, throttle waits) name the store and the run
    def fetch(after: str | None) -> Any:
        first = ctx.page_first(query, {**base, "after": after})
        return dig(ctx.query_page(query, {**base, "first": first, "after": after}), path)

    with ThreadPoolExecutor(1, thread_name_prefix="prefetch") as prefetcher:
        upcoming = prefetcher.submit(
            fetch, ctx.checkpoint.cursor if ctx.checkpoint.phase == name else None
        )
        while (connection := upcoming.result()) is not None:
            info = connection.get("pageInfo") or {}
            cursor = info.get("endCursor") if info.get("hasNextPage") else None
            if cursor is not None:
                upcoming = prefetcher.submit(fetch, cursor)
            ctx.active_check()
            yield connection.get("nodes") or []
            ctx.checkpoint.phase, ctx.checkpoint.cursor = name, cursor
            ctx.save_progress(pages=1)
            if cursor is None:
                break
            ctx.check_deadline()
    finish_phase(ctx, name)


def rest_of(
    ctx: SyncContext,
    connection: dict[str, Any] | None,
    query: str,
    path: tuple[str, ...],
    owner_id: str,
) -> list[dict[str, Any]]:
    """All nodes of a nested connection: the first page given, the rest fetched by owner id."""
    if connection is None:
        return []
    nodes = list(connection.get("nodes") or [])
    info = connection.get("pageInfo") or {}
    while info.get("hasNextPage"):
        variables = {"id": owner_id, "after": info.get("endCursor")}
        first = ctx.page_first(query, variables)
        more = dig(ctx.query_page(query, {**variables, "first": first}), path)
        if more is None:
            break
        nodes.extend(more.get("nodes") or [])
        info = more.get("pageInfo") or {}
        ctx.heartbeat()  # huge nested lists take many pages: keep the leases alive
    return nodes
