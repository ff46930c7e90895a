"""Lists kept on a document, inline or spilled to a side collection, read page by page.

Collections keep member product GIDs in `productIds`, discounts their codes in `codes`.
Past a size the sync moves the list to chunks `{<owner>, index, <list>}` in a side
collection and sets `<list>Spilled` (the layout: stores/list_layout.py). Pages here are addressed by
position, so paging reads the same either way; nothing here depends on the sync's chunk
sizes or limits.
"""

from __future__ import annotations

from typing import Any

from pymongo.database import Database

from config_db.mongo import MongoDocument
from stores.cursors import Position
from stores.errors import StoreNotFound, quoted
from stores.list_layout import CODES, MEMBERS, ListSpec
from stores.naming import candidate_ids

__all__ = ["CODES", "MEMBERS", "ListSpec", "StoredList"]


class StoredList:
    """One owner's list; `read` takes items from a position on, inline or spilled.

    Positions are (chunk, offset) rather than one index: chunks need not be equal (the
    sync appends to the last chunk and pulls members out of any), and a flat index would
    need the length of every chunk before it. An inline list is chunk 0.
    """

    def __init__(self, store_db: Database[MongoDocument], spec: ListSpec, owner: MongoDocument):
        self._store_db = store_db
        self._spec = spec
        self._owner_id = owner["_id"]
        self._spilled = bool(owner.get(spec.flag))

    @classmethod
    def open(cls, store_db: Database[MongoDocument], spec: ListSpec, doc_id: str) -> StoredList:
        """The list of the owner a path id names (tombstones included); else StoreNotFound."""
        owner = store_db[spec.collection].find_one(
            {"_id": {"$in": candidate_ids(spec.collection, doc_id)}}, {spec.flag: 1}
        )
        if owner is None:
            raise StoreNotFound(f"no document {quoted(doc_id)} in {spec.collection}", field="id")
        return cls(store_db, spec, owner)

    def read(self, start: Position, count: int) -> list[tuple[Position, Any]]:
        """Up to `count` items from `start` on, each with its position; fewer only at the end."""
        found: list[tuple[Position, Any]] = []
        chunk, offset = start
        while len(found) < count:
            wanted = count - len(found)
            part = self._slice(chunk, offset, wanted)
            if part is None:
                break  # past the last chunk
            found += [(Position(chunk, offset + at), item) for at, item in enumerate(part)]
            # A short (even empty) part ends its chunk; the next chunk goes on from its start.
            chunk, offset = (chunk + 1, 0) if len(part) < wanted else (chunk, offset + wanted)
        return found

    def _slice(self, chunk: int, offset: int, count: int) -> list[Any] | None:
        """`count` items of one chunk from `offset`; None when there is no such chunk."""
        field = self._spec.field
        projection = {field: {"$slice": [offset, count]}}
        if self._spilled:
            query = {
                "_id": self._spec.chunk_id(self._owner_id, chunk),
                self._spec.owner_field: self._owner_id,
            }
            found = self._store_db[self._spec.side].find_one(query, projection)
        elif chunk == 0:
            found = self._store_db[self._spec.collection].find_one(
                {"_id": self._owner_id}, projection
            )
        else:
            return None  # a cursor from when the list was spilled: it is shorter now
        if found is None:
            return None
        items = found.get(field)
        # A bare tombstone has no list; `$slice` leaves a non-array field as it is.
        return items if isinstance(items, list) else []
