"""The Files library: metadata in `media`, bytes in the store's GridFS bucket `mediafiles`.

Product images reach `media` through the products resource (it already reads them).
"""

from __future__ import annotations

from typing import Any

from config_db.mongo import MongoDocument
from sync.bulk.path import main_phase
from sync.bulk.runtime import BulkSpec
from sync.orchestration.context import SyncContext
from sync.orchestration.paging import pages
from sync.resources.deletions import mark_listed
from sync.storage.documents import convert_timestamps
from sync.storage.downloads import Downloader
from sync.storage.media_store import MEDIA, fetch_missing, media_document, store_media
from sync.storage.writer import unseen_query

FILES_QUERY = """
query Files($first: Int!, $after: String, $query: String, $sortKey: FileSortKeys) {
  files(first: $first, after: $after, query: $query, sortKey: $sortKey) {
    pageInfo { hasNextPage endCursor }
    nodes {
      __typename id alt createdAt updatedAt fileStatus
      ... on MediaImage { mimeType image { url width height altText }
                          originalSource { url fileSize } }
      ... on GenericFile { url mimeType originalFileSize }
      ... on Video { filename videoSource: originalSource { url mimeType fileSize }
                     sources { url mimeType fileSize } }
    }
  }
}
"""


# The bulk export selects what a page's `nodes { … }` does.
BULK = BulkSpec(
    root="files", fields=FILES_QUERY[FILES_QUERY.index("__typename") :].rsplit("}", 3)[0]
)


def file_document(node: dict[str, Any]) -> MongoDocument:
    converted: MongoDocument = convert_timestamps(media_document(node, inFilesLibrary=True))
    return converted


def _sweep_library(ctx: SyncContext) -> None:
    """Files gone from the library: tombstoned, unless a product still shows them."""
    media = ctx.collection(MEDIA)
    unseen = unseen_query(ctx.run_id, ctx.run_started, {"inFilesLibrary": True})
    now = ctx.now()
    orphaned = {"$and": [unseen, {"productId": {"$exists": False}}]}
    result = media.update_many(
        orphaned, {"$set": {"deleted": True, "deletedAt": now, "inFilesLibrary": False}}
    )
    media.update_many(unseen, {"$set": {"inFilesLibrary": False}})
    ctx.count(deleted=int(result.modified_count))


def sync(ctx: SyncContext, downloader: Downloader) -> None:
    """Every file (changed ones when incremental), bytes downloaded once; deletions swept."""
    variables = {
        "query": ctx.search_filter(),
        "sortKey": "UPDATED_AT" if ctx.mode == "incremental" else "ID",
    }

    def write(nodes: list[MongoDocument]) -> None:
        documents = [file_document(node) for node in nodes]
        counts, downloaded, failed = store_media(ctx, documents, downloader, run_id=ctx.run_id)
        ctx.count(
            seen=len(documents),
            upserted=counts.upserted,
            skipped=counts.skipped,
            downloaded=downloaded,
            downloadFailed=failed,
        )

    def paged() -> None:
        for nodes in pages(ctx, "main", FILES_QUERY, ("files",), variables):
            write(nodes)

    main_phase(ctx, BULK, write, paged)
    if ctx.mode == "incremental":
        mark_listed(ctx, "files", MEDIA)
    _sweep_library(ctx)
    ctx.count(downloaded=fetch_missing(ctx, downloader, {"inFilesLibrary": True}))
