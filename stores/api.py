"""/api/stores/* and /api/shops/*: read a store's synced documents."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from pydantic import BaseModel

from config_db.openapi import Operation, operation, path_param, query_param
from stores.params import MAX_LIMIT, parse_include_deleted, parse_limit, parse_since
from stores.queries import (
    Page,
    StoreQueries,
    find_collection_products,
    find_discount_codes,
    find_document,
    find_page,
)
from stores.schemas import CodePage, DocumentPage, StoreDocument

blueprint = Blueprint("stores", __name__)
EXTENSION = "shopsync.stores"

_COLLECTION = path_param(
    "collection",
    "products, collections, blogs, articles, themedatas, media, discounts or webhookevents",
)
_ID = path_param("id", "Numeric id or URL-encoded Shopify GID")
_LIMIT = query_param(
    "limit", f"Page size, 1..{MAX_LIMIT}", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}
)
_CURSOR = query_param(
    "cursor", "nextCursor of the previous page, unchanged (else 400)", {"type": "string"}
)
_INCLUDE_DELETED = query_param("include_deleted", "Include tombstones", {"type": "boolean"})
_LIST_PARAMS = [
    _COLLECTION,
    _LIMIT,
    _CURSOR,
    query_param(
        "updated_since",
        "ISO-8601; only documents updated at or after it",
        {"type": "string", "format": "date-time"},
    ),
    _INCLUDE_DELETED,
]
_BY_KEY = path_param("clientKey", "The store's clientKey")
_BY_SHOP = path_param("shopDomain", "The store's myshopify domain")
_READ_ERRORS = (400, 404)
_MEMBERS = "Products of a collection in membership order (tombstones skipped unless asked for)"
_CODES = "Codes of a discount in stored order"
_MEMBER_PARAMS = [_ID, _LIMIT, _CURSOR, _INCLUDE_DELETED]
_CODE_PARAMS = [_ID, _LIMIT, _CURSOR]


def _read(summary: str, answer: type[BaseModel], params: list[dict[str, Any]]) -> Operation:
    return operation(summary, {200: answer}, errors=_READ_ERRORS, params=params)


OPENAPI_PATHS: dict[str, dict[str, Operation]] = {
    "/api/stores/{clientKey}/{collection}": {
        "get": _read("A page of a store collection", DocumentPage, [_BY_KEY, *_LIST_PARAMS])
    },
    "/api/stores/{clientKey}/{collection}/{id}": {
        "get": _read("One document", StoreDocument, [_BY_KEY, _COLLECTION, _ID])
    },
    "/api/stores/{clientKey}/collections/{id}/products": {
        "get": _read(_MEMBERS, DocumentPage, [_BY_KEY, *_MEMBER_PARAMS])
    },
    "/api/stores/{clientKey}/discounts/{id}/codes": {
        "get": _read(_CODES, CodePage, [_BY_KEY, *_CODE_PARAMS])
    },
    "/api/shops/{shopDomain}/{collection}": {
        "get": _read(
            "A page of a store collection, by shop domain", DocumentPage, [_BY_SHOP, *_LIST_PARAMS]
        )
    },
    "/api/shops/{shopDomain}/{collection}/{id}": {
        "get": _read("One document, by shop domain", StoreDocument, [_BY_SHOP, _COLLECTION, _ID])
    },
    "/api/shops/{shopDomain}/collections/{id}/products": {
        "get": _read(f"{_MEMBERS}, by shop domain", DocumentPage, [_BY_SHOP, *_MEMBER_PARAMS])
    },
    "/api/shops/{shopDomain}/discounts/{id}/codes": {
        "get": _read(f"{_CODES}, by shop domain", CodePage, [_BY_SHOP, *_CODE_PARAMS])
    },
}


def queries() -> StoreQueries:
    found: StoreQueries = current_app.extensions[EXTENSION]
    return found


def _answer(page: Page) -> Response:
    return jsonify({"items": page.items, "nextCursor": page.next_cursor})


def _page(client_key: str | None, shop_domain: str | None, collection: str) -> Response:
    args = request.args
    page = find_page(
        queries().get_store_db(client_key, shop_domain),
        collection,
        limit=parse_limit(args.get("limit")),
        cursor=args.get("cursor") or None,
        updated_since=parse_since(args.get("updated_since")),
        include_deleted=parse_include_deleted(args.get("include_deleted")),
    )
    return _answer(page)


def _one(client_key: str | None, shop_domain: str | None, collection: str, doc_id: str) -> Response:
    store_db = queries().get_store_db(client_key, shop_domain)
    return jsonify(find_document(store_db, collection, doc_id))


def _members(client_key: str | None, shop_domain: str | None, collection_id: str) -> Response:
    args = request.args
    page = find_collection_products(
        queries().get_store_db(client_key, shop_domain),
        collection_id,
        limit=parse_limit(args.get("limit")),
        cursor=args.get("cursor") or None,
        include_deleted=parse_include_deleted(args.get("include_deleted")),
    )
    return _answer(page)


def _codes(client_key: str | None, shop_domain: str | None, discount_id: str) -> Response:
    args = request.args
    page = find_discount_codes(
        queries().get_store_db(client_key, shop_domain),
        discount_id,
        limit=parse_limit(args.get("limit")),
        cursor=args.get("cursor") or None,
    )
    return _answer(page)


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


# Werkzeug tries static path parts before variables, so `/collections/<id>/products` wins
# over `/<collection>/<path:doc_id>` even for a GID, whose slashes arrive decoded.
@blueprint.get("/api/stores/<client_key>/collections/<path:doc_id>/products")
def store_collection_products(client_key: str, doc_id: str) -> Response:
    """A page of a collection's products, in membership order."""
    return _members(client_key, None, doc_id)


@blueprint.get("/api/shops/<shop_domain>/collections/<path:doc_id>/products")
def shop_collection_products(shop_domain: str, doc_id: str) -> Response:
    """A page of a collection's products, the store found from its shop domain."""
    return _members(None, shop_domain, doc_id)


@blueprint.get("/api/stores/<client_key>/discounts/<path:doc_id>/codes")
def store_discount_codes(client_key: str, doc_id: str) -> Response:
    """A page of a discount's codes, in stored order."""
    return _codes(client_key, None, doc_id)


@blueprint.get("/api/shops/<shop_domain>/discounts/<path:doc_id>/codes")
def shop_discount_codes(shop_domain: str, doc_id: str) -> Response:
    """A page of a discount's codes, the store found from its shop domain."""
    return _codes(None, shop_domain, doc_id)
