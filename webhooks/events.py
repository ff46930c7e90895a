"""The store's `webhookevents` log: one document per event and topic, deduplicated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pymongo import DESCENDING, ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from config_db.mongo import MongoDocument
from stores.naming import WEBHOOK_EVENTS
from sync.storage.documents import safe_keys
from webhooks.group_insert import GroupInserter, check_storable
from webhooks.verify import Delivery

EventStatus = Literal["queued", "applied", "ignored", "failed"]
MAX_REQUEUES = 20
# Each re-send waits twice as long as the one before (a backlog is not a lost message), capped.
MAX_REQUEUE_DELAY_SECONDS = 3600.0
# A worker that claimed an event and then went silent for this long has died: take it over.
CLAIM_TIMEOUT = timedelta(minutes=10)
# Compliance topics carry customer data; the log keeps only who asked, never the data.
PRIVATE_TOPICS = frozenset({"customers/data_request", "customers/redact", "shop/redact"})
KEPT_PRIVATE_FIELDS = ("shop_id", "shop_domain", "data_request", "orders_requested")


def utcnow() -> datetime:
    return datetime.now(UTC)


class EventLog:
    """Records deliveries and their outcome; `_id` = `<eventId or webhookId>:<topic>`."""

    def __init__(
        self, store_db: Database[MongoDocument], inserter: GroupInserter | None = None
    ) -> None:
        self._events = store_db[WEBHOOK_EVENTS]
        self._inserter = inserter

    def record(self, delivery: Delivery, payload: Any) -> bool:
        """Log a delivery as `queued`; False when this event was logged before (a duplicate)."""
        document = {
            "_id": delivery.dedup_key,
            "topic": delivery.topic,
            "shopDomain": delivery.shop_domain,
            "webhookId": delivery.webhook_id,
            "eventId": delivery.event_id,
            "triggeredAt": delivery.triggered_at,
            "apiVersion": delivery.api_version,
            "receivedAt": utcnow(),
            # Payload keys come from outside: ".", a leading "$", NUL or "" are stored escaped
            # (sync.storage.documents.safe_key) so the insert cannot fail on them.
            "payload": safe_keys(_loggable(delivery.topic, payload)),
            "claimedAt": None,
            "status": "queued",
            "error": None,
            "processedAt": None,
        }
        if self._inserter is not None:
            return self._inserter.insert(self._events, document)
        check_storable(self._events, document)
        try:
            self._events.insert_one(document)
        except DuplicateKeyError:
            return False
        return True

    def get(self, event_id: str) -> MongoDocument | None:
        return self._events.find_one({"_id": event_id})

    def claim(self, event_id: str) -> MongoDocument | None:
        """Take a queued event for one worker; None when applied or held by another worker.

        A claim older than CLAIM_SECONDS is taken over (its worker died mid-way).
        """
        now = utcnow()
        return self._events.find_one_and_update(
            {
                "_id": event_id,
                "status": "queued",
                **_unclaimed(now),
            },
            {"$set": {"claimedAt": now}},
            return_document=ReturnDocument.AFTER,
        )

    def release(self, event_id: str) -> None:
        """Give a claimed event back (its attempt failed and will be retried)."""
        self._events.update_one(
            {"_id": event_id, "status": "queued"}, {"$set": {"claimedAt": None}}
        )

    def finish(
        self, event_id: str, status: EventStatus, error: str | None = None, **fields: Any
    ) -> None:
        self._events.update_one(
            {"_id": event_id},
            {"$set": {"status": status, "error": error, "processedAt": utcnow(), **fields}},
        )

    def recent(self, status: EventStatus | None = None, limit: int = 50) -> list[MongoDocument]:
        """The latest events (optionally of one status), newest first, payloads left out."""
        query = {"status": status} if status else {}
        found = self._events.find(query, {"payload": 0}).sort("receivedAt", DESCENDING)
        return list(found.limit(limit))

    def reopen(self, event_id: str) -> bool:
        """A `failed` event back to `queued` (an operator's replay); False if it is not failed."""
        result = self._events.update_one(
            {"_id": event_id, "status": "failed"},
            {
                "$set": {"status": "queued", "error": None, "processedAt": None,
                         "claimedAt": None, "requeues": 0, "replayedAt": utcnow()},
                "$unset": {"nextSendAt": ""},
            },
        )  # fmt: skip
        return result.modified_count == 1

    def waiting(self, older_than_seconds: float, limit: int = 500) -> list[MongoDocument]:
        """Events still `queued` and unclaimed whose message may be lost: due for a re-send.

        An event is due `older_than_seconds` after it arrived, then after each re-send
        twice as long as before (see `resent`).
        """
        now = utcnow()
        return list(
            self._events.find(
                {
                    "status": "queued",
                    "receivedAt": {"$lt": now - timedelta(seconds=older_than_seconds)},
                    **_unclaimed(now),
                    "nextSendAt": {"$not": {"$gte": now}},  # none yet, or due
                },
                {"_id": 1, "requeues": 1},
            ).limit(limit)
        )

    def resent(self, event: MongoDocument, base_seconds: float) -> None:
        """Note that `event` was sent again; its next re-send waits twice as long."""
        requeues = int(event.get("requeues") or 0)
        delay = min(base_seconds * 2 ** min(requeues + 1, 30), MAX_REQUEUE_DELAY_SECONDS)
        self._events.update_one(
            {"_id": event["_id"], "status": "queued"},
            {"$set": {"nextSendAt": utcnow() + timedelta(seconds=delay)}, "$inc": {"requeues": 1}},
        )


def _unclaimed(now: datetime) -> MongoDocument:
    """Filter: no worker holds the event, or its claim timed out (that worker died).

    `$not: {$gte}` matches a missing or null `claimedAt` and an old one in one condition:
    SecantusDB scans the whole collection for a top-level `$or` beside `_id` (4x slower).
    """
    return {"claimedAt": {"$not": {"$gte": now - CLAIM_TIMEOUT}}}


def _loggable(topic: str, payload: Any) -> Any:
    """The payload as logged: compliance requests lose the customer's personal data."""
    if topic not in PRIVATE_TOPICS or not isinstance(payload, dict):
        return payload
    kept = {key: payload[key] for key in KEPT_PRIVATE_FIELDS if key in payload}
    customer = payload.get("customer")
    if isinstance(customer, dict) and "id" in customer:
        kept["customer"] = {"id": customer["id"]}
    kept["redacted"] = True
    return kept
