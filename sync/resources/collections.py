"""Custom and smart collections with the full list of member product GIDs."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from config_db.mongo import MongoDocument
from stores.list_layout import MEMBERS
from sync.bulk.path import main_phase
from sync.bulk.runtime import BulkSpec, has_all
from sync.orchestration.context import SyncContext
from sync.orchestration.paging import pages, rest_of
from sync.resources.collection_sources import SOURCES_FIELDS, has_sources, unalias
from sync.resources.deletions import apply_deletion_events, sweep_unseen
from sync.resources.member_lists import MEMBERS_CHUNK
from sync.resources.memberships import recheck_since
from sync.storage.documents import convert_timestamps
from sync.storage.spill import spill
from sync.storage.writer import write_documents

NAME = "collections"
# Beyond this many members, productIds move to `_collectionmembers` (16 MB document limit).
MAX_INLINE_MEMBERS = 20_000
COLLECTION_FIELDS = """
  id legacyResourceId title handle descriptionHtml sortOrder templateSuffix updatedAt
  image { url altText } seo { title description }
  ruleSet { appliedDisjunctively rules { column relation condition } }
  productsCount { count }
  products(first: 25) { pageInfo { hasNextPage endCursor } nodes { id } }
"""
LEGACY_MEMBERS = "products(first: 25) { pageInfo { hasNextPage endCursor } nodes { id } }"


def collection_fields(api_version: str) -> str:
    """The fields we select; `sources` from 2026-07 (older versions do not know it)."""
    return COLLECTION_FIELDS + (SOURCES_FIELDS if has_sources(api_version) else "")


@lru_cache(maxsize=8)
def collections_query(api_version: str) -> str:
    return f"""
query Collections($first: Int!, $after: String, $query: String, $sortKey: CollectionSortKeys) {{
  collections(first: $first, after: $after, query: $query, sortKey: $sortKey) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{ {collection_fields(api_version)} }}
  }}
}}
"""


@lru_cache(maxsize=8)
def collection_query(api_version: str) -> str:
    fields = collection_fields(api_version)
    return f"query Collection($id: ID!) {{ collection(id: $id) {{ {fields} }} }}"


@lru_cache(maxsize=8)
def bulk_spec(api_version: str) -> BulkSpec:
    """The bulk export: the same fields, members whole (one line per member)."""
    return BulkSpec(
        root="collections",
        fields=collection_fields(api_version).replace(
            LEGACY_MEMBERS, "products { edges { node { id } } }"
        ),
        place=lambda _line: ("products",),
        refetch_query=collection_query(api_version),
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
    # Both always present: `ruleSet` is null for custom and new-model collections, `sources`
    # before API 2026-07.
    document["ruleSet"] = node.get("ruleSet")
    document["sources"] = unalias(node.get("sources"))
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
    spill(ctx.collection(MEMBERS.side), MEMBERS, collection_id, members, MEMBERS_CHUNK)


def sync(ctx: SyncContext) -> None:
    """Full: every collection then tombstone the unseen. Incremental: changes and deletions."""
    collections = ctx.collection(NAME)
    api_version = ctx.settings.shopify_api_version
    variables = {
        "query": ctx.search_filter(),
        "sortKey": "UPDATED_AT" if ctx.mode == "incremental" else "ID",
    }

    def write(nodes: list[MongoDocument]) -> None:
        documents = [collection_document(ctx, node) for node in nodes]
        counts = write_documents(collections, documents, run_id=ctx.run_id, now=ctx.now())
        ctx.count(seen=len(documents), upserted=counts.upserted, skipped=counts.skipped)

    def paged() -> None:
        for nodes in pages(
            ctx, "main", collections_query(api_version), ("collections",), variables
        ):
            write(nodes)

    main_phase(ctx, bulk_spec(api_version), write, paged)
    # Memberships corrected while this pass read and wrote collections may have been undone.
    recheck_since(ctx, ctx.run_started)
    if ctx.mode == "incremental":
        apply_deletion_events(ctx, "COLLECTION", NAME)
    else:
        sweep_unseen(ctx, NAME)
