"""Reading synced documents: paging, filters and routing from shop domain to store."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from pymongo import ASCENDING
from pymongo.database import Database

from config_db.mongo import MongoDocument, shared_connection
from config_db.repository import ConfigRepository, build_repository
from config_db.settings import get_settings
from stores.databases import StoreDatabases
from stores.errors import BadQuery, StoreNotFound
from stores.naming import HIDDEN_FIELDS, PUBLIC_COLLECTIONS, WEBHOOK_EVENTS, candidate_ids

DEFAULT_LIMIT = 50
MAX_LIMIT = 250  # Shopify's own page cap; frontends expect the same


@dataclass(frozen=True)
class Page:
    items: list[MongoDocument]
    next_cursor: str | None


def encode_cursor(last_id: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": last_id}).encode()).decode()


def decode_cursor(cursor: str) -> Any:
    try:
        after = json.loads(base64.urlsafe_b64decode(cursor.encode()))["after"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeError, RecursionError):
        after = None
    # Every `_id` this API pages over is a string (a GID or an event key).
    if not isinstance(after, str):
        raise BadQuery("cursor: not a cursor this API returned", field="cursor")
    return after


def parse_limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    # isascii: "²" and "٣" are digits to str.isdigit but not numbers we accept.
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LIMIT:
        raise BadQuery(f"limit: must be an integer from 1 to {MAX_LIMIT}", field="limit")
    return int(raw)


def parse_since(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace(" ", "+"))
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)  # out-of-range years fail here, not in BSON
    except (ValueError, OverflowError):
        raise BadQuery("updated_since: not an ISO-8601 timestamp", field="updated_since") from None


def check_collection(collection: str) -> str:
    if collection not in PUBLIC_COLLECTIONS:
        raise StoreNotFound(f"no collection {collection!r}", field="collection")
    return collection


def find_page(
    store_db: Database[MongoDocument],
    collection: str,
    *,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    updated_since: datetime | None = None,
    include_deleted: bool = False,
    query: dict[str, Any] | None = None,
) -> Page:
    """One page of a collection in `_id` order; tombstones hidden unless asked for."""
    check_collection(collection)
    limit = min(max(limit, 1), MAX_LIMIT)
    conditions: list[dict[str, Any]] = [dict(query or {})]
    if not include_deleted and collection != WEBHOOK_EVENTS:
        conditions.append({"deleted": {"$ne": True}})
    if updated_since is not None:
        time_field = "receivedAt" if collection == WEBHOOK_EVENTS else "updatedAt"
        conditions.append({time_field: {"$gte": updated_since}})
    if cursor:
        conditions.append({"_id": {"$gt": decode_cursor(cursor)}})
    found = list(
        store_db[collection]
        .find({"$and": conditions}, HIDDEN_FIELDS)
        .sort("_id", ASCENDING)
        .limit(limit + 1)
    )
    more = len(found) > limit
    items = found[:limit]
    return Page(items=items, next_cursor=encode_cursor(items[-1]["_id"]) if more else None)


def find_document(store_db: Database[MongoDocument], collection: str, doc_id: str) -> MongoDocument:
    """One document by GID or numeric id (tombstones included: they answer "deleted")."""
    check_collection(collection)
    document = store_db[collection].find_one(
        {"_id": {"$in": candidate_ids(collection, doc_id)}}, HIDDEN_FIELDS
    )
    if document is None:
        raise StoreNotFound(f"no document {doc_id!r} in {collection}", field="id")
    return document


class StoreQueries:
    """The Python read API: find a store by clientKey or shop domain and read from it."""

    def __init__(self, repository: ConfigRepository, databases: StoreDatabases) -> None:
        self._repository = repository
        self._databases = databases

    def resolve_client_key(self, shop_domain: str) -> str:
        """The clientKey that owns a shop domain; StoreNotFound when none does."""
        client_key = self._repository.client_key_for_shop(shop_domain)
        if client_key is None:
            raise StoreNotFound(f"no store for shop {shop_domain!r}", field="shopDomain")
        return client_key

    def get_store_db(
        self, client_key: str | None = None, shop_domain: str | None = None
    ) -> Database[MongoDocument]:
        """A known store's database, by clientKey or by shop domain."""
        if client_key is None:
            if shop_domain is None:
                raise BadQuery("give clientKey or shopDomain", field="clientKey")
            client_key = self.resolve_client_key(shop_domain)
        elif self._repository.client_exists(client_key) is False:
            raise StoreNotFound(f"no client {client_key!r}", field="clientKey")
        return self._databases.get(client_key)

    def get_documents(
        self,
        collection: str,
        shop_domain: str | None = None,
        client_key: str | None = None,
        **options: Any,
    ) -> Page:
        """A page of any store collection; options as for `find_page`."""
        return find_page(self.get_store_db(client_key, shop_domain), collection, **options)

    def get_products(
        self,
        shop_domain: str | None = None,
        client_key: str | None = None,
        *,
        query: dict[str, Any] | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> Page:
        """A page of a store's products; the store is found from either key."""
        return self.get_documents(
            "products", shop_domain, client_key, query=query, limit=limit, cursor=cursor
        )


@lru_cache(maxsize=1)
def default_queries() -> StoreQueries:
    """StoreQueries on the process's settings and shared MongoClient."""
    settings = get_settings()
    connection = shared_connection(settings)
    return StoreQueries(
        build_repository(settings, connection),
        StoreDatabases(connection.client, settings.db_prefix),
    )


def get_store_db(
    client_key: str | None = None, shop_domain: str | None = None
) -> Database[MongoDocument]:
    """A store's database by clientKey, or found from its shop domain."""
    return default_queries().get_store_db(client_key, shop_domain)


def resolve_client_key(shop_domain: str) -> str:
    """The clientKey owning a shop domain."""
    return default_queries().resolve_client_key(shop_domain)


def get_products(
    shop_domain: str | None = None, client_key: str | None = None, **options: Any
) -> Page:
    """A page of a store's products by shop domain or clientKey."""
    return default_queries().get_products(shop_domain, client_key, **options)
