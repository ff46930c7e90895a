"""A resource run's context: the store's credentials, its checkpoint and counters, the bulk
runtime, and the leases it renews (built once per delivery of a run's message)."""

from __future__ import annotations

import time
from datetime import timedelta

from config_db.mongo import MongoDocument
from sync.broker import ShutdownNotice
from sync.bulk.runtime import FACTS, BulkRuntime
from sync.errors import ClientNotActive
from sync.orchestration.context import Checkpoint, SyncContext
from sync.orchestration.jobs import JobStore
from sync.orchestration.state import SyncState
from sync.runtime import SyncServices
from sync.shopify.client import StoreCredentials, graphql_url


def credentials(services: SyncServices, client: MongoDocument) -> StoreCredentials:
    """The store's endpoint and its token source (refreshed ahead of expiry, and on 401)."""
    return StoreCredentials(
        client_key=client["_id"],
        shop_domain=client["shopDomain"],
        graphql_url=graphql_url(client["adminApiBaseUrl"], services.settings.shopify_api_version),
        tokens=services.tokens.for_store(client["_id"]),
    )


def active_client(services: SyncServices, client_key: str) -> MongoDocument:
    client = services.repository.get_client(client_key)
    if client.get("status") != "active":
        reason = client.get("statusReason") or ""
        raise ClientNotActive(
            f"client is {client.get('status')}" + (f": {reason}" if reason else "")
        )
    return client


def build_context(
    services: SyncServices, jobs: JobStore, job: MongoDocument, resource: str, runner: str
) -> SyncContext:
    client_key, job_id = job["clientKey"], job["_id"]
    client = active_client(services, client_key)
    store = credentials(services, client)
    store_db = services.databases.ensure_once(client_key)
    state = SyncState(store_db).get(resource)
    progress = job["resources"][resource]
    mode = progress.get("mode") or job["mode"]
    if mode == "incremental" and state.get("cursor") is None:
        mode = "full"  # nothing to be incremental from yet
    job = jobs.resource_started(job_id, resource, mode, delivery=runner)
    progress = job["resources"][resource]
    run_started = progress["startedAt"]
    if progress.get("checkpoint") is None:
        SyncState(store_db).started(resource, mode, run_started)
    since = None
    if mode == "incremental":
        since = state["cursor"] - timedelta(seconds=services.settings.lookback_seconds)

    def renew() -> bool:
        return services.coordinator.refresh(
            client_key, resource, job_id, f"{job_id}:{resource}", runner
        )

    def active_check() -> None:
        active_client(services, client_key)

    return SyncContext(
        settings=services.settings,
        client=services.shopify,
        store=store,
        store_db=store_db,
        job_id=job_id,
        resource=resource,
        mode=mode,
        since=since,
        run_started=run_started,
        checkpoint=Checkpoint.load(progress.get("checkpoint")),
        deadline=time.monotonic() + services.settings.sync_slice_seconds,
        renew=renew,
        active_check=active_check,
        stopping=ShutdownNotice.stopping.is_set,
        delivery=runner,
        totals={
            name: value
            for name, value in progress.items()
            if isinstance(value, int) and not isinstance(value, bool) and name not in FACTS
        },
        facts={"path": "paged"} | {name: progress[name] for name in FACTS if name in progress},
        bulk=_bulk_runtime(services, client),
    )


def _bulk_runtime(services: SyncServices, client: MongoDocument) -> BulkRuntime:
    client_key = client["_id"]
    return BulkRuntime(
        http=services.http,
        coordinator=services.coordinator,
        slots=services.settings.bulk_slots,
        denied=client.get("bulkFallback"),
        note_client=lambda fields: services.repository.note_client(client_key, fields),
    )
