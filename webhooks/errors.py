"""Errors of the webhooks package."""

from __future__ import annotations

from config_db.errors import ShopsyncError


class WebhookError(ShopsyncError):
    """Root of the webhooks package's errors."""


class WebhookUnauthorized(WebhookError):
    status = 401
    code = "invalid_hmac"


class UnknownShop(WebhookError):
    status = 404
    code = "unknown_shop"


class BadDelivery(WebhookError):
    status = 400
    code = "bad_delivery"


class RegistrationFailed(WebhookError):
    status = 502
    code = "webhook_registration_failed"
