"""Collection membership kept exact product by product (rule-based collections move silently)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import MongoClient

from stores.naming import HASH_FIELD
from sync.errors import ShopifyQueryError
from sync.resources import member_lists, memberships
from sync.resources.memberships import (
    _claim,
    apply_membership,
    batch_query,
    forget_memberships,
    recheck_since,
    refresh_memberships,
)

P1, P2, P3 = (f"gid://shopify/Product/{n}" for n in (1, 2, 3))
INLINE, SPILLED, OTHER = (f"gid://shopify/Collection/{n}" for n in (10, 20, 30))


class StoreOnly:
    """Just what the membership writes need from a SyncContext: the store database."""

    def __init__(self, store_db: Any) -> None:
        self.store_db = store_db
        self.counts: dict[str, int] = {}

    def collection(self, name: str) -> Any:
        return self.store_db[name]

    def now(self) -> datetime:
        return datetime.now(UTC)


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
    monkeypatch.setattr(member_lists, "MEMBERS_CHUNK", 1)
    apply_membership(StoreOnly(store), P3, {SPILLED})  # type: ignore[arg-type]
    assert store["_collectionmembers"].find_one({"_id": f"{SPILLED}#2"})["productIds"] == [P3]
    assert _members(store, SPILLED) == [P1, P2, "x", P3]


def test_deleted_products_leave_spilled_lists_too(store: Any) -> None:
    assert forget_memberships(StoreOnly(store), [P1, P2]) == 3  # type: ignore[arg-type]
    assert _members(store, INLINE) == [] and _count(store, INLINE) == 0
    assert _members(store, SPILLED) == ["x"] and _count(store, SPILLED) == 1


def test_many_deleted_products_are_looked_up_in_batches(
    store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given deleted products spread over an inline and a spilled list, and batches of two
    monkeypatch.setattr(memberships, "FORGET_BATCH", 2)
    finds: list[Any] = []
    real_collection = StoreOnly.collection

    class Counting(StoreOnly):
        def collection(self, name: str) -> Any:
            found = real_collection(self, name)
            return _CountingFinds(found, finds)

    # When three products are forgotten (one listed nowhere, one twice in the request)
    assert forget_memberships(Counting(store), [P1, P2, P3, P1]) == 3  # type: ignore[arg-type]
    # Then every membership is gone, with two lookups per batch, not two per product
    assert _members(store, INLINE) == [] and _members(store, SPILLED) == ["x"]
    assert _count(store, SPILLED) == 1
    lookups = [call for call in finds if "$in" in str(call)]
    assert len(lookups) == 4, finds
    # and no lookup brings a whole member list back (the server intersects)
    assert all(call[0] == "aggregate" and "$setIntersection" in str(call) for call in lookups)


class _CountingFinds:
    """A collection whose `find` and `aggregate` calls are noted."""

    def __init__(self, collection: Any, finds: list[Any]) -> None:
        self._collection, self._finds = collection, finds

    def find(self, *args: Any, **kwargs: Any) -> Any:
        self._finds.append(("find", args, kwargs))
        return self._collection.find(*args, **kwargs)

    def aggregate(self, pipeline: list[Any], **kwargs: Any) -> Any:
        self._finds.append(("aggregate", pipeline))
        return self._collection.aggregate(pipeline, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._collection, name)


def test_batched_query_stays_under_the_query_cost_limit() -> None:
    query = batch_query(memberships.BATCH)
    assert query.count("product(id:") == memberships.BATCH
    assert memberships.BATCH * (3 + memberships.FIRST) <= 1000


class Answering(StoreOnly):
    """A context whose Shopify answers `product.collections` from a dict; `failing` products
    make any query that names them fail, as one bad id fails a whole aliased query."""

    def __init__(self, store_db: Any, shopify: dict[str, list[str]], failing: set[str]) -> None:
        super().__init__(store_db)
        self.shopify, self.failing, self.queries = shopify, failing, 0

    def query(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        self.queries += 1
        if self.failing & set(variables.values()):
            raise ShopifyQueryError("Invalid id")
        return {
            name.replace("id", "p"): {
                "id": gid,
                "collections": {"nodes": [{"id": c} for c in self.shopify.get(gid, [])],
                                "pageInfo": {"hasNextPage": False}},
            }
            for name, gid in variables.items()
        }  # fmt: skip

    def heartbeat(self) -> None:
        pass

    def count(self, **amounts: int) -> None:
        for name, amount in amounts.items():
            self.counts[name] = self.counts.get(name, 0) + amount


def test_one_failing_product_does_not_stop_the_others(store: Any) -> None:
    # Given Shopify answers an error for any query that names P2
    ctx: Any = Answering(store, {P1: [], P3: [INLINE]}, failing={P2})
    # When the three are refreshed in one batch
    refresh_memberships(ctx, [P1, P2, P3])
    # Then the batch is retried one by one: P1 and P3 are corrected, P2 is counted as an error
    assert _members(store, INLINE) == [P3]
    assert ctx.counts["membershipErrors"] == 1 and ctx.queries == 4


def test_an_answer_read_before_one_already_applied_is_dropped(store: Any) -> None:
    ctx: Any = StoreOnly(store)
    now = datetime.now(UTC)
    assert _claim(ctx, P1, now)
    assert not _claim(ctx, P1, now - timedelta(seconds=1))  # older read: dropped
    assert not _claim(ctx, P1, now)  # the same read again: dropped
    assert _claim(ctx, P1, now + timedelta(seconds=1))


def test_concurrent_adds_to_a_spilled_list_count_once(store: Any) -> None:
    # Given eight writers adding the same product to a spilled collection at once
    ctx: Any = StoreOnly(store)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: apply_membership(ctx, P3, {SPILLED}), range(8)))
    # Then it is listed once and counted once
    assert _members(store, SPILLED).count(P3) == 1 and _count(store, SPILLED) == 4


def test_a_collection_rewritten_from_an_older_read_is_corrected(store: Any) -> None:
    # Given P3 joined INLINE, then the collection was written again from an older read
    ctx: Any = Answering(store, {P1: [INLINE], P3: [INLINE]}, failing=set())
    started = datetime.now(UTC)
    refresh_memberships(ctx, [P3])
    store.collections.update_one({"_id": INLINE}, {"$set": {"productIds": [P1], "memberCount": 1}})
    # When the products changed since the pass began are read again
    recheck_since(ctx, started)
    # Then P3 is back
    assert _members(store, INLINE) == [P1, P3] and _count(store, INLINE) == 2
