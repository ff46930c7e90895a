"""Reading a delivery's headers and checking its HMAC before anything else touches the body."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sync.storage.documents import parse_datetime
from webhooks.errors import BadDelivery, WebhookUnauthorized

# Shopify sends X-Shopify-* headers; newer deliveries may use the same names without "X-".
_PREFIXES = ("x-shopify-", "shopify-")
HMAC_HEADER = "X-Shopify-Hmac-Sha256"
DIGEST_BYTES = 32  # SHA-256
# Shopify's topics are `resource/action` in lower case: products/update, app/uninstalled.
TOPIC_RE = re.compile(r"[a-z0-9_]+/[a-z0-9_]+")
MAX_TOPIC_CHARS = 64
# Ids become part of the event `_id` (`<eventId or webhookId>:<topic>`): visible ASCII only.
ID_RE = re.compile(r"[\x21-\x7e]{1,128}")
# An API version is `2026-07` or `unstable`; anything long or odd is not Shopify's.
API_VERSION_RE = re.compile(r"[\x21-\x7e]{1,32}")
# A lower-case DNS host name; configured shops are `<name>.myshopify.com` (config_db.models).
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
SHOP_DOMAIN_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
MAX_SHOP_DOMAIN_CHARS = 255
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A Shopify header in either form (`X-Shopify-Topic` or `Shopify-Topic`), None if empty."""
    lowered = {key.lower(): value for key, value in headers.items()}
    for prefix in _PREFIXES:
        # Only HTTP's own whitespace: str.strip() would also drop control characters.
        value = (lowered.get(prefix + name) or "").strip(" \t")
        if value:
            return value
    return None


def is_plain_text(value: str) -> bool:
    """ASCII without control characters: what every Shopify header value is."""
    return value.isascii() and not _CONTROL.search(value)


def _plain_header(headers: Mapping[str, str], name: str, field: str) -> str | None:
    """A header's value, or BadDelivery naming it when it holds non-ASCII or control chars."""
    value = header(headers, name)
    if value is not None and not is_plain_text(value):
        raise BadDelivery(f"{field} must be printable ASCII", field=field)
    return value


def shop_domain_of(headers: Mapping[str, str]) -> str | None:
    """The lower-cased shop domain when it looks like a host name, else None. Never raises.

    Read before the HMAC check (to find the store's secret), so a malformed value must not
    reach a database query; `read_delivery` answers 400 for it once the HMAC is valid.
    """
    value = header(headers, "shop-domain")
    if value is None or not value.isascii() or len(value) > MAX_SHOP_DOMAIN_CHARS:
        return None
    value = value.lower()
    return value if SHOP_DOMAIN_RE.fullmatch(value) else None


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
    """Parse the delivery headers (HMAC already valid); BadDelivery naming a bad header."""
    topic = _required(headers, "topic", "X-Shopify-Topic").lower()
    if len(topic) > MAX_TOPIC_CHARS or not TOPIC_RE.fullmatch(topic):
        raise BadDelivery("X-Shopify-Topic must look like resource/action", field="X-Shopify-Topic")
    _required(headers, "shop-domain", "X-Shopify-Shop-Domain")
    shop_domain = shop_domain_of(headers)
    if shop_domain is None:
        raise BadDelivery(
            "X-Shopify-Shop-Domain is not a shop domain", field="X-Shopify-Shop-Domain"
        )
    webhook_id = _matching(headers, "webhook-id", "X-Shopify-Webhook-Id", ID_RE)
    event_id = _matching(headers, "event-id", "X-Shopify-Event-Id", ID_RE)
    if not (webhook_id or event_id):
        raise BadDelivery("X-Shopify-Webhook-Id header is missing", field="X-Shopify-Webhook-Id")
    return Delivery(
        topic,
        shop_domain,
        webhook_id,
        event_id,
        _matching(headers, "api-version", "X-Shopify-API-Version", API_VERSION_RE),
        _triggered_at(_plain_header(headers, "triggered-at", "X-Shopify-Triggered-At")),
    )


def _required(headers: Mapping[str, str], name: str, field: str) -> str:
    value = _plain_header(headers, name, field)
    if value is None:
        raise BadDelivery(f"{field} header is missing", field=field)
    return value


def _matching(
    headers: Mapping[str, str], name: str, field: str, pattern: re.Pattern[str]
) -> str | None:
    """An optional header that, when present, must match `pattern` whole."""
    value = _plain_header(headers, name, field)
    if value is not None and not pattern.fullmatch(value):
        raise BadDelivery(f"{field} is malformed or too long", field=field)
    return value


def _triggered_at(value: str | None) -> datetime | None:
    """The trigger time, or None when it cannot be read.

    Only informative (ordering uses the payload's updated_at), so an unreadable value is
    logged as null rather than refusing the delivery. Values at datetime's edges
    (`0001-01-01T00:00:00+23:59`) raise OverflowError on the move to UTC, not ValueError.
    """
    if value is None:
        return None
    try:
        return parse_datetime(value)
    except (ValueError, OverflowError):
        return None


def verify_hmac(
    headers: Mapping[str, str], body: bytes, secret: str, previous_secret: str | None
) -> None:
    """Check base64(HMAC-SHA256(secret, raw body)) in constant time; WebhookUnauthorized if not.

    Our own check rather than shopifyapp's `verify_webhook_req`: that helper needs the body
    decoded as text (a non-UTF-8 body cannot even be checked) and compares base64 strings,
    where a non-ASCII header value makes `hmac.compare_digest` raise TypeError (a 500).
    Here the digest is computed on the raw bytes and compared as 32 bytes.
    """
    presented = _presented_digest(headers)
    secrets = [secret] + ([previous_secret] if previous_secret else [])
    if not _any_secret_signed(body, presented, secrets):
        raise WebhookUnauthorized(f"invalid {HMAC_HEADER}", field=HMAC_HEADER)


def _presented_digest(headers: Mapping[str, str]) -> bytes:
    """The 32 bytes the HMAC header carries; WebhookUnauthorized when absent or malformed."""
    value = header(headers, "hmac-sha256")
    if value is None:
        raise WebhookUnauthorized(f"missing {HMAC_HEADER}", field=HMAC_HEADER)
    if not is_plain_text(value):
        raise WebhookUnauthorized(f"{HMAC_HEADER} is not base64", field=HMAC_HEADER)
    try:
        digest = base64.b64decode(value, validate=True)
    except binascii.Error:
        raise WebhookUnauthorized(f"{HMAC_HEADER} is not base64", field=HMAC_HEADER) from None
    if len(digest) != DIGEST_BYTES:
        raise WebhookUnauthorized(f"{HMAC_HEADER} is not a SHA-256 digest", field=HMAC_HEADER)
    return digest


def _any_secret_signed(body: bytes, presented: bytes, secrets: Iterable[str]) -> bool:
    """Whether one of the secrets signed `body`; every secret is tried (no early exit)."""
    matched = False
    for secret in secrets:
        expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
        matched |= hmac.compare_digest(expected, presented)
    return matched
