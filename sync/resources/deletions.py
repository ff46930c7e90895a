"""Finding what Shopify deleted: deletion events, or an ids-only listing and a sweep."""

from __future__ import annotations

from sync.orchestration.context import SyncContext
from sync.orchestration.paging import pages
from sync.storage.writer import RUN_FIELD, sweep, tombstone

DELETION_EVENTS_QUERY = """
query DeletionEvents($first: Int!, $after: String, $query: String,
                     $types: [DeletionEventSubjectType!]) {
  deletionEvents(first: $first, after: $after, query: $query, subjectTypes: $types) {
    pageInfo { hasNextPage endCursor }
    nodes { occurredAt subjectId subjectType }
  }
}
"""


def apply_deletion_events(ctx: SyncContext, subject_type: str, collection: str) -> list[str]:
    """Tombstone what Shopify reports deleted since the cursor (products and collections)."""
    if ctx.since is None:
        return []
    since = ctx.since.strftime("%Y-%m-%dT%H:%M:%SZ")
    variables = {"query": f"occurred_at:>='{since}'", "types": [subject_type]}
    deleted: list[str] = []
    for nodes in pages(ctx, "deletions", DELETION_EVENTS_QUERY, ("deletionEvents",), variables):
        ids = [str(node["subjectId"]) for node in nodes]
        ctx.count(deleted=tombstone(ctx.collection(collection), ids, now=ctx.now()))
        deleted.extend(ids)
    return deleted


def ids_query(root: str) -> str:
    """An ids-only listing of a root connection (about 2 + 250 points a page)."""
    return (
        f"query Ids($first: Int!, $after: String) {{ {root}(first: $first, after: $after) "
        "{ pageInfo { hasNextPage endCursor } nodes { id } } }"
    )


def mark_listed(ctx: SyncContext, root: str, collection: str) -> None:
    """Mark every id Shopify still lists as seen by this run (before a sweep)."""
    target = ctx.collection(collection)
    for nodes in pages(ctx, "listing", ids_query(root), (root,)):
        ids = [node["id"] for node in nodes]
        target.update_many({"_id": {"$in": ids}}, {"$set": {RUN_FIELD: ctx.run_id}})


def sweep_unseen(ctx: SyncContext, collection: str) -> None:
    """After a complete pass (full, or listing), tombstone what this run did not see."""
    ctx.count(
        deleted=sweep(
            ctx.collection(collection),
            run_id=ctx.run_id,
            run_started=ctx.run_started,
            now=ctx.now(),
        )
    )
