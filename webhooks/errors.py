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


class PayloadRefused(BadDelivery):
    """A signed payload MongoDB cannot store (a number past 8 bytes, a key BSON refuses)."""

    code = "unstorable_payload"


class BodyTooLarge(WebhookError):
    """A body past the webhook limit (the same answer as config_db.body_limit's)."""

    status = 413
    code = "request_entity_too_large"


class PayloadTooLarge(WebhookError):
    """A payload whose stored document would pass MongoDB's 16 MB document limit."""

    status = 413
    code = "payload_too_large"
