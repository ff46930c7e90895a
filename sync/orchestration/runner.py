"""Running sync jobs: the plain functions behind the actors.

A job is one message that checks the store and fans out one message per resource; each
resource message runs for at most a slice of time, then continues in a new message from its
checkpoint. The last resource to end ends the job.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from config_db.errors import NotFound, ShopsyncError
from config_db.logs import with_log_context
from config_db.mongo import MongoDocument
from config_db.secrets import SecretDecryptionError
from sync.auth.scopes import SCOPES_FIELDS, missing_for, record_scopes, scopes_from
from sync.errors import (
    ClientNotActive,
    ShopifyAccessDenied,
    ShopifyAuthError,
    ShopifyError,
    ShopifyUnavailable,
    StoreCircuitOpen,
)
from sync.orchestration.context import SliceExpired, Superseded
from sync.orchestration.jobs import TERMINAL, JobStore, utcnow
from sync.orchestration.run_context import active_client, build_context, credentials
from sync.orchestration.state import SyncState
from sync.resources.registry import RESOURCES
from sync.runtime import SyncServices
from sync.shopify.client import CallStats, StoreCredentials

log = logging.getLogger(__name__)
SHOP_QUERY = (
    "query Shop { shop { name myshopifyDomain currencyCode plan { displayName } } "
    + SCOPES_FIELDS
    + " }"
)
# (client_key, job_id, resource, delay_ms, replacing) -> sent: enqueue the run's next message
# if `replacing` (None at the start) is still its current one (see JobStore.hand_over).
SendResource = Callable[[str, str, str, int | None, str | None], bool]


class Outcome(Enum):
    DONE = "done"  # the resource ended (completed or failed)
    CONTINUE = "continue"  # the slice ended: send the message again to go on
    BUSY = "busy"  # no store slot or the resource is locked by another job: retry later


@dataclass(frozen=True)
class Wait:
    """The store's circuit breaker is open: send the message again at `until` (epoch s)."""

    until: float


@with_log_context
def start_job(
    services: SyncServices, client_key: str, job_id: str, send_resource: SendResource
) -> None:
    """Check the store, refresh its shop info, and send one message per resource."""
    jobs = JobStore(services.databases.get(client_key))
    job = jobs.get(job_id)
    if job["status"] in TERMINAL:
        return
    jobs.mark_running(job_id)
    try:
        store = credentials(services, active_client(services, client_key))
        granted = refresh_shop_info(services, store)
    except (ShopifyAuthError, SecretDecryptionError) as error:
        _needs_auth(services, client_key, error.message)
        fail_job(services, jobs, job, error.message)
        return
    except (ClientNotActive, NotFound) as error:
        fail_job(services, jobs, job, error.message)
        return
    pending = [name for name, item in job["resources"].items() if item["status"] not in TERMINAL]
    lacking = missing_for(granted, pending) if granted is not None else {}
    for resource in pending:
        if resource in lacking:
            _skip(services, jobs, job, resource, lacking[resource])
        elif job["resources"][resource].get("messageId") is None:
            # A redelivered job message sends only what it had not sent yet.
            send_resource(client_key, job_id, resource, None, None)
    jobs.finish_if_done(job_id)


def _skip(
    services: SyncServices, jobs: JobStore, job: MongoDocument, resource: str, scope: str
) -> None:
    """A resource whose access scope the store did not grant: skipped, naming the scope."""
    _end(services, jobs, job["_id"], resource, "skipped", f"missing access scope {scope}")


def fail_job(services: SyncServices, jobs: JobStore, job: MongoDocument, message: str) -> None:
    """End a job before its resources ran: each fails with the reason, its lock released."""
    jobs.finish(job["_id"], "failed", message)
    for resource, progress in job["resources"].items():
        if progress["status"] not in TERMINAL:
            services.coordinator.unlock(job["clientKey"], resource, job["_id"])
            jobs.resource_finished(job["_id"], resource, "failed", message)


def refresh_shop_info(services: SyncServices, store: StoreCredentials) -> list[str] | None:
    """Name, plan and currency into appconfig.shops, granted scopes onto the client.

    Returns the granted scopes (None when Shopify could not tell); also learns the bucket.
    """
    try:
        data = services.shopify.query(store, SHOP_QUERY, {}, cost=3, stats=CallStats())
    except ShopifyAuthError:
        raise
    except ShopifyError as error:
        log.warning("%s: shop info not refreshed: %s", store.client_key, error.message)
        return None
    granted = scopes_from(data)
    if granted is not None:
        record_scopes(services.repository, store.client_key, granted)
    shop = data.get("shop") or {}
    services.repository.update_shop(
        store.shop_domain,
        {
            "name": shop.get("name"),
            "currency": shop.get("currencyCode"),
            "plan": (shop.get("plan") or {}).get("displayName"),
            "myshopifyDomain": shop.get("myshopifyDomain"),
            "shopInfoAt": utcnow(),
        },
    )
    return granted


def _needs_auth(services: SyncServices, client_key: str, message: str) -> None:
    if services.repository.mark_needs_auth(client_key, message):
        log.warning("%s: marked needs_auth: %s", client_key, message)


@with_log_context
def run_resource(
    services: SyncServices,
    client_key: str,
    job_id: str,
    resource: str,
    *,
    final_attempt: bool = True,
    runner: str | None = None,
) -> Outcome | Wait:
    """Run one resource of a job for one slice.

    Never two jobs' copies of a resource (the lock), never two messages of one job's resource
    at once (the run claim, owned by the message id `runner`), at most the store's slots.
    """
    jobs = JobStore(services.databases.get(client_key))
    job = jobs.find(job_id)
    if job is None or job["status"] in TERMINAL or job["resources"][resource]["status"] in TERMINAL:
        return Outcome.DONE
    current = job["resources"][resource].get("messageId")
    if runner is not None and current not in (None, runner):
        return Outcome.DONE  # superseded: the watchdog re-sent this run as another message
    # One delivery of the message: "<message id>/<delivery>" (see Coordinator.claim_run).
    runner = f"{runner or uuid.uuid4().hex}/{uuid.uuid4().hex[:12]}"
    holder, coordinator = f"{job_id}:{resource}", services.coordinator
    if not coordinator.take_slot(client_key, holder):
        return Outcome.BUSY
    try:
        if not coordinator.claim_run(job_id, resource, runner):
            return Outcome.BUSY
        try:
            if not coordinator.lock(client_key, resource, job_id):
                return Outcome.BUSY
            return _run_locked(services, jobs, job, resource, final_attempt, runner)
        finally:
            coordinator.release_run(job_id, resource, runner)
    finally:
        coordinator.free_slot(client_key, holder)


def _run_locked(
    services: SyncServices,
    jobs: JobStore,
    job: MongoDocument,
    resource: str,
    final_attempt: bool,
    runner: str,
) -> Outcome | Wait:
    client_key, job_id = job["clientKey"], job["_id"]
    try:
        ctx = build_context(services, jobs, job, resource, runner)
        RESOURCES[resource](ctx, services.downloader)
        ctx.save_progress()  # counts of the last steps (sweeps) not yet written
    except SliceExpired:
        return Outcome.CONTINUE
    except Superseded:
        log.info("%s %s: run taken over by another delivery", client_key, resource)
        _unlock_if_ended(services, jobs, client_key, job_id, resource)
        return Outcome.DONE  # the other delivery carries on (and sends what follows)
    except StoreCircuitOpen as error:
        jobs.note(job_id, **{f"resources.{resource}.error": f"waiting: {error.message}"})
        return Wait(error.reopen_at)
    except ShopifyAccessDenied as error:
        # Shopify answers `data: {"themes": null}` + ACCESS_DENIED: never "no themes".
        return _end(services, jobs, job_id, resource, "skipped", f"missing access scope "
                    f"{error.scope} (Shopify answered ACCESS_DENIED)")  # fmt: skip
    except (ShopifyAuthError, SecretDecryptionError) as error:
        _needs_auth(services, client_key, error.message)
        return _end(services, jobs, job_id, resource, "failed", error.message)
    except ShopifyUnavailable as error:
        if not final_attempt:
            raise
        return _end(services, jobs, job_id, resource, "failed", error.message)
    except ClientNotActive as error:
        outcome = _end(services, jobs, job_id, resource, "failed", error.message)
        _drop_if_purged(services, client_key)
        return outcome
    except (ShopsyncError, KeyError, TypeError, ValueError) as error:
        message = getattr(error, "message", None) or f"{type(error).__name__}: {error}"
        log.warning("%s %s failed: %s", client_key, resource, message)
        return _end(services, jobs, job_id, resource, "failed", message[:500])
    except Exception:
        if final_attempt:
            _end(services, jobs, job_id, resource, "failed", "unexpected error (see worker log)")
        raise
    SyncState(services.databases.get(client_key)).completed(
        resource, ctx.mode, ctx.run_started, job_id, seen=ctx.totals.get("seen", 0),
        path=str(ctx.facts.get("path") or "paged"),
    )  # fmt: skip
    log.info("%s %s: %s pass completed", client_key, resource, ctx.mode)
    return _end(services, jobs, job_id, resource, "completed", None)


def _unlock_if_ended(
    services: SyncServices, jobs: JobStore, client_key: str, job_id: str, resource: str
) -> None:
    """A stale delivery's heartbeat may have taken the lock again after the run ended; a job
    gone with its store database (an import replaced it) must not hold it for hours."""
    job = jobs.find(job_id)
    if job is None or job["resources"][resource]["status"] in TERMINAL:
        services.coordinator.unlock(client_key, resource, job_id)


def _drop_if_purged(services: SyncServices, client_key: str) -> None:
    """A page written while the store was being purged may have recreated it: drop it again."""
    client = services.repository.get_client(client_key)
    if client.get("purgedAt") is not None:
        services.databases.drop(client_key)


def _end(
    services: SyncServices,
    jobs: JobStore,
    job_id: str,
    resource: str,
    status: str,
    error: str | None,
) -> Outcome:
    job = jobs.find(job_id)
    if job is None:
        return Outcome.DONE  # the store database was dropped (purge or shop/redact)
    services.coordinator.unlock(job["clientKey"], resource, job_id)
    if status == "skipped":
        SyncState(services.databases.get(job["clientKey"])).skipped(resource, error or status)
    jobs.resource_finished(job_id, resource, status, error)
    return Outcome.DONE
