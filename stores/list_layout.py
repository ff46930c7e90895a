"""Where lists that outgrow a document live: the one description of the side collections.

A list past its inline limit (MongoDB's 16 MB document limit) moves to chunks
`{_id: "<owner>#<index>", <owner_field>: <owner>, index, <field>: [...]}` in a side
collection, and the owner document keeps `<field>: []` and `<field>Spilled: true`. The sync
writes chunks (sync/storage/spill.py, sync/resources/member_lists.py); the read API pages
through them (stores/lists.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from config_db.mongo import MongoDocument
from stores.naming import COLLECTION_MEMBERS, DISCOUNT_CODES


@dataclass(frozen=True)
class ListSpec:
    """Where one kind of list lives: owner collection, field, flag and side collection."""

    collection: str
    field: str
    side: str
    owner_field: str

    @property
    def flag(self) -> str:
        return f"{self.field}Spilled"

    def chunk_id(self, owner_id: str, index: int) -> str:
        """Chunk `_id`s: a chunk is found by `_id` alone, no other index needed."""
        return f"{owner_id}#{index}"

    def chunk(self, owner_id: str, index: int, items: list[Any]) -> MongoDocument:
        """A whole chunk document (without `_id`)."""
        return {self.owner_field: owner_id, "index": index, self.field: items}


MEMBERS = ListSpec("collections", "productIds", COLLECTION_MEMBERS, "collectionId")
CODES = ListSpec("discounts", "codes", DISCOUNT_CODES, "discountId")
