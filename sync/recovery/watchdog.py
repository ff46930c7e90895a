"""The clock's watchdog: every unfinished run has a live message or worker, or is sent again.

Dramatiq keeps messages, not work: a message acked without its continuation (Redis errors),
a delayed message dropped from a worker's memory, or a Redis that came back empty leaves a
job `running` for good. The job records in MongoDB say what should exist; the watchdog
compares them with what Redis holds and re-sends what is missing, from its checkpoint.
Run claims and JobStore.hand_over keep a re-sent run from ever running twice.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import dramatiq

from config_db import metrics
from config_db.mongo import MongoDocument
from sync.broker import QueuedMessage, queued_messages, requeue_dead_workers
from sync.orchestration.jobs import TERMINAL, JobStore, utcnow
from sync.orchestration.launcher import SyncLauncher
from sync.orchestration.runner import SendResource
from sync.runtime import SyncServices

log = logging.getLogger(__name__)
# A message recorded in the job but not yet in Redis: its sender is enqueueing it.
SEND_GRACE_SECONDS = 10.0
MS = 1000


def _last(*moments: Any) -> datetime | None:
    found = [moment for moment in moments if isinstance(moment, datetime)]
    return max(found) if found else None


def lost_reason(
    message_id: str | None,
    last_activity: datetime | None,
    queued: dict[str, QueuedMessage],
    now: datetime,
    services: SyncServices,
) -> str | None:
    """Why a message that should exist has no live owner; None while it may still run."""
    if message_id is None:
        return None
    settings = services.settings
    found = queued.get(message_id)
    quiet = now - (last_activity or now)
    if found is None:
        return "message lost" if quiet >= timedelta(seconds=SEND_GRACE_SECONDS) else None
    if found.waiting:
        return None  # in its queue: a worker will take it
    if found.delayed:
        # A live worker moves a due message at once; a dead one's comes back by maintenance.
        due = (found.eta_ms or 0) / MS + settings.worker_heartbeat_timeout_seconds
        late = now.timestamp() - due
        return "delayed message held past its time" if late > SEND_GRACE_SECONDS else None
    if quiet >= timedelta(seconds=settings.run_stall_seconds):
        return "message held by a worker with no sign of work"
    return None


class Watchdog:
    """Per tick: requeue dead workers' messages, then re-send every lost run of each store."""

    def __init__(
        self,
        services: SyncServices,
        launcher: SyncLauncher,
        send_resource: SendResource,
        broker: dramatiq.Broker,
        queue_name: str,
    ) -> None:
        self._services = services
        self._launcher = launcher
        self._send_resource = send_resource
        self._broker = broker
        self._queue_name = queue_name
        self._queued: dict[str, QueuedMessage] | None = None

    def begin_tick(self) -> None:
        """Dramatiq's maintenance on every queue now, not on 1 command in 1,000."""
        self._queued = None
        requeue_dead_workers(self._broker)

    def queued(self) -> dict[str, QueuedMessage]:
        """What Redis holds of the sync queue, read once per tick and only when needed."""
        if self._queued is None:
            self._queued = queued_messages(self._broker, self._queue_name)
        return self._queued

    def check_store(self, client_key: str, now: datetime | None = None) -> int:
        """Re-send the lost messages of one store's live jobs; returns how many were sent."""
        now = now or utcnow()
        jobs = JobStore(self._services.databases.get(client_key))
        return sum(self._check_job(job, now) for job in jobs.live())

    def _check_job(self, job: MongoDocument, now: datetime) -> int:
        if job["status"] == "queued":
            return 0 if "enqueueError" in job else self._check_job_message(job, now)
        sent = 0
        for resource, progress in job["resources"].items():
            current = progress.get("messageId")
            if progress["status"] in TERMINAL:
                continue
            if current is None:
                # Never sent: the job message died between its sends.
                if progress["status"] == "queued" and job.get("messageId") not in self.queued():
                    sent += self._resend(job, resource, None, "never sent")
                continue
            if self._services.coordinator.run_alive(job["_id"], resource):
                continue
            last = _last(progress.get("sentAt"), progress.get("activeAt"))
            reason = lost_reason(current, last, self.queued(), now, self._services)
            if reason is not None:
                sent += self._resend(job, resource, current, reason)
        return sent

    def _check_job_message(self, job: MongoDocument, now: datetime) -> int:
        message_id = job.get("messageId")
        last = _last(job.get("sentAt"), job.get("createdAt"))
        if message_id is None:
            quiet = now - (last or now) >= timedelta(seconds=SEND_GRACE_SECONDS)
            reason = "never sent" if quiet else None
        else:
            reason = lost_reason(message_id, last, self.queued(), now, self._services)
        if reason is None:
            return 0
        log.warning("%s: job %s sent again (%s)", job["clientKey"], job["_id"], reason)
        self._launcher.send(job["clientKey"], job["_id"])
        metrics.WATCHDOG_RESENDS.labels(job["clientKey"], "job").inc()
        return 1

    def _resend(self, job: MongoDocument, resource: str, current: str | None, why: str) -> int:
        if not self._send_resource(job["clientKey"], job["_id"], resource, None, current):
            return 0
        log.warning("%s %s: run of job %s sent again (%s)", job["clientKey"], resource,
                    job["_id"], why)  # fmt: skip
        metrics.WATCHDOG_RESENDS.labels(job["clientKey"], "run").inc()
        return 1

    def revive(self, job: MongoDocument) -> int:
        """The backstop for a job with no progress at all: re-send every run not in a queue."""
        sent = 0
        for resource, progress in job["resources"].items():
            current = progress.get("messageId")
            if progress["status"] in TERMINAL or current is None:
                continue
            found = self.queued().get(current)
            waiting = found is not None and found.waiting
            if waiting or self._services.coordinator.run_alive(job["_id"], resource):
                continue
            sent += self._resend(job, resource, current, "stalled")
        return sent
