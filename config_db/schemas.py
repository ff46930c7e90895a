"""Answers of /health* and /api/config/*, and the error body every route shares.

These models describe answers for the OpenAPI document (and the tests that check real answers
against it); the routes still build plain dicts. Answers that may grow keep extra fields
allowed, so a new field is not a breaking change for clients that validate.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from config_db.credentials import AuthMode
from config_db.models import ClientStatus

Masked = Field(default=None, description="Masked: the kind prefix and last four characters")


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="Stable machine-readable code, e.g. validation_error")
    message: str
    field: str | None = Field(default=None, description="The input at fault, when there is one")


class ErrorBody(BaseModel):
    """Every 4xx and 5xx answer."""

    error: ErrorDetail


class Health(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    status: Literal["ready"]
    checks: list[str] = Field(description="The dependencies checked: mongodb, redis")


class NotReady(BaseModel):
    """503 from /health/ready: the error shape plus which dependency is down."""

    status: Literal["unavailable"]
    down: dict[str, str] = Field(description="Dependency name -> the error's class name")
    error: ErrorDetail


class ScopeCheck(BaseModel):
    """The granted access scopes, read from Shopify right after the save."""

    scopes: list[str] | None
    missingScopes: list[str] | None = None
    scopesError: str | None = Field(default=None, description="Why the scopes were not read")


class WebhookRegistration(BaseModel):
    """What registering the store's webhook subscriptions did."""

    status: Literal["registered", "skipped", "failed"]
    uri: str | None = Field(description="The callback URI (null without SHOPSYNC_PUBLIC_URL)")
    created: list[str] = Field(description="Topics subscribed now")
    existing: list[str] = Field(description="Topics already subscribed")
    error: str | None
    retry: str | None = Field(default=None, description="How a failed registration is retried")


class ConfigSaved(BaseModel):
    """202 from POST /api/config/sync: saved, database ready, full sync enqueued."""

    clientKey: str
    shopDomain: str
    created: bool = Field(description="False when an existing config was replaced")
    database: str = Field(description="The store database's name")
    syncJobId: str
    warning: str | None = None
    auth: ScopeCheck
    webhooks: WebhookRegistration


class AuthView(BaseModel):
    model_config = ConfigDict(extra="allow")

    mode: AuthMode
    expiresAt: datetime | None = None
    refreshedAt: datetime | None = None
    scopes: list[str] | None = None
    missingScopes: list[str] | None = None
    scopesCheckedAt: datetime | None = None


class ClientView(BaseModel):
    """A client as the API shows it: the config with secrets masked, plus its state."""

    model_config = ConfigDict(extra="allow")

    clientKey: str
    shopDomain: str
    status: ClientStatus
    statusReason: str | None = None
    auth: AuthView
    clientName: str | None = None
    environment: str | None = None
    apiBaseUrl: str | None = None
    adminApiBaseUrl: str
    appName: str | None = None
    bundleId: str | None = None
    packageName: str | None = None
    clientId: str | None = None
    storefrontToken: str | None = Masked
    adminShopToken: str | None = Masked
    webhookSecret: str | None = Masked
    clientSecret: str | None = Masked
    refreshToken: str | None = Masked
    tokenExpiresAt: datetime | None = None
    breaker: dict[str, Any] | None = Field(default=None, description="Circuit breaker state")
    bulkFallback: dict[str, Any] | None = Field(
        default=None, description="Why bulk operations are off for this shop, until when"
    )
    createdAt: datetime
    updatedAt: datetime


class ClientUpdated(ClientView):
    """200 from PATCH: the client; a needs_auth client given new credentials syncs again."""

    syncJobId: str | None = None
    syncMode: Literal["full", "incremental"] | None = None
    warning: str | None = None
    webhooks: WebhookRegistration | None = None


class ClientList(BaseModel):
    items: list[ClientView]


class ClientDisabled(BaseModel):
    clientKey: str
    status: Literal["disabled"]
    purged: bool = Field(description="True when the store database was dropped too")


class OpenApiDocument(BaseModel):
    """This OpenAPI 3.1 document."""

    model_config = ConfigDict(extra="allow")

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]
