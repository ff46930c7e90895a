"""The three forms a store's credentials take, and which one a config uses.

| form               | payload fields                                                    |
|--------------------|-------------------------------------------------------------------|
| static             | adminShopToken (clientId/clientSecret optional: HMAC, migration) |
| client_credentials | clientId + clientSecret, no adminShopToken                         |
| expiring           | adminShopToken + refreshToken + tokenExpiresAt, app credentials    |
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from config_db.errors import ValidationFailed

AuthMode = Literal["static", "client_credentials", "expiring"]
AUTH_MODES: tuple[AuthMode, ...] = ("static", "client_credentials", "expiring")
# Payload fields that make up a store's credentials.
CREDENTIAL_FIELDS = frozenset(
    {"adminShopToken", "clientId", "clientSecret", "refreshToken", "tokenExpiresAt"}
)
# What shopsync is issued and keeps up to date itself (never written back from a stale read).
ISSUED_FIELDS = ("adminShopToken", "refreshToken", "tokenExpiresAt")
# Secrets of a client config: encrypted at rest, masked in answers, never logged.
SECRET_FIELDS = (
    "adminShopToken",
    "storefrontToken",
    "webhookSecret",
    "clientSecret",
    "refreshToken",
)


def _given(payload: Any, name: str) -> bool:
    return getattr(payload, name, None) is not None


def auth_mode(config: Any, *, app_credentials: bool) -> AuthMode:
    """The form of a validated config; ValidationFailed naming the field that is off.

    `app_credentials` tells whether SHOPIFY_CLIENT_ID and SHOPIFY_CLIENT_SECRET are set,
    which an expiring token may use instead of its own clientId/clientSecret.
    """
    has_id, has_secret = _given(config, "clientId"), _given(config, "clientSecret")
    if has_id != has_secret:
        missing = "clientSecret" if has_id else "clientId"
        raise ValidationFailed(
            f"{missing}: is required with {'clientId' if has_id else 'clientSecret'}",
            field=missing,
        )
    has_refresh, has_expiry = _given(config, "refreshToken"), _given(config, "tokenExpiresAt")
    if not _given(config, "adminShopToken"):
        if has_refresh or has_expiry or not has_id:
            raise ValidationFailed(
                "adminShopToken: is required (or clientId and clientSecret alone for the "
                "client-credentials grant)",
                field="adminShopToken",
            )
        return "client_credentials"
    if not has_refresh:
        if has_expiry:
            raise ValidationFailed(
                "refreshToken: is required with tokenExpiresAt (an expiring offline token)",
                field="refreshToken",
            )
        return "static"
    if not has_expiry:
        raise ValidationFailed(
            "tokenExpiresAt: is required with refreshToken", field="tokenExpiresAt"
        )
    if not has_id and not app_credentials:
        raise ValidationFailed(
            "clientId: is required to refresh an expiring token (or set SHOPIFY_CLIENT_ID "
            "and SHOPIFY_CLIENT_SECRET)",
            field="clientId",
        )
    return "expiring"


def parse_expiry(value: str) -> datetime:
    """An ISO-8601 instant with a time zone (or `Z`), as an aware UTC datetime."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            raise ValueError("must carry a time zone (e.g. 2026-12-01T12:00:00Z)")
        return moment.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-01:00 is past what a datetime holds in UTC
        raise ValueError("is out of range") from None
    except ValueError as error:
        if "time zone" in str(error):
            raise
        raise ValueError("must be an ISO-8601 date and time") from None
