"""Dramatiq actors: thin wrappers taking JSON primitives and calling plain functions.

Run workers with `python -m sync.worker sync.tasks webhooks.tasks` (the Procfile's worker).
"""

from __future__ import annotations

import random

from sync.broker import get_broker

get_broker()  # before any actor is declared: actors bind to the current broker

import time  # noqa: E402

import dramatiq  # noqa: E402
from dramatiq.middleware import CurrentMessage  # noqa: E402

from sync.orchestration.dispatch import send_run  # noqa: E402
from sync.orchestration.jobs import JobStore  # noqa: E402
from sync.orchestration.runner import Outcome, Wait, run_resource, start_job  # noqa: E402
from sync.runtime import worker_services  # noqa: E402

SYNC_QUEUE = "sync"
MS = 1000
# A resource message works for SHOPSYNC_SYNC_SLICE_SECONDS, then continues in a new one;
# the time limit only stops a message that hangs.
RESOURCE_TIME_LIMIT_MS = 2 * 60 * 60 * MS  # a huge nested list is paged in one slice
RESOURCE_MAX_RETRIES = 4
JOB_TIME_LIMIT_MS = 2 * 60 * MS
BUSY_DELAY_MS = (1 * MS, 5 * MS)  # wait for a store slot or a lock, with jitter
# Dramatiq runs lower numbers first: a worker with both queues fetched applies webhooks
# (default 0) before it starts another sync slice.
SYNC_PRIORITY = 10


@dramatiq.actor(
    queue_name=SYNC_QUEUE, max_retries=5, time_limit=JOB_TIME_LIMIT_MS, priority=SYNC_PRIORITY
)
def run_sync_job(client_key: str, job_id: str) -> None:
    """Start the recorded sync job `job_id` of store `client_key`: one message per resource."""
    start_job(worker_services(), client_key, job_id, send_resource_run)


def send_resource_run(
    client_key: str, job_id: str, resource: str, delay_ms: int | None, replacing: str | None
) -> bool:
    """The run's next message, if `replacing` is still its current one (see send_run)."""
    jobs = JobStore(worker_services().databases.get(client_key))
    args = (client_key, job_id, resource)
    return send_run(jobs, sync_resource, args, delay_ms=delay_ms, replacing=replacing)


@dramatiq.actor(
    queue_name=SYNC_QUEUE,
    priority=SYNC_PRIORITY,
    max_retries=RESOURCE_MAX_RETRIES,
    time_limit=RESOURCE_TIME_LIMIT_MS,
    min_backoff=5 * MS,
    max_backoff=120 * MS,
)
def sync_resource(client_key: str, job_id: str, resource: str) -> None:
    """Sync one resource of one store for one slice; re-sent to continue or to wait."""
    message = CurrentMessage.get_current_message()
    retries = int(message.options.get("retries", 0)) if message is not None else 0
    message_id = message.message_id if message is not None else None
    outcome = run_resource(
        worker_services(),
        client_key,
        job_id,
        resource,
        final_attempt=retries >= RESOURCE_MAX_RETRIES,
        runner=message_id,
    )
    # The next message is enqueued before this one is acked (Redis outages are waited out).
    if isinstance(outcome, Wait):
        # The store's breaker is open: come back when it reopens (no retry burnt).
        delay = max(0, int((outcome.until - time.time()) * MS)) + random.randint(*BUSY_DELAY_MS)
        send_resource_run(client_key, job_id, resource, delay, message_id)
    elif outcome is Outcome.CONTINUE:
        send_resource_run(client_key, job_id, resource, None, message_id)
    elif outcome is Outcome.BUSY:
        delay = random.randint(*BUSY_DELAY_MS)
        send_resource_run(client_key, job_id, resource, delay, message_id)
