"""Adding and removing one product in a stored collection's members, inline or spilled.

Each change is one atomic update where it can be: inline lists push only when the product is
absent (`$ne`); spilled chunks use `$addToSet`, and a spilled collection's `memberCount` is
recounted from its chunks, so two writers adding the same product at once cannot count it
twice. Every change also drops the collection's content hash, so the next time the collection
is read from Shopify it is written, never judged unchanged.
"""

from __future__ import annotations

from typing import Any

from pymongo.errors import DuplicateKeyError

from stores.list_layout import MEMBERS
from stores.naming import HASH_FIELD
from sync.orchestration.context import SyncContext

COLLECTIONS = MEMBERS.collection
SIDE_COLLECTION = MEMBERS.side
MEMBERS_CHUNK = 10_000  # ids per `_collectionmembers` chunk (spill() in the collections pass)


def add_member(ctx: SyncContext, collection_id: str, product_id: str, *, spilled: bool) -> int:
    """Append the product to the collection's members; answers 1 if it was added."""
    collections = ctx.collection(COLLECTIONS)
    if not spilled:
        return collections.update_one(
            {"_id": collection_id, "productIds": {"$ne": product_id}},
            {"$push": {"productIds": product_id}, "$inc": {"memberCount": 1}, **_UNHASH},
        ).modified_count
    side = ctx.collection(SIDE_COLLECTION)
    owner = MEMBERS.owner_field
    if side.find_one({owner: collection_id, MEMBERS.field: product_id}, {"_id": 1}):
        return 0
    last = side.find_one(
        {owner: collection_id},
        {"index": 1, "size": {"$size": "$productIds"}},
        sort=[("index", -1)],
    )
    index = 0 if last is None else int(last["index"])
    if last is not None and int(last.get("size", MEMBERS_CHUNK)) >= MEMBERS_CHUNK:
        index += 1
    _add_to_chunk(side, collection_id, index, product_id)
    return _recount(ctx, collection_id)


def remove_member(
    ctx: SyncContext, collection_id: str, product_id: str, *, spilled: bool | None
) -> int:
    """Take the product out of the collection's members (inline and spilled when unknown)."""
    removed = ctx.collection(COLLECTIONS).update_one(
        {"_id": collection_id, "productIds": product_id},
        {"$pull": {"productIds": product_id}, "$inc": {"memberCount": -1}, **_UNHASH},
    ).modified_count
    if spilled is False:
        return removed
    pulled = ctx.collection(SIDE_COLLECTION).update_many(
        {"collectionId": collection_id, "productIds": product_id},
        {"$pull": {"productIds": product_id}},
    )
    if pulled.modified_count:
        _recount(ctx, collection_id)
    return removed + min(pulled.modified_count, 1)


_UNHASH: dict[str, Any] = {"$unset": {HASH_FIELD: ""}}


def _add_to_chunk(side: Any, collection_id: str, index: int, product_id: str) -> None:
    """`$addToSet` into the chunk at `index`, made when missing (stores/list_layout.py)."""
    for attempt in range(2):
        try:
            side.update_one(
                {"_id": MEMBERS.chunk_id(collection_id, index)},
                {
                    "$setOnInsert": {MEMBERS.owner_field: collection_id, "index": index},
                    "$addToSet": {MEMBERS.field: product_id},
                },
                upsert=True,
            )
            return
        except DuplicateKeyError:  # two writers created the chunk at once: it exists now
            if attempt:
                raise


def _recount(ctx: SyncContext, collection_id: str) -> int:
    """memberCount = the sum of the chunks' sizes; answers 1 (a change was made)."""
    sizes = ctx.collection(SIDE_COLLECTION).aggregate(
        [
            {"$match": {"collectionId": collection_id}},
            {"$group": {"_id": None, "count": {"$sum": {"$size": "$productIds"}}}},
        ]
    )
    count = next(iter(sizes), {"count": 0})["count"]
    ctx.collection(COLLECTIONS).update_one(
        {"_id": collection_id}, {"$set": {"memberCount": int(count)}, **_UNHASH}
    )
    return 1
