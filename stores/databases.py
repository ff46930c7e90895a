"""Routing to each store's database and creating its indexes."""

from __future__ import annotations

from pymongo import ASCENDING, DESCENDING, IndexModel, MongoClient
from pymongo.database import Database
from pymongo.errors import PyMongoError

from config_db.mongo import MongoDocument
from stores.errors import StoreDatabaseError
from stores.naming import (
    COLLECTION_MEMBERS,
    MEDIA_BUCKET,
    MEMBERSHIP_STATE,
    SYNC_JOBS,
    THEME_BUCKET,
    WEBHOOK_EVENTS,
    database_name,
)


def _asc(*fields: str, **options: object) -> IndexModel:
    return IndexModel([(field, ASCENDING) for field in fields], **options)


# Every synced collection is keyed by the Shopify GID in `_id` (unique by definition).
_COMMON = [_asc("updatedAt"), _asc("deleted")]
STORE_INDEXES: dict[str, list[IndexModel]] = {
    "products": [*_COMMON, _asc("handle")],
    # productIds (multikey): which collections list a product, asked after every product change.
    "collections": [*_COMMON, _asc("handle"), _asc("productIds")],
    COLLECTION_MEMBERS: [_asc("collectionId", "index"), _asc("productIds")],
    MEMBERSHIP_STATE: [_asc("changedAt")],
    "blogs": [*_COMMON, _asc("handle")],
    "articles": [*_COMMON, _asc("handle"), _asc("blogId")],
    "themedatas": [*_COMMON, _asc("role")],
    "media": [*_COMMON, _asc("sha256"), _asc("sourceUrl")],
    "discounts": [*_COMMON, _asc("type")],
    # `_id` is "<eventId or webhookId>:<topic>": the unique dedup key of deliveries.
    WEBHOOK_EVENTS: [_asc("status", "receivedAt"), _asc("receivedAt")],
    SYNC_JOBS: [IndexModel([("createdAt", DESCENDING)])],
    # GridFS buckets: the indexes the GridFS spec asks for (we write chunks ourselves).
    f"{MEDIA_BUCKET}.files": [_asc("filename", "uploadDate")],
    f"{MEDIA_BUCKET}.chunks": [_asc("files_id", "n", unique=True)],
    f"{THEME_BUCKET}.files": [_asc("filename", "uploadDate")],
    f"{THEME_BUCKET}.chunks": [_asc("files_id", "n", unique=True)],
}


class StoreDatabases:
    """Maps clientKeys to their databases on the process's one MongoClient."""

    def __init__(self, client: MongoClient[MongoDocument], prefix: str = "") -> None:
        self._client = client
        self._prefix = prefix
        self._ensured: set[str] = set()

    def name_for(self, client_key: str) -> str:
        return database_name(client_key, self._prefix)

    def get(self, client_key: str) -> Database[MongoDocument]:
        """The store's database handle (no round trip; it may not exist yet)."""
        return self._client[self.name_for(client_key)]

    def ensure(self, client_key: str) -> Database[MongoDocument]:
        """Create the store database's collections and indexes; safe to repeat."""
        store_db = self.get(client_key)
        try:
            for collection, indexes in STORE_INDEXES.items():
                store_db[collection].create_indexes(indexes)
        except PyMongoError as error:
            raise StoreDatabaseError(
                f"cannot create store database {store_db.name!r}: {type(error).__name__}"
            ) from None
        return store_db

    def ensure_once(self, client_key: str) -> Database[MongoDocument]:
        """`ensure` once per process and store, so stores created by an older version get
        newer indexes; a failure here is left to the work that follows to meet."""
        if client_key not in self._ensured:
            try:
                self.ensure(client_key)
                self._ensured.add(client_key)
            except StoreDatabaseError:
                pass
        return self.get(client_key)

    def exists(self, client_key: str) -> bool:
        return self.name_for(client_key) in self._client.list_database_names()

    def drop(self, client_key: str) -> None:
        """Drop the store's database and everything in it (GridFS included)."""
        self._client.drop_database(self.name_for(client_key))
