"""Store authorization steps the control API runs: scopes, re-authorization, migration."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from config_db.errors import Conflict
from config_db.repository import auth_mode_of
from sync.auth.scopes import SCOPES_FIELDS, record_scopes, scopes_from
from sync.auth.tokens import as_utc
from sync.errors import ShopifyError, SyncError
from sync.orchestration.jobs import SyncMode
from sync.orchestration.launcher import SyncLauncher
from sync.orchestration.run_context import credentials
from sync.orchestration.state import SyncState
from sync.resources.registry import RESOURCE_NAMES
from sync.runtime import SyncServices
from sync.shopify.client import CallStats, ShopifyClient

log = logging.getLogger(__name__)
SCOPES_QUERY = "query Scopes { " + SCOPES_FIELDS + " }"


class MigrationRefused(SyncError):
    status = 409
    code = "migration_refused"


def check_scopes(
    services: SyncServices, client_key: str, shopify: ShopifyClient | None = None
) -> dict[str, Any]:
    """Read and record the granted scopes; the answer's `auth` part (never fails the save)."""
    client = services.repository.get_client(client_key)
    try:
        data = (shopify or services.shopify).query(
            credentials(services, client), SCOPES_QUERY, {}, cost=2, stats=CallStats()
        )
    except (ShopifyError, redis.RedisError) as error:
        message = getattr(error, "message", None) or f"{type(error).__name__} (Redis unavailable)"
        log.warning("%s: access scopes not read: %s", client_key, message)
        return {"scopes": None, "scopesError": message}
    granted = scopes_from(data)
    if granted is None:
        return {"scopes": None}
    return {"scopes": granted, "missingScopes": record_scopes(services.repository, client_key,
                                                              granted)}  # fmt: skip


def resume_mode(services: SyncServices, client_key: str) -> SyncMode:
    """Full when the last complete full pass is older than the full-sync interval."""
    states = SyncState(services.databases.get(client_key)).all()
    due = datetime.now(UTC) - timedelta(seconds=services.settings.full_sync_interval_seconds)
    for name in RESOURCE_NAMES:
        last = states.get(name, {}).get("lastFullAt")
        if not isinstance(last, datetime) or as_utc(last) < due:
            return "full"
    return "incremental"


def reauthorized(services: SyncServices, launcher: SyncLauncher, client_key: str) -> dict[str, Any]:
    """A needs_auth client got new credentials: sync it again at once."""
    services.tokens.forget(client_key)
    mode = resume_mode(services, client_key)
    launch = launcher.start(client_key, mode, trigger="reauthorized")
    answer: dict[str, Any] = {"syncJobId": launch.job["_id"], "syncMode": mode}
    if not launch.enqueued:
        answer["warning"] = "broker unavailable: the scheduler will enqueue this job"
    return answer


def migrate_to_expiring(services: SyncServices, client_key: str) -> dict[str, Any]:
    """Token exchange of a non-expiring token for an expiring one (public apps, 2027-01-01).

    Idempotent: a client already on an expiring token answers its current expiry.
    """
    client = services.repository.get_client(client_key)
    mode = auth_mode_of(client)
    if mode == "expiring":
        return _migration_answer(client_key, client.get("auth") or {}, migrated=False)
    if mode != "static":
        raise MigrationRefused(
            "client-credentials stores get expiring tokens already; nothing to migrate",
            field="clientKey",
        )
    if client.get("status") != "active":
        raise Conflict(f"client is {client.get('status')}", field="status")
    app = services.tokens.app_credentials(client)
    if app is None:
        raise MigrationRefused(
            "migration needs the app's clientId/clientSecret (on the client, or "
            "SHOPIFY_CLIENT_ID/SHOPIFY_CLIENT_SECRET)",
            field="clientId",
        )
    token = services.repository.secret(client, "adminShopToken") or ""
    grant = services.token_endpoint.exchange_offline(str(client["adminApiBaseUrl"]), app, token)
    if grant.refresh_token is None or grant.expires_at is None:
        raise MigrationRefused("Shopify answered a token that does not expire", field="clientKey")
    services.repository.store_tokens(
        client_key,
        grant.access_token,
        grant.expires_at,
        mode="expiring",
        refresh_token=grant.refresh_token,
        scopes=grant.scopes,
    )
    services.tokens.forget(client_key)
    log.info("%s: token migrated to an expiring offline token", client_key)
    auth = services.repository.get_client(client_key).get("auth") or {}
    return _migration_answer(client_key, auth, migrated=True)


def _migration_answer(client_key: str, auth: dict[str, Any], *, migrated: bool) -> dict[str, Any]:
    return {
        "clientKey": client_key,
        "mode": "expiring",
        "migrated": migrated,
        "expiresAt": auth.get("expiresAt"),
        "refreshedAt": auth.get("refreshedAt"),
    }
