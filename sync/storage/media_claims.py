"""One download per media at a time: products, media and webhooks claim before they fetch.

Products and the Files library list the same images; without a claim both downloaded them
at once and one copy was left in GridFS with no document pointing at it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pymongo.database import Database
from pymongo.errors import BulkWriteError

from config_db.mongo import DUPLICATE_KEY, MongoDocument
from stores.naming import MEDIA_CLAIMS

# A claim older than this was left by a crash: another run may take it.
CLAIM_TTL_SECONDS = 15 * 60.0


def claim(
    store_db: Database[MongoDocument], media_ids: list[Any], owner: str, now: datetime
) -> set[Any]:
    """The media ids `owner` may download now (its own earlier claims included)."""
    if not media_ids:
        return set()
    claims = store_db[MEDIA_CLAIMS]
    try:
        claims.insert_many(
            [{"_id": media_id, "owner": owner, "at": now} for media_id in media_ids],
            ordered=False,
        )
    except BulkWriteError as error:
        if any(item.get("code") != DUPLICATE_KEY for item in error.details["writeErrors"]):
            raise
    stale = now - timedelta(seconds=CLAIM_TTL_SECONDS)
    claims.update_many(
        {"_id": {"$in": media_ids}, "owner": {"$ne": owner}, "at": {"$lt": stale}},
        {"$set": {"owner": owner, "at": now}},
    )
    mine = claims.find({"_id": {"$in": media_ids}, "owner": owner}, {"_id": 1})
    return {found["_id"] for found in mine}


def release(store_db: Database[MongoDocument], media_ids: list[Any], owner: str) -> None:
    if media_ids:
        store_db[MEDIA_CLAIMS].delete_many({"_id": {"$in": media_ids}, "owner": owner})
