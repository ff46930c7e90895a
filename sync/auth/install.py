"""App install: Shopify's authorization-code grant, ending in a synced store.

`GET /auth/install` sends the merchant to the shop's authorize page with a single-use state
nonce (Redis, 10 minutes, bound to the shop). `GET /auth/callback` checks, in this order, the
HMAC of the query (constant time, before anything else is read), the shop domain, the
timestamp and the nonce; then exchanges the code for an expiring offline token and creates,
or updates and reactivates, the shop's client. Every check happens before any write.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from config_db.credentials import CREDENTIAL_FIELDS
from config_db.errors import Conflict, Unauthorized, ValidationFailed
from config_db.models import SHOP_DOMAIN_RE, ClientConfig, parse_client_config
from config_db.settings import Settings
from sync.auth.oauth import AppCredentials, TokenGrant, TokenRefused
from sync.errors import SyncError
from sync.runtime import SyncServices

STATE_TTL_SECONDS = 600  # interface.md: single use, 10 minutes
TIMESTAMP_SKEW_SECONDS = 3600  # a callback older than this is a replay
STATE_PREFIX = "shopsync:install:state:"
# Shaped like a token answer, for validating the client's config before the code is spent.
PLACEHOLDER = TokenGrant("placeholder-token", datetime.now(UTC), "placeholder-refresh-token")


class InstallNotConfigured(SyncError):
    status = 503
    code = "install_not_configured"


class InstallRefused(SyncError):
    status = 400
    code = "install_refused"


@dataclass(frozen=True)
class Installed:
    client_key: str
    shop_domain: str


def app_credentials(settings: Settings) -> AppCredentials:
    pair = settings.app_credentials()
    if pair is None or not settings.public_url:
        raise InstallNotConfigured(
            "app install needs SHOPIFY_CLIENT_ID, SHOPIFY_CLIENT_SECRET and SHOPSYNC_PUBLIC_URL"
        )
    return AppCredentials(*pair)


def shop_domain_of(value: str | None) -> str:
    domain = (value or "").strip().lower()
    if not SHOP_DOMAIN_RE.match(domain):
        raise ValidationFailed("shop: must look like name.myshopify.com", field="shop")
    return domain


def admin_url(settings: Settings, shop_domain: str) -> str:
    """SHOPSYNC_SHOPIFY_ADMIN_URL with `{shop}` = the shop's name."""
    return settings.shopify_admin_url.replace("{shop}", shop_domain.removesuffix(".myshopify.com"))


def client_key_for(shop_domain: str) -> str:
    """The shop's name, characters outside [A-Za-z0-9_-] made `-`, at most 48."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", shop_domain.removesuffix(".myshopify.com"))[:48]


def authorize_url(services: SyncServices, shop: str | None) -> str:
    """Where to send the merchant; remembers a fresh state nonce for this shop."""
    settings = services.settings
    app = app_credentials(settings)
    domain = shop_domain_of(shop)
    nonce = secrets.token_urlsafe(24)
    services.redis.set(STATE_PREFIX + nonce, domain, ex=STATE_TTL_SECONDS)
    query = urlencode(
        {
            "client_id": app.client_id,
            "scope": ",".join(settings.scope_list),
            "redirect_uri": f"{str(settings.public_url).rstrip('/')}/auth/callback",
            "state": nonce,
        }
    )
    return f"{admin_url(settings, domain).rstrip('/')}/admin/oauth/authorize?{query}"


def verify_query_hmac(params: Mapping[str, str], secrets_: list[str]) -> None:
    """Shopify's hex HMAC-SHA256 of the other parameters, sorted, joined `k=v&…`."""
    presented = params.get("hmac") or ""
    message = "&".join(
        f"{k}={v}" for k, v in sorted(params.items()) if k not in ("hmac", "signature")
    )
    for secret in secrets_:
        digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
        if hmac.compare_digest(digest.encode(), presented.encode("utf-8", "replace")):
            return
    raise Unauthorized("the callback's hmac does not verify", field="hmac")


def complete_install(services: SyncServices, params: Mapping[str, str]) -> Installed:
    """Check the callback, exchange the code, save the client; raises before any write."""
    settings = services.settings
    app = app_credentials(settings)
    previous = settings.shopify_previous_client_secret
    verify_query_hmac(params, [app.client_secret] + ([previous.get_secret_value()] if previous
                                                     else []))  # fmt: skip
    domain = shop_domain_of(params.get("shop"))
    _check_timestamp(params.get("timestamp"))
    for name in ("code", "state"):
        if not params.get(name):
            raise ValidationFailed(f"{name}: is required", field=name)
    client_key = _target_client(services, domain)
    # Validated with a stand-in token first: once the code is exchanged, the new token
    # revokes the shop's previous one, so nothing may fail after that but the save.
    _config(services, _payload(services, client_key, domain, PLACEHOLDER))
    _take_state(services, params["state"], domain)
    grant = _exchange(services, app, domain, params["code"])
    config = _config(services, _payload(services, client_key, domain, grant))
    services.repository.save_client(config, status="active")
    if grant.scopes is not None:
        services.repository.note_client(client_key, {"auth.scopes": grant.scopes})
    services.tokens.forget(client_key)
    return Installed(client_key, domain)


def _config(services: SyncServices, payload: dict[str, Any]) -> ClientConfig:
    settings = services.settings
    return parse_client_config(
        payload, env=settings.env, db_prefix=settings.db_prefix, app_credentials=True
    )


def _check_timestamp(value: str | None) -> None:
    try:
        stamp = int(value or "")
    except ValueError:
        raise ValidationFailed("timestamp: must be Unix seconds", field="timestamp") from None
    if abs(time.time() - stamp) > TIMESTAMP_SKEW_SECONDS:
        raise ValidationFailed("timestamp: too old or in the future", field="timestamp")


def _target_client(services: SyncServices, domain: str) -> str:
    """The shop's client (re-install), else a new key; 409 when another shop holds it."""
    existing = services.repository.client_key_for_shop(domain)
    if existing is not None:
        return existing
    key = client_key_for(domain)
    if services.repository.client_exists(key):
        raise Conflict(f"clientKey {key!r} belongs to another shop", field="clientKey")
    services.repository.check_conflicts(key, domain)  # the same key in other case
    return key


def _take_state(services: SyncServices, nonce: str, domain: str) -> None:
    bound = services.redis.getdel(STATE_PREFIX + nonce)
    if bound is None:
        raise InstallRefused("state: unknown, expired or already used", field="state")
    if (bound.decode() if isinstance(bound, bytes) else bound) != domain:
        raise InstallRefused("state: was issued for another shop", field="state")


def _exchange(services: SyncServices, app: AppCredentials, domain: str, code: str) -> TokenGrant:
    try:
        grant = services.token_endpoint.authorization_code(
            admin_url(services.settings, domain), app, code
        )
    except TokenRefused as error:
        raise InstallRefused(f"code: {error.message}", field="code") from None
    if grant.refresh_token is None or grant.expires_at is None:
        raise InstallRefused("code: Shopify answered a non-expiring token", field="code")
    return grant


def _payload(
    services: SyncServices, client_key: str, domain: str, grant: TokenGrant
) -> dict[str, Any]:
    base = admin_url(services.settings, domain)
    payload: dict[str, Any] = {}
    if services.repository.client_exists(client_key):
        stored = services.repository.get_client(client_key)
        payload = services.repository.config_payload(stored)
        for name in CREDENTIAL_FIELDS:
            payload.pop(name, None)
    expires = grant.expires_at.isoformat() if grant.expires_at else None
    payload.update(
        clientKey=client_key,
        shopDomain=domain,
        apiBaseUrl=base,
        adminApiBaseUrl=base,
        adminShopToken=grant.access_token,
        refreshToken=grant.refresh_token,
        tokenExpiresAt=expires,
    )
    return payload
