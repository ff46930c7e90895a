"""Moving lists that grow without bound out of a document (MongoDB's 16 MB limit)."""

from __future__ import annotations

from typing import Any

from pymongo import ReplaceOne
from pymongo.collection import Collection

from config_db.mongo import MongoDocument


def spill(
    side: Collection[MongoDocument],
    owner_field: str,
    owner_id: str,
    items_field: str,
    items: list[Any],
    chunk: int,
) -> None:
    """Store `items` in chunks `{owner_field, index, items_field}`; drop stale chunks.

    An empty `items` removes every chunk of the owner (its list fits inline again).
    """
    chunks = [items[start : start + chunk] for start in range(0, len(items), chunk)]
    if chunks:
        side.bulk_write(
            [
                ReplaceOne(
                    {"_id": f"{owner_id}#{index}"},
                    {owner_field: owner_id, "index": index, items_field: part},
                    upsert=True,
                )
                for index, part in enumerate(chunks)
            ],
            ordered=False,
        )
    side.delete_many({owner_field: owner_id, "index": {"$gte": len(chunks)}})
