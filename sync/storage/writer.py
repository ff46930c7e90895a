"""Idempotent writes to a store collection: bulk upserts, stale guards, sweeps, tombstones."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pymongo import UpdateMany, UpdateOne
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from config_db.mongo import DUPLICATE_KEY, MongoDocument
from stores.naming import HASH_FIELD, RUN_FIELD, WRITTEN_FIELD
from sync.storage.documents import content_hash

log = logging.getLogger(__name__)


@dataclass
class WriteCounts:
    upserted: int = 0
    skipped: int = 0
    # Documents not written because the stored one is newer (or a newer tombstone).
    rejected: set[Any] = field(default_factory=set)


# What a write compares with the stored copy; the guard matches it field for field.
GUARDED = (HASH_FIELD, "updatedAt", "deleted", "deletedAt")
# A document changed between our read and our write is read and judged again this often.
MAX_RACES = 3


def _unchanged_guard(document: MongoDocument, stored: MongoDocument | None) -> dict[str, Any]:
    """Match the stored document only as we read it (optimistic concurrency).

    Equalities only, no `$or`: SecantusDB scans the whole collection for a top-level `$or`
    beside `_id` (250 guarded upserts into 5,000 documents: 20 s, against 0.1 s). A missing
    field matches `$exists: false` (an equality with None would be copied into an inserted
    document); a document written meanwhile makes the upsert hit its `_id`.
    """
    stored = stored or {}
    return {
        "_id": document["_id"],
        **{name: stored[name] if name in stored else {"$exists": False} for name in GUARDED},
    }


def _is_newer(stored: MongoDocument | None, document: MongoDocument) -> bool:
    """The stored copy (or its tombstone) is newer than `document`."""
    if stored is None:
        return False
    new_at = document.get("updatedAt")
    if stored.get("deleted"):
        deleted_at = stored.get("deletedAt")
        return not (
            isinstance(new_at, datetime)
            and isinstance(deleted_at, datetime)
            and deleted_at < new_at
        )
    stored_at = stored.get("updatedAt")
    return isinstance(stored_at, datetime) and isinstance(new_at, datetime) and stored_at > new_at


def write_documents(
    collection: Collection[MongoDocument],
    documents: list[MongoDocument],
    *,
    run_id: str | None,
    now: datetime,
    extra: dict[str, Any] | None = None,
) -> WriteCounts:
    """Upsert changed documents, mark unchanged ones seen; never overwrite newer data.

    `_id` is the Shopify GID; running the same page twice writes nothing the second time.
    A document someone else wrote between our read and our write is judged again.
    """
    counts = WriteCounts()
    pending = documents
    for _ in range(MAX_RACES):
        if not pending:
            break
        raced = _write_once(collection, pending, counts, run_id, now, extra)
        pending = [document for document in pending if document["_id"] in raced]
    if pending:
        log.warning("%d documents of %s changed under every write attempt; not written",
                    len(pending), collection.name)  # fmt: skip
    counts.rejected.update(document["_id"] for document in pending)
    counts.skipped += len(pending)
    counts.upserted = len(documents) - counts.skipped
    return counts


def _write_once(
    collection: Collection[MongoDocument],
    documents: list[MongoDocument],
    counts: WriteCounts,
    run_id: str | None,
    now: datetime,
    extra: dict[str, Any] | None,
) -> set[Any]:
    """One read-judge-write round; answers the ids that changed under us."""
    ids = [document["_id"] for document in documents]
    projection = {WRITTEN_FIELD: 1, **{name: 1 for name in GUARDED}}
    stored = {found["_id"]: found for found in collection.find({"_id": {"$in": ids}}, projection)}
    operations: list[Any] = []
    written: list[Any] = []
    unchanged: list[Any] = []
    for document in documents:
        current = stored.get(document["_id"])
        digest = content_hash(document)
        if _is_newer(current, document):
            counts.rejected.add(document["_id"])
            unchanged.append(document["_id"])
            continue
        if current is not None and current.get(HASH_FIELD) == digest and not current.get("deleted"):
            unchanged.append(document["_id"])
            if run_id is not None and current.get(WRITTEN_FIELD) == run_id:
                counts.skipped -= 1  # this run wrote it before a crash: still one upsert
            continue
        fields = {
            **document,
            **(extra or {}),
            HASH_FIELD: digest,
            "syncedAt": now,
            "deleted": False,
        }
        if run_id is not None:
            fields[RUN_FIELD] = fields[WRITTEN_FIELD] = run_id
        operations.append(
            UpdateOne(
                _unchanged_guard(document, current),
                {"$set": fields, "$unset": {"deletedAt": ""}},
                upsert=True,
            )
        )
        written.append(document["_id"])
    if unchanged and run_id is not None:
        operations.append(UpdateMany({"_id": {"$in": unchanged}}, {"$set": {RUN_FIELD: run_id}}))
    counts.skipped += len(unchanged)
    return {written[index] for index in _bulk_write(collection, operations)}


def _bulk_write(collection: Collection[MongoDocument], operations: list[Any]) -> list[int]:
    """Run the operations; return the indexes whose document changed since it was read."""
    if not operations:
        return []
    try:
        collection.bulk_write(operations, ordered=False)
    except BulkWriteError as error:
        errors = error.details.get("writeErrors", [])
        if any(item.get("code") != DUPLICATE_KEY for item in errors):
            raise
        # The guard did not match and the upsert hit the existing _id: it changed meanwhile.
        return [int(item["index"]) for item in errors]
    return []


def sweep(
    collection: Collection[MongoDocument],
    *,
    run_id: str,
    run_started: datetime,
    now: datetime,
    scope: dict[str, Any] | None = None,
) -> int:
    """Tombstone live documents this run did not see (only after a complete pass)."""
    result = collection.update_many(
        unseen_query(run_id, run_started, scope), {"$set": {"deleted": True, "deletedAt": now}}
    )
    return int(result.modified_count)


def unseen_query(
    run_id: str, run_started: datetime, scope: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Live documents a run did not see and nobody wrote since it started."""
    return {
        "$and": [
            {RUN_FIELD: {"$ne": run_id}, "deleted": {"$ne": True}},
            # Written after the run started (by a webhook): newer than our listing, keep.
            {"$or": [{"syncedAt": {"$lt": run_started}}, {"syncedAt": {"$exists": False}}]},
            scope or {},
        ]
    }


def tombstone(collection: Collection[MongoDocument], ids: list[Any], *, now: datetime) -> int:
    """Mark documents deleted (keeping them) by id.

    An id not stored yet gets a bare tombstone, so a page fetched before the deletion and
    written after it cannot bring the object back.
    """
    if not ids:
        return 0
    result = collection.update_many(
        {"_id": {"$in": ids}, "deleted": {"$ne": True}},
        {"$set": {"deleted": True, "deletedAt": now}},
    )
    known = {found["_id"] for found in collection.find({"_id": {"$in": ids}}, {"_id": 1})}
    for missing in [gid for gid in ids if gid not in known]:
        try:
            collection.insert_one(
                {"_id": missing, "deleted": True, "deletedAt": now, "syncedAt": now}
            )
        except DuplicateKeyError:
            # Written meanwhile by a page: tombstone it now that it exists.
            collection.update_one(
                {"_id": missing, "deleted": {"$ne": True}},
                {"$set": {"deleted": True, "deletedAt": now}},
            )
    return int(result.modified_count)
