"""Custom and smart collections with the full list of member product GIDs."""

from __future__ import annotations

from typing import Any

from config_db.mongo import MongoDocument
from sync.bulk.path import main_phase
from sync.bulk.runtime import BulkSpec, has_all
from sync.orchestration.context import SyncContext
from sync.orchestration.paging import pages, rest_of
from sync.resources.deletions import apply_deletion_events, sweep_unseen
from sync.storage.documents import convert_timestamps
from sync.storage.spill import spill
from sync.storage.writer import write_documents

NAME = "collections"
# Beyond this many members, productIds move to `_collectionmembers` (16 MB document limit).
MAX_INLINE_MEMBERS = 20_000
MEMBERS_CHUNK = 10_000
SIDE_COLLECTION = "_collectionmembers"
COLLECTION_FIELDS = """
  id legacyResourceId title handle descriptionHtml sortOrder templateSuffix updatedAt
  image { url altText } seo { title description }
  ruleSet { appliedDisjunctively rules { column relation condition } }
  productsCount { count }
  products(first: 25) { pageInfo { hasNextPage endCursor } nodes { id } }
"""
COLLECTIONS_QUERY = f"""
query Collections($first: Int!, $after: String, $query: String, $sortKey: CollectionSortKeys) {{
  collections(first: $first, after: $after, query: $query, sortKey: $sortKey) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{ {COLLECTION_FIELDS} }}
  }}
}}
"""
COLLECTION_QUERY = f"query Collection($id: ID!) {{ collection(id: $id) {{ {COLLECTION_FIELDS} }} }}"
BULK = BulkSpec(
    root="collections",
    fields=COLLECTION_FIELDS.replace(
        "products(first: 25) { pageInfo { hasNextPage endCursor } nodes { id } }",
        "products { edges { node { id } } }",
    ),
    place=lambda _line: ("products",),
    refetch_query=COLLECTION_QUERY,
    refetch_path=("collection",),
    count_root="collectionsCount",
    complete=lambda node: has_all(node, ("products",), ("productsCount", "count")),
)
MORE_MEMBERS_QUERY = """
query CollectionProducts($id: ID!, $first: Int!, $after: String) {
  collection(id: $id) {
    products(first: $first, after: $after) { pageInfo { hasNextPage endCursor } nodes { id } }
  }
}
"""


def collection_document(ctx: SyncContext, node: dict[str, Any]) -> MongoDocument:
    """A collection with `productIds`, spilled to a side collection when very large."""
    document = {key: value for key, value in node.items() if key != "products"}
    document["_id"] = node["id"]
    members = [
        member["id"]
        for member in rest_of(
            ctx, node.get("products"), MORE_MEMBERS_QUERY, ("collection", "products"), node["id"]
        )
    ]
    spilled = len(members) > MAX_INLINE_MEMBERS
    spill_members(ctx, node["id"], members if spilled else [])
    document["productIds"] = [] if spilled else members
    document["productIdsSpilled"] = spilled
    document["memberCount"] = len(members)
    converted: MongoDocument = convert_timestamps(document)
    return converted


def spill_members(ctx: SyncContext, collection_id: str, members: list[str]) -> None:
    """Members of huge collections in `_collectionmembers` ({collectionId, index, productIds})."""
    spill(
        ctx.collection(SIDE_COLLECTION),
        "collectionId",
        collection_id,
        "productIds",
        members,
        MEMBERS_CHUNK,
    )


def sync(ctx: SyncContext) -> None:
    """Full: every collection then tombstone the unseen. Incremental: changes and deletions."""
    collections = ctx.collection(NAME)
    variables = {
        "query": ctx.search_filter(),
        "sortKey": "UPDATED_AT" if ctx.mode == "incremental" else "ID",
    }

    def write(nodes: list[MongoDocument]) -> None:
        documents = [collection_document(ctx, node) for node in nodes]
        counts = write_documents(collections, documents, run_id=ctx.run_id, now=ctx.now())
        ctx.count(seen=len(documents), upserted=counts.upserted, skipped=counts.skipped)

    def paged() -> None:
        for nodes in pages(ctx, "main", COLLECTIONS_QUERY, ("collections",), variables):
            write(nodes)

    main_phase(ctx, BULK, write, paged)
    if ctx.mode == "incremental":
        apply_deletion_events(ctx, "COLLECTION", NAME)
    else:
        sweep_unseen(ctx, NAME)
