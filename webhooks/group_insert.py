"""Group commit for the event log: concurrent requests share one insert_many round trip.

Each request still waits until its own event is written (nothing is answered 200 before it
is logged); under load one round trip carries many events instead of one each. A thread
writes batches only until its own event is in one, then leaves the rest to their owners.

One document must never decide its neighbours' fate: pymongo encodes a batch before sending
it, so a single unencodable document would fail every request of its batch. Each document
is therefore encoded in its own request thread before it joins a batch (it fails alone, as
a 400), and when insert_many still fails as a whole, the batch is retried one document at a
time so that each request gets its own outcome.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import bson
from bson.codec_options import DEFAULT_CODEC_OPTIONS, CodecOptions
from bson.errors import BSONError
from pymongo.collection import Collection
from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    DocumentTooLarge,
    DuplicateKeyError,
    ExecutionTimeout,
    PyMongoError,
    WriteError,
    WTimeoutError,
)

from config_db.mongo import DUPLICATE_KEY, MongoDocument
from webhooks.errors import PayloadRefused, PayloadTooLarge

MAX_BATCH = 128
POLL_SECONDS = 0.005  # how often a waiting thread checks whether it should write
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024  # MongoDB's BSON document limit
# Per-document write errors that are the document's own fault (the sender's 4xx), by code:
# BSONObjectTooLarge and its relatives; BadValue, Overflow, InvalidBSON, field-name errors
# (dollar-prefixed, empty, dotted), DocumentValidationFailure. Any other code stays a 503.
TOO_LARGE_CODES = frozenset({10334, 17419, 17420})
REFUSED_CODES = frozenset({2, 15, 22, 52, 56, 57, 121})
# MongoDB unreachable or slow: every document would fail alike, and retrying each one alone
# would only wait as long again per document.
OUTAGE_ERRORS = (ConnectionFailure, ExecutionTimeout, WTimeoutError)
# What bson.encode raises for a value BSON cannot hold (an int past 8 bytes, a NUL in a key).
ENCODING_ERRORS = (BSONError, OverflowError, ValueError, TypeError)

Key = tuple[str, str]
Waiting = tuple[MongoDocument, "Future[bool]"]
Outcome = bool | BaseException  # written, duplicate, or what the request must raise


class GroupInserter:
    """insert(collection, doc) -> True if written, False if its `_id` existed (a duplicate)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[Key, list[Waiting]] = {}
        self._writing: set[Key] = set()

    def insert(self, collection: Collection[MongoDocument], document: MongoDocument) -> bool:
        """Write `document` in a shared batch; PayloadRefused/PayloadTooLarge if unstorable."""
        check_storable(collection, document)
        key = (collection.database.name, collection.name)
        future: Future[bool] = Future()
        with self._lock:
            self._pending.setdefault(key, []).append((document, future))
        while not future.done():
            batch = self._take(key)
            if batch:
                try:
                    _write(collection, batch)
                finally:
                    with self._lock:
                        self._writing.discard(key)
                continue
            try:
                return future.result(timeout=POLL_SECONDS)
            except FutureTimeout:
                continue
        return future.result()

    def _take(self, key: Key) -> list[Waiting]:
        """The next batch, if nobody is writing this collection now (then this thread does)."""
        with self._lock:
            waiting = self._pending.get(key)
            if key in self._writing or not waiting:
                return []
            batch, rest = waiting[:MAX_BATCH], waiting[MAX_BATCH:]
            if rest:
                self._pending[key] = rest
            else:
                del self._pending[key]
            self._writing.add(key)
            return batch


def check_storable(collection: Collection[Any], document: MongoDocument) -> None:
    """Encode `document` as insert_many will; raise the sender's error if it cannot be stored."""
    try:
        encoded = bson.encode(document, codec_options=_codec_options(collection))
    except ENCODING_ERRORS as error:
        raise _unencodable(error) from None
    if len(encoded) > MAX_DOCUMENT_BYTES:
        raise PayloadTooLarge(
            f"the payload would be stored as {len(encoded)} bytes, past MongoDB's "
            f"{MAX_DOCUMENT_BYTES}-byte document limit",
            field="body",
        )


def _codec_options(collection: Collection[Any]) -> CodecOptions[Any]:
    options = collection.codec_options
    # mongomock's collections carry their own kind of options
    return options if isinstance(options, CodecOptions) else DEFAULT_CODEC_OPTIONS


def _write(collection: Collection[MongoDocument], batch: list[Waiting]) -> None:
    """Write a batch; every waiting request learns its own outcome, whatever happens."""
    outcomes: list[Outcome] = []
    try:
        outcomes = _insert_batch(collection, [document for document, _ in batch])
    finally:
        # Even if the write itself blew up, no request of the batch may be left polling.
        for index, (_, future) in enumerate(batch):
            if index < len(outcomes):
                _settle(future, outcomes[index])
            else:
                future.set_exception(RuntimeError("the batch write was interrupted"))


def _insert_batch(
    collection: Collection[MongoDocument], documents: list[MongoDocument]
) -> list[Outcome]:
    """insert_many; on a failure that names no document, each document on its own."""
    try:
        collection.insert_many(documents, ordered=False)
    except BulkWriteError as error:
        per_document = _per_document(error, len(documents))
        return per_document if per_document is not None else _insert_each(collection, documents)
    except OUTAGE_ERRORS as error:
        return [error] * len(documents)
    except Exception:  # noqa: BLE001 - the batch as a whole failed; find out per document
        return _insert_each(collection, documents)
    return [True] * len(documents)


def _per_document(error: BulkWriteError, count: int) -> list[Outcome] | None:
    """Each document's outcome from a bulk error; None when an error names no document.

    Write concern errors leave the outcome as written (as before): the documents are in.
    """
    outcomes: list[Outcome] = [True] * count
    for item in error.details.get("writeErrors", []):
        index = item.get("index")
        if not isinstance(index, int) or not 0 <= index < count:
            return None
        outcomes[index] = _write_error_outcome(item.get("code"), item.get("errmsg"))
    return outcomes


def _insert_each(
    collection: Collection[MongoDocument], documents: list[MongoDocument]
) -> list[Outcome]:
    """insert_one per document; stops early when MongoDB itself is down."""
    outcomes: list[Outcome] = []
    for document in documents:
        outcome = _insert_one(collection, document)
        outcomes.append(outcome)
        if isinstance(outcome, OUTAGE_ERRORS):
            return outcomes + [outcome] * (len(documents) - len(outcomes))
    return outcomes


def _insert_one(collection: Collection[MongoDocument], document: MongoDocument) -> Outcome:
    try:
        collection.insert_one(document)
    except DuplicateKeyError:
        # A batch sent in several messages may have written this document before it failed.
        return _is_stored(collection, document)
    except WriteError as error:
        return _write_error_outcome(error.code, str(error))
    except PyMongoError as error:
        return error
    except ENCODING_ERRORS as error:
        return _unencodable(error)
    return True


def _is_stored(collection: Collection[MongoDocument], document: MongoDocument) -> Outcome:
    """Whether the document under this `_id` is this very one (as BSON stores it)."""
    options = _codec_options(collection)
    as_stored = bson.decode(bson.encode(document, codec_options=options), codec_options=options)
    try:
        return collection.find_one({"_id": document["_id"]}) == as_stored
    except PyMongoError as error:
        return error


def _write_error_outcome(code: Any, message: Any) -> Outcome:
    """A per-document write error: a duplicate, the sender's fault (4xx), or MongoDB's (503)."""
    if code == DUPLICATE_KEY:
        return False
    if code in TOO_LARGE_CODES:
        return PayloadTooLarge("MongoDB refused the payload as too large", field="body")
    if code in REFUSED_CODES:
        return PayloadRefused(f"MongoDB refused the payload (code {code})", field="body")
    return WriteError(str(message), code)


def _unencodable(error: Exception) -> PayloadRefused | PayloadTooLarge:
    """The sender's error for a document pymongo cannot encode (messages never quote it)."""
    if isinstance(error, DocumentTooLarge):
        return PayloadTooLarge("the payload is past MongoDB's document limit", field="body")
    if isinstance(error, OverflowError):
        return PayloadRefused("a number in the payload does not fit in 8 bytes", field="body")
    return PayloadRefused("the payload cannot be stored as BSON", field="body")


def _settle(future: Future[bool], outcome: Outcome) -> None:
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
