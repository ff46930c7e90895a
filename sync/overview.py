"""One line per store for operators: status, size, freshness, trouble (`shopsync stores`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from config_db.mongo import MongoDocument
from config_db.repository import ConfigRepository
from stores.databases import StoreDatabases
from stores.freshness import counted_resources, latest_pass, stalest_pass
from stores.naming import SYNCED_COLLECTIONS
from sync.orchestration.jobs import JobStore
from sync.orchestration.progress import estimate_job
from sync.orchestration.state import SyncState


@dataclass(frozen=True)
class StoreSummary:
    """What `shopsync stores` shows of one client."""

    client_key: str
    status: str
    status_reason: str | None
    shop_domain: str | None
    # Live documents (tombstones left out) per synced collection.
    documents: dict[str, int]
    # The stalest resource's latest full / incremental pass (None: some resource never had one;
    # resources skipped for a missing scope do not count).
    last_full_at: datetime | None
    last_incremental_at: datetime | None
    # Seconds since the stalest resource's latest complete pass (None: not every resource has
    # completed one yet).
    lag_seconds: float | None
    # (resources with a complete pass, resources counted): (3, 7) during a first sync.
    passed: tuple[int, int]
    last_error: str | None
    breaker: dict[str, Any] | None
    latest_job: MongoDocument | None
    latest_estimate: dict[str, Any] | None


def summarize(
    repository: ConfigRepository,
    databases: StoreDatabases,
    *,
    parallel: int,
    now: datetime | None = None,
) -> list[StoreSummary]:
    """Every client, in clientKey order."""
    now = now or datetime.now(UTC)
    return [
        summarize_store(client, databases, parallel=parallel, now=now)
        for client in repository.list_clients()
    ]


def summarize_store(
    client: MongoDocument, databases: StoreDatabases, *, parallel: int, now: datetime
) -> StoreSummary:
    store_db = databases.get(client["_id"])
    states = SyncState(store_db).all()
    recent = JobStore(store_db).recent(1)
    latest = recent[0] if recent else None
    estimate = None
    if latest is not None:
        estimate = estimate_job(latest, states, parallel=parallel, now=now)
    return StoreSummary(
        client_key=client["_id"],
        status=str(client.get("status") or "unknown"),
        status_reason=client.get("statusReason"),
        shop_domain=client.get("shopDomain"),
        documents={
            name: store_db[name].count_documents({"deleted": False}) for name in SYNCED_COLLECTIONS
        },
        last_full_at=stalest_pass(states, "lastFullAt"),
        last_incremental_at=stalest_pass(states, "lastIncrementalAt"),
        lag_seconds=_lag(states, now),
        passed=_passed(states),
        last_error=_last_error(client, latest),
        breaker=client.get("breaker"),
        latest_job=latest,
        latest_estimate=estimate,
    )


def _lag(states: dict[str, MongoDocument], now: datetime) -> float | None:
    """Seconds since the stalest resource's latest complete pass (full or incremental).

    A pass's time is its start (the cursor: what it surely saw); None until every resource
    not skipped for a missing scope has had one (stores.freshness, as the metric).
    """
    stalest = stalest_pass(states)
    return None if stalest is None else max((now - stalest).total_seconds(), 0.0)


def _passed(states: dict[str, MongoDocument]) -> tuple[int, int]:
    counted = counted_resources(states)
    return sum(latest_pass(states.get(name) or {}) is not None for name in counted), len(counted)


def _last_error(client: MongoDocument, latest: MongoDocument | None) -> str | None:
    """Why the store is behind: its status reason, else the latest job's error."""
    if client.get("status") != "active" and client.get("statusReason"):
        return str(client["statusReason"])
    if latest is not None and latest.get("error"):
        return str(latest["error"])
    return None
