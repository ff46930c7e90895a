"""Starting sync jobs: take the (store, resource) locks, record the job, enqueue it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import dramatiq
import redis
from bson import ObjectId

from config_db.logs import with_log_context
from config_db.mongo import MongoDocument
from stores.databases import StoreDatabases
from sync.orchestration.coordination import Coordinator
from sync.orchestration.jobs import TERMINAL, JobStore, SyncMode
from sync.resources.registry import RESOURCE_NAMES

log = logging.getLogger(__name__)

SendJob = Callable[[str, str], object]
_BROKER_ERRORS = (dramatiq.errors.BrokerConnectionError, redis.RedisError)


def busy_resources(live_jobs: list[MongoDocument]) -> set[str]:
    """Resources an unfinished job still has to sync."""
    return {
        name
        for job in live_jobs
        for name, progress in job["resources"].items()
        if progress["status"] not in TERMINAL
    }


@dataclass(frozen=True)
class Launch:
    job: MongoDocument
    enqueued: bool


class SyncLauncher:
    """Creates job records and sends their messages; a broker outage leaves them `queued`."""

    def __init__(self, databases: StoreDatabases, send: SendJob, coordinator: Coordinator):
        self._databases = databases
        self._send = send
        self._coordinator = coordinator

    def start(
        self, client_key: str, mode: SyncMode, trigger: str, resources: list[str] | None = None
    ) -> Launch:
        """A job over `resources` (all by default); busy resources wait for their lock."""
        job_id = str(ObjectId())
        names = list(resources or RESOURCE_NAMES)
        try:
            for name in names:
                self.claim(client_key, name, job_id)
        except redis.RedisError:
            pass  # the actors take the locks when they run
        return self._record_and_send(client_key, job_id, mode, trigger, names)

    def start_scheduled(
        self, client_key: str, mode: SyncMode, resources: list[str]
    ) -> Launch | None:
        """A job over the resources not already queued or running; None when all are.

        The job records decide, not only the locks: a Redis that came back empty has lost
        them, and a second job would sync the same resources beside the first.
        """
        job_id = str(ObjectId())
        busy = busy_resources(JobStore(self._databases.get(client_key)).live())
        free = [name for name in resources if name not in busy]
        taken = [name for name in free if self.claim(client_key, name, job_id)]
        if not taken:
            return None
        return self._record_and_send(client_key, job_id, mode, "schedule", taken)

    def claim(self, client_key: str, resource: str, job_id: str) -> bool:
        """Take the (store, resource) lock for a job; a lock left by an ended job is taken over."""
        if self._coordinator.lock(client_key, resource, job_id):
            return True
        owner = self._coordinator.lock_owner(client_key, resource)
        if owner is None:
            return self._coordinator.lock(client_key, resource, job_id)
        found = JobStore(self._databases.get(client_key)).find(owner)
        if found is not None and found["status"] not in TERMINAL:
            return False
        self._coordinator.force_unlock(client_key, resource)
        return self._coordinator.lock(client_key, resource, job_id)

    @with_log_context
    def _record_and_send(
        self, client_key: str, job_id: str, mode: SyncMode, trigger: str, names: list[str]
    ) -> Launch:
        jobs = JobStore(self._databases.get(client_key))
        job = jobs.create(client_key, mode, names, trigger, job_id=job_id)
        log.info("%s: %s sync job %s created by %s", client_key, mode, job_id, trigger)
        return Launch(job=job, enqueued=self.send(client_key, job_id))

    def send(self, client_key: str, job_id: str) -> bool:
        """Enqueue a recorded job; on a broker outage note it for the scheduler to resend."""
        jobs = JobStore(self._databases.get(client_key))
        try:
            message = self._send(client_key, job_id)
        except _BROKER_ERRORS as error:
            log.warning(
                "broker unavailable, sync job %s left queued: %s", job_id, type(error).__name__
            )
            jobs.note(job_id, enqueueError="broker unavailable")
            return False
        jobs.unnote(job_id, "enqueueError")
        message_id = getattr(message, "message_id", None)
        if isinstance(message_id, str):
            jobs.record_send(job_id, message_id)  # the watchdog looks for it in Redis
        return True
