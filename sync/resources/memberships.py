"""Collection membership kept exact between full passes, product by product.

Shopify neither bumps a collection's `updatedAt` nor sends `collections/update` when a
product's change moves it in or out of a rule-based collection (reference.md, "Collections
in 2026-07"), so the collections pass never sees it. After every product a webhook or an
incremental pass writes, we read `product(id){collections}` and add or remove that one
product in the stored membership (inline `productIds` or spilled `_collectionmembers`).

- Order: a member added here is appended; `productIds` is in the collection's sort order as of
  the last time the collection itself was read (full pass, or its own change), plus appends.
- Out of order: `_membershipstate` keeps, per product, when Shopify was last read for it; an
  answer read earlier than one already applied is dropped.
- A collection written from Shopify while such changes land could put back an older list:
  after writing collections, the products changed meanwhile are read again (`recheck_since`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from pymongo.errors import DuplicateKeyError

from stores.list_layout import MEMBERS
from stores.naming import MEMBERSHIP_STATE as STATE
from sync.errors import ShopifyQueryError
from sync.orchestration.context import SyncContext
from sync.orchestration.paging import rest_of
from sync.resources.member_lists import COLLECTIONS, SIDE_COLLECTION, add_member, remove_member

log = logging.getLogger(__name__)
# STATE documents: {_id: product GID, readAt, changedAt}.
# Products per query, and collections per product on the first page: each alias costs
# 3 + FIRST points, so a batch stays well under Shopify's 1,000-point query limit.
BATCH = 10
FIRST = 50
# Clocks of different workers may disagree: a recheck looks this much further back.
CLOCK_SKEW_SECONDS = 60
# Deleted products looked up at once: one `$in` per batch instead of two finds per product.
FORGET_BATCH = 500
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
    changes = errors = 0
    unique = list(dict.fromkeys(product_ids))
    for start in range(0, len(unique), BATCH):
        chunk = unique[start : start + BATCH]
        try:
            changes += _refresh_batch(ctx, chunk)
        except ShopifyQueryError:
            # One product's error fails the whole aliased query: try them one by one.
            for product_id in chunk:
                try:
                    changes += _refresh_batch(ctx, [product_id])
                except ShopifyQueryError as error:
                    errors += 1
                    log.warning("membership of %s not read: %s", product_id, error.message)
        ctx.heartbeat()
    ctx.count(membershipChanges=changes, membershipErrors=errors)
    return changes


def _refresh_batch(ctx: SyncContext, chunk: list[str]) -> int:
    read_at = ctx.now()
    answer = ctx.query(batch_query(len(chunk)), {f"id{i}": gid for i, gid in enumerate(chunk)})
    changes = 0
    for index, product_id in enumerate(chunk):
        node = answer.get(f"p{index}")
        if node is None:  # deleted meanwhile: its deletion drops its memberships
            continue
        found = rest_of(
            ctx, node.get("collections"), MORE_COLLECTIONS_QUERY,
            ("product", "collections"), product_id,
        )  # fmt: skip
        if _claim(ctx, product_id, read_at):
            changes += apply_membership(ctx, product_id, {item["id"] for item in found})
    return changes


def _claim(ctx: SyncContext, product_id: str, read_at: datetime) -> bool:
    """True unless an answer read at or after `read_at` was already applied for the product."""
    try:
        ctx.collection(STATE).update_one(
            {"_id": product_id, "readAt": {"$not": {"$gte": read_at}}},
            {"$set": {"readAt": read_at}},
            upsert=True,
        )
    except DuplicateKeyError:  # the filter missed an existing document: a newer read won
        return False
    return True


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
            changes += add_member(ctx, collection_id, product_id, spilled=live[collection_id])
    for collection_id in sorted(stored_in - now_in):
        changes += remove_member(ctx, collection_id, product_id, spilled=live.get(collection_id))
    if changes:
        ctx.collection(STATE).update_one({"_id": product_id}, {"$set": {"changedAt": ctx.now()}})
    return changes


# Where member lists are kept, and which field names the collection there: inline lists on
# the collection itself, spilled chunks beside it (stores/list_layout.py).
_LISTS = ((COLLECTIONS, "_id"), (SIDE_COLLECTION, MEMBERS.owner_field))


def stored_memberships(ctx: SyncContext, product_id: str) -> set[str]:
    """Every stored collection that lists the product, inline or spilled."""
    return {
        found[owner]
        for name, owner in _LISTS
        for found in ctx.collection(name).find({MEMBERS.field: product_id}, {owner: 1})
    }


def forget_memberships(ctx: SyncContext, product_ids: list[str]) -> int:
    """Deleted products leave every collection (Shopify does not touch the collections)."""
    changes = 0
    unique = list(dict.fromkeys(product_ids))
    for start in range(0, len(unique), FORGET_BATCH):
        listed = _listed_in(ctx, unique[start : start + FORGET_BATCH])
        for product_id, collection_ids in listed.items():
            for collection_id in sorted(collection_ids):
                changes += remove_member(ctx, collection_id, product_id, spilled=None)
    return changes


def _listed_in(ctx: SyncContext, product_ids: list[str]) -> dict[str, set[str]]:
    """Per product, the stored collections listing it: two queries for the whole batch.

    The intersection is made by the server: a member list (up to 20,000 ids inline, 10,000 a
    chunk) never travels whole.
    """
    listed: dict[str, set[str]] = {}
    members = f"${MEMBERS.field}"
    for name, owner in _LISTS:
        found = ctx.collection(name).aggregate([
            {"$match": {MEMBERS.field: {"$in": product_ids}}},
            {"$project": {owner: 1, "hits": {"$setIntersection": [members, product_ids]}}},
        ])  # fmt: skip
        for document in found:
            for product_id in document.get("hits") or []:
                listed.setdefault(product_id, set()).add(document[owner])
    return listed


def recheck_since(ctx: SyncContext, since: datetime) -> int:
    """Read again the products whose membership changed since `since` (a collection written
    meanwhile from an older read of Shopify may have put their old membership back)."""
    changed: list[Any] = [
        found["_id"]
        for found in ctx.collection(STATE).find(
            {"changedAt": {"$gte": since - timedelta(seconds=CLOCK_SKEW_SECONDS)}}, {"_id": 1}
        )
    ]
    return refresh_memberships(ctx, changed) if changed else 0
