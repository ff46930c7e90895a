"""Removing GridFS files no document points at: the leftovers of a crash mid-download.

A download writes its chunks, then its files document, then points the media document at
it; a crash between those steps leaves bytes nobody references. Files younger than the
grace may still be attached by a running download, so only older ones are removed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.database import Database

from config_db.mongo import MongoDocument
from stores.naming import MEDIA_BUCKET, THEME_BUCKET

# bucket -> (collection, field) of the documents that point at its files
REFERENCES = {MEDIA_BUCKET: ("media", "gridfsId"), THEME_BUCKET: ("themedatas", "files.gridfsId")}
BATCH = 500


def _batches(ids: Iterator[Any]) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in ids:
        batch.append(item)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _referenced(
    store_db: Database[MongoDocument], collection: str, field: str, file_ids: list[Any]
) -> set[Any]:
    """Which of `file_ids` a document points at through the dotted `field` (arrays walked).

    Read in Python rather than with `distinct`: SecantusDB answered `distinct` on a field
    inside an array of documents (`files.gridfsId`) without the values.
    """
    path = field.split(".")
    found: set[Any] = set()
    for document in store_db[collection].find({field: {"$in": file_ids}}, {field: 1}):
        values: list[Any] = [document]
        for key in path:
            values = [
                item.get(key)
                for value in values
                for item in (value if isinstance(value, list) else [value])
                if isinstance(item, dict)
            ]
        found.update(value for value in values if value is not None)
    return found


def sweep_orphans(store_db: Database[MongoDocument], now: datetime, grace_seconds: float) -> int:
    """Delete unreferenced GridFS files (and chunks without a file) older than the grace."""
    cutoff = now - timedelta(seconds=grace_seconds)
    removed = 0
    for bucket, (collection, field) in REFERENCES.items():
        files, chunks = store_db[f"{bucket}.files"], store_db[f"{bucket}.chunks"]
        old = (doc["_id"] for doc in files.find({"uploadDate": {"$lt": cutoff}}, {"_id": 1}))
        for batch in _batches(old):
            used = _referenced(store_db, collection, field, batch)
            unused = [file_id for file_id in batch if file_id not in used]
            if unused:
                chunks.delete_many({"files_id": {"$in": unused}})
                removed += files.delete_many({"_id": {"$in": unused}}).deleted_count
        # Chunks of an upload that never wrote its files document (ObjectIds carry their time).
        started = chunks.distinct("files_id", {"files_id": {"$lt": ObjectId.from_datetime(cutoff)}})
        for batch in _batches(iter(started)):
            known = {doc["_id"] for doc in files.find({"_id": {"$in": batch}}, {"_id": 1})}
            dangling = [file_id for file_id in batch if file_id not in known]
            if dangling:
                chunks.delete_many({"files_id": {"$in": dangling}})
                removed += len(dangling)
    return removed
