"""Blogs and articles (GraphQL since 2024-10); articles carry `blogId`."""

from __future__ import annotations

from typing import Any

from config_db.mongo import MongoDocument
from sync.bulk.path import main_phase
from sync.bulk.runtime import BulkSpec
from sync.orchestration.context import SyncContext
from sync.orchestration.paging import pages
from sync.resources.deletions import mark_listed, sweep_unseen
from sync.storage.documents import convert_timestamps
from sync.storage.writer import write_documents

BLOGS_QUERY = """
query Blogs($first: Int!, $after: String, $query: String) {
  blogs(first: $first, after: $after, query: $query) {
    pageInfo { hasNextPage endCursor }
    nodes { id title handle commentPolicy tags templateSuffix createdAt updatedAt }
  }
}
"""
ARTICLES_QUERY = """
query Articles($first: Int!, $after: String, $query: String, $sortKey: ArticleSortKeys) {
  articles(first: $first, after: $after, query: $query, sortKey: $sortKey) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id title handle body summary tags templateSuffix author { name } blog { id }
      isPublished publishedAt createdAt updatedAt image { url altText }
    }
  }
}
"""


def _node_fields(query: str) -> str:
    """The selection inside `nodes { … }` of a one-level page query (shared with bulk)."""
    inner = query[query.index("nodes {") + len("nodes {") :]
    return inner[: inner.rindex("}", 0, inner.rindex("}", 0, inner.rindex("}")))].strip()


def blog_document(node: dict[str, Any]) -> MongoDocument:
    converted: MongoDocument = convert_timestamps({**node, "_id": node["id"]})
    return converted


def article_document(node: dict[str, Any]) -> MongoDocument:
    blog_id = (node.get("blog") or {}).get("id")
    converted: MongoDocument = convert_timestamps({**node, "_id": node["id"], "blogId": blog_id})
    return converted


BLOGS_BULK = BulkSpec(root="blogs", fields=_node_fields(BLOGS_QUERY))
ARTICLES_BULK = BulkSpec(root="articles", fields=_node_fields(ARTICLES_QUERY))


def _sync(
    ctx: SyncContext, name: str, query: str, variables: dict[str, Any], to_document: Any
) -> None:
    target = ctx.collection(name)

    def write(nodes: list[MongoDocument]) -> None:
        documents = [to_document(node) for node in nodes]
        counts = write_documents(target, documents, run_id=ctx.run_id, now=ctx.now())
        ctx.count(seen=len(documents), upserted=counts.upserted, skipped=counts.skipped)

    def paged() -> None:
        for nodes in pages(ctx, "main", query, (name,), variables):
            write(nodes)

    main_phase(ctx, BLOGS_BULK if name == "blogs" else ARTICLES_BULK, write, paged)
    # No deletion events or webhooks exist for these: an ids-only listing finds deletions.
    if ctx.mode == "incremental":
        mark_listed(ctx, name, name)
    sweep_unseen(ctx, name)


def sync_blogs(ctx: SyncContext) -> None:
    """Every blog (changed ones only when incremental); deleted ones tombstoned."""
    _sync(ctx, "blogs", BLOGS_QUERY, {"query": ctx.search_filter()}, blog_document)


def sync_articles(ctx: SyncContext) -> None:
    """Every article (changed ones only when incremental); deleted ones tombstoned."""
    variables = {
        "query": ctx.search_filter(),
        "sortKey": "UPDATED_AT" if ctx.mode == "incremental" else "ID",
    }
    _sync(ctx, "articles", ARTICLES_QUERY, variables, article_document)
