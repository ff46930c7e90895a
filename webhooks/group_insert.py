"""Group commit for the event log: concurrent requests share one insert_many round trip.

Each request still waits until its own event is written (nothing is answered 200 before it
is logged); under load one round trip carries many events instead of one each. A thread
writes batches only until its own event is in one, then leaves the rest to their owners.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, WriteError

from config_db.mongo import MongoDocument

DUPLICATE_KEY = 11000
MAX_BATCH = 128
POLL_SECONDS = 0.005  # how often a waiting thread checks whether it should write

Key = tuple[str, str]
Waiting = tuple[MongoDocument, "Future[bool]"]


class GroupInserter:
    """insert(collection, doc) -> True if written, False if its `_id` existed (a duplicate)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[Key, list[Waiting]] = {}
        self._writing: set[Key] = set()

    def insert(self, collection: Collection[MongoDocument], document: MongoDocument) -> bool:
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


def _write(collection: Collection[MongoDocument], batch: list[Waiting]) -> None:
    """insert_many; each waiting request learns its own outcome."""
    failures: dict[int, dict[str, Any]] = {}
    try:
        collection.insert_many([document for document, _ in batch], ordered=False)
    except BulkWriteError as error:
        failures = {int(item["index"]): item for item in error.details.get("writeErrors", [])}
    except Exception as error:  # noqa: BLE001 - every request of the batch sees the failure
        for _, future in batch:
            future.set_exception(error)
        return
    for index, (_, future) in enumerate(batch):
        failure = failures.get(index)
        if failure is None:
            future.set_result(True)
        elif failure.get("code") == DUPLICATE_KEY:
            future.set_result(False)
        else:
            future.set_exception(WriteError(str(failure.get("errmsg")), failure.get("code")))
