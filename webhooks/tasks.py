"""Dramatiq actors for webhooks (run with `python -m sync.worker sync.tasks webhooks.tasks`)."""

from __future__ import annotations

from sync.broker import get_broker

get_broker()  # before any actor is declared: actors bind to the current broker

import dramatiq  # noqa: E402
from dramatiq.middleware import CurrentMessage  # noqa: E402

from sync.runtime import SyncServices, worker_services  # noqa: E402
from webhooks.errors import RegistrationFailed  # noqa: E402
from webhooks.handlers import apply_event  # noqa: E402
from webhooks.subscriptions import register_webhooks, retry_failed  # noqa: E402
from webhooks.sweeper import requeue_waiting  # noqa: E402

WEBHOOK_QUEUE = "webhooks"
MS = 1000
APPLY_MAX_RETRIES = 5


def _retries() -> int:
    message = CurrentMessage.get_current_message()
    return int(message.options.get("retries", 0)) if message is not None else 0


@dramatiq.actor(
    queue_name=WEBHOOK_QUEUE,
    max_retries=APPLY_MAX_RETRIES,
    time_limit=5 * 60 * MS,
    min_backoff=2 * MS,
    max_backoff=60 * MS,
)
def apply_webhook(client_key: str, event_id: str) -> None:
    """Apply the logged webhook event `event_id` of store `client_key`."""
    apply_event(
        worker_services(), client_key, event_id, final_attempt=_retries() >= APPLY_MAX_RETRIES
    )


@dramatiq.actor(
    queue_name=WEBHOOK_QUEUE,
    max_retries=8,
    time_limit=5 * 60 * MS,
    min_backoff=30 * MS,
    max_backoff=30 * 60 * MS,
)
def register_store_webhooks(client_key: str) -> None:
    """Create the store's missing webhook subscriptions; raising makes Dramatiq retry later."""
    registration = register_webhooks(worker_services(), client_key)
    if registration.status == "failed" and not registration.auth:
        raise RegistrationFailed(f"webhook registration failed: {registration.error}")


# Clock hooks (sync.scheduler.TICK_HOOKS): the clock loads them by name, and they hand the
# actors' `send` to plain functions, so no webhooks module imports this one back.
def requeue_waiting_events(services: SyncServices) -> int:
    """Send every long-queued webhook event again."""
    return requeue_waiting(services, apply_webhook.send)


def retry_failed_registrations(services: SyncServices) -> int:
    """Send the registration of stores whose webhook registration failed again."""
    return retry_failed(services, register_store_webhooks.send)
