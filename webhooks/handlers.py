"""Applying a logged webhook event in a worker: re-fetch and upsert, tombstone, or act."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from pymongo.errors import PyMongoError

from config_db import metrics
from config_db.errors import ShopsyncError
from config_db.logs import with_log_context
from config_db.mongo import MongoDocument
from sync.errors import ShopifyAuthError, ShopifyUnavailable
from sync.orchestration.context import Checkpoint, SyncContext
from sync.orchestration.jobs import utcnow
from sync.orchestration.run_context import credentials
from sync.resources import collections, discounts, products, themes
from sync.resources.memberships import recheck_since, refresh_memberships
from sync.runtime import SyncServices
from sync.storage.writer import tombstone, write_documents
from webhooks.events import EventLog, EventStatus

log = logging.getLogger(__name__)
NO_DEADLINE_SECONDS = 3600.0

# topic prefix -> (collection, GID types for numeric ids, query by API version, root field,
# to document)
Fetcher = tuple[
    str, tuple[str, ...], Callable[[str], str], str, Callable[[SyncContext, dict[str, Any]], Any]
]
FETCHERS: dict[str, Fetcher] = {
    "products": (
        "products",
        ("Product",),
        lambda _version: products.PRODUCT_QUERY,
        "product",
        products.product_document,
    ),
    "collections": (
        "collections",
        ("Collection",),
        collections.collection_query,
        "collection",
        collections.collection_document,
    ),
    "themes": (
        "themedatas",
        ("OnlineStoreTheme",),
        lambda _version: themes.THEME_QUERY,
        "theme",
        lambda c, n: n,
    ),
    "discounts": (
        "discounts",
        ("DiscountCodeNode", "DiscountAutomaticNode"),
        lambda _version: discounts.DISCOUNT_QUERY,
        "discountNode",
        discounts.discount_document,
    ),
}
UPSERT_ACTIONS = frozenset(
    {"create", "update", "publish", "redeemcode_added", "redeemcode_removed"}
)
COMPLIANCE_TOPICS = frozenset({"customers/data_request", "customers/redact"})


def _context(
    services: SyncServices, client: MongoDocument, event_id: str, resource: str
) -> SyncContext:
    """A sync context for one event, so webhooks write through the sync's own code."""
    now = utcnow()
    return SyncContext(
        settings=services.settings,
        client=services.shopify,
        store=credentials(services, client),
        store_db=services.databases.ensure_once(client["_id"]),
        job_id=f"webhook:{event_id}",
        resource=resource,
        mode="incremental",
        since=None,
        run_started=now,
        checkpoint=Checkpoint(),
        deadline=time.monotonic() + NO_DEADLINE_SECONDS,
    )


def _gids(payload: dict[str, Any], types: tuple[str, ...]) -> list[str]:
    gid = payload.get("admin_graphql_api_id")
    if isinstance(gid, str) and gid.startswith("gid://"):
        return [gid]
    number = payload.get("id")
    return [f"gid://shopify/{kind}/{number}" for kind in types] if number is not None else []


def _upsert(services: SyncServices, ctx: SyncContext, prefix: str, gid: str) -> str:
    """Re-fetch the object by id (payloads are partial) and write it as the sync would."""
    collection, _, query, root, to_document = FETCHERS[prefix]
    fetched_at = ctx.now()
    node = ctx.query(query(ctx.settings.shopify_api_version), {"id": gid}).get(root)
    if node is None:  # deleted since the event: the delete event will say so too
        tombstone(ctx.collection(collection), [gid], now=ctx.now())
        if prefix == "products":
            products.forget_products(ctx, [gid])
        return "tombstoned (gone from Shopify)"
    if prefix == "themes":
        counts = themes.store_themes(ctx, [node], services.downloader)
        return "written" if counts.upserted else "unchanged or older than stored"
    document = to_document(ctx, node)
    counts = write_documents(ctx.collection(collection), [document], run_id=None, now=ctx.now())
    if prefix == "products" and document["_id"] not in counts.rejected:
        products.write_product_media(ctx, services.downloader, [document])
    written = "written" if counts.upserted else "unchanged or older than stored"
    if prefix == "products":  # rule-based collections it moved in or out of
        return written + _memberships(refresh_memberships, ctx, [gid])
    if prefix == "collections":  # members corrected since our read would be undone
        return written + _memberships(recheck_since, ctx, fetched_at)
    return written


def _memberships(refresh: Callable[..., int], ctx: SyncContext, *args: Any) -> str:
    """Membership corrections; the object itself is written whatever happens here, and the
    next incremental pass reads the product again."""
    refresh(ctx, *args)
    if ctx.counts.get("membershipErrors"):
        return "; membership not read for some products"
    return ""


def _delete(ctx: SyncContext, prefix: str, payload: dict[str, Any]) -> str:
    collection, types, *_ = FETCHERS[prefix]
    ids = _gids(payload, types)
    tombstone(ctx.collection(collection), ids, now=ctx.now())
    if prefix == "products":
        products.forget_products(ctx, ids)
    return "tombstoned"


def _store_event(services: SyncServices, client: MongoDocument, event: MongoDocument) -> str:
    prefix, _, action = str(event["topic"]).partition("/")
    if client.get("status") != "active":
        return f"ignored: client is {client.get('status')}"
    ctx = _context(services, client, event["_id"], FETCHERS[prefix][0])
    payload = event.get("payload")
    if not isinstance(payload, dict):
        return "ignored: the payload is not an object"
    if action == "delete":
        return _delete(ctx, prefix, payload)
    gids = _gids(payload, FETCHERS[prefix][1])
    if not gids:
        return "ignored: no id in the payload"
    outcome = _upsert(services, ctx, prefix, gids[0])
    if event["topic"] == "themes/publish":
        themes.refresh_roles(ctx)  # the theme that was MAIN before is not MAIN any more
    return outcome


def _app_event(services: SyncServices, client: MongoDocument, event: MongoDocument) -> str:
    topic, client_key = event["topic"], client["_id"]
    if topic == "app/uninstalled":
        services.repository.set_status(client_key, "uninstalled", reason="app/uninstalled")
        return "client uninstalled; syncs stopped, data kept"
    if topic == "shop/redact":
        # Status first, so no sync or clock recreates the database we are about to drop.
        services.repository.set_status(client_key, "uninstalled", reason="shop/redact")
        services.repository.forget_shop_tokens(client_key)
        services.repository.record_redaction(client_key, event["_id"])
        services.repository.mark_purged(client_key)
        services.databases.drop(client_key)
        return "store database dropped, tokens forgotten"
    if topic in COMPLIANCE_TOPICS:
        return "ignored: shopsync stores no customer data"
    if topic == "bulk_operations/finish":
        return _bulk_finished(services, event)
    return f"ignored: topic {topic} is not applied"


def _bulk_finished(services: SyncServices, event: MongoDocument) -> str:
    """Wake the sync run waiting on this operation now instead of at its next poll."""
    payload = event.get("payload")
    operation = payload.get("admin_graphql_api_id") if isinstance(payload, dict) else None
    if not isinstance(operation, str) or not operation.startswith("gid://shopify/BulkOperation/"):
        return "ignored: no bulk operation id in the payload"
    status = str(payload.get("status") or "") if isinstance(payload, dict) else ""
    services.coordinator.wake_bulk(operation, status)
    return f"woke the run waiting on {operation} ({status})"


def _outcome(services: SyncServices, client: MongoDocument, event: MongoDocument) -> str:
    store_topic = str(event["topic"]).partition("/")[0] in FETCHERS
    return (_store_event if store_topic else _app_event)(services, client, event)


@with_log_context
def apply_event(
    services: SyncServices, client_key: str, event_id: str, *, final_attempt: bool = True
) -> str | None:
    """Apply one logged event once; its status and outcome go back into the log.

    Transient trouble (Shopify unavailable, MongoDB errors) is retried by Dramatiq until the
    final attempt; anything else ends the event `failed` at once, so it is never re-sent forever.
    """
    events = EventLog(services.databases.get(client_key))
    event = events.claim(event_id)
    if event is None:
        return None  # applied already, or another worker holds it right now
    try:
        client = services.repository.get_client(client_key)
        outcome = _outcome(services, client, event)
    except ShopifyAuthError as error:
        services.repository.mark_needs_auth(client_key, error.message)
        return _failed(events, client_key, event_id, error.message)
    except (ShopifyUnavailable, PyMongoError) as error:
        if not final_attempt:
            events.release(event_id)
            _count(client_key, "retried")
            raise
        message = getattr(error, "message", type(error).__name__)
        return _failed(events, client_key, event_id, message)
    except ShopsyncError as error:
        return _failed(events, client_key, event_id, error.message)
    except Exception as error:  # noqa: BLE001 - logged whole; the event must not stay queued
        log.exception("%s webhook %s failed", client_key, event["topic"])
        message = f"unexpected {type(error).__name__} (see worker log)"
        return _failed(events, client_key, event_id, message)
    status: EventStatus = "ignored" if outcome.startswith("ignored") else "applied"
    if event["topic"] != "shop/redact":  # its store database, event log included, is gone
        events.finish(event_id, status, None, outcome=outcome)
    _count(client_key, status)
    log.info("%s webhook %s: %s", client_key, event["topic"], outcome)
    return outcome


def _failed(events: EventLog, client_key: str, event_id: str, message: str) -> str:
    events.finish(event_id, "failed", message[:500])
    _count(client_key, "failed")
    return message


def _count(client_key: str, outcome: str) -> None:
    metrics.WEBHOOK_EVENTS.labels(client_key, outcome).inc()
