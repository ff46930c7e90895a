"""Sync job records in each store's `_syncjobs` collection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from bson import ObjectId
from pymongo import DESCENDING
from pymongo.database import Database

from config_db import metrics
from config_db.mongo import MongoDocument
from stores.naming import SYNC_JOBS
from sync.errors import JobNotFound

SyncMode = Literal["full", "incremental"]
JobStatus = Literal["queued", "running", "completed", "failed"]
TERMINAL = frozenset({"completed", "failed", "skipped"})
COUNTERS = ("seen", "upserted", "deleted", "skipped", "pages", "points", "throttleWaits")


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_resource_progress() -> dict[str, Any]:
    """A run not started: zero counters, and `expected` unknown until Shopify tells."""
    return {"status": "queued", **{name: 0 for name in COUNTERS}, "expected": None}


class JobStore:
    """Create, read and advance the sync jobs of one store."""

    def __init__(self, store_db: Database[MongoDocument]) -> None:
        self._jobs = store_db[SYNC_JOBS]

    def create(
        self,
        client_key: str,
        mode: SyncMode,
        resources: list[str],
        trigger: str,
        job_id: str | None = None,
    ) -> MongoDocument:
        # ObjectId hex: unique, and ordered by creation within a process (ties in createdAt).
        job_id = job_id or str(ObjectId())
        job: MongoDocument = {
            "_id": job_id,
            "clientKey": client_key,
            "mode": mode,
            "trigger": trigger,
            "status": "queued",
            "resources": {name: new_resource_progress() for name in resources},
            "createdAt": utcnow(),
            "progressAt": utcnow(),
            "startedAt": None,
            "finishedAt": None,
            "error": None,
        }
        self._jobs.insert_one(job)
        return job

    def get(self, job_id: str) -> MongoDocument:
        job = self._jobs.find_one({"_id": job_id})
        if job is None:
            raise JobNotFound(f"no sync job {job_id!r}", field="jobId")
        return job

    def find(self, job_id: str) -> MongoDocument | None:
        return self._jobs.find_one({"_id": job_id})

    def recent(self, limit: int = 20) -> list[MongoDocument]:
        return list(
            self._jobs.find().sort([("createdAt", DESCENDING), ("_id", DESCENDING)]).limit(limit)
        )

    def mark_running(self, job_id: str) -> None:
        now = utcnow()
        self._jobs.update_one({"_id": job_id, "startedAt": None}, {"$set": {"startedAt": now}})
        self._jobs.update_one({"_id": job_id, "status": "queued"}, {"$set": {"status": "running"}})

    def finish(self, job_id: str, status: JobStatus, error: str | None = None) -> None:
        """End a job that is not already ended."""
        now = utcnow()
        fields = {"startedAt": 1, "createdAt": 1, "clientKey": 1, "mode": 1}
        job = self._jobs.find_one({"_id": job_id}, fields) or {}
        began = job.get("startedAt") or job.get("createdAt")
        duration = (now - began).total_seconds() if isinstance(began, datetime) else None
        ended = self._jobs.update_one(
            {"_id": job_id, "status": {"$in": ["queued", "running"]}},
            {
                "$set": {
                    "status": status,
                    "finishedAt": now,
                    "error": error,
                    "durationSeconds": None if duration is None else round(duration, 3),
                }
            },
        )
        if ended.modified_count:
            metrics.SYNC_JOBS.labels(job.get("clientKey", ""), job.get("mode", ""), status).inc()

    def resource_started(
        self, job_id: str, resource: str, mode: str, delivery: str | None = None
    ) -> MongoDocument:
        """Mark a resource running; its first start time is kept across continuations.

        `delivery` becomes the run's only writer: an earlier delivery still working on it
        (a duplicate after a Redis outage) finds its checkpoint refused and stops.
        """
        prefix = f"resources.{resource}"
        now = utcnow()
        self._jobs.update_one(
            {"_id": job_id, f"{prefix}.startedAt": None},
            {"$set": {f"{prefix}.startedAt": now, f"{prefix}.mode": mode}},
        )
        fields = {f"{prefix}.status": "running", "status": "running", "progressAt": now,
                  f"{prefix}.activeAt": now}  # fmt: skip
        if delivery is not None:
            fields[f"{prefix}.delivery"] = delivery
        self._jobs.update_one({"_id": job_id}, {"$set": fields})
        self._jobs.update_one({"_id": job_id, "startedAt": None}, {"$set": {"startedAt": now}})
        return self.get(job_id)

    def resource_finished(
        self, job_id: str, resource: str, status: str, error: str | None = None
    ) -> None:
        """Record a resource's end, then end the job when every resource has ended."""
        job = self.get(job_id)
        progress = job["resources"].get(resource, {})
        now = utcnow()
        started = progress.get("startedAt")
        duration = (now - started).total_seconds() if isinstance(started, datetime) else 0.0
        if isinstance(started, datetime) and progress.get("status") not in TERMINAL:
            mode = progress.get("mode") or job["mode"]
            metrics.SYNC_PASS_SECONDS.labels(resource, mode, status).observe(duration)
        prefix = f"resources.{resource}"
        self._jobs.update_one(
            {"_id": job_id},
            {
                "$set": {
                    f"{prefix}.status": status,
                    f"{prefix}.error": error,
                    f"{prefix}.finishedAt": now,
                    f"{prefix}.durationSeconds": round(duration, 3),
                }
            },
        )
        self.finish_if_done(job_id)

    def finish_if_done(self, job_id: str) -> None:
        job = self.get(job_id)
        resources = job["resources"]
        if any(item["status"] not in TERMINAL for item in resources.values()):
            return
        failed = {
            name: item.get("error")
            for name, item in resources.items()
            if item["status"] == "failed"
        }
        error = "; ".join(f"{name}: {message}" for name, message in failed.items()) or None
        self.finish(job_id, "failed" if failed else "completed", error)

    def hand_over(self, job_id: str, resource: str, message_id: str, replacing: str | None) -> bool:
        """Make `message_id` the one message that may work on the run, if `replacing` still is.

        Recorded before the message is enqueued: a message that is not the run's current one
        ends at once, so a re-sent run never becomes two chains of messages.
        """
        prefix = f"resources.{resource}"
        found = self._jobs.update_one(
            {
                "_id": job_id,
                f"{prefix}.status": {"$nin": list(TERMINAL)},
                f"{prefix}.messageId": replacing,
            },
            {"$set": {f"{prefix}.messageId": message_id, f"{prefix}.sentAt": utcnow()}},
        )
        return found.matched_count == 1

    def record_send(self, job_id: str, message_id: str) -> None:
        """The job message sent for `job_id` (the watchdog re-sends it if Redis lost it)."""
        self._jobs.update_one(
            {"_id": job_id}, {"$set": {"messageId": message_id, "sentAt": utcnow()}}
        )

    def live(self) -> list[MongoDocument]:
        """Queued and running jobs, oldest first."""
        return list(self._jobs.find({"status": {"$in": ["queued", "running"]}}).sort("_id", 1))

    def note(self, job_id: str, **fields: Any) -> None:
        self._jobs.update_one({"_id": job_id}, {"$set": fields})

    def unnote(self, job_id: str, *names: str) -> None:
        self._jobs.update_one({"_id": job_id}, {"$unset": dict.fromkeys(names, "")})

    def stalled(self, older_than_seconds: float) -> list[MongoDocument]:
        """Queued or running jobs that have not moved for a while (a message was lost)."""
        cutoff = utcnow() - timedelta(seconds=older_than_seconds)
        return list(
            self._jobs.find(
                {"status": {"$in": ["queued", "running"]}, "progressAt": {"$lt": cutoff}}
            )
        )

    def unsent(self) -> list[MongoDocument]:
        """Queued jobs whose message could not be sent (Redis was down)."""
        return list(self._jobs.find({"status": "queued", "enqueueError": {"$exists": True}}))


# Delivery plumbing kept on the record for the workers and the watchdog, not shown: which
# message may work on a run, when it was sent, and the checkpoint (whose phase is shown).
_JOB_INTERNALS = frozenset({"_id", "messageId", "sentAt"})
_RUN_INTERNALS = frozenset({"messageId", "sentAt", "delivery", "checkpoint"})


def public_job(job: MongoDocument, estimate: dict[str, Any] | None = None) -> MongoDocument:
    """The job as the API shows it: `jobId` instead of `_id`, with `progress` and `etaSeconds`
    (and each resource's `etaSeconds`) when an estimate is given (sync.orchestration.progress).
    """
    view = {"jobId": job["_id"]}
    view.update({key: value for key, value in job.items() if key not in _JOB_INTERNALS})
    runs = job["resources"]
    view["resources"] = {name: _public_run(run) for name, run in runs.items()}
    if estimate is not None:
        view["progress"], view["etaSeconds"] = estimate["progress"], estimate["etaSeconds"]
        for name, run in view["resources"].items():
            run["etaSeconds"] = estimate["resources"].get(name)
    return view


# A bulk run's stage (sync.bulk.path) as the phase an operator reads.
_BULK_PHASES = {
    "start": "export requested",
    "requesting": "export requested",
    "running": "export running",
    "ingest": "reading export",
    "refetch": "refetching",
}


def _public_run(run: MongoDocument) -> MongoDocument:
    """A resource run without its delivery plumbing; `phase` while it is under way."""
    view = {key: value for key, value in run.items() if key not in _RUN_INTERNALS}
    checkpoint = run.get("checkpoint") or {}
    stage = (checkpoint.get("bulk") or {}).get("stage")
    phase = checkpoint.get("phase") or _BULK_PHASES.get(str(stage))
    if phase is not None and run.get("status") not in TERMINAL:
        view["phase"] = phase
    return view
