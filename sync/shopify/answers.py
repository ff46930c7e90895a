"""Reading a GraphQL answer: its data, or the error it carries (never a partial result)."""

from __future__ import annotations

import re
from typing import Any

from sync.errors import QueryTooExpensive, ShopifyAccessDenied, ShopifyQueryError

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
