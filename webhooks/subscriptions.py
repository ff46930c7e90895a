"""Subscribing a store to the webhook topics we apply (idempotent: existing ones are kept)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import redis

from config_db.errors import ShopsyncError
from config_db.logs import carry_log_context, with_log_context
from config_db.mongo import MongoDocument
from sync.errors import ShopifyAuthError, ShopifyError
from sync.orchestration.jobs import utcnow
from sync.orchestration.run_context import credentials
from sync.runtime import SyncServices
from sync.shopify.client import CallStats, ShopifyClient, StoreCredentials

log = logging.getLogger(__name__)
WEBHOOK_PATH = "/webhooks/shopify"
MUTATION_COST = 10  # Shopify charges every mutation 10 points
CREATE_CONCURRENCY = 6
RETRY_SECONDS = 600  # the clock retries a failed registration this often
# Compliance topics (customers/data_request, customers/redact, shop/redact) are set in the
# app's configuration on Shopify, not through the API.
TOPICS = (
    "PRODUCTS_CREATE",
    "PRODUCTS_UPDATE",
    "PRODUCTS_DELETE",
    "COLLECTIONS_CREATE",
    "COLLECTIONS_UPDATE",
    "COLLECTIONS_DELETE",
    "THEMES_CREATE",
    "THEMES_UPDATE",
    "THEMES_PUBLISH",
    "THEMES_DELETE",
    "DISCOUNTS_CREATE",
    "DISCOUNTS_UPDATE",
    "DISCOUNTS_DELETE",
    "DISCOUNTS_REDEEMCODE_ADDED",
    "DISCOUNTS_REDEEMCODE_REMOVED",
    "APP_UNINSTALLED",
    "BULK_OPERATIONS_FINISH",
)
LIST_QUERY = """
query Subscriptions($first: Int!, $after: String) {
  webhookSubscriptions(first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes { id topic uri }
  }
}
"""
CREATE_MUTATION = """
mutation Subscribe($topic: WebhookSubscriptionTopic!, $uri: String!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: {uri: $uri, format: JSON}) {
    webhookSubscription { id topic uri }
    userErrors { field message }
  }
}
"""


@dataclass
class Registration:
    """What registering did: `registered`, `skipped` (no public URL) or `failed`."""

    status: str
    uri: str | None = None
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    error: str | None = None
    auth: bool = False  # failed because Shopify refused the token: retrying will not help

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "uri": self.uri,
            "created": self.created,
            "existing": self.existing,
            "error": self.error,
        }


def callback_uri(public_url: str) -> str:
    return public_url.rstrip("/") + WEBHOOK_PATH


def _existing(shopify: ShopifyClient, store: StoreCredentials) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        data = shopify.query(
            store, LIST_QUERY, {"first": 100, "after": after}, cost=102, stats=CallStats()
        )
        connection = data.get("webhookSubscriptions") or {}
        found.extend(connection.get("nodes") or [])
        info = connection.get("pageInfo") or {}
        if not info.get("hasNextPage"):
            return found
        after = info.get("endCursor")


def _create(
    shopify: ShopifyClient, store: StoreCredentials, topic: str, uri: str
) -> dict[str, Any]:
    data = shopify.query(
        store, CREATE_MUTATION, {"topic": topic, "uri": uri}, cost=MUTATION_COST, stats=CallStats()
    )
    result = data.get("webhookSubscriptionCreate") or {}
    errors = result.get("userErrors") or []
    if errors:
        raise ShopifyError(f"{topic}: " + "; ".join(str(e.get("message")) for e in errors))
    return dict(result.get("webhookSubscription") or {})


@with_log_context
def register_webhooks(
    services: SyncServices, client_key: str, shopify: ShopifyClient | None = None
) -> Registration:
    """Create the subscriptions this store lacks; record them on its shop document."""
    public_url = services.settings.public_url
    if not public_url:
        return Registration("skipped", error="SHOPSYNC_PUBLIC_URL is not set")
    registration = Registration("registered", uri=callback_uri(public_url))
    client = services.repository.get_client(client_key)
    current: list[dict[str, Any]] = []
    try:
        current = _subscribe(services, client, shopify or services.shopify, registration)
    except ShopifyAuthError as error:
        registration.status, registration.error, registration.auth = "failed", error.message, True
        services.repository.mark_needs_auth(client_key, error.message)
    except (ShopsyncError, redis.RedisError) as error:
        message = getattr(error, "message", None) or f"{type(error).__name__} (Redis unavailable)"
        registration.status, registration.error = "failed", message
        log.warning("%s: webhook registration failed: %s", client_key, message)
    services.repository.update_shop(
        client["shopDomain"],
        {
            "webhookSubscriptions": [
                {"id": s.get("id"), "topic": s.get("topic"), "uri": s.get("uri")} for s in current
            ],
            "webhooksRegisteredAt": utcnow() if registration.error is None else None,
            "webhookRegistrationError": registration.error,
            "webhookRegistrationAttemptAt": utcnow(),
        },
    )
    return registration


def _subscribe(
    services: SyncServices,
    client: MongoDocument,
    shopify: ShopifyClient,
    registration: Registration,
) -> list[dict[str, Any]]:
    """List what exists for our URI, create the rest (a few at a time: mutations are slow)."""
    store = credentials(services, client)
    uri = str(registration.uri)
    current = [s for s in _existing(shopify, store) if s.get("uri") == uri]
    have = {str(s.get("topic")) for s in current}
    registration.existing = sorted(have & set(TOPICS))
    missing = [topic for topic in TOPICS if topic not in have]
    with ThreadPoolExecutor(CREATE_CONCURRENCY) as pool:
        create = carry_log_context(lambda topic: _create(shopify, store, topic, uri))
        created = list(pool.map(create, missing))
    registration.created = missing
    return current + created


def retry_failed(services: SyncServices, send: Callable[[str], object]) -> int:
    """Stores whose registration failed are sent again every RETRY_SECONDS (`send(key)`)."""
    if not services.settings.public_url:
        return 0
    due = utcnow() - timedelta(seconds=RETRY_SECONDS)
    sent = 0
    for client in services.repository.list_clients("active"):
        shop = services.repository.find_shop(client["shopDomain"]) or {}
        attempted = shop.get("webhookRegistrationAttemptAt")
        if shop.get("webhookRegistrationError") and (attempted is None or attempted < due):
            services.repository.update_shop(
                client["shopDomain"], {"webhookRegistrationAttemptAt": utcnow()}
            )
            send(client["_id"])
            sent += 1
    return sent
