"""What a resource sync needs while it runs: client, store, checkpoints, counters, deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pymongo.collection import Collection
from pymongo.database import Database

from config_db import metrics
from config_db.mongo import MongoDocument
from config_db.settings import Settings
from stores.naming import SYNC_JOBS
from sync.errors import QueryTooExpensive
from sync.shopify.client import CallStats, ShopifyClient, StoreCredentials
from sync.shopify.cost import MAX_QUERY_COST, page_size, requested_cost

Mode = Literal["full", "incremental"]
COUNT_FIELDS = ("seen", "upserted", "deleted", "skipped")


class SliceExpired(Exception):  # noqa: N818 - a signal, not an error
    """This message has worked long enough: continue in a fresh message from the checkpoint."""


class Superseded(Exception):  # noqa: N818 - a signal, not an error
    """Another delivery has taken this run over (or the job is gone): stop without a trace."""


@dataclass
class Checkpoint:
    """Where a resource run stands: finished phases and the cursor inside the current one."""

    phase: str | None = None
    cursor: str | None = None
    done: list[str] = field(default_factory=list)
    # The main phase's bulk operation: its id, stage and ingest position (sync.bulk.path).
    bulk: dict[str, Any] | None = None

    @classmethod
    def load(cls, stored: dict[str, Any] | None) -> Checkpoint:
        stored = stored or {}
        return cls(
            stored.get("phase"), stored.get("cursor"), list(stored.get("done", [])),
            stored.get("bulk"),
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {"phase": self.phase, "cursor": self.cursor, "done": self.done, "bulk": self.bulk}


@dataclass
class SyncContext:
    """One resource run of one job of one store."""

    settings: Settings
    client: ShopifyClient
    store: StoreCredentials
    store_db: Database[MongoDocument]
    job_id: str
    resource: str
    mode: Mode
    since: datetime | None
    run_started: datetime
    checkpoint: Checkpoint
    deadline: float
    # Extends the run's leases; False when another delivery has taken the run over.
    renew: Callable[[], bool] = lambda: True
    # Raises when the client was disabled, uninstalled or purged meanwhile (checked per page).
    active_check: Callable[[], None] = lambda: None
    # True once the worker is shutting down: the slice ends at the next page.
    stopping: Callable[[], bool] = lambda: False
    # The delivery that owns the run: checkpoints of any other are refused.
    delivery: str | None = None
    stats: CallStats = field(default_factory=CallStats)
    counts: dict[str, int] = field(default_factory=dict)
    # The run's counters so far (from the job): saved as totals, so a checkpoint written
    # twice, or lost and written again, never counts a page twice or not at all.
    totals: dict[str, int] = field(default_factory=dict)
    # Facts about the run set as they are (path, bulk operation id and status, objectCount).
    facts: dict[str, Any] = field(default_factory=dict)
    # What the bulk path needs beyond a page query (sync.bulk.runtime.BulkRuntime), if any.
    bulk: Any = None

    @property
    def run_id(self) -> str:
        return f"{self.job_id}:{self.resource}"

    def now(self) -> datetime:
        return datetime.now(UTC)

    def collection(self, name: str) -> Collection[MongoDocument]:
        return self.store_db[name]

    # --- Shopify ---------------------------------------------------------------------------

    def budget(self) -> int:
        """The most a single query may request: Shopify's limit, or a smaller bucket."""
        return int(min(MAX_QUERY_COST, self.client.bucket_size(self.store.shop_domain)))

    def page_first(self, query: str, variables: dict[str, Any]) -> int:
        return page_size(query, variables, self.budget())

    def query(
        self,
        query: str,
        variables: dict[str, Any],
        *,
        cost: int | None = None,
        attempts: int | None = None,
    ) -> dict[str, Any]:
        """Run a query at its estimated (or given) cost, refreshing our leases while waiting."""
        return self.client.query(
            self.store,
            query,
            variables,
            cost=requested_cost(query, variables) if cost is None else cost,
            stats=self.stats,
            on_wait=self._waiting,
            attempts=attempts,
        )

    def _waiting(self) -> None:
        """While Shopify's bucket refills: keep the leases; on shutdown, stop waiting."""
        self.heartbeat()
        if self.stopping():
            raise SliceExpired()

    def query_page(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        """Run a paged query; halve `first` while Shopify says it costs too much."""
        while True:
            try:
                return self.query(query, variables)
            except QueryTooExpensive:
                if variables["first"] <= 1:
                    raise
                variables = {**variables, "first": variables["first"] // 2}

    def search_filter(self) -> str | None:
        """`updated_at:>='…'` for incremental runs (the lookback is already in `since`)."""
        if self.mode != "incremental" or self.since is None:
            return None
        return f"updated_at:>='{self.since.strftime('%Y-%m-%dT%H:%M:%SZ')}'"

    # --- progress --------------------------------------------------------------------------

    def count(self, **amounts: int) -> None:
        for name, amount in amounts.items():
            self.counts[name] = self.counts.get(name, 0) + amount
        # Metrics count writes as they happen: a page written again after a crash counts
        # again there, while the job's totals (saved with the checkpoint) do not.
        metrics.record_documents(self.store.client_key, self.resource, amounts)

    def heartbeat(self) -> None:
        """Keep the run's leases; stop when another delivery has taken the run over."""
        if not self.renew():
            raise Superseded()

    def save_progress(self, *, pages: int = 0) -> None:
        """Write counters and the checkpoint to the job in one update; keep the leases."""
        taken = self.stats.take()
        self.count(pages=pages, points=taken.points, throttleWaits=taken.throttle_waits,
                   retries=taken.retries)  # fmt: skip
        for name, amount in self.counts.items():
            self.totals[name] = self.totals.get(name, 0) + amount
        self.counts = {}
        prefix = f"resources.{self.resource}"
        fence = {f"{prefix}.delivery": self.delivery} if self.delivery is not None else {}
        now = self.now()
        saved = self.store_db[SYNC_JOBS].update_one(
            {"_id": self.job_id, **fence},
            {
                "$set": {
                    **{f"{prefix}.{name}": total for name, total in self.totals.items()},
                    **{f"{prefix}.{name}": value for name, value in self.facts.items()},
                    f"{prefix}.checkpoint": self.checkpoint.to_dict(),
                    f"{prefix}.activeAt": now,
                    "progressAt": now,
                },
            },
        )
        if saved.matched_count == 0 and self.delivery is not None:
            raise Superseded()  # another delivery owns the run, or the job is gone (purge)
        self.heartbeat()

    def check_deadline(self) -> None:
        if time.monotonic() > self.deadline or self.stopping():
            raise SliceExpired()
