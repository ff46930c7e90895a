"""The clock process: incremental syncs of every active store, a daily full reconciliation.

Run with `python -m sync.scheduler`. Several clocks may run: one leader acts per tick.
"""

from __future__ import annotations

import importlib
import logging
import signal
import threading
import uuid
from datetime import datetime, timedelta
from typing import Any

import redis
from pymongo.errors import PyMongoError

from config_db import metrics
from config_db.logs import configure_logging, with_log_context
from config_db.mongo import MongoDocument
from sync.orchestration.coordination import Coordinator
from sync.orchestration.jobs import JobStore, utcnow
from sync.orchestration.launcher import Launch, SyncLauncher
from sync.orchestration.runner import fail_job
from sync.orchestration.state import SyncState
from sync.recovery.orphans import sweep_orphans
from sync.recovery.watchdog import Watchdog
from sync.resources.registry import RESOURCE_NAMES
from sync.runtime import SyncServices

log = logging.getLogger(__name__)
LEADER_KEY = "shopsync:clock:leader"
MAX_REVIVALS = 3
# Other packages' per-tick work, loaded by name so sync does not import them.
TICK_HOOKS = (
    "webhooks.tasks:requeue_waiting_events",
    "webhooks.tasks:retry_failed_registrations",
)


def _older(moment: Any, now: datetime, seconds: float) -> bool:
    return not isinstance(moment, datetime) or now - moment >= timedelta(seconds=seconds)


def due_resources(
    states: dict[str, MongoDocument], now: datetime, settings: Any
) -> dict[str, list[str]]:
    """Which resources need a full and which an incremental pass now."""
    due: dict[str, list[str]] = {"full": [], "incremental": []}
    for name in RESOURCE_NAMES:
        state = states.get(name, {})
        if _older(state.get("lastFullStartedAt"), now, settings.full_sync_interval_seconds):
            due["full"].append(name)
            continue
        stamps = [state.get(key) for key in ("lastFullStartedAt", "lastIncrementalStartedAt")]
        last = max((stamp for stamp in stamps if isinstance(stamp, datetime)), default=None)
        if _older(last, now, settings.incremental_interval_seconds):
            due["incremental"].append(name)
    return due


def revive_stalled(
    services: SyncServices,
    launcher: SyncLauncher,
    jobs: JobStore,
    client_key: str,
    watchdog: Watchdog | None = None,
) -> None:
    """Jobs none of whose runs moved for SHOPSYNC_JOB_STALL_SECONDS: sent again, then failed.

    Runs waiting in a queue (a backlog) are left in their place.
    """
    for job in jobs.stalled(services.settings.job_stall):
        if job.get("revivals", 0) >= MAX_REVIVALS:
            fail_job(services, jobs, job, "stalled: no progress after repeated revivals")
            continue
        if job["status"] == "queued":
            launcher.send(client_key, job["_id"])
        elif watchdog is None or not watchdog.revive(job):
            continue
        jobs.note(job["_id"], revivals=job.get("revivals", 0) + 1, progressAt=utcnow())


@with_log_context
def schedule_store(
    services: SyncServices,
    launcher: SyncLauncher,
    client_key: str,
    now: datetime,
    watchdog: Watchdog | None = None,
) -> list[Launch]:
    """Launch the syncs one store is due for; never duplicates a queued or running one.

    First the watchdog re-sends what its live jobs lost (Redis errors, a Redis restart).
    """
    jobs = JobStore(services.databases.get(client_key))
    for job in jobs.unsent():
        launcher.send(client_key, job["_id"])
    if watchdog is not None:
        watchdog.check_store(client_key)
    revive_stalled(services, launcher, jobs, client_key, watchdog)
    sweep_files(services, client_key, now)
    states = SyncState(services.databases.get(client_key)).all()
    launches = []
    for mode, names in due_resources(states, now, services.settings).items():
        if names:
            launch = launcher.start_scheduled(client_key, mode, names)  # type: ignore[arg-type]
            if launch is not None:
                metrics.SYNC_SCHEDULED.labels(client_key, mode).inc()
                launches.append(launch)
    return launches


def sweep_files(services: SyncServices, client_key: str, now: datetime) -> int:
    """Crash leftovers in the store's GridFS, at most once per SHOPSYNC_GRIDFS_SWEEP_INTERVAL."""
    settings = services.settings
    key = f"shopsync:gridfs-sweep:{client_key}"
    interval_ms = int(settings.gridfs_sweep_interval_seconds * 1000)
    if not services.redis.set(key, now.isoformat(), nx=True, px=interval_ms):
        return 0
    store_db = services.databases.get(client_key)
    removed = sweep_orphans(store_db, now, settings.gridfs_orphan_grace_seconds)
    if removed:
        log.info("%s: removed %d GridFS files no document points at", client_key, removed)
    return removed


def tick(
    services: SyncServices,
    launcher: SyncLauncher,
    now: datetime | None = None,
    watchdog: Watchdog | None = None,
) -> int:
    """One pass over every active store; returns how many jobs were launched."""
    now = now or utcnow()
    if watchdog is not None:
        watchdog.begin_tick()
    launched = 0
    for client in services.repository.list_clients("active"):
        try:
            launched += len(schedule_store(services, launcher, client["_id"], now, watchdog))
        except Exception:  # noqa: BLE001 - one store's trouble must not stop the others
            log.exception("scheduling %s failed", client["_id"])
    return launched


def run_hooks(services: SyncServices) -> None:
    """Run every TICK_HOOKS function; one failing never stops the clock."""
    for path in TICK_HOOKS:
        module, _, name = path.partition(":")
        try:
            getattr(importlib.import_module(module), name)(services)
        except Exception:  # noqa: BLE001 - logged; the next tick tries again
            log.exception("clock hook %s failed", path)


def run_forever(
    services: SyncServices,
    launcher: SyncLauncher,
    stop: threading.Event,
    watchdog: Watchdog | None = None,
) -> None:
    """Tick every SHOPSYNC_SCHEDULER_TICK_SECONDS while this process holds the leader lease.

    Redis or MongoDB trouble is logged and tried again next tick: the clock never exits on it.
    """
    interval = services.settings.scheduler_tick_seconds
    leadership = Coordinator(services.redis, lease_seconds=interval * 2, store_slots=1)
    identity = f"clock-{uuid.uuid4().hex}"
    while not stop.is_set():
        outcome = "follower"
        try:
            if leadership.lead(LEADER_KEY, identity):
                outcome = "led"
                launched = tick(services, launcher, watchdog=watchdog)
                if launched:
                    log.info("scheduled %d sync jobs", launched)
                run_hooks(services)
        except (redis.RedisError, PyMongoError) as error:
            outcome = "failed"
            log.warning("clock tick skipped: %s", type(error).__name__)
        metrics.CLOCK_TICKS.labels(outcome).inc()
        stop.wait(interval)


def serve_metrics(port: int) -> None:
    """The clock's own /metrics (one process: no multiprocess folder), unless the port is 0.

    Its jobs scheduled, watchdog re-sends and jobs failed as stalled happen only here.
    """
    if not port:
        return
    from prometheus_client import start_http_server

    try:
        start_http_server(port)
    except OSError as error:  # a busy port must not stop the scheduling
        log.warning("clock metrics not served on port %d: %s", port, error.strerror)
        return
    log.info("clock metrics on port %d", port)


def main() -> None:
    """Entry point of the `clock` process."""
    from sync.broker import get_broker
    from sync.runtime import worker_services
    from sync.tasks import SYNC_QUEUE, run_sync_job, send_resource_run

    configure_logging()
    services = worker_services()
    launcher = SyncLauncher(services.databases, run_sync_job.send, services.coordinator)
    watchdog = Watchdog(services, launcher, send_resource_run, get_broker(), SYNC_QUEUE)
    serve_metrics(services.settings.clock_metrics_port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    log.info(
        "clock started: incremental every %ss, full every %ss",
        services.settings.incremental_interval_seconds,
        services.settings.full_sync_interval_seconds,
    )
    run_forever(services, launcher, stop, watchdog)


if __name__ == "__main__":
    main()
