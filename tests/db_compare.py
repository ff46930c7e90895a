"""Comparing two store databases document by document (bulk and paged paths, export/import)."""

from __future__ import annotations

from typing import Any

from pymongo.database import Database

from stores.naming import HASH_FIELD, RUN_FIELD, WRITTEN_FIELD

# What a reader sees: the synced collections and the side collections of spilled lists.
COMPARED = (
    "products", "collections", "blogs", "articles", "media", "discounts", "themedatas",
    "_collectionmembers", "_discountcodes",
)  # fmt: skip
# Bookkeeping that names the run or the moment, not the content.
VOLATILE = {"syncedAt", RUN_FIELD, WRITTEN_FIELD, HASH_FIELD, "gridfsId", "downloadedFrom"}


def _normal(value: Any, renames: dict[str, str], ignore: frozenset[str]) -> Any:
    if isinstance(value, dict):
        return {
            k: _normal(v, renames, ignore)
            for k, v in value.items()
            if k not in VOLATILE and k not in ignore
        }
    if isinstance(value, list):
        return [_normal(item, renames, ignore) for item in value]
    if isinstance(value, str):
        for old, new in renames.items():
            value = value.replace(old, new)
    return value


def snapshot(
    store_db: Database[dict[str, Any]], renames: dict[str, str], ignore: frozenset[str]
) -> dict[str, Any]:
    """Every compared document, bookkeeping dropped, shop-specific strings renamed."""
    return {
        name: {
            str(doc["_id"]): _normal(doc, renames, ignore)
            for doc in store_db[name].find({}, sort=[("_id", 1)])
        }
        for name in COMPARED
    }


def assert_same_databases(
    left: Database[dict[str, Any]],
    right: Database[dict[str, Any]],
    renames: dict[str, str] | None = None,
    ignore: frozenset[str] = frozenset(),
    collections: tuple[str, ...] = COMPARED,
) -> None:
    """Both databases hold the same documents (`renames` maps right's strings to left's;
    fields named in `ignore` are left out, wherever they are)."""
    mine, theirs = snapshot(left, {}, ignore), snapshot(right, renames or {}, ignore)
    for name in collections:
        assert set(mine[name]) == set(theirs[name]), (
            name, sorted(set(mine[name]) ^ set(theirs[name]))[:5],
        )  # fmt: skip
        for key, document in mine[name].items():
            other = theirs[name][key]
            differs = {
                field: (document.get(field), other.get(field))
                for field in set(document) | set(other)
                if document.get(field) != other.get(field)
            }
            assert not differs, (name, key, differs)
