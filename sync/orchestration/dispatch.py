"""Sending a resource run's message so that a run is only ever one chain of messages."""

from __future__ import annotations

from typing import Any

import dramatiq

from sync.orchestration.jobs import JobStore


def send_run(
    jobs: JobStore,
    actor: dramatiq.Actor[Any, Any],
    args: tuple[str, str, str],
    *,
    delay_ms: int | None = None,
    replacing: str | None = None,
) -> bool:
    """Record the new message as the run's current one, then enqueue it.

    False (nothing sent) when `replacing` is no longer the run's message: another chain or
    the watchdog has taken over, or the run has ended.
    """
    _, job_id, resource = args
    message = actor.message(*args)
    if not jobs.hand_over(job_id, resource, message.message_id, replacing):
        return False
    actor.broker.enqueue(message, delay=delay_ms)
    return True
