"""Media documents and their bytes: write metadata, download what changed, once."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from gridfs import GridFSBucket
from gridfs.errors import NoFile
from pymongo import UpdateOne

from config_db.logs import carry_log_context
from config_db.mongo import MongoDocument
from stores.naming import MEDIA_BUCKET
from sync.errors import MediaDownloadError
from sync.storage import media_claims
from sync.storage.downloads import Download, Downloader, Target
from sync.storage.writer import WriteCounts, write_documents

if TYPE_CHECKING:  # the run's context is only a type here: storage imports no orchestration
    from sync.orchestration.context import SyncContext

log = logging.getLogger(__name__)
MEDIA = "media"


def source_url(node: dict[str, Any]) -> str | None:
    """Where a media node's bytes are: the original where Shopify gives it, else the image."""
    # Videos' originalSource is aliased videoSource (its url has another GraphQL type).
    original = node.get("originalSource") or node.get("videoSource") or {}
    for candidate in (original.get("url"), (node.get("image") or {}).get("url"), node.get("url")):
        if candidate:
            return str(candidate)
    sources = node.get("sources") or []
    return str(sources[0]["url"]) if sources and sources[0].get("url") else None


def media_document(node: dict[str, Any], **extra: Any) -> MongoDocument:
    document = {key: value for key, value in node.items() if key != "__typename"}
    document["_id"] = node["id"]
    document["type"] = node.get("__typename") or node.get("type")
    document["sourceUrl"] = source_url(node)
    document.update(extra)
    return document


def store_media(
    ctx: SyncContext,
    documents: list[MongoDocument],
    downloader: Downloader,
    *,
    run_id: str | None,
) -> tuple[WriteCounts, int, int]:
    """Write media documents, then fetch the bytes of new or changed ones into GridFS.

    Returns the write counts, files downloaded and downloads failed.
    """
    media = ctx.collection(MEDIA)
    ids = [document["_id"] for document in documents]
    before = {
        found["_id"]: found
        for found in media.find({"_id": {"$in": ids}}, {"sourceUrl": 1, "gridfsId": 1})
    }
    counts = write_documents(media, documents, run_id=run_id, now=ctx.now())
    wanted = [
        doc
        for doc in documents
        if doc.get("sourceUrl")
        and (
            doc["_id"] not in before
            or before[doc["_id"]].get("sourceUrl") != doc["sourceUrl"]
            or not before[doc["_id"]].get("gridfsId")
        )
    ]
    if not wanted:
        return counts, 0, 0
    owner = ctx.run_id
    claimed = media_claims.claim(ctx.store_db, [doc["_id"] for doc in wanted], owner, ctx.now())
    try:
        return counts, *_download_claimed(ctx, downloader, wanted, claimed, before)
    finally:
        media_claims.release(ctx.store_db, list(claimed), owner)


def fetch_missing(ctx: SyncContext, downloader: Downloader, scope: dict[str, Any]) -> int:
    """Download the bytes of live media in `scope` that have none and no recorded error.

    Normally none: a crash (or a MongoDB that lost an acknowledged write) between writing a
    document and attaching its bytes leaves one behind after its page was checkpointed.
    """
    missing = list(
        ctx.collection(MEDIA).find(
            {**scope, "deleted": False, "gridfsId": {"$exists": False},
             "downloadError": {"$exists": False}, "sourceUrl": {"$type": "string"}},
        ).limit(1000)
    )  # fmt: skip
    if not missing:
        return 0
    before = {doc["_id"]: doc for doc in missing}
    owner = ctx.run_id
    claimed = media_claims.claim(ctx.store_db, list(before), owner, ctx.now())
    try:
        downloaded, _failed = _download_claimed(ctx, downloader, missing, claimed, before)
    finally:
        media_claims.release(ctx.store_db, list(claimed), owner)
    return downloaded


def _still_wanted(
    ctx: SyncContext, wanted: list[MongoDocument], claimed: set[Any], before: dict[Any, Any]
) -> list[MongoDocument]:
    """Claimed documents whose bytes nobody attached since we looked (a claim was released)."""
    now_stored = {
        found["_id"]: found
        for found in ctx.collection(MEDIA).find(
            {"_id": {"$in": list(claimed)}}, {"sourceUrl": 1, "gridfsId": 1, "downloadedFrom": 1}
        )
    }
    keep = []
    for doc in wanted:
        stored = now_stored.get(doc["_id"])
        if doc["_id"] not in claimed or (stored or {}).get("sourceUrl") != doc["sourceUrl"]:
            continue  # another run downloads it, or a newer version was written meanwhile
        assert stored is not None
        attached = stored.get("gridfsId")
        earlier = (before.get(doc["_id"]) or {}).get("gridfsId")
        if attached and (stored.get("downloadedFrom") == doc["sourceUrl"] or attached != earlier):
            continue  # the winner of the claim has attached these bytes already
        keep.append(doc)
    return keep


def _download_claimed(
    ctx: SyncContext,
    downloader: Downloader,
    wanted: list[MongoDocument],
    claimed: set[Any],
    before: dict[Any, Any],
) -> tuple[int, int]:
    wanted = _still_wanted(ctx, wanted, claimed, before)
    if not wanted:
        return 0, 0
    media = ctx.collection(MEDIA)
    bucket = GridFSBucket(ctx.store_db, bucket_name=MEDIA_BUCKET)
    with ThreadPoolExecutor(ctx.settings.media_concurrency) as pool:
        fetch = carry_log_context(lambda doc: _fetch(downloader, ctx, doc))
        results = list(pool.map(fetch, wanted))
    downloads = {
        doc["_id"]: result
        for doc, result in zip(wanted, results, strict=True)
        if isinstance(result, Download)
    }
    errors = [
        UpdateOne({"_id": doc["_id"]}, {"$set": {"downloadError": result}})
        for doc, result in zip(wanted, results, strict=True)
        if isinstance(result, str)
    ]
    _attach_all(ctx, bucket, wanted, downloads, before)
    if errors:
        media.bulk_write(errors, ordered=False)
    return len(downloads), len(errors)


def _fetch(downloader: Downloader, ctx: SyncContext, document: MongoDocument) -> Download | str:
    try:
        target = Target(ctx.store_db, MEDIA_BUCKET, document["_id"], {"mediaId": document["_id"]})
        return downloader.download(document["sourceUrl"], target)
    except MediaDownloadError as error:
        log.warning("media %s not downloaded: %s", document["_id"], error.message)
        return error.message


def _attach_all(
    ctx: SyncContext,
    bucket: GridFSBucket,
    documents: list[MongoDocument],
    downloads: dict[Any, Download],
    before: dict[Any, MongoDocument],
) -> None:
    """Point each document at its new bytes, unless its sourceUrl changed meanwhile."""
    if not downloads:
        return
    media, now = ctx.collection(MEDIA), ctx.now()
    media.bulk_write(
        [
            UpdateOne(
                {"_id": doc["_id"], "sourceUrl": doc["sourceUrl"]},
                {
                    "$set": {
                        "gridfsId": downloads[doc["_id"]].gridfs_id,
                        "sha256": downloads[doc["_id"]].sha256,
                        "size": downloads[doc["_id"]].size,
                        "contentType": downloads[doc["_id"]].content_type,
                        "downloadedAt": now,
                        "downloadedFrom": doc["sourceUrl"],
                    },
                    "$unset": {"downloadError": ""},
                },
            )
            for doc in documents
            if doc["_id"] in downloads
        ],
        ordered=False,
    )
    ctx.heartbeat()
    # Drop the bytes nobody points at any more: the old version, or ours if we lost a race.
    current = {
        found["_id"]: found.get("gridfsId")
        for found in media.find({"_id": {"$in": list(downloads)}}, {"gridfsId": 1})
    }
    for media_id, download in downloads.items():
        old = (before.get(media_id) or {}).get("gridfsId")
        if current.get(media_id) != download.gridfs_id:
            delete_file(bucket, download.gridfs_id)
        elif old is not None and old != download.gridfs_id:
            delete_file(bucket, old)


def delete_file(bucket: GridFSBucket, file_id: Any) -> None:
    try:
        bucket.delete(file_id)
    except NoFile:
        pass
