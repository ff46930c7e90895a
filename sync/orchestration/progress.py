"""How far a sync job has come and how long it has left.

Each resource run records `expected` beside `seen`: Shopify's own count (`productsCount`-style,
asked once per run) or, for a bulk run, the finished export's `rootObjectCount`. The job's
`progress` and `etaSeconds` are worked out when the job is read, from those counts, the run's
own pace and the store's pace in earlier runs (`_syncstate.rates`), so they move with the clock
between checkpoints and cost no write per page.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from config_db.mongo import MongoDocument
from sync.errors import ShopifyAccessDenied, ShopifyQueryError
from sync.orchestration.context import SyncContext
from sync.orchestration.paging import dig

log = logging.getLogger(__name__)
# Count fields take `limit: null` (uncapped; the default stops at 10,000) from this version.
FIRST_UNCAPPED_COUNT_VERSION = "2025-07"
# How much the newest run weighs in a resource's remembered pace (the rest: earlier runs).
RATE_WEIGHT = 0.5
# A run's own pace is trusted fully after this long (or once it has seen all it expects).
OWN_PACE_SECONDS = 30.0
# A run past its usual time still has this share of it left (never "0 s left" while running).
OVERDUE_SHARE = 0.1
UNFINISHED_CEILING = 0.99
DONE = frozenset({"completed", "skipped"})
ENDED = frozenset({"completed", "skipped", "failed"})


def count_query(count_root: str, api_version: str) -> str:
    """`productsCount(query: $query)` (uncapped where the API version allows it)."""
    limit = ", limit: null" if api_version >= FIRST_UNCAPPED_COUNT_VERSION else ""
    # One operation name per count (ProductsCount, …): logs and the fake's stats tell them apart.
    name = count_root[:1].upper() + count_root[1:]
    return f"query {name}($query: String) {{ {count_root}(query: $query{limit}) {{ count }} }}"


def note_expected(ctx: SyncContext, count_root: str | None) -> int | None:
    """Ask Shopify once per run how many documents the run will see; kept in the job.

    A resource without a count field keeps `expected` null (a bulk export fills it in).
    A count Shopify cannot answer is not worth failing the run: `expected` stays null.
    """
    known = ctx.facts.get("expected")
    if isinstance(known, int) or count_root is None:
        return known if isinstance(known, int) else None
    query = count_query(count_root, ctx.settings.shopify_api_version)
    try:
        count = dig(ctx.query(query, {"query": ctx.search_filter()}), (count_root, "count"))
    except ShopifyAccessDenied:
        raise  # the listing would be refused too: the runner records the missing scope
    except ShopifyQueryError as error:
        log.info("%s %s: no count: %s", ctx.store.client_key, ctx.resource, error.message)
        return None
    if not isinstance(count, int):
        return None
    ctx.facts["expected"] = count
    return count


def next_rate(previous: MongoDocument | None, seen: int, duration: float) -> MongoDocument:
    """The remembered pace of a resource (on one path) after a completed run."""
    earlier = (previous or {}).get("documentsPerSecond")
    rate = earlier
    if seen > 0 and duration > 0:
        pace = seen / duration
        rate = pace if earlier is None else RATE_WEIGHT * pace + (1 - RATE_WEIGHT) * earlier
    return {
        "seen": seen,
        "durationSeconds": round(duration, 3),
        "documentsPerSecond": None if rate is None else round(rate, 4),
    }


def next_rates(rates: MongoDocument | None, path: str, seen: int, duration: float) -> MongoDocument:
    """A mode's paces after a completed run: one per path (an export and pages move at very
    different speeds), and the path that ran last (`lastPath`)."""
    updated = dict(rates or {})
    updated[path] = next_rate(updated.get(path), seen, duration)
    updated["lastPath"] = path
    return updated


@dataclass(frozen=True)
class RunEstimate:
    """One resource run: documents to reach (`target`), done so far, and seconds left."""

    target: int | None
    done: int
    eta_seconds: float | None
    finished: bool


def _elapsed(progress: MongoDocument, now: datetime) -> float:
    started = progress.get("startedAt")
    return max((now - started).total_seconds(), 0.0) if isinstance(started, datetime) else 0.0


def _earlier(progress: MongoDocument, mode: str, history: MongoDocument) -> MongoDocument:
    """The store's earlier runs of this resource, mode and path (the path that ran last while
    this run has not said which it takes)."""
    rates = (history.get("rates") or {}).get(progress.get("mode") or mode) or {}
    path = progress.get("path") if progress.get("status") == "running" else None
    found = rates.get(path) if path else None
    return found or rates.get(str(rates.get("lastPath"))) or {}


def _pace(
    progress: MongoDocument, target: int, earlier: float | None, now: datetime
) -> float | None:
    """Documents per second: this run's own pace once it has run a while or come far,
    the earlier runs' before (its first pages carry the start-up)."""
    seen, elapsed = int(progress.get("seen") or 0), _elapsed(progress, now)
    if seen <= 0 or elapsed <= 0:
        return earlier
    own = seen / elapsed
    if earlier is None or not target:
        return own
    trust = max(min(seen / target, 1.0), min(elapsed / OWN_PACE_SECONDS, 1.0))
    return trust * own + (1 - trust) * earlier


def estimate_run(
    progress: MongoDocument, mode: str, history: MongoDocument, now: datetime
) -> RunEstimate:
    """Where one resource run stands; unknown sizes fall back on the last run's `seen`."""
    status = progress.get("status")
    earlier = _earlier(progress, mode, history)
    expected = progress.get("expected")
    target = expected if isinstance(expected, int) else earlier.get("seen")
    seen = int(progress.get("seen") or 0)
    if status in DONE:
        size = max(target or 0, seen)
        return RunEstimate(size, size, 0.0, True)
    done = min(seen, target) if isinstance(target, int) else 0
    if status in ENDED or not isinstance(target, int):
        return RunEstimate(target, done, None, status in ENDED)
    pace = _pace(progress, target, earlier.get("documentsPerSecond"), now)
    if pace is None or pace <= 0:
        return RunEstimate(target, done, None, False)
    if seen == 0:  # an export being prepared, or a slot awaited: its whole time, less elapsed
        whole = target / pace
        left = max(whole - _elapsed(progress, now), whole * OVERDUE_SHARE)
        return RunEstimate(target, 0, left, False)
    return RunEstimate(target, done, max(target - seen, 0) / pace, False)


def estimate_job(
    job: MongoDocument, history: dict[str, MongoDocument], *, parallel: int, now: datetime
) -> dict[str, Any]:
    """`progress` (0..1), `etaSeconds` and each resource's `etaSeconds` for the job view.

    Resources of a store run `parallel` at a time: the time left is the longest run's, or
    all the runs' work shared over the slots, whichever is longer. Runs whose size or pace
    cannot be told yet (a first sync of themes) are left out of the time left.
    """
    runs = {
        name: estimate_run(progress, job["mode"], history.get(name) or {}, now)
        for name, progress in job["resources"].items()
    }
    return {
        "progress": _fraction(job, runs),
        "etaSeconds": _job_eta(job, runs, parallel),
        "resources": {name: _seconds(run.eta_seconds) for name, run in runs.items()},
    }


def _fraction(job: MongoDocument, runs: dict[str, RunEstimate]) -> float:
    """Documents done over documents to reach, across the job's resources.

    A run of unknown size still to finish (a first sync of themes) weighs as much as a typical
    run of the job, none of it done: without it, a job whose known runs were done showed 99 %
    while most of its resources had not started.
    """
    if job["status"] == "completed":
        return 1.0
    finished = all(run.finished for run in runs.values())
    known = [run.target for run in runs.values() if run.target is not None]
    typical = sum(known) / len(known) if known else 0.0
    weight = sum(typical if run.target is None else run.target for run in runs.values())
    if weight == 0:
        return 1.0 if finished else 0.0
    # A sweep after the last page is still work: never 100 % early.
    ceiling = 1.0 if finished else UNFINISHED_CEILING
    return round(min(sum(run.done for run in runs.values()) / weight, ceiling), 4)


def _job_eta(job: MongoDocument, runs: dict[str, RunEstimate], parallel: int) -> int | None:
    if job["status"] == "completed":
        return 0
    if job["status"] == "failed":
        return None
    left = [run.eta_seconds for run in runs.values() if not run.finished]
    known = [seconds for seconds in left if seconds is not None]
    if not known:
        return 0 if not left else None
    slots = max(min(parallel, len(left)), 1)
    return _seconds(max(max(known), sum(known) / slots))


def _seconds(value: float | None) -> int | None:
    return None if value is None else int(math.ceil(value))
