"""The webhook delivery body and the answers of the webhook routes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from config_db.schemas import ErrorDetail, WebhookRegistration

__all__ = ["Delivery", "DeliveryAccepted", "RegistrationRefused", "WebhookRegistration"]


class Delivery(RootModel[dict[str, Any]]):
    """Shopify's payload for the topic: any JSON object, verified by its HMAC."""


class DeliveryAccepted(BaseModel):
    status: Literal["queued", "duplicate"] = Field(
        description="queued for a worker, or a delivery of an event already logged"
    )
    eventId: str = Field(description="The event's key in the store's webhookevents")


class RegistrationRefused(BaseModel):
    """502: Shopify refused or failed; the error shape plus what was registered anyway."""

    model_config = ConfigDict(extra="allow")

    error: ErrorDetail
    status: Literal["failed"]
    uri: str | None
    created: list[str]
    existing: list[str]
