"""/api/stores/* and /api/shops/*: read a store's synced documents."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from config_db.openapi import operation, path_param, query_param
from stores.queries import (
    MAX_LIMIT,
    StoreQueries,
    find_document,
    find_page,
    parse_limit,
    parse_since,
)

blueprint = Blueprint("stores", __name__)
EXTENSION = "shopsync.stores"

_COLLECTION = path_param(
    "collection",
    "products, collections, blogs, articles, themedatas, media, discounts or webhookevents",
)
_ID = path_param("id", "Numeric id or URL-encoded Shopify GID")
_LIST_PARAMS = [
    _COLLECTION,
    query_param("limit", f"Page size, 1..{MAX_LIMIT}", {"type": "integer", "maximum": MAX_LIMIT}),
    query_param("cursor", "nextCursor of the previous page", {"type": "string"}),
    query_param(
        "updated_since",
        "ISO-8601; only documents updated at or after it",
        {"type": "string", "format": "date-time"},
    ),
    query_param("include_deleted", "Include tombstones", {"type": "boolean"}),
]
_BY_KEY = path_param("clientKey", "The store's clientKey")
_BY_SHOP = path_param("shopDomain", "The store's myshopify domain")
OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/stores/{clientKey}/{collection}": {
        "get": operation(
            "A page of a store collection", (200, 400, 401, 404), params=[_BY_KEY, *_LIST_PARAMS]
        )
    },
    "/api/stores/{clientKey}/{collection}/{id}": {
        "get": operation("One document", (200, 401, 404), params=[_BY_KEY, _COLLECTION, _ID])
    },
    "/api/shops/{shopDomain}/{collection}": {
        "get": operation(
            "A page of a store collection, by shop domain",
            (200, 400, 401, 404),
            params=[_BY_SHOP, *_LIST_PARAMS],
        )
    },
    "/api/shops/{shopDomain}/{collection}/{id}": {
        "get": operation(
            "One document, by shop domain", (200, 401, 404), params=[_BY_SHOP, _COLLECTION, _ID]
        )
    },
}


def queries() -> StoreQueries:
    found: StoreQueries = current_app.extensions[EXTENSION]
    return found


def _page(client_key: str | None, shop_domain: str | None, collection: str) -> Response:
    args = request.args
    include_deleted = args.get("include_deleted", "false").lower() in ("true", "1")
    page = find_page(
        queries().get_store_db(client_key, shop_domain),
        collection,
        limit=parse_limit(args.get("limit")),
        cursor=args.get("cursor") or None,
        updated_since=parse_since(args.get("updated_since")),
        include_deleted=include_deleted,
    )
    return jsonify({"items": page.items, "nextCursor": page.next_cursor})


def _one(client_key: str | None, shop_domain: str | None, collection: str, doc_id: str) -> Response:
    store_db = queries().get_store_db(client_key, shop_domain)
    return jsonify(find_document(store_db, collection, doc_id))


@blueprint.get("/api/stores/<client_key>/<collection>")
def store_collection(client_key: str, collection: str) -> Response:
    """A page of one collection of a store."""
    return _page(client_key, None, collection)


@blueprint.get("/api/stores/<client_key>/<collection>/<path:doc_id>")
def store_document(client_key: str, collection: str, doc_id: str) -> Response:
    """One document of a store by numeric id or GID."""
    return _one(client_key, None, collection, doc_id)


@blueprint.get("/api/shops/<shop_domain>/<collection>")
def shop_collection(shop_domain: str, collection: str) -> Response:
    """A page of one collection, the store found from its shop domain."""
    return _page(None, shop_domain, collection)


@blueprint.get("/api/shops/<shop_domain>/<collection>/<path:doc_id>")
def shop_document(shop_domain: str, collection: str, doc_id: str) -> Response:
    """One document, the store found from its shop domain."""
    return _one(None, shop_domain, collection, doc_id)
