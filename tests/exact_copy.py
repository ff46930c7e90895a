"""Comparing a store database with the fake shop it was synced from."""

from __future__ import annotations

import hashlib
from typing import Any

from gridfs import GridFSBucket
from pymongo.database import Database

from sync.resources.theme_files import json_target, parse_theme_json
from sync.storage.documents import parse_datetime, safe_keys
from tests.fakeshopify.collectionmodel import sources_of

PRODUCT_FIELDS = ("title", "handle", "vendor", "productType", "status", "tags", "descriptionHtml")
VARIANT_FIELDS = ("id", "title", "sku", "price", "compareAtPrice", "position")


def live(store_db: Database[dict[str, Any]], collection: str) -> dict[str, dict[str, Any]]:
    return {doc["_id"]: doc for doc in store_db[collection].find({"deleted": False})}


def _same_ids(name: str, stored: dict[str, Any], expected: list[dict[str, Any]]) -> None:
    missing = {node["id"] for node in expected} - set(stored)
    extra = set(stored) - {node["id"] for node in expected}
    assert not missing and not extra, (
        f"{name}: missing {sorted(missing)[:5]}, extra {sorted(extra)[:5]}"
    )


def check_products(store_db: Database[dict[str, Any]], shop: Any) -> None:
    expected = shop.snapshot("products")
    stored = live(store_db, "products")
    _same_ids("products", stored, expected)
    for node in expected:
        doc = stored[node["id"]]
        for name in PRODUCT_FIELDS:
            assert doc[name] == node[name], (node["id"], name)
        assert doc["updatedAt"] == parse_datetime(node["updatedAt"])
        assert [{k: v[k] for k in VARIANT_FIELDS} for v in doc["variants"]] == [
            {k: v[k] for k in VARIANT_FIELDS} for v in node["variants"]
        ], node["id"]
        assert [m["id"] for m in doc["media"]] == [m["id"] for m in node["media"]]


def spilled(
    store_db: Database[dict[str, Any]], doc: dict[str, Any], items: str, side: str, owner: str
) -> list[Any]:
    """`doc[items]`, or the list spilled to the side collection when it was too large."""
    if not doc.get(f"{items}Spilled"):
        return list(doc[items])
    assert doc[items] == [], doc["_id"]
    parts = store_db[side].find({owner: doc["_id"]}, sort=[("index", 1)])
    return [item for part in parts for item in part[items]]


def check_collections(store_db: Database[dict[str, Any]], shop: Any) -> None:
    expected = shop.snapshot("collections")
    stored = live(store_db, "collections")
    _same_ids("collections", stored, expected)
    for node in expected:
        doc = stored[node["id"]]
        assert doc["title"] == node["title"] and doc["ruleSet"] == node["ruleSet"]
        assert _sources(doc["sources"]) == _sources(sources_of(node)), node["id"]
        # The API lists members in its own order; the snapshot keeps insertion order.
        members = spilled(store_db, doc, "productIds", "_collectionmembers", "collectionId")
        assert sorted(members) == sorted(node["productIds"]), node["id"]
        assert doc["memberCount"] == len(node["productIds"])


CONDITION_FIELDS = ("__typename", "id", "relation", "values", "value", "matchType")


def _ids(values: Any) -> Any:
    return (
        [v["id"] if isinstance(v, dict) else v for v in values]
        if isinstance(values, list)
        else values
    )


def _sources(sources: list[dict[str, Any]]) -> list[Any]:
    """What both sides say about each source: kind, id, conditions, sub-collections (the
    member selections are not synced: members are `productIds`)."""
    shown = []
    for source in sources:
        parts = [
            source["__typename"],
            source["id"],
            source["title"],
            _ids(source.get("collections")),
        ]
        for side in ("inclusion", "exclusion"):
            part = source.get(side) or {}
            parts.append(part.get("matchType"))
            parts.append([
                {key: _ids(item.get(key)) for key in CONDITION_FIELDS}
                for item in part.get("conditions") or ()
            ])  # fmt: skip
        shown.append(parts)
    return shown


def check_content(store_db: Database[dict[str, Any]], shop: Any) -> None:
    for resource in ("blogs", "articles"):
        expected = shop.snapshot(resource)
        stored = live(store_db, resource)
        _same_ids(resource, stored, expected)
        for node in expected:
            assert stored[node["id"]]["title"] == node["title"]
            if resource == "articles":
                assert stored[node["id"]]["blogId"] == node["blog"]["id"]
                assert stored[node["id"]]["body"] == node["body"]


def _file_bytes(store_db: Database[dict[str, Any]], entry: dict[str, Any]) -> bytes:
    if "content" in entry:
        return str(entry["content"]).encode()
    return GridFSBucket(store_db, "themefiles").open_download_stream(entry["gridfsId"]).read()


def check_themes(store_db: Database[dict[str, Any]], shop: Any) -> None:
    expected = shop.snapshot("themes")
    stored = live(store_db, "themedatas")
    _same_ids("themes", stored, expected)
    for node in expected:
        doc = stored[node["id"]]
        assert (doc["name"], doc["role"]) == (node["name"], node["role"])
        files = {entry["filename"]: entry for entry in doc["files"]}
        assert set(files) == {f["filename"] for f in node["files"]}
        for source in node["files"]:
            entry = files[source["filename"]]
            assert entry["checksumMd5"] == source["checksumMd5"]
            assert hashlib.md5(_file_bytes(store_db, entry)).hexdigest() == source["checksumMd5"]
            target = json_target(source["filename"])
            body = source["body"]
            if target and body.get("__typename") == "OnlineStoreThemeFileBodyText":
                group, key = target
                value = doc[group] if key is None else doc[group][key]
                assert value == safe_keys(parse_theme_json(body["content"])), source["filename"]


def check_media(store_db: Database[dict[str, Any]], shop: Any) -> None:
    stored = live(store_db, "media")
    library = shop.snapshot("files")
    product_media = [(p["id"], m) for p in shop.snapshot("products") for m in p["media"]]
    expected_ids = {node["id"] for node in library} | {m["id"] for _, m in product_media}
    assert set(stored) == expected_ids
    bucket = GridFSBucket(store_db, "mediafiles")
    for node in library:
        assert stored[node["id"]]["inFilesLibrary"] is True
    for product_id, node in product_media:
        assert stored[node["id"]]["productId"] == product_id
    for doc in stored.values():
        expected = shop.cdn_bytes(doc["sourceUrl"])
        digest = hashlib.sha256(expected).hexdigest()
        assert doc["sha256"] == digest and doc["size"] == len(expected), doc["_id"]
        data = bucket.open_download_stream(doc["gridfsId"]).read()
        assert hashlib.sha256(data).hexdigest() == digest


def check_discounts(store_db: Database[dict[str, Any]], shop: Any) -> None:
    expected = shop.snapshot("discounts")
    stored = live(store_db, "discounts")
    _same_ids("discounts", stored, expected)
    for node in expected:
        doc, discount = stored[node["id"]], node["discount"]
        assert doc["type"] == discount["__typename"] and doc["title"] == discount["title"]
        codes = discount.get("codes") or []
        stored_codes = spilled(store_db, doc, "codes", "_discountcodes", "discountId")
        assert [c["code"] for c in stored_codes] == [c["code"] for c in codes], node["id"]
        assert doc["codesCount"] == len(codes)


CHECKS = (
    check_products,
    check_collections,
    check_content,
    check_themes,
    check_media,
    check_discounts,
)


def assert_exact_copy(store_db: Database[dict[str, Any]], shop: Any) -> None:
    """Every resource in the store database equals the fake shop's data."""
    for check in CHECKS:
        check(store_db, shop)
