"""Client configuration as posted by customers, validated field by field."""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from config_db.credentials import SECRET_FIELDS, AuthMode, auth_mode, parse_expiry
from config_db.errors import ValidationFailed

CLIENT_KEY_PATTERN = r"^[A-Za-z0-9_-]{1,48}$"
# MongoDB's own databases and ours: a store database may never take one of these names.
RESERVED_DATABASE_NAMES = frozenset({"admin", "local", "config", "appconfig"})
SHOP_DOMAIN_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}\.myshopify\.com$")
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
__all__ = ["SECRET_FIELDS", "ClientConfig", "ClientPatch", "parse_client_config"]
ClientStatus = Literal["active", "disabled", "needs_auth", "uninstalled"]

Text = Field(default=None, max_length=200)
Token = Field(default=None, min_length=1, max_length=1000)


def is_loopback_host(host: str) -> bool:
    """True for localhost and loopback IP addresses, which may use plain http in development."""
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(value: str, *, env: str) -> str:
    """An http(s) base URL without credentials, query or fragment; https unless loopback dev."""
    parts = urlsplit(value)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        raise PydanticCustomError("url", "must be an absolute http(s) URL")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise PydanticCustomError("url", "must not carry credentials, a query or a fragment")
    if parts.scheme == "http" and not (env == "development" and is_loopback_host(host)):
        raise PydanticCustomError(
            "url", "must use https (plain http only for loopback hosts in development)"
        )
    return value


class ClientConfig(BaseModel):
    """A store's configuration, the payload of POST /api/config/sync.

    Credentials take one of three forms: `adminShopToken` alone (static), `clientId` and
    `clientSecret` without a token (client credentials), or `adminShopToken`, `refreshToken`
    and `tokenExpiresAt` (expiring offline token). Secrets are stored encrypted and answered
    masked. `shopDomain` is required when `apiBaseUrl` is absent or not `*.myshopify.com`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    clientKey: StrictStr = Field(pattern=CLIENT_KEY_PATTERN)
    clientName: StrictStr | None = Text
    environment: StrictStr | None = Text
    apiBaseUrl: StrictStr | None = Field(default=None, max_length=500)
    adminApiBaseUrl: StrictStr = Field(max_length=500)
    appName: StrictStr | None = Text
    bundleId: StrictStr | None = Text
    packageName: StrictStr | None = Text
    storefrontToken: StrictStr | None = Token
    adminShopToken: StrictStr | None = Token
    shopDomain: StrictStr | None = Field(default=None, max_length=100)
    webhookSecret: StrictStr | None = Token
    clientId: StrictStr | None = Field(default=None, min_length=1, max_length=200)
    clientSecret: StrictStr | None = Token
    refreshToken: StrictStr | None = Token
    tokenExpiresAt: StrictStr | None = Field(default=None, max_length=40)

    @field_validator("clientKey")
    @classmethod
    def _not_reserved(cls, value: str, info: Any) -> str:
        prefix = (info.context or {}).get("db_prefix", "")
        if (prefix + value).lower() in RESERVED_DATABASE_NAMES:
            raise PydanticCustomError("reserved", "is a reserved database name")
        return value

    @field_validator("apiBaseUrl", "adminApiBaseUrl")
    @classmethod
    def _base_url(cls, value: str | None, info: Any) -> str | None:
        if value is None:
            return value
        return check_base_url(value, env=(info.context or {}).get("env", "production"))

    @field_validator("shopDomain")
    @classmethod
    def _shop_domain(cls, value: str | None) -> str | None:
        if value is None:
            return value
        value = value.strip().lower()
        if not SHOP_DOMAIN_RE.match(value):
            raise PydanticCustomError("shop_domain", "must look like name.myshopify.com")
        return value

    @field_validator("tokenExpiresAt")
    @classmethod
    def _expiry(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_expiry(value)
            except ValueError as error:
                raise PydanticCustomError("datetime", str(error)) from None
        return value

    @field_validator(*SECRET_FIELDS, "clientId")
    @classmethod
    def _token_chars(cls, value: str | None) -> str | None:
        if value is not None and (not value.isprintable() or value != value.strip()):
            # The message never echoes the token itself.
            raise PydanticCustomError("token", "must be printable without surrounding spaces")
        return value

    @property
    def graphql_base(self) -> str:
        return self.adminApiBaseUrl.rstrip("/")

    @property
    def token_expires_at(self) -> datetime | None:
        return parse_expiry(self.tokenExpiresAt) if self.tokenExpiresAt else None

    def auth_mode(self, *, app_credentials: bool = True) -> AuthMode:
        """static, client_credentials or expiring (ValidationFailed for a mixed form).

        `app_credentials=False` also refuses an expiring token without its own clientId.
        """
        return auth_mode(self, app_credentials=app_credentials)

    def resolved_shop_domain(self) -> str:
        """shopDomain as given, else the myshopify host of apiBaseUrl."""
        host = (urlsplit(self.apiBaseUrl).hostname or "").lower() if self.apiBaseUrl else ""
        if self.shopDomain:
            if SHOP_DOMAIN_RE.match(host) and host != self.shopDomain:
                raise ValidationFailed("does not match the host of apiBaseUrl", field="shopDomain")
            return self.shopDomain
        if not self.apiBaseUrl:
            raise ValidationFailed("apiBaseUrl or shopDomain is required", field="shopDomain")
        if not SHOP_DOMAIN_RE.match(host):
            raise ValidationFailed(
                "apiBaseUrl's host is not *.myshopify.com: give shopDomain", field="shopDomain"
            )
        return host


class ClientPatch(BaseModel):
    """Fields a PATCH may change; the clientKey itself never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    clientName: StrictStr | None = Text
    environment: StrictStr | None = Text
    apiBaseUrl: StrictStr | None = Field(default=None, max_length=500)
    adminApiBaseUrl: StrictStr | None = Field(default=None, max_length=500)
    appName: StrictStr | None = Text
    bundleId: StrictStr | None = Text
    packageName: StrictStr | None = Text
    storefrontToken: StrictStr | None = Token
    adminShopToken: StrictStr | None = Token
    shopDomain: StrictStr | None = Field(default=None, max_length=100)
    webhookSecret: StrictStr | None = Token
    clientId: StrictStr | None = Field(default=None, min_length=1, max_length=200)
    clientSecret: StrictStr | None = Token
    refreshToken: StrictStr | None = Token
    tokenExpiresAt: StrictStr | None = Field(default=None, max_length=40)
    status: Literal["active", "disabled"] | None = None


def first_error(error: ValidationError) -> ValidationFailed:
    """The first problem of a pydantic error, as a 400 naming its field."""
    detail = error.errors(include_input=False, include_url=False)[0]
    field = ".".join(str(part) for part in detail["loc"]) or None
    kind = detail["type"]
    if kind == "extra_forbidden":
        message = "unknown field"
    elif kind == "missing":
        message = "is required"
    else:
        message = str(detail["msg"])
    return ValidationFailed(f"{field}: {message}" if field else message, field=field)


def parse_client_config(
    payload: Any, *, env: str, db_prefix: str, app_credentials: bool = False
) -> ClientConfig:
    """Validate a posted payload; raise ValidationFailed naming the first bad field.

    `app_credentials`: SHOPIFY_CLIENT_ID/SECRET are set (an expiring token may rely on them).
    """
    if not isinstance(payload, dict):
        raise ValidationFailed("the body must be a JSON object")
    if "clientKey" in payload and payload["clientKey"] == "":
        raise ValidationFailed("clientKey: must not be empty", field="clientKey")
    try:
        config = ClientConfig.model_validate(payload, context={"env": env, "db_prefix": db_prefix})
    except ValidationError as error:
        raise first_error(error) from None
    config.auth_mode(app_credentials=app_credentials)
    shop_domain = config.resolved_shop_domain()
    admin_host = (urlsplit(config.adminApiBaseUrl).hostname or "").lower()
    # In production the admin token may only ever go to the shop's own Admin API.
    if env == "production" and admin_host != shop_domain:
        raise ValidationFailed(
            f"adminApiBaseUrl: must be https://{shop_domain} in production", field="adminApiBaseUrl"
        )
    return config


def parse_client_patch(payload: Any) -> ClientPatch:
    """Validate a PATCH body (types and unknown fields only; the merge is re-validated)."""
    if not isinstance(payload, dict):
        raise ValidationFailed("the body must be a JSON object")
    if "clientKey" in payload:
        raise ValidationFailed("clientKey: cannot be changed", field="clientKey")
    try:
        return ClientPatch.model_validate(payload)
    except ValidationError as error:
        raise first_error(error) from None
