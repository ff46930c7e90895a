"""The current access token of each store: the one place that answers it, and refreshes it.

- static tokens are used as stored; a 401 means `needs_auth`.
- client-credentials and expiring tokens are refreshed at `SHOPSYNC_TOKEN_REFRESH_FRACTION`
  of their lifetime, and once more on a 401 (Shopify: "refresh when you receive a 401").
- One refresh per store at a time across threads and processes (a Redis lock); the others
  wait for it and read the result from appconfig. A rotated refresh token is saved,
  encrypted, before the new access token is used: Shopify keeps the previous refresh token
  valid until the new pair is first used, so a crash before the save loses nothing.
- A refused grant (invalid_grant, invalid_client) marks the client `needs_auth`; after that
  no token request is made for it until new credentials are saved.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import redis

from config_db import metrics
from config_db.errors import NotFound
from config_db.mongo import MongoDocument
from config_db.repository import ConfigRepository, auth_mode_of
from config_db.settings import Settings
from sync.auth.oauth import (
    BACKOFF_CAP_SECONDS,
    AppCredentials,
    TokenEndpoint,
    TokenGrant,
    TokenRefused,
)
from sync.errors import ShopifyAuthError, ShopifyUnavailable

log = logging.getLogger(__name__)
# A token read from appconfig is used this long before it is read again, so a PATCHed token
# or another process's refresh reaches every worker within it.
CACHE_SECONDS = 60.0


@dataclass(frozen=True)
class _Cached:
    token: str
    refresh_at: float  # epoch seconds; inf for static tokens


class StoreTokens:
    """One store's view of the token source, handed to the Shopify client per call."""

    def __init__(self, source: TokenSource, client_key: str) -> None:
        self._source = source
        self._client_key = client_key

    def current(self) -> str:
        return self._source.current(self._client_key)

    def renew(self, rejected: str) -> str:
        return self._source.renew(self._client_key, rejected)


class TokenSource:
    """Answers "the current access token of store X"; thread-safe, shared per process."""

    def __init__(
        self,
        settings: Settings,
        repository: ConfigRepository,
        redis_client: redis.Redis,
        endpoint: TokenEndpoint,
    ) -> None:
        self._settings = settings
        self._repository = repository
        self._redis = redis_client
        self._endpoint = endpoint
        self._cache: dict[str, _Cached] = {}
        self._lock = threading.Lock()
        # Longer than the token endpoint's attempts can take together (timeouts and backoff),
        # so the lock never lapses while its holder still refreshes.
        per_attempt = (
            settings.shopify_connect_timeout_seconds + settings.shopify_read_timeout_seconds
        )
        self._lock_seconds = endpoint.attempts * (per_attempt + BACKOFF_CAP_SECONDS) + 10
        self._wait_seconds = self._lock_seconds + 5

    def for_store(self, client_key: str) -> StoreTokens:
        return StoreTokens(self, client_key)

    def current(self, client_key: str) -> str:
        """A token that is not due for refresh (refreshing it first when it is)."""
        with self._lock:
            cached = self._cache.get(client_key)
        if cached is not None and time.time() < cached.refresh_at:
            return cached.token
        return self._resolve(client_key, rejected=None)

    def renew(self, client_key: str, rejected: str) -> str:
        """After Shopify answered 401 to `rejected`: a newer token, or ShopifyAuthError."""
        self.forget(client_key)
        return self._resolve(client_key, rejected=rejected)

    def forget(self, client_key: str) -> None:
        with self._lock:
            self._cache.pop(client_key, None)

    def app_credentials(self, client: MongoDocument) -> AppCredentials | None:
        """The client's own clientId/clientSecret, else SHOPIFY_CLIENT_ID/SECRET."""
        secret = self._repository.secret(client, "clientSecret")
        if client.get("clientId") and secret:
            return AppCredentials(str(client["clientId"]), secret)
        pair = self._settings.app_credentials()
        return AppCredentials(*pair) if pair else None

    # --- internals -------------------------------------------------------------------------

    def _resolve(self, client_key: str, rejected: str | None) -> str:
        client = self._usable_client(client_key)
        token = self._fresh_token(client, rejected)
        if token is not None:
            return token
        if auth_mode_of(client) == "static":
            raise ShopifyAuthError(
                f"{client_key}: Shopify refused the access token (HTTP 401); it is invalid "
                "or revoked: update adminShopToken"
            )
        return self._refresh_single_flight(client_key, rejected)

    def _usable_client(self, client_key: str) -> MongoDocument:
        try:
            client = self._repository.get_client(client_key)
        except NotFound:
            raise ShopifyAuthError(f"{client_key}: no such client") from None
        if client.get("status") == "needs_auth":
            # No token request for a store Shopify already refused: no retry storm.
            reason = client.get("statusReason") or "credentials refused"
            raise ShopifyAuthError(f"{client_key}: needs_auth: {reason}")
        return client

    def _fresh_token(self, client: MongoDocument, rejected: str | None) -> str | None:
        """The stored token when it is usable (cached), else None."""
        token = self._repository.secret(client, "adminShopToken")
        if not token or token == rejected:
            return None
        refresh_at = self._refresh_at(client)
        if time.time() >= refresh_at:
            return None
        with self._lock:
            reread_at = min(refresh_at, time.time() + CACHE_SECONDS)
            self._cache[client["_id"]] = _Cached(token, reread_at)
        return token

    def _refresh_at(self, client: MongoDocument) -> float:
        if auth_mode_of(client) == "static":
            return float("inf")
        auth = client.get("auth") or {}
        expires = auth.get("expiresAt")
        if not isinstance(expires, datetime):
            return float("inf")  # Shopify named no expiry: refresh on a 401 only
        issued = auth.get("refreshedAt") or client.get("updatedAt") or expires
        issued, expires = as_utc(issued), as_utc(expires)
        lifetime = max(0.0, (expires - issued).total_seconds())
        return issued.timestamp() + lifetime * self._settings.token_refresh_fraction

    def _refresh_single_flight(self, client_key: str, rejected: str | None) -> str:
        lock = self._redis.lock(
            f"shopsync:auth:{client_key}",
            timeout=self._lock_seconds,
            blocking_timeout=self._wait_seconds,
        )
        try:
            acquired = lock.acquire()
        except redis.RedisError as error:
            raise ShopifyUnavailable(f"token lock unavailable ({type(error).__name__})") from None
        if not acquired:
            raise ShopifyUnavailable(f"{client_key}: another token refresh is still running")
        try:
            # Another thread or process may have refreshed while we waited for the lock.
            client = self._usable_client(client_key)
            token = self._fresh_token(client, rejected)
            return token if token is not None else self._refresh(client)
        finally:
            try:
                lock.release()
            except redis.RedisError:
                pass  # expired or Redis gone: the TTL frees it

    def _refresh(self, client: MongoDocument) -> str:
        client_key, mode = client["_id"], auth_mode_of(client)
        app = self.app_credentials(client)
        if app is None:
            _count(client_key, mode, "refused")
            return self._refused(client_key, "no clientId/clientSecret to refresh the token with")
        try:
            grant = self._ask(client, mode, app)
        except TokenRefused as error:
            _count(client_key, mode, "refused")
            return self._refused(client_key, error.message)
        except ShopifyUnavailable:
            _count(client_key, mode, "failed")
            raise
        _count(client_key, mode, "refreshed")
        self._repository.store_tokens(
            client_key,
            grant.access_token,
            grant.expires_at,
            mode=mode,
            refresh_token=grant.refresh_token,
            scopes=grant.scopes,
        )
        log.info("%s: token refreshed (%s, expires %s)", client_key, mode, _iso(grant.expires_at))
        return self._fresh_token(self._repository.get_client(client_key), None) or (
            grant.access_token
        )

    def _ask(self, client: MongoDocument, mode: str, app: AppCredentials) -> TokenGrant:
        base = str(client["adminApiBaseUrl"])
        if mode == "client_credentials":
            return self._endpoint.client_credentials(base, app)
        refresh_token = self._repository.secret(client, "refreshToken")
        if not refresh_token:
            raise TokenRefused("no refresh token stored")
        return self._endpoint.refresh(base, app, refresh_token)

    def _refused(self, client_key: str, reason: str) -> str:
        message = f"{reason}: PATCH new credentials or install the app again"
        log.warning("%s: marked needs_auth: %s", client_key, message)
        self._repository.mark_needs_auth(client_key, message)
        raise TokenRefused(f"{client_key}: {message}")


def _count(client_key: str, mode: str, outcome: str) -> None:
    metrics.TOKEN_REFRESHES.labels(client_key, mode, outcome).inc()


def as_utc(moment: datetime) -> datetime:
    """A datetime read back from MongoDB as aware UTC (naive ones are UTC by convention)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _iso(moment: datetime | None) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else "never"
