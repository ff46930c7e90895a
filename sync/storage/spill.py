"""Moving lists that grow without bound out of a document (MongoDB's 16 MB limit)."""

from __future__ import annotations

from typing import Any

from pymongo import ReplaceOne
from pymongo.collection import Collection

from config_db.mongo import MongoDocument
from stores.list_layout import ListSpec


def spill(
    side: Collection[MongoDocument], spec: ListSpec, owner_id: str, items: list[Any], chunk: int
) -> None:
    """Store `items` in chunks of `chunk` (stores/list_layout.py); drop stale chunks.

    An empty `items` removes every chunk of the owner (its list fits inline again).
    """
    chunks = [items[start : start + chunk] for start in range(0, len(items), chunk)]
    if chunks:
        side.bulk_write(
            [
                ReplaceOne(
                    {"_id": spec.chunk_id(owner_id, index)},
                    spec.chunk(owner_id, index, part),
                    upsert=True,
                )
                for index, part in enumerate(chunks)
            ],
            ordered=False,
        )
    side.delete_many({spec.owner_field: owner_id, "index": {"$gte": len(chunks)}})
