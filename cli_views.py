"""What the `shopsync` command prints: rich tables, plain where there is no terminal."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from config_db.mongo import MongoDocument
from sync.overview import StoreSummary

# Without a terminal (a pipe, a log file) rich assumes 80 columns; tables need more.
PLAIN_WIDTH = 160
SHORT_NAMES = {"themedatas": "themes"}
ERROR_WIDTH = 40
ERROR_MIN_WIDTH = 16
WRAPPED = frozenset({"error", "last error"})
# Never broken over lines (ids): the other columns wrap only when the terminal is narrow.
UNBROKEN = frozenset({"clientKey", "job", "event"})


def utcnow() -> datetime:
    return datetime.now(UTC)


def console(*, stderr: bool = False) -> Console:
    """A console on stdout (or stderr): colours and live bars on a terminal only."""
    found = Console(stderr=stderr)
    if not found.is_terminal and "COLUMNS" not in os.environ:
        return Console(stderr=stderr, width=PLAIN_WIDTH)
    return found


def error_console() -> Console:
    return console(stderr=True)


def number(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else "?"


def span(seconds: float | None) -> str:
    """45 s, 3 min, 2 h 5 min, 3 d 4 h."""
    if seconds is None:
        return "?"
    whole = int(round(seconds))
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min"
    if whole < 86400:
        return f"{whole // 3600} h {whole % 3600 // 60} min"
    return f"{whole // 86400} d {whole % 86400 // 3600} h"


def age(seconds: float) -> str:
    """One unit, for table cells: 45 s, 3 min, 5 h, 2 d."""
    whole = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if whole >= size:
            return f"{whole // size} {unit}"
    return f"{whole} s"


def ago(moment: datetime | None, now: datetime) -> str:
    return "never" if moment is None else f"{age((now - moment).total_seconds())} ago"


def cut(text: str | None, width: int = 2 * ERROR_WIDTH) -> str:
    if not text:
        return ""
    return text if len(text) <= width else text[: width - 1] + "…"


def _table(title: str, *columns: str) -> Table:
    """Ids stay whole; errors wrap; the rest wraps only when the terminal is too narrow."""
    table = Table(
        title=title, box=box.SIMPLE_HEAD, title_justify="left", expand=False, pad_edge=False
    )
    for column in columns:
        if column in WRAPPED:
            table.add_column(column, min_width=ERROR_MIN_WIDTH, max_width=ERROR_WIDTH)
        else:
            table.add_column(column, no_wrap=column in UNBROKEN)
    return table


def job_state(job: MongoDocument, estimate: dict[str, Any] | None) -> str:
    """`running 42 %, 2 min left`, `completed in 1 min`, `failed`."""
    status = str(job["status"])
    if status in ("queued", "running") and estimate is not None:
        left = estimate.get("etaSeconds")
        text = f"{status} {estimate['progress'] * 100:.0f} %"
        return text + (f", {span(left)} left" if left is not None else "")
    if status == "completed" and job.get("durationSeconds") is not None:
        return f"completed in {span(job['durationSeconds'])}"
    return status


def breaker_state(breaker: dict[str, Any] | None, now: datetime) -> str:
    if not breaker or breaker.get("state") != "open":
        return "closed"
    reopen = breaker.get("reopenAt")
    if isinstance(reopen, datetime) and reopen > now:
        return f"open, {age((reopen - now).total_seconds())} left"
    return "open"


def lag(store: StoreSummary) -> str:
    """The lag, or how far the first sync got: the copy is not whole until all resources are."""
    if store.lag_seconds is not None:
        return age(store.lag_seconds)
    done, counted = store.passed
    return "never synced" if done == 0 else f"{done}/{counted} resources synced"


def stores_table(summaries: list[StoreSummary], now: datetime | None = None) -> Table:
    """One row per client (`shopsync stores`)."""
    now = now or utcnow()
    table = _table(
        f"{len(summaries)} stores", "clientKey", "status", "shop", "documents", "last full",
        "last incr.", "lag", "latest job", "last error", "breaker",
    )  # fmt: skip
    for store in summaries:
        documents = "\n".join(
            f"{SHORT_NAMES.get(name, name)} {number(count)}"
            for name, count in store.documents.items()
        )
        table.add_row(
            store.client_key,
            store.status,
            (store.shop_domain or "").removesuffix(".myshopify.com"),
            documents,
            ago(store.last_full_at, now),
            ago(store.last_incremental_at, now),
            lag(store),
            job_state(store.latest_job, store.latest_estimate) if store.latest_job else "none",
            cut(store.last_error),
            breaker_state(store.breaker, now),
        )
    return table


def jobs_table(
    client_key: str, rows: list[tuple[MongoDocument, dict[str, Any]]], now: datetime | None = None
) -> Table:
    """The store's recent jobs (`shopsync jobs`)."""
    now = now or utcnow()
    table = _table(
        f"sync jobs of {client_key}", "job", "mode", "trigger", "created", "state", "seen",
        "error",
    )  # fmt: skip
    for job, estimate in rows:
        seen = sum(int(run.get("seen") or 0) for run in job["resources"].values())
        table.add_row(
            str(job["_id"]),
            str(job["mode"]),
            str(job.get("trigger") or ""),
            ago(job.get("createdAt"), now),
            job_state(job, estimate),
            number(seen),
            cut(job.get("error")),
        )
    return table


def webhooks_table(client_key: str, events: list[MongoDocument], now: datetime | None = None
                   ) -> Table:  # fmt: skip
    """The store's latest webhook events (`shopsync webhooks`)."""
    now = now or utcnow()
    table = _table(
        f"webhook events of {client_key}", "received", "topic", "status", "event", "error"
    )
    for event in events:
        table.add_row(
            ago(event.get("receivedAt"), now),
            str(event.get("topic") or ""),
            str(event.get("status") or ""),
            str(event["_id"]),
            cut(event.get("error")),
        )
    return table


def manifest_table(manifest: Any) -> Table:
    """An archive's manifest: documents and checksum per collection."""
    table = _table(
        f"shopsync {manifest.shopsync_version}, {manifest.created_at}",
        "collection", "documents", "sha256",
    )  # fmt: skip
    for name, entry in sorted(manifest.collections.items()):
        table.add_row(name, number(entry.get("count")), str(entry.get("sha256", ""))[:16])
    return table
