"""Webhooks of one shop: subscriptions, automatic and manual signed deliveries, uninstall.

Mixin of :class:`FakeShop`; every method takes the shop's lock while it reads state, never
while it waits on the network.
"""

from __future__ import annotations

import copy
import json
import threading
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tests.fakeshopify.data import Node, StoreData, now_iso
from tests.fakeshopify.webhookdelivery import (
    USER_AGENT,
    Deliverer,
    Delivery,
    merge_headers,
    parse_delays,
    send,
    sign,
    triggered_now,
)
from tests.fakeshopify.webhookpayloads import (
    WEBHOOK_RESOURCES,
    build_payload,
    enum_topic,
    include_fields,
    redeem_code,
    rest_topic,
    shop_payload,
    shop_zone,
)

if TYPE_CHECKING:
    from tests.fakeshopify.limits import ShopConfig

INVALID_ADDRESS = "Address is invalid"
TAKEN_ADDRESS = "Address for this topic has already been taken"
ADDRESS_FIELD = ["webhookSubscription", "callbackUrl"]
PUBLIC_KEYS = ("id", "topic", "uri", "format", "includeFields", "createdAt", "updatedAt")


def valid_uri(uri: str | None) -> bool:
    parts = urlsplit(uri or "")
    return parts.scheme in ("http", "https") and bool(parts.hostname)


class Webhooks:
    """Mixin of :class:`FakeShop`: webhook subscriptions and deliveries."""

    lock: threading.RLock
    config: ShopConfig
    name: str
    token: str | None
    data: StoreData
    _version: int

    if TYPE_CHECKING:

        @property
        def shop_domain(self) -> str: ...

    def _init_webhooks(self, client_secret: str) -> None:
        self.client_secret = client_secret
        self.installed = True
        self._subscriptions: dict[str, Node] = {}
        self._subscription_seq = 0
        self._deliverer = Deliverer(self.name)

    # ------------------------------------------------------------ subscriptions
    @property
    def subscriptions(self) -> list[dict[str, Any]]:
        """``[{"id", "topic" (enum form), "uri", "format", "includeFields", ...}]``."""
        with self.lock:
            return [{key: copy.deepcopy(sub[key]) for key in PUBLIC_KEYS}
                    for sub in self._subscriptions.values()]  # fmt: skip

    def subscription_nodes(self) -> list[Node]:
        """The stored subscription dicts (for the resolvers; do not modify)."""
        with self.lock:
            return list(self._subscriptions.values())

    def address_error(self, topic: str, uri: str | None, ignore: str | None = None) -> str | None:
        """Shopify's userErrors message for subscribing ``uri`` to ``topic``, or None."""
        if not valid_uri(uri):
            return INVALID_ADDRESS
        topic = enum_topic(rest_topic(topic))
        with self.lock:
            for sub in self._subscriptions.values():
                if sub["id"] != ignore and sub["topic"] == topic and sub["uri"] == uri:
                    return TAKEN_ADDRESS
        return None

    def subscribe(self, topic: str, uri: str, *, format: str = "JSON",  # noqa: A002
                  include_fields: list[str] | None = None) -> str:  # fmt: skip
        """Add a subscription (either topic form; compliance topics too, as an app's TOML
        declares them) and answer its id. Raises ValueError with Shopify's userErrors message."""
        error = self.address_error(topic, uri)
        if error:
            raise ValueError(error)
        with self.lock:
            self._subscription_seq += 1
            gid = f"gid://shopify/WebhookSubscription/{1_200_000_000 + self._subscription_seq}"
            now = now_iso()
            self._subscriptions[gid] = {
                "__typename": "WebhookSubscription", "id": gid,
                "topic": enum_topic(rest_topic(topic)), "uri": uri, "callbackUrl": uri,
                "format": format, "includeFields": list(include_fields or ()),
                "metafieldNamespaces": [], "filter": None, "createdAt": now, "updatedAt": now,
            }  # fmt: skip
            return gid

    def update_subscription(self, gid: str, changes: dict[str, Any]) -> None:
        with self.lock:
            sub = self._subscriptions[gid]
            sub.update({key: value for key, value in changes.items() if value is not None})
            sub["callbackUrl"] = sub["uri"]
            sub["updatedAt"] = now_iso()

    def unsubscribe(self, gid: str) -> bool:
        with self.lock:
            return self._subscriptions.pop(gid, None) is not None

    def clear_subscriptions(self) -> None:
        with self.lock:
            self._subscriptions.clear()

    def _targets(self, topic: str) -> list[Node]:
        wanted = enum_topic(topic)
        return [sub for sub in self._subscriptions.values() if sub["topic"] == wanted]

    # ------------------------------------------------------------ delivery records
    @property
    def deliveries(self) -> list[dict[str, Any]]:
        """Every attempt: ``{"topic", "webhook_id", "event_id", "uri", "status", "attempt",
        "time", "error", "manual"}`` (``status`` None when the request failed)."""
        return self._deliverer.records

    def clear_deliveries(self) -> None:
        self._deliverer.clear_records()

    def wait_deliveries(self, timeout: float = 10.0) -> None:
        """Block until no automatic delivery is queued, waiting to retry or in flight."""
        self._deliverer.wait(timeout)

    def stop_deliveries(self) -> None:
        """Drop queued deliveries and end the background thread."""
        self._deliverer.stop()

    # ------------------------------------------------------------ building requests
    def _prepare(self, topic: str, payload: Any, url: str, fields: list[str], *,
                 event_id: str | None = None, webhook_id: str | None = None,
                 triggered_at: str | None = None, bad_hmac: bool = False,
                 secret: str | None = None, body: bytes | None = None,
                 headers: dict[str, Any] | None = None) -> Delivery:  # fmt: skip
        if body is None:
            data = include_fields(payload, fields)
            body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        key = self.client_secret if secret is None else secret
        signature = sign(key + "-not-the-secret" if bad_hmac else key, body)
        cfg, p = self.config, self.config.webhook_header_prefix
        webhook_id = webhook_id or str(uuid.uuid4())
        event_id = event_id or str(uuid.uuid4())
        sent: dict[str, str] = {
            "Content-Type": "application/json", "User-Agent": USER_AGENT,
            f"{p}Topic": topic, f"{p}Hmac-Sha256": signature, f"{p}Shop-Domain": self.shop_domain,
            f"{p}API-Version": cfg.webhook_api_version, f"{p}Webhook-Id": webhook_id,
            f"{p}Event-Id": event_id, f"{p}Triggered-At": triggered_at or triggered_now(),
        }  # fmt: skip
        merge_headers(sent, headers)
        delays = parse_delays(cfg.webhook_retry_delays)
        return Delivery(topic, url, sent, body, webhook_id, event_id, delays,
                        cfg.webhook_timeout_seconds)  # fmt: skip

    def _manual(self, topic: str, payload: dict[str, Any] | None, gid: str | None,
                uri: str | None, event_id: str | None, triggered_at: str | None,
                body: bytes | None, **options: Any) -> list[Delivery]:  # fmt: skip
        topic = rest_topic(topic)
        with self.lock:
            targets = [(uri, [])] if uri else [(s["uri"], s["includeFields"])
                                               for s in self._targets(topic)]  # fmt: skip
            base = payload
            if body is None and payload is None:
                base = build_payload(self, topic, gid)
            shared: dict[str, Any] = {"event_id": event_id or str(uuid.uuid4()),
                                      "triggered_at": triggered_at or triggered_now()}  # fmt: skip
            return [self._prepare(topic, base, url or "", fields, body=body, **shared, **options)
                    for url, fields in targets or [(None, [])]]  # fmt: skip

    def build_delivery(self, topic: str, payload: dict[str, Any] | None = None,
                       gid: str | None = None, *, uri: str | None = None,
                       event_id: str | None = None, webhook_id: str | None = None,
                       triggered_at: str | None = None, bad_hmac: bool = False,
                       secret: str | None = None, body: bytes | None = None,
                       headers: dict[str, Any] | None = None,
                       ) -> tuple[str | None, dict[str, str], bytes]:  # fmt: skip
        """``(url, headers, body)`` that :meth:`deliver` would send (to the first subscription
        of ``topic`` unless ``uri``; url None when there is neither)."""
        delivery = self._manual(topic, payload, gid, uri, event_id, triggered_at, body,
                                webhook_id=webhook_id, bad_hmac=bad_hmac, secret=secret,
                                headers=headers)[0]  # fmt: skip
        return delivery.url or None, delivery.headers, delivery.body

    def deliver(self, topic: str, payload: dict[str, Any] | None = None, *,
                gid: str | None = None, uri: str | None = None, event_id: str | None = None,
                webhook_id: str | None = None, triggered_at: str | None = None,
                bad_hmac: bool = False, secret: str | None = None, body: bytes | None = None,
                headers: dict[str, Any] | None = None) -> int:  # fmt: skip
        """Send one delivery now (no retries) to ``uri`` or every subscription of ``topic``;
        answers the (last) HTTP status. Raises LookupError without a target and
        ConnectionError when a request fails."""
        deliveries = self._manual(topic, payload, gid, uri, event_id, triggered_at, body,
                                  webhook_id=webhook_id, bad_hmac=bad_hmac, secret=secret,
                                  headers=headers)  # fmt: skip
        if not deliveries[0].url:
            raise LookupError(f"no subscription to {rest_topic(topic)!r} and no uri given")
        status = 0
        for delivery in deliveries:
            delivery.manual = True
            entry = send(delivery)
            self._deliverer.record(entry)
            if entry["status"] is None:
                raise ConnectionError(f"delivery to {delivery.url} failed: {entry['error']}")
            status = int(entry["status"])
        return status

    # ------------------------------------------------------------ automatic deliveries
    def _emit(self, topic: str, gid: str | None = None, payload: dict[str, Any] | None = None
              ) -> None:  # fmt: skip
        """Queue ``topic`` for every subscription (one event id); call under the lock."""
        if not self.config.webhooks_enabled:
            return
        targets = self._targets(topic)
        if not targets:
            return
        base = payload if payload is not None else build_payload(self, topic, gid)
        shared: dict[str, Any] = {"event_id": str(uuid.uuid4()), "triggered_at": triggered_now()}
        for sub in targets:
            self._deliverer.enqueue(
                self._prepare(topic, base, sub["uri"], sub["includeFields"], **shared)
            )

    def _notify(self, resource: str, action: str, gid: str) -> None:
        if resource in WEBHOOK_RESOURCES:
            self._emit(f"{resource}/{action}", gid)

    def _notify_codes(self, action: str, discount_gid: str, codes: list[Node]) -> None:
        """One delivery (and event) per code added or removed."""
        node = self.data.resources["discounts"].get(discount_gid)
        if node is None:
            return
        for code in codes:
            self._emit(f"discounts/redeemcode_{action}",
                       payload=redeem_code(node, code, shop_zone(self)))  # fmt: skip

    # ------------------------------------------------------------ merchant actions
    def publish_theme(self, gid: str) -> None:
        """Make ``gid`` the MAIN theme (MAIN themes become UNPUBLISHED); themes/publish."""
        with self.lock:
            themes = self.data.resources["themes"]
            if gid not in themes:
                raise KeyError(f"no themes node {gid!r}")
            now = now_iso()
            for theme_gid, node in themes.items():
                if theme_gid != gid and node["role"] == "MAIN":
                    node["role"], node["updatedAt"] = "UNPUBLISHED", now
            themes[gid]["role"], themes[gid]["updatedAt"] = "MAIN", now
            self._version += 1
            self._emit("themes/publish", gid)

    def uninstall(self) -> None:
        """app/uninstalled; then the token answers 401 and the subscriptions are gone."""
        with self.lock:
            self._emit("app/uninstalled", payload=shop_payload(self))
            self.installed = False
            self._subscriptions.clear()

    def reinstall(self, token: str | None = None) -> None:
        """Accept a token again (``token`` replaces the old one when given)."""
        with self.lock:
            self.installed = True
            if token:
                self.token = token
