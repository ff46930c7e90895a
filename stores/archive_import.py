"""Writing a verified archive's collections into the target store database."""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from bson.raw_bson import RawBSONDocument
from pymongo import IndexModel
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError, CollectionInvalid, PyMongoError

from config_db.mongo import DUPLICATE_KEY
from stores.archive_format import ArchiveManifest, entry_name, read_entry
from stores.errors import ArchiveError
from stores.naming import SYNC_JOBS

# One insert: whichever comes first. A wire message holds 48 MB; this keeps memory flat.
INSERT_BATCH_DOCUMENTS = 1000
INSERT_BATCH_BYTES = 8 * 1024 * 1024
INTERRUPTED = "interrupted: the store was restored from an archive taken while it ran"
# Jobs whose messages may still be at work on the store.
LIVE_JOBS = {"status": {"$in": ["queued", "running"]}}


def write_collections(
    archive: zipfile.ZipFile,
    target: Database[RawBSONDocument],
    manifest: ArchiveManifest,
) -> None:
    """Create each collection with its options, insert its documents (checked against the
    manifest as they stream), then build its indexes (faster after the data).

    A sync still writing to the store (`import --replace --force`, or the clock starting one
    during a long import) may create a collection or a document first: the archive wins.
    """
    for name, entry in manifest.collections.items():
        try:
            collection = _create(target, name, entry.options)
            _insert_all(collection, read_entry(archive, entry_name(name), entry))
            if entry.indexes:
                collection.create_indexes([_index_model(spec.key, spec.name, spec.options)
                                           for spec in entry.indexes])  # fmt: skip
        except PyMongoError as error:
            raise ArchiveError(f"cannot restore collection {name!r}: {error}") from None


def _create(
    target: Database[RawBSONDocument], name: str, options: dict[str, Any]
) -> Collection[RawBSONDocument]:
    try:
        return target.create_collection(name, **options)
    except CollectionInvalid:  # a writer beside the import made it first
        target.drop_collection(name)
        return target.create_collection(name, **options)


def _insert_all(collection: Collection[RawBSONDocument], documents: Iterable[bytes]) -> None:
    batch: list[RawBSONDocument] = []
    size = 0
    for document in documents:
        batch.append(RawBSONDocument(document))
        size += len(document)
        if len(batch) >= INSERT_BATCH_DOCUMENTS or size >= INSERT_BATCH_BYTES:
            _insert(collection, batch)
            batch, size = [], 0
    if batch:
        _insert(collection, batch)


def _insert(collection: Collection[RawBSONDocument], batch: list[RawBSONDocument]) -> None:
    """Insert the batch; a document a writer beside the import put first is replaced."""
    try:
        collection.insert_many(batch, ordered=False, bypass_document_validation=True)
    except BulkWriteError as error:
        failed = error.details.get("writeErrors") or []
        if not failed or any(item.get("code") != DUPLICATE_KEY for item in failed):
            raise
        for item in failed:
            document = batch[item["index"]]
            collection.replace_one({"_id": document["_id"]}, document, upsert=True)


def _index_model(key: list[tuple[str, Any]], name: str, options: dict[str, Any]) -> IndexModel:
    return IndexModel(key, **{**options, "name": name})


def end_interrupted_jobs(store_db: Database[Any]) -> int:
    """Mark jobs the archive caught queued or running as failed; returns how many.

    Their messages belong to the exporting deployment: left `running`, the restored store's
    scheduler would count their resources busy forever, and the watchdog would re-send them
    under the exported clientKey.
    """
    result = store_db[SYNC_JOBS].update_many(
        LIVE_JOBS,
        {"$set": {"status": "failed", "error": INTERRUPTED, "finishedAt": datetime.now(UTC)}},
    )
    return result.modified_count
