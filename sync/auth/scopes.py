"""Access scopes: which the app was granted on a store, and which resources need which."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from config_db.repository import ConfigRepository

# Store collection -> the scope its queries need (shopify.dev, "Access scopes").
RESOURCE_SCOPES: dict[str, str] = {
    "products": "read_products",
    "collections": "read_products",
    "blogs": "read_content",
    "articles": "read_content",
    "themedatas": "read_themes",
    "media": "read_files",
    "discounts": "read_discounts",
}
SCOPES_FIELDS = "currentAppInstallation { accessScopes { handle } }"


def scopes_from(data: dict[str, Any]) -> list[str] | None:
    """The granted handles in an answer that selected SCOPES_FIELDS (None when absent)."""
    installation = data.get("currentAppInstallation")
    if not isinstance(installation, dict):
        return None
    handles = [
        str(scope.get("handle"))
        for scope in installation.get("accessScopes") or []
        if isinstance(scope, dict) and scope.get("handle")
    ]
    return sorted(set(handles))


def covers(granted: Iterable[str], scope: str) -> bool:
    """`write_x` implies `read_x` on Shopify."""
    held = set(granted)
    return scope in held or scope.replace("read_", "write_", 1) in held


def missing_for(granted: Iterable[str], resources: Iterable[str]) -> dict[str, str]:
    """resource -> the scope it needs and the store lacks."""
    held = list(granted)
    return {
        name: RESOURCE_SCOPES[name]
        for name in resources
        if name in RESOURCE_SCOPES and not covers(held, RESOURCE_SCOPES[name])
    }


def record_scopes(repository: ConfigRepository, client_key: str, granted: list[str]) -> list[str]:
    """Save `auth.scopes` and `auth.missingScopes` on the client; returns the missing ones."""
    missing = sorted(set(missing_for(granted, RESOURCE_SCOPES).values()))
    repository.note_client(
        client_key,
        {
            "auth.scopes": granted,
            "auth.missingScopes": missing,
            "auth.scopesCheckedAt": datetime.now(UTC),
        },
    )
    return missing
