"""A GridFS upload that holds at most a few chunks in memory.

PyMongo's GridIn buffers chunks up to a whole wire message (48 MB) before inserting them,
so a 20 MB file would sit in memory twice. This writer follows the GridFS spec (chunks
`{files_id, n, data}`, then the files document) and inserts every few chunks.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bson import Binary, ObjectId
from pymongo.database import Database

from config_db.mongo import MongoDocument

CHUNK_BYTES = 255 * 1024  # GridFS's default chunk size
CHUNKS_PER_INSERT = 4  # about 1 MB per round trip


class ChunkedUpload:
    """Write bytes in pieces; `close()` records the file, `abort()` removes what was written."""

    def __init__(
        self, db: Database[MongoDocument], bucket: str, filename: str, metadata: dict[str, Any]
    ) -> None:
        self._chunks = db[f"{bucket}.chunks"]
        self._files = db[f"{bucket}.files"]
        self.file_id = ObjectId()
        self._filename, self._metadata = filename, metadata
        self._buffer = bytearray()
        self._pending: list[MongoDocument] = []
        self._number = 0
        self._length = 0

    def write(self, data: bytes) -> None:
        self._buffer.extend(data)
        self._length += len(data)
        while len(self._buffer) >= CHUNK_BYTES:
            self._queue(bytes(self._buffer[:CHUNK_BYTES]))
            del self._buffer[:CHUNK_BYTES]

    def _queue(self, data: bytes) -> None:
        self._pending.append({"files_id": self.file_id, "n": self._number, "data": Binary(data)})
        self._number += 1
        if len(self._pending) >= CHUNKS_PER_INSERT:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._chunks.insert_many(self._pending, ordered=True)
            self._pending = []

    def close(self) -> ObjectId:
        if self._buffer:
            self._queue(bytes(self._buffer))
            self._buffer.clear()
        self._flush()
        self._files.insert_one(
            {
                "_id": self.file_id,
                "length": self._length,
                "chunkSize": CHUNK_BYTES,
                "uploadDate": datetime.now(UTC),
                "filename": self._filename,
                "metadata": self._metadata,
            }
        )
        return self.file_id

    def abort(self) -> None:
        self._chunks.delete_many({"files_id": self.file_id})
