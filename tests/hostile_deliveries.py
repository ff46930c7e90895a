"""Helpers for the hostile-webhook tests: signed or unsigned deliveries with headers changed,
the JSON error shape every refusal must have, and the `Shop` the deliveries are posted to."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from tests.test_webhooks import APP_SECRET, sign

HMAC = "X-Shopify-Hmac-Sha256"
GOOD_BODY = b'{"id": 1, "admin_graphql_api_id": "gid://shopify/Product/1"}'
OVERFLOW_BODY = b'{"id": 18446744073709551616}'  # 2**64: no BSON integer holds it
Headers = dict[str, str]


def too_large_body() -> bytes:
    """An object whose BSON form passes MongoDB's 16 MB limit from a 3 MB body: each array
    item costs 2 bytes of JSON but ~13 of BSON (type, decimal index key, int32)."""
    return b'{"id": 9, "a": [' + b",".join([b"0"] * 1_500_000) + b"]}"


def hostile(
    body: bytes = GOOD_BODY,
    changes: Mapping[str, str | None] | None = None,
    *,
    signed: bool = True,
    event_id: str | None = None,
) -> tuple[bytes, Headers]:
    """A delivery of `body` (signed with the app secret, or not), headers then changed."""
    headers = {
        "X-Shopify-Topic": "products/update",
        HMAC: sign(body, APP_SECRET if signed else "not-the-secret"),
        "X-Shopify-Shop-Domain": "mystore.myshopify.com",
        "X-Shopify-API-Version": "2026-07",
        "X-Shopify-Webhook-Id": str(uuid.uuid4()),
        "X-Shopify-Event-Id": event_id or str(uuid.uuid4()),
        "X-Shopify-Triggered-At": "2026-11-22T10:00:00Z",
        "Content-Type": "application/json",
    }
    for name, value in (changes or {}).items():
        if value is None:
            headers.pop(name, None)
        else:
            headers[name] = value
    return body, headers


def assert_refused(answer: Any, status: int, field: str | None = None) -> dict[str, Any]:
    """The answer is `status` with `{"error": {"code", "message", "field"?}}`."""
    assert answer.status_code == status, answer.get_data(as_text=True)[:300]
    error = answer.get_json()["error"]
    assert isinstance(error["code"], str) and isinstance(error["message"], str)
    assert set(error) <= {"code", "message", "field"}
    if field is not None:
        assert error.get("field") == field
    return dict(error)


class Shop:
    """The app on mongomock with the store `mystore` configured."""

    def __init__(self, client: Any, mongo: Any, broker: Any, app: Any) -> None:
        self.client, self.mongo, self.broker, self.app = client, mongo, broker, app

    def post(self, body: bytes, headers: Headers, **options: Any) -> Any:
        return self.client.post("/webhooks/shopify", data=body, headers=headers, **options)

    def events(self) -> list[dict[str, Any]]:
        return list(self.mongo.mystore.webhookevents.find())

    def messages(self) -> int:
        queue = self.broker.queues.get("webhooks")
        return 0 if queue is None else int(queue.qsize())

    def assert_nothing_written(self) -> None:
        assert self.events() == [] and self.messages() == 0
