"""Collection membership kept exact product by product (rule-based collections move silently)."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo import MongoClient

from stores.naming import HASH_FIELD
from sync.resources import memberships
from sync.resources.memberships import apply_membership, batch_query, forget_memberships

P1, P2, P3 = (f"gid://shopify/Product/{n}" for n in (1, 2, 3))
INLINE, SPILLED, OTHER = (f"gid://shopify/Collection/{n}" for n in (10, 20, 30))


class StoreOnly:
    """Just what the membership writes need from a SyncContext: the store database."""

    def __init__(self, store_db: Any) -> None:
        self.store_db = store_db
        self.counts: dict[str, int] = {}

    def collection(self, name: str) -> Any:
        return self.store_db[name]


@pytest.fixture
def store(real_mongo: MongoClient[dict[str, Any]]) -> Any:
    db = real_mongo["members"]
    db.collections.insert_many([
        {"_id": INLINE, "productIds": [P1], "productIdsSpilled": False, "memberCount": 1,
         HASH_FIELD: "h", "deleted": False},
        {"_id": SPILLED, "productIds": [], "productIdsSpilled": True, "memberCount": 3,
         HASH_FIELD: "h", "deleted": False},
        {"_id": OTHER, "productIds": [], "productIdsSpilled": False, "memberCount": 0,
         "deleted": True},
    ])  # fmt: skip
    db["_collectionmembers"].insert_many([
        {"_id": f"{SPILLED}#0", "collectionId": SPILLED, "index": 0, "productIds": [P1, P2]},
        {"_id": f"{SPILLED}#1", "collectionId": SPILLED, "index": 1, "productIds": ["x"]},
    ])  # fmt: skip
    return db


def _members(db: Any, collection_id: str) -> list[str]:
    doc = db.collections.find_one({"_id": collection_id})
    if not doc["productIdsSpilled"]:
        return list(doc["productIds"])
    chunks = db["_collectionmembers"].find({"collectionId": collection_id}, sort=[("index", 1)])
    return [member for chunk in chunks for member in chunk["productIds"]]


def _count(db: Any, collection_id: str) -> int:
    return int(db.collections.find_one({"_id": collection_id})["memberCount"])


def test_a_product_joins_and_leaves_inline_and_spilled_lists(store: Any) -> None:
    ctx: Any = StoreOnly(store)
    # Given P3 is in no collection, When Shopify says it is in both now
    assert apply_membership(ctx, P3, {INLINE, SPILLED, OTHER}) == 2
    # Then it is appended to each list, counts follow, and the tombstoned one is untouched
    assert _members(store, INLINE) == [P1, P3] and _count(store, INLINE) == 2
    assert _members(store, SPILLED) == [P1, P2, "x", P3] and _count(store, SPILLED) == 4
    assert store.collections.find_one({"_id": OTHER})["productIds"] == []
    # and the stored hash is gone, so the next read of the collection is written, not skipped
    assert HASH_FIELD not in store.collections.find_one({"_id": INLINE})
    # When the same answer comes again, Then nothing changes (idempotent)
    assert apply_membership(ctx, P3, {INLINE, SPILLED}) == 0
    # When Shopify says P1 left both, Then it is removed from both
    assert apply_membership(ctx, P1, set()) == 2
    assert _members(store, INLINE) == [P3] and _count(store, INLINE) == 1
    assert _members(store, SPILLED) == [P2, "x", P3] and _count(store, SPILLED) == 3


def test_a_full_last_chunk_starts_a_new_one(store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memberships, "MEMBERS_CHUNK", 1)
    apply_membership(StoreOnly(store), P3, {SPILLED})  # type: ignore[arg-type]
    assert store["_collectionmembers"].find_one({"_id": f"{SPILLED}#2"})["productIds"] == [P3]
    assert _members(store, SPILLED) == [P1, P2, "x", P3]


def test_deleted_products_leave_spilled_lists_too(store: Any) -> None:
    assert forget_memberships(StoreOnly(store), [P1, P2]) == 3  # type: ignore[arg-type]
    assert _members(store, INLINE) == [] and _count(store, INLINE) == 0
    assert _members(store, SPILLED) == ["x"] and _count(store, SPILLED) == 1


def test_batched_query_stays_under_the_query_cost_limit() -> None:
    query = batch_query(memberships.BATCH)
    assert query.count("product(id:") == memberships.BATCH
    assert memberships.BATCH * (3 + memberships.FIRST) <= 1000
