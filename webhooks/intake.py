"""Accepting a delivery: verify, resolve the store, log once, enqueue. Nothing slow."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import dramatiq
import redis

from config_db import metrics
from config_db.errors import ValidationFailed
from config_db.jsonsafe import parse_json
from config_db.logs import with_log_context
from config_db.repository import ConfigRepository
from config_db.settings import Settings
from stores.databases import StoreDatabases
from webhooks.errors import BadDelivery, UnknownShop, WebhookError, WebhookUnauthorized
from webhooks.events import EventLog
from webhooks.group_insert import GroupInserter
from webhooks.verify import read_delivery, shop_domain_of, verify_hmac

log = logging.getLogger(__name__)
SHOP_CACHE_SECONDS = 10.0  # a changed webhookSecret or new shop is seen within this
SendEvent = Callable[[str, str], object]
# Shopify retries a delivery for 4 hours; a day covers every retry of it.
SEEN_TTL_SECONDS = 24 * 3600
SEEN_PREFIX = "shopsync:webhook-seen:"


class SeenEvents:
    """Recently logged event keys in Redis: duplicates are answered without MongoDB.

    Only a hint: MongoDB's unique `_id` stays the rule, and a Redis outage just skips it.
    """

    def __init__(self, client: redis.Redis, ttl_seconds: int = SEEN_TTL_SECONDS) -> None:
        self._client = client
        self._ttl = ttl_seconds

    def seen(self, key: str) -> bool:
        try:
            return bool(self._client.exists(SEEN_PREFIX + key))
        except redis.RedisError:
            return False

    def remember(self, key: str) -> None:
        try:
            self._client.set(SEEN_PREFIX + key, 1, ex=self._ttl)
        except redis.RedisError:
            pass


@dataclass(frozen=True)
class ShopTarget:
    client_key: str
    secret: str | None  # the client's own webhookSecret, if it has one


class WebhookIntake:
    """The work of POST /webhooks/shopify, independent of Flask."""

    def __init__(
        self,
        settings: Settings,
        repository: ConfigRepository,
        databases: StoreDatabases,
        send: SendEvent,
        seen: SeenEvents | None = None,
    ) -> None:
        self._settings = settings
        self._repository = repository
        self._databases = databases
        self._send = send
        self._cache: dict[str, tuple[float, ShopTarget]] = {}
        self._inserter = GroupInserter()
        self._seen = seen
        self._lock = threading.Lock()

    def accept(self, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        """Verify and log one delivery; returns the answer body (raises WebhookError)."""
        # Read before the HMAC check to find the store's secret. A malformed value gives None:
        # it reaches no query, the app secret is tried, and read_delivery refuses it (400).
        shop_domain = shop_domain_of(headers)
        target = self._target(shop_domain) if shop_domain else None
        # The store label comes from our config only: a header is not a bounded label.
        client_key = target.client_key if target is not None else ""
        try:
            answer = self._accept(headers, body, target)
        except WebhookError as error:
            metrics.WEBHOOK_DELIVERIES.labels(client_key, refusal_outcome(error)).inc()
            raise
        metrics.WEBHOOK_DELIVERIES.labels(client_key, answer["status"]).inc()
        return answer

    def _accept(
        self, headers: Mapping[str, str], body: bytes, target: ShopTarget | None
    ) -> dict[str, Any]:
        self._verify(headers, body, target)
        delivery = read_delivery(headers)
        if target is None:
            raise UnknownShop(
                f"no store for shop {delivery.shop_domain!r}", field="X-Shopify-Shop-Domain"
            )
        payload = read_payload(body)
        seen_key = f"{target.client_key}:{delivery.dedup_key}"
        if self._seen is not None and self._seen.seen(seen_key):
            return {"status": "duplicate", "eventId": delivery.dedup_key}
        events = EventLog(self._databases.get(target.client_key), self._inserter)
        if not events.record(delivery, payload):
            return {"status": "duplicate", "eventId": delivery.dedup_key}
        if self._seen is not None:
            self._seen.remember(seen_key)
        self.enqueue(target.client_key, delivery.dedup_key)
        return {"status": "queued", "eventId": delivery.dedup_key}

    @with_log_context
    def enqueue(self, client_key: str, event_id: str) -> bool:
        """Send the event to a worker; on a broker outage the clock sends it later."""
        try:
            self._send(client_key, event_id)
        except (dramatiq.errors.BrokerConnectionError, redis.RedisError) as error:
            log.warning("broker unavailable, webhook event left queued: %s", type(error).__name__)
            return False
        return True

    def _verify(self, headers: Mapping[str, str], body: bytes, target: ShopTarget | None) -> None:
        app_secret = self._settings.shopify_client_secret
        previous = self._settings.shopify_previous_client_secret
        secret = (target.secret if target else None) or (
            app_secret.get_secret_value() if app_secret else None
        )
        if not secret:
            log.warning("webhook refused: no SHOPIFY_CLIENT_SECRET or webhookSecret configured")
            raise WebhookUnauthorized("no webhook secret is configured")
        verify_hmac(headers, body, secret, previous.get_secret_value() if previous else None)

    def _target(self, shop_domain: str) -> ShopTarget | None:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(shop_domain)
        if cached is not None and cached[0] > now:
            return cached[1]
        client_key = self._repository.client_key_for_shop(shop_domain)
        if client_key is None:
            return None  # unknown shops are not cached: a new store works at once
        client = self._repository.get_client(client_key)
        # interface.md: the client's clientSecret is its HMAC secret unless webhookSecret is set.
        secret = self._repository.secret(client, "webhookSecret") or self._repository.secret(
            client, "clientSecret"
        )
        target = ShopTarget(client_key, secret)
        with self._lock:
            self._cache[shop_domain] = (now + SHOP_CACHE_SECONDS, target)
        return target


def refusal_outcome(error: WebhookError) -> str:
    """The delivery metric's outcome for a refused delivery."""
    if isinstance(error, WebhookUnauthorized):
        return "bad_hmac"
    if isinstance(error, UnknownShop):
        return "unknown_shop"
    if error.status == 413:
        return "too_large"
    return "invalid"


def read_payload(body: bytes) -> dict[str, Any]:
    """The signed body as a JSON object; BadDelivery naming `body` (or the path inside it).

    parse_json refuses a body nested past MAX_JSON_DEPTH before recursing into it, and text
    BSON cannot hold (a lone surrogate such as "\\ud800"), so neither reaches MongoDB.
    """
    try:
        payload = parse_json(body, field="body")
    except ValidationFailed as error:
        raise BadDelivery(error.message, field=error.field) from None
    if not isinstance(payload, dict):
        raise BadDelivery("the body must be a JSON object", field="body")
    return payload
