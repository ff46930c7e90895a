"""Collection membership kept exact between full passes, product by product.

Shopify neither bumps a collection's `updatedAt` nor sends `collections/update` when a
product's change moves it in or out of a rule-based collection (reference.md, "Collections
in 2026-07"), so the collections pass never sees it. After every product a webhook or an
incremental pass writes, we read `product(id){collections}` and add or remove that one
product in the stored membership (inline `productIds` or spilled `_collectionmembers`).

Order: a member added here is appended; `productIds` is in the collection's sort order as of
the last time the collection itself was read (full pass, or its own change), plus appends.
"""

from __future__ import annotations

from typing import Any

from stores.naming import HASH_FIELD
from sync.orchestration.context import SyncContext
from sync.orchestration.paging import rest_of

COLLECTIONS = "collections"
SIDE_COLLECTION = "_collectionmembers"  # as in sync.resources.collections
MEMBERS_CHUNK = 10_000
# Products per query, and collections per product on the first page: each alias costs
# 3 + FIRST points, so a batch stays well under Shopify's 1,000-point query limit.
BATCH = 10
FIRST = 50
MORE_COLLECTIONS_QUERY = """
query ProductCollections($id: ID!, $first: Int!, $after: String) {
  product(id: $id) {
    collections(first: $first, after: $after) {
      pageInfo { hasNextPage endCursor } nodes { id }
    }
  }
}
"""


def batch_query(count: int) -> str:
    """`p0: product(id: $id0) { collections(first: 50) {…} } …` for `count` products."""
    variables = ", ".join(f"$id{index}: ID!" for index in range(count))
    fields = " ".join(
        f"p{index}: product(id: $id{index}) {{ id collections(first: {FIRST}) "
        "{ pageInfo { hasNextPage endCursor } nodes { id } } }"
        for index in range(count)
    )
    return f"query ProductsCollections({variables}) {{ {fields} }}"


def refresh_memberships(ctx: SyncContext, product_ids: list[str]) -> int:
    """Make stored membership of these products equal Shopify's; answers changes made."""
    changes = 0
    unique = list(dict.fromkeys(product_ids))
    for start in range(0, len(unique), BATCH):
        chunk = unique[start : start + BATCH]
        answer = ctx.query(batch_query(len(chunk)), {f"id{i}": gid for i, gid in enumerate(chunk)})
        for index, product_id in enumerate(chunk):
            node = answer.get(f"p{index}")
            if node is None:  # deleted meanwhile: its deletion drops its memberships
                continue
            found = rest_of(
                ctx,
                node.get("collections"),
                MORE_COLLECTIONS_QUERY,
                ("product", "collections"),
                product_id,
            )
            changes += apply_membership(ctx, product_id, {item["id"] for item in found})
        ctx.heartbeat()
    if changes:
        ctx.count(membershipChanges=changes)
    return changes


def apply_membership(ctx: SyncContext, product_id: str, now_in: set[str]) -> int:
    """Add the product to stored collections it is in now, remove it from the others."""
    stored_in = stored_memberships(ctx, product_id)
    live = {
        found["_id"]: bool(found.get("productIdsSpilled"))
        for found in ctx.collection(COLLECTIONS).find(
            {"_id": {"$in": sorted(now_in | stored_in)}, "deleted": {"$ne": True}},
            {"productIdsSpilled": 1},
        )
    }
    changes = 0
    for collection_id in sorted(now_in - stored_in):
        if collection_id in live:  # a collection not stored yet arrives whole with its pass
            changes += _add(ctx, collection_id, product_id, spilled=live[collection_id])
    for collection_id in sorted(stored_in - now_in):
        changes += _remove(ctx, collection_id, product_id, spilled=live.get(collection_id))
    return changes


def stored_memberships(ctx: SyncContext, product_id: str) -> set[str]:
    """Every stored collection that lists the product, inline or spilled."""
    inline = ctx.collection(COLLECTIONS).find({"productIds": product_id}, {"_id": 1})
    spilled = ctx.collection(SIDE_COLLECTION).find({"productIds": product_id}, {"collectionId": 1})
    return {found["_id"] for found in inline} | {found["collectionId"] for found in spilled}


def forget_memberships(ctx: SyncContext, product_ids: list[str]) -> int:
    """Deleted products leave every collection (Shopify does not touch the collections)."""
    changes = 0
    for product_id in dict.fromkeys(product_ids):
        for collection_id in stored_memberships(ctx, product_id):
            changes += _remove(ctx, collection_id, product_id, spilled=None)
    return changes


def _add(ctx: SyncContext, collection_id: str, product_id: str, *, spilled: bool) -> int:
    collections = ctx.collection(COLLECTIONS)
    if not spilled:
        result = collections.update_one(
            {"_id": collection_id, "productIds": {"$ne": product_id}},
            {"$push": {"productIds": product_id}, **_counted(1)},
        )
        return result.modified_count
    side = ctx.collection(SIDE_COLLECTION)
    if side.find_one({"collectionId": collection_id, "productIds": product_id}, {"_id": 1}):
        return 0
    last = side.find_one({"collectionId": collection_id}, sort=[("index", -1)])
    if last is not None and len(last.get("productIds") or []) < MEMBERS_CHUNK:
        side.update_one({"_id": last["_id"]}, {"$push": {"productIds": product_id}})
    else:
        index = 0 if last is None else int(last["index"]) + 1
        side.insert_one(
            {"_id": f"{collection_id}#{index}", "collectionId": collection_id, "index": index,
             "productIds": [product_id]}
        )  # fmt: skip
    collections.update_one({"_id": collection_id}, _counted(1))
    return 1


def _remove(ctx: SyncContext, collection_id: str, product_id: str, *, spilled: bool | None) -> int:
    collections = ctx.collection(COLLECTIONS)
    removed = collections.update_one(
        {"_id": collection_id, "productIds": product_id},
        {"$pull": {"productIds": product_id}, **_counted(-1)},
    ).modified_count
    if spilled is False:
        return removed
    pulled = ctx.collection(SIDE_COLLECTION).update_many(
        {"collectionId": collection_id, "productIds": product_id},
        {"$pull": {"productIds": product_id}},
    )
    if pulled.modified_count:
        collections.update_one({"_id": collection_id}, _counted(-1))
    return removed + min(pulled.modified_count, 1)


def _counted(step: int) -> dict[str, Any]:
    """The member count follows the list; the stored content hash no longer matches it, so
    the next time the collection is read from Shopify it is written, never judged unchanged."""
    return {"$inc": {"memberCount": step}, "$unset": {HASH_FIELD: ""}}
