"""What a resource sync needs while it runs: client, store, checkpoints, counters, deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pymongo.collection import Collection
from pymongo.database import Database

from config_db.mongo import MongoDocument
from config_db.settings import Settings
from stores.naming import SYNC_JOBS
from sync.cost import MAX_QUERY_COST, page_size, requested_cost
from sync.errors import QueryTooExpensive
from sync.shopify import CallStats, ShopifyClient, StoreCredentials

Mode = Literal["full", "incremental"]
COUNT_FIELDS = ("seen", "upserted", "deleted", "skipped")


class SliceExpired(Exception):  # noqa: N818 - a signal, not an error
    """This message has worked long enough: continue in a fresh message from the checkpoint."""


@dataclass
class Checkpoint:
    """Where a resource run stands: finished phases and the cursor inside the current one."""

    phase: str | None = None
    cursor: str | None = None
    done: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, stored: dict[str, Any] | None) -> Checkpoint:
        stored = stored or {}
        return cls(stored.get("phase"), stored.get("cursor"), list(stored.get("done", [])))

    def to_dict(self) -> dict[str, Any]:
        return {"phase": self.phase, "cursor": self.cursor, "done": self.done}


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
    heartbeat: Callable[[], None] = lambda: None
    # Raises when the client was disabled, uninstalled or purged meanwhile (checked per page).
    active_check: Callable[[], None] = lambda: None
    stats: CallStats = field(default_factory=CallStats)
    counts: dict[str, int] = field(default_factory=dict)

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

    def query(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        """Run a query at its estimated cost, refreshing our leases while waiting."""
        return self.client.query(
            self.store,
            query,
            variables,
            cost=requested_cost(query, variables),
            stats=self.stats,
            on_wait=self.heartbeat,
        )

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

    def save_progress(self, *, pages: int = 0) -> None:
        """Write counters and the checkpoint to the job in one update, then check the time."""
        taken = self.stats.take()
        increments = {
            f"resources.{self.resource}.{name}": amount
            for name, amount in self.counts.items()
            if amount
        }
        increments.update(
            {
                f"resources.{self.resource}.pages": pages,
                f"resources.{self.resource}.points": taken.points,
                f"resources.{self.resource}.throttleWaits": taken.throttle_waits,
                f"resources.{self.resource}.retries": taken.retries,
            }
        )
        self.counts = {}
        self.store_db[SYNC_JOBS].update_one(
            {"_id": self.job_id},
            {
                "$inc": increments,
                "$set": {
                    f"resources.{self.resource}.checkpoint": self.checkpoint.to_dict(),
                    "progressAt": self.now(),
                },
            },
        )
        self.heartbeat()

    def check_deadline(self) -> None:
        if time.monotonic() > self.deadline:
            raise SliceExpired()
