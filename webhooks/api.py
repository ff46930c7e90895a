"""POST /webhooks/shopify (HMAC-verified intake) and webhook registration per store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from config_db.openapi import operation, path_param
from webhooks.intake import WebhookIntake
from webhooks.subscriptions import Registration

blueprint = Blueprint("webhooks", __name__)
EXTENSION = "shopsync.webhooks"

_DELIVERY = operation(
    "A Shopify webhook delivery (X-Shopify-Topic, -Hmac-Sha256, -Shop-Domain, -Webhook-Id, "
    "-Event-Id, -Triggered-At; or the same without X-). Verified, logged, applied by a worker.",
    (200, 400, 401, 404, 413, 503),
    body={"type": "object"},
    public=True,
)
OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/webhooks/shopify": {"post": _DELIVERY},
    "/api/stores/{clientKey}/webhooks/register": {
        "post": operation(
            "Create the store's missing webhook subscriptions now",
            (200, 401, 404, 502),
            params=[path_param("clientKey", "The store's clientKey")],
        )
    },
}


@dataclass
class WebhookServices:
    intake: WebhookIntake
    register: Callable[[str], Registration]
    webhook_max_body_bytes: int


def services() -> WebhookServices:
    found: WebhookServices = current_app.extensions[EXTENSION]
    return found


@blueprint.post("/webhooks/shopify")
def receive() -> tuple[Response, int]:
    """Verify the HMAC on the raw body, log the delivery once, enqueue it; 200 fast."""
    hooks = services()
    request.max_content_length = hooks.webhook_max_body_bytes
    body = request.get_data(cache=False)
    return jsonify(hooks.intake.accept(dict(request.headers.items()), body)), 200


@blueprint.post("/api/stores/<client_key>/webhooks/register")
def register(client_key: str) -> tuple[Response, int]:
    """Register the store's webhook subscriptions; 502 when Shopify refused."""
    registration = services().register(client_key)
    return jsonify(registration.to_dict()), 502 if registration.status == "failed" else 200
