"""Reading synced documents: paging, filters and routing from shop domain to store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from pymongo import ASCENDING
from pymongo.database import Database

from config_db.mongo import MongoDocument, shared_connection
from config_db.repository import ConfigRepository, build_repository
from config_db.settings import get_settings
from stores.cursors import (
    Position,
    decode_after,
    decode_position,
    encode_after,
    encode_position,
)
from stores.databases import StoreDatabases
from stores.errors import BadQuery, StoreNotFound, quoted
from stores.lists import CODES, MEMBERS, StoredList
from stores.naming import HIDDEN_FIELDS, WEBHOOK_EVENTS, candidate_ids, check_client_key
from stores.params import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    check_collection,
    check_doc_id,
    check_shop_domain,
)
from stores.params import parse_limit as parse_limit  # sync/api.py reads job pages with it
from stores.params import parse_since as parse_since

# Member ids looked up per round when finding a page of a collection's products.
MEMBER_SCAN_BATCH = 1000
# Members looked at per page: a stretch of tombstones ends a page early (nextCursor set).
MAX_MEMBER_SCAN = 10_000
FIRST = Position(chunk=0, offset=0)


@dataclass(frozen=True)
class Page:
    items: list[MongoDocument]
    next_cursor: str | None


def _live(include_deleted: bool) -> dict[str, Any]:
    return {} if include_deleted else {"deleted": {"$ne": True}}


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
    if collection != WEBHOOK_EVENTS:
        conditions.append(_live(include_deleted))
    if updated_since is not None:
        time_field = "receivedAt" if collection == WEBHOOK_EVENTS else "updatedAt"
        conditions.append({time_field: {"$gte": updated_since}})
    if cursor:
        conditions.append({"_id": {"$gt": decode_after(cursor)}})
    found = list(
        store_db[collection]
        .find({"$and": conditions}, HIDDEN_FIELDS)
        .sort("_id", ASCENDING)
        .limit(limit + 1)
    )
    more = len(found) > limit
    items = found[:limit]
    return Page(items=items, next_cursor=encode_after(items[-1]["_id"]) if more else None)


def find_document(store_db: Database[MongoDocument], collection: str, doc_id: str) -> MongoDocument:
    """One document by GID or numeric id (tombstones included: they answer "deleted")."""
    check_collection(collection)
    document = store_db[collection].find_one(
        {"_id": {"$in": candidate_ids(collection, check_doc_id(doc_id))}}, HIDDEN_FIELDS
    )
    if document is None:
        raise StoreNotFound(f"no document {quoted(doc_id)} in {collection}", field="id")
    return document


def find_collection_products(
    store_db: Database[MongoDocument],
    collection_id: str,
    *,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    include_deleted: bool = False,
) -> Page:
    """The product documents of a collection, in the order of its stored `productIds`.

    Members with no product document (not synced yet) are skipped, tombstoned products
    too unless `include_deleted`. The cursor is a position in the member list, so a page
    may hold fewer than `limit` items when a long stretch is skipped: only a null
    nextCursor ends the list. A tombstoned collection still lists the members it had.
    """
    start = decode_position(cursor) if cursor else FIRST
    members = StoredList.open(store_db, MEMBERS, check_doc_id(collection_id))
    chosen, next_position = _member_ids(
        store_db, members, start, min(max(limit, 1), MAX_LIMIT), include_deleted
    )
    found = store_db.products.find(
        {"_id": {"$in": chosen}, **_live(include_deleted)}, HIDDEN_FIELDS
    )
    by_id = {document["_id"]: document for document in found}
    return Page(
        items=[by_id[gid] for gid in chosen if gid in by_id],
        next_cursor=None if next_position is None else encode_position(next_position),
    )


def _member_ids(
    store_db: Database[MongoDocument],
    members: StoredList,
    start: Position,
    limit: int,
    include_deleted: bool,
) -> tuple[list[str], Position | None]:
    """Up to `limit` member ids with a product document, and where the next page starts."""
    chosen: list[str] = []
    position = start
    for _ in range(0, MAX_MEMBER_SCAN, MEMBER_SCAN_BATCH):
        window = members.read(position, MEMBER_SCAN_BATCH)
        ids = [gid for _, gid in window if isinstance(gid, str)]
        query = {"_id": {"$in": ids}, **_live(include_deleted)}
        stored = {document["_id"] for document in store_db.products.find(query, {"_id": 1})}
        for at, gid in window:
            if isinstance(gid, str) and gid in stored:
                if len(chosen) == limit:
                    return chosen, at
                chosen.append(gid)
        if len(window) < MEMBER_SCAN_BATCH:
            return chosen, None
        position = window[-1][0]._replace(offset=window[-1][0].offset + 1)
    return chosen, position


def find_discount_codes(
    store_db: Database[MongoDocument],
    discount_id: str,
    *,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page:
    """A discount's codes `{id, code, asyncUsageCount}` in stored order (tombstones too)."""
    start = decode_position(cursor) if cursor else FIRST
    codes = StoredList.open(store_db, CODES, check_doc_id(discount_id))
    limit = min(max(limit, 1), MAX_LIMIT)
    window = codes.read(start, limit + 1)
    more = len(window) > limit
    return Page(
        items=[code for _, code in window[:limit]],
        next_cursor=encode_position(window[limit][0]) if more else None,
    )


class StoreQueries:
    """The Python read API: find a store by clientKey or shop domain and read from it."""

    def __init__(self, repository: ConfigRepository, databases: StoreDatabases) -> None:
        self._repository = repository
        self._databases = databases

    def resolve_client_key(self, shop_domain: str) -> str:
        """The clientKey that owns a shop domain; StoreNotFound when none does."""
        client_key = self._repository.client_key_for_shop(check_shop_domain(shop_domain))
        if client_key is None:
            raise StoreNotFound(f"no store for shop {quoted(shop_domain)}", field="shopDomain")
        return client_key

    def get_store_db(
        self, client_key: str | None = None, shop_domain: str | None = None
    ) -> Database[MongoDocument]:
        """A known store's database, by clientKey or by shop domain."""
        if client_key is None:
            if shop_domain is None:
                raise BadQuery("give clientKey or shopDomain", field="clientKey")
            client_key = self.resolve_client_key(shop_domain)
        elif self._repository.client_exists(check_client_key(client_key)) is False:
            raise StoreNotFound(f"no client {quoted(client_key)}", field="clientKey")
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

    def get_collection_products(
        self,
        collection_id: str,
        shop_domain: str | None = None,
        client_key: str | None = None,
        **options: Any,
    ) -> Page:
        """A page of a collection's products; options as for `find_collection_products`."""
        store_db = self.get_store_db(client_key, shop_domain)
        return find_collection_products(store_db, collection_id, **options)

    def get_discount_codes(
        self,
        discount_id: str,
        shop_domain: str | None = None,
        client_key: str | None = None,
        **options: Any,
    ) -> Page:
        """A page of a discount's codes; options as for `find_discount_codes`."""
        return find_discount_codes(
            self.get_store_db(client_key, shop_domain), discount_id, **options
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
