"""POST /webhooks/shopify (HMAC-verified intake) and webhook registration per store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from config_db.openapi import operation, path_param
from webhooks.errors import BodyTooLarge
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
    body = read_body(hooks.webhook_max_body_bytes)
    return jsonify(hooks.intake.accept(dict(request.headers.items()), body)), 200


def read_body(limit: int) -> bytes:
    """The raw body; 413 past `limit` bytes, with or without a Content-Length.

    werkzeug (3.1) checks a Content-Length against max_content_length up front, but a chunked
    body (gunicorn sets wsgi.input_terminated) is only cut off at the limit, silently: we
    would get its first `limit` bytes. Reading one byte more tells "exactly at the limit"
    from "over it". config_db.body_limit does the same for every route at the WSGI level;
    this keeps the route right on its own, with its own limit.
    """
    request.max_content_length = limit + 1
    body = request.get_data(cache=False)
    if len(body) > limit:
        raise BodyTooLarge(f"the body is over the limit of {limit} bytes", field="body")
    return body


@blueprint.post("/api/stores/<client_key>/webhooks/register")
def register(client_key: str) -> tuple[Response, int]:
    """Register the store's webhook subscriptions; 502 when Shopify refused."""
    registration = services().register(client_key)
    return jsonify(registration.to_dict()), 502 if registration.status == "failed" else 200
