"""Reading a delivery's headers and checking its HMAC before anything else touches the body."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from shopify_app.verify.webhook import verify_webhook_req

from sync.storage.documents import parse_datetime
from webhooks.errors import BadDelivery, WebhookUnauthorized

# Shopify sends X-Shopify-* headers; newer deliveries may use the same names without "X-".
_PREFIXES = ("x-shopify-", "shopify-")


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A Shopify header in either form (`X-Shopify-Topic` or `Shopify-Topic`)."""
    lowered = {key.lower(): value for key, value in headers.items()}
    for prefix in _PREFIXES:
        value = lowered.get(prefix + name)
        if value:
            return value.strip()
    return None


@dataclass(frozen=True)
class Delivery:
    """What the headers of one webhook delivery say."""

    topic: str
    shop_domain: str
    webhook_id: str | None
    event_id: str | None
    api_version: str | None
    triggered_at: datetime | None

    @property
    def dedup_key(self) -> str:
        """`<eventId or webhookId>:<topic>`: one merchant action, one topic, one event."""
        return f"{self.event_id or self.webhook_id}:{self.topic}"


def read_delivery(headers: Mapping[str, str]) -> Delivery:
    """Parse the delivery headers; a delivery without topic, shop or ids is a 400."""
    topic, shop = header(headers, "topic"), header(headers, "shop-domain")
    webhook_id, event_id = header(headers, "webhook-id"), header(headers, "event-id")
    for name, value in (("X-Shopify-Topic", topic), ("X-Shopify-Shop-Domain", shop)):
        if not value:
            raise BadDelivery(f"{name} header is missing", field=name)
    if not (webhook_id or event_id):
        raise BadDelivery("X-Shopify-Webhook-Id header is missing", field="X-Shopify-Webhook-Id")
    triggered = header(headers, "triggered-at")
    try:
        triggered_at = parse_datetime(triggered) if triggered else None
    except ValueError:
        triggered_at = None
    return Delivery(
        str(topic).lower(),
        str(shop).lower(),
        webhook_id,
        event_id,
        header(headers, "api-version"),
        triggered_at,
    )


def verify_hmac(
    headers: Mapping[str, str], body: bytes, secret: str, previous_secret: str | None
) -> None:
    """Shopify's own verifier (both header forms, secret rotation); WebhookUnauthorized if not."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise WebhookUnauthorized("invalid HMAC") from None
    result = verify_webhook_req(
        {"method": "POST", "headers": dict(headers), "url": "", "body": text},
        {"client_id": "", "client_secret": secret, "old_client_secret": previous_secret},
    )
    if not result.ok:
        raise WebhookUnauthorized("missing or invalid X-Shopify-Hmac-Sha256")
