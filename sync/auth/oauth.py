"""Shopify's token endpoint: the four grants, through the shared httpx.Client.

`shopifyapp`'s exchange helpers build `https://{shop}.myshopify.com` themselves and its token
exchange takes an App Bridge session token, not an offline token; shopsync's token endpoint is
`adminApiBaseUrl + /admin/oauth/access_token` (a loopback fake in tests), so this is a thin
call of our own to the same endpoint, with the same timeouts as every Admin API call.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from sync.errors import ShopifyAuthError, ShopifyUnavailable

TOKEN_PATH = "/admin/oauth/access_token"
OFFLINE_TOKEN_TYPE = "urn:shopify:params:oauth:token-type:offline-access-token"
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ATTEMPTS = 4
# interface.md: only these make a client needs_auth; anything else is retried.
REFUSALS = frozenset({"invalid_grant", "invalid_client"})
BACKOFF_CAP_SECONDS = 8.0


@dataclass(frozen=True)
class AppCredentials:
    """The app's client id and secret; the secret never prints."""

    client_id: str
    client_secret: str = field(repr=False)


@dataclass(frozen=True)
class TokenGrant:
    """A token answer: the access token, its expiry, a rotated refresh token, the scopes."""

    access_token: str = field(repr=False)
    expires_at: datetime | None
    refresh_token: str | None = field(default=None, repr=False)
    scopes: list[str] | None = None


class TokenRefused(ShopifyAuthError):
    """400 invalid_grant or 401 invalid_client: these credentials will never work again."""

    code = "token_refused"


def token_url(admin_api_base_url: str) -> str:
    """`adminApiBaseUrl` without trailing `/` + `/admin/oauth/access_token`."""
    return admin_api_base_url.rstrip("/") + TOKEN_PATH


class TokenEndpoint:
    """Asks a shop's token endpoint for tokens; retries 5xx, 429 and timeouts."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        attempts: int = ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._http = http
        self.attempts = attempts
        self._sleep = sleep

    def client_credentials(self, base_url: str, app: AppCredentials) -> TokenGrant:
        return self._grant(base_url, app, {"grant_type": "client_credentials"})

    def refresh(self, base_url: str, app: AppCredentials, refresh_token: str) -> TokenGrant:
        return self._grant(
            base_url, app, {"grant_type": "refresh_token", "refresh_token": refresh_token}
        )

    def exchange_offline(self, base_url: str, app: AppCredentials, token: str) -> TokenGrant:
        """Migrate a non-expiring offline token to an expiring one (token exchange)."""
        return self._grant(
            base_url,
            app,
            {
                "grant_type": TOKEN_EXCHANGE_GRANT,
                "subject_token": token,
                "subject_token_type": OFFLINE_TOKEN_TYPE,
                "requested_token_type": OFFLINE_TOKEN_TYPE,
                "expiring": "1",
            },
        )

    def authorization_code(self, base_url: str, app: AppCredentials, code: str) -> TokenGrant:
        """The install flow's code for an expiring offline token."""
        return self._grant(base_url, app, {"code": code, "expiring": "1"})

    def _grant(self, base_url: str, app: AppCredentials, form: dict[str, str]) -> TokenGrant:
        body = {"client_id": app.client_id, "client_secret": app.client_secret, **form}
        url = token_url(base_url)
        for attempt in range(1, self.attempts + 1):
            try:
                return self._attempt(url, body, form.get("grant_type", "authorization_code"))
            except _Transient as error:
                if attempt == self.attempts:
                    raise ShopifyUnavailable(
                        f"token endpoint: {error} after {attempt} attempts"
                    ) from None
                backoff = random.uniform(0.5, 1.0) * min(BACKOFF_CAP_SECONDS, 2.0**attempt)
                # Retry-After is honoured, but never past our own cap.
                self._sleep(min(BACKOFF_CAP_SECONDS, error.wait or backoff))
        raise ShopifyUnavailable("token endpoint unreachable")  # pragma: no cover

    def _attempt(self, url: str, body: dict[str, str], grant: str) -> TokenGrant:
        try:
            response = self._http.post(url, data=body, headers={"Accept": "application/json"})
        except httpx.TimeoutException:
            raise _Transient("timeout") from None
        except httpx.TransportError as error:
            raise _Transient(f"connection error ({type(error).__name__})") from None
        status = response.status_code
        if status == 429 or status >= 500:
            raise _Transient(f"HTTP {status}", wait=_retry_after(response))
        answer = _json(response)
        refusal = answer.get("error")
        if status in (400, 401) and refusal in REFUSALS:
            # Only Shopify's error code: the description may echo what we sent.
            raise TokenRefused(f"Shopify refused the {_grant_name(grant)} grant ({refusal})")
        if status != 200 or not isinstance(answer.get("access_token"), str):
            # A proxy's page or an error we do not know: not proof the credentials are bad.
            raise _Transient(f"unexpected answer (HTTP {status})")
        return _to_grant(answer)


def _to_grant(answer: dict[str, Any]) -> TokenGrant:
    expires_in = answer.get("expires_in")
    expires_at = None
    if isinstance(expires_in, int | float) and expires_in > 0:
        expires_at = datetime.now(UTC) + timedelta(seconds=float(expires_in))
    scope = answer.get("scope")
    scopes = [s.strip() for s in scope.split(",") if s.strip()] if isinstance(scope, str) else None
    refresh = answer.get("refresh_token")
    return TokenGrant(
        access_token=answer["access_token"],
        expires_at=expires_at,
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        scopes=scopes,
    )


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        answer = response.json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def _grant_name(grant: str) -> str:
    return "token-exchange" if grant == TOKEN_EXCHANGE_GRANT else grant.replace("_", "-")


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers["Retry-After"]))
    except (KeyError, ValueError):
        return None


class _Transient(Exception):
    def __init__(self, reason: str, *, wait: float | None = None) -> None:
        super().__init__(reason)
        self.wait = wait
