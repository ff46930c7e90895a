"""Nothing accepted is lost: events still `queued` after a while are enqueued again."""

from __future__ import annotations

import logging
from collections.abc import Callable

from pymongo.errors import PyMongoError

from sync.runtime import SyncServices
from webhooks.events import MAX_REQUEUES, EventLog

log = logging.getLogger(__name__)


def requeue_waiting(services: SyncServices, send: Callable[[str, str], object]) -> int:
    """Send every long-queued event of every store again (run by the clock each tick).

    A store whose database fails is logged and skipped; a broker failure stops the pass
    (nothing more can be sent) and is raised for the clock to log.
    """
    sent = 0
    for client in services.repository.list_clients():
        try:
            sent += _requeue_store(services, client["_id"], send)
        except PyMongoError:
            log.exception("re-sending queued webhook events of %s failed", client["_id"])
    if sent:
        log.info("re-sent %d queued webhook events", sent)
    return sent


def _requeue_store(
    services: SyncServices, client_key: str, send: Callable[[str, str], object]
) -> int:
    events = EventLog(services.databases.get(client_key))
    base = services.settings.webhook_requeue_after_seconds
    sent = 0
    for event in events.waiting(base):
        if int(event.get("requeues") or 0) >= MAX_REQUEUES:
            events.finish(event["_id"], "failed", "gave up after repeated requeues")
            continue
        send(client_key, str(event["_id"]))
        events.resent(event, base)  # only after the send: a broker outage costs no requeue
        sent += 1
    return sent


def replay_failed(
    services: SyncServices, client_key: str, send: Callable[[str, str], object], limit: int = 500
) -> list[str]:
    """Send a store's `failed` events to the workers again (`shopsync webhooks --replay`).

    Each goes back to `queued` first, as the clock's sweeper would find it: a broker outage
    after that leaves it to the sweeper, never lost.
    """
    events = EventLog(services.databases.get(client_key))
    replayed = []
    for event in events.recent("failed", limit):
        if events.reopen(event["_id"]):
            send(client_key, str(event["_id"]))
            replayed.append(str(event["_id"]))
    if replayed:
        log.info("%s: replayed %d failed webhook events", client_key, len(replayed))
    return replayed
