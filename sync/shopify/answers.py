"""Reading a GraphQL answer: its data, or the error it carries (never a partial result)."""

from __future__ import annotations

import re
from typing import Any

import httpx

from sync.errors import QueryTooExpensive, ShopifyAccessDenied, ShopifyError, ShopifyQueryError
from sync.shopify.throttle import ThrottleStatus

SCOPE_RE = re.compile(r"\b(?:read|write|unauthenticated_read)_[a-z_]+\b")


def data_or_raise(shop_domain: str, body: dict[str, Any]) -> dict[str, Any] | None:
    """`data`, or None when THROTTLED (the caller waits through the budget and retries)."""
    errors = body.get("errors")
    if errors:
        codes = error_codes(errors)
        # Shopify answers THROTTLED with HTTP 200; the budget now knows the real numbers.
        if "THROTTLED" in codes:
            return None
        if "MAX_COST_EXCEEDED" in codes:
            raise QueryTooExpensive(f"{shop_domain}: {messages(errors)}")
        if "ACCESS_DENIED" in codes:
            scope = required_scope(errors)
            raise ShopifyAccessDenied(
                f"{shop_domain}: access denied: missing access scope {scope}", scope
            )
        # Never partial: `data: {"themes": null}` beside errors is no answer, not "none".
        raise ShopifyQueryError(f"{shop_domain}: {messages(errors)}")
    data = body.get("data")
    if not isinstance(data, dict):
        raise ShopifyQueryError(f"{shop_domain}: answer without data")
    return data


def error_codes(errors: Any) -> set[str]:
    if not isinstance(errors, list):
        return set()
    return {
        str(error.get("extensions", {}).get("code"))
        for error in errors
        if isinstance(error, dict) and isinstance(error.get("extensions"), dict)
    }


def required_scope(errors: list[Any]) -> str:
    """The scope an ACCESS_DENIED error names (`requiredAccess`, else its message)."""
    for error in errors:
        if not isinstance(error, dict):
            continue
        extensions = error.get("extensions") or {}
        text = f"{extensions.get('requiredAccess') or ''} {error.get('message') or ''}"
        found = SCOPE_RE.search(text)
        if found:
            return found.group(0)
    return "unknown"


def messages(errors: Any) -> str:
    if isinstance(errors, list):
        return "; ".join(
            str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors
        )[:500]
    return str(errors)[:500]


def retry_after(response: httpx.Response) -> float:
    # Shopify sends Retry-After as a float string ("2.0").
    try:
        return max(0.0, float(response.headers.get("Retry-After", "1")))
    except ValueError:
        return 1.0


def throttled_wait(cost: int, status: ThrottleStatus | None) -> float:
    """Seconds until the bucket holds `cost` again: (requested - available) / restore rate."""
    if status is None or status.restore_rate <= 0:
        return 1.0
    missing = min(cost, status.maximum_available) - status.currently_available
    return max(0.05, missing / status.restore_rate)


class Unauthorized(Exception):
    """HTTP 401 or 403 from the Admin API."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code

    def message(self, shop_domain: str, renewed: bool) -> str:
        if renewed:
            return (
                f"{shop_domain}: Shopify answered HTTP {self.code} again with a freshly "
                "refreshed token: the app's access was revoked or lacks a scope"
            )
        return (
            f"{shop_domain}: Shopify answered HTTP {self.code}: the access token is "
            "invalid, revoked or lacks a scope; update adminShopToken"
        )


class Retryable(Exception):
    """An answer worth asking again: 5xx, timeouts, 429 (`throttled`), broken JSON."""

    def __init__(self, reason: str, *, wait: float | None = None, throttled: bool = False):
        super().__init__(reason)
        self.wait = wait
        self.throttled = throttled


def parse_answer(
    shop_domain: str, response: httpx.Response
) -> tuple[dict[str, Any], ThrottleStatus | None]:
    """The JSON body of a 200 answer and its throttle status; raises for every other answer."""
    code = response.status_code
    if code in (401, 403):
        raise Unauthorized(code)
    if code == 429:
        raise Retryable("HTTP 429", wait=retry_after(response), throttled=True)
    if code >= 500:
        raise Retryable(f"HTTP {code}")
    if code == 404:
        raise ShopifyError(
            f"{shop_domain}: HTTP 404 from the Admin API; check adminApiBaseUrl "
            "and SHOPIFY_API_VERSION"
        )
    if code != 200:
        raise ShopifyError(f"{shop_domain}: unexpected HTTP {code}")
    try:
        body = response.json()
    except ValueError:
        raise Retryable("invalid JSON in a 200 answer") from None
    if not isinstance(body, dict):
        raise Retryable("unexpected JSON in a 200 answer")
    return body, ThrottleStatus.from_extensions(body.get("extensions"))
