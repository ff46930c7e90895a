"""POST /webhooks/shopify (HMAC-verified intake) and webhook registration per store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from config_db import metrics
from config_db.openapi import Operation, operation, path_param
from webhooks.errors import BodyTooLarge, RegistrationFailed
from webhooks.intake import WebhookIntake
from webhooks.schemas import Delivery, DeliveryAccepted, RegistrationRefused, WebhookRegistration
from webhooks.subscriptions import Registration

blueprint = Blueprint("webhooks", __name__)
EXTENSION = "shopsync.webhooks"

_DELIVERY = operation(
    "A Shopify webhook delivery, verified, logged and applied by a worker",
    {200: DeliveryAccepted},
    errors=(400, 401, 404, 413, 503),
    body=Delivery,
    public=True,
    description="Headers: X-Shopify-Topic, -Hmac-Sha256, -Shop-Domain, -Webhook-Id, -Event-Id, "
    "-Triggered-At (or the same without X-). 404 for a shop with no store.",
)
OPENAPI_PATHS: dict[str, dict[str, Operation]] = {
    "/webhooks/shopify": {"post": _DELIVERY},
    "/api/stores/{clientKey}/webhooks/register": {
        "post": operation(
            "Create the store's missing webhook subscriptions now",
            {200: WebhookRegistration, 502: RegistrationRefused},
            errors=(404,),
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
    try:
        body = read_body(hooks.webhook_max_body_bytes)
    except (BodyTooLarge, RequestEntityTooLarge):  # chunked, or past its Content-Length
        metrics.WEBHOOK_DELIVERIES.labels("", "too_large").inc()  # before the shop is known
        raise
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
    """Register the store's webhook subscriptions; 502 (the error shape) when Shopify refused."""
    registration = services().register(client_key)
    answer = registration.to_dict()
    if registration.status != "failed":
        return jsonify(answer), 200
    # The error shape every failure has, with what was registered before Shopify failed.
    failure = RegistrationFailed(f"webhook registration failed: {registration.error}")
    answer["error"] = failure.to_dict()
    return jsonify(answer), failure.status
