"""Per-store freshness and status, computed when Prometheus scrapes the web process.

Read from appconfig.clients and each store's `_syncstate` (the end of every resource's last
complete pass), at most once per CACHE_SECONDS per web worker: a scrape of hundreds of
stores then costs one read of each every 15 s, not one per scrape. The lag itself is
computed at scrape time from the cached pass times, so it keeps growing between reads.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from pymongo.errors import PyMongoError

from config_db.repository import ConfigRepository
from stores.databases import StoreDatabases
from stores.naming import SYNC_STATE, SYNCED_COLLECTIONS

log = logging.getLogger(__name__)
CACHE_SECONDS = 15.0
STATUSES = ("active", "disabled", "needs_auth", "uninstalled")
# Written by sync.orchestration.state.SyncState.completed: a pass's start, once it completed.
PASS_FIELDS = ("lastFullAt", "lastIncrementalAt")
# Written by SyncState.skipped: the resource's latest run was skipped (a missing access
# scope), until a pass completes. Such a resource cannot be behind: it is left out.
SKIPPED_FIELD = "skippedFor"


def latest_pass(state: Mapping[str, Any]) -> datetime | None:
    """The start of the resource's latest complete pass, full or incremental."""
    ends = [state[field] for field in PASS_FIELDS if isinstance(state.get(field), datetime)]
    return max(ends) if ends else None


def counted_resources(states: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The resources a store's freshness is judged by: every synced one not skipped."""
    return [name for name in SYNCED_COLLECTIONS if not (states.get(name) or {}).get(SKIPPED_FIELD)]


def stalest_pass(
    states: Mapping[str, Mapping[str, Any]], field: str | None = None
) -> datetime | None:
    """The oldest latest pass (or `field`) over the counted resources; None while one has none."""
    found: list[datetime] = []
    for name in counted_resources(states):
        state = states.get(name) or {}
        at = latest_pass(state) if field is None else state.get(field)
        if not isinstance(at, datetime):
            return None
        found.append(at)
    return min(found) if found else None


@dataclass(frozen=True)
class StoreSnapshot:
    """One store as last read: its status and, per resource, its last complete pass."""

    client_key: str
    status: str
    passes: dict[str, float]  # resource -> epoch seconds
    stalest: float | None  # epoch seconds; None while a counted resource never passed

    def lag(self, now: float) -> float:
        """Seconds since the stalest resource's last complete pass; +Inf if one never did."""
        return math.inf if self.stalest is None else now - self.stalest


class StoreFreshness:
    """A Prometheus collector of `shopsync_store_*` gauges (registered per scrape)."""

    def __init__(
        self,
        repository: ConfigRepository,
        databases: StoreDatabases,
        *,
        cache_seconds: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._repository = repository
        self._databases = databases
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._snapshots: list[StoreSnapshot] = []
        self._read_at: float | None = None

    def collect(self) -> Iterator[Metric]:
        snapshots, now = self.snapshots(), self._clock()
        status = GaugeMetricFamily(
            "shopsync_store_status",
            "1 for the store's client status (active, disabled, needs_auth, uninstalled).",
            labels=["client_key", "status"],
        )
        lag = GaugeMetricFamily(
            "shopsync_store_sync_lag_seconds",
            "Seconds since the start of the store's last complete pass of its stalest "
            "resource (+Inf until every resource not skipped completed one).",
            labels=["client_key"],
        )
        resource_lag = GaugeMetricFamily(
            "shopsync_store_resource_sync_lag_seconds",
            "Seconds since the start of the resource's last complete pass.",
            labels=["client_key", "resource"],
        )
        for store in snapshots:
            for name in STATUSES:
                status.add_metric([store.client_key, name], float(store.status == name))
            lag.add_metric([store.client_key], store.lag(now))
            for resource, at in sorted(store.passes.items()):
                resource_lag.add_metric([store.client_key, resource], now - at)
        yield from (status, lag, resource_lag)

    def snapshots(self) -> list[StoreSnapshot]:
        """The cached snapshots, read again once older than the cache time."""
        with self._lock:
            now = self._clock()
            if self._read_at is None or now - self._read_at >= self._cache_seconds:
                self._read_at = now
                try:
                    self._snapshots = self._read()
                except PyMongoError as error:
                    # Keep the last snapshots: a scrape must answer while MongoDB is down.
                    log.warning("store metrics not refreshed: MongoDB %s", type(error).__name__)
            return self._snapshots

    def _read(self) -> list[StoreSnapshot]:
        return [self._snapshot(client) for client in self._repository.list_clients()]

    def _snapshot(self, client: Mapping[str, Any]) -> StoreSnapshot:
        state = self._databases.get(str(client["_id"]))[SYNC_STATE]
        fields = dict.fromkeys((*PASS_FIELDS, SKIPPED_FIELD), 1)
        states = {str(doc["_id"]): doc for doc in state.find({}, fields)}
        passes = {
            name: _epoch(at) for name, doc in states.items() if (at := latest_pass(doc)) is not None
        }
        stalest = stalest_pass(states)
        return StoreSnapshot(
            str(client["_id"]),
            str(client.get("status")),
            passes,
            None if stalest is None else _epoch(stalest),
        )


def _epoch(moment: datetime) -> float:
    """Epoch seconds; MongoDB datetimes read without tz_aware are naive UTC."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
