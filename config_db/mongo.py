"""The process's one MongoClient, created on first use and closed on shutdown."""

from __future__ import annotations

import atexit
import threading
from typing import Any

from pymongo import MongoClient
from pymongo.database import Database

from config_db.settings import Settings

APPCONFIG_DB = "appconfig"
# MongoDB's error code for an insert or upsert that met an existing unique key.
DUPLICATE_KEY = 11000

MongoDocument = dict[str, Any]


class MongoConnection:
    """Lazily opens one MongoClient for a URI; thread-safe; `close()` is idempotent."""

    def __init__(self, settings: Settings, client: MongoClient[MongoDocument] | None = None):
        self._settings = settings
        self._client = client
        self._lock = threading.Lock()

    @property
    def client(self) -> MongoClient[MongoDocument]:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    timeout_ms = int(self._settings.mongo_timeout_seconds * 1000)
                    self._client = MongoClient(
                        self._settings.mongodb_uri,
                        tz_aware=True,
                        serverSelectionTimeoutMS=timeout_ms,
                        connectTimeoutMS=timeout_ms,
                        appname="shopsync",
                    )
        return self._client

    @property
    def appconfig(self) -> Database[MongoDocument]:
        return self.client[APPCONFIG_DB]

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


_shared: dict[str, MongoConnection] = {}
_shared_lock = threading.Lock()


def shared_connection(settings: Settings) -> MongoConnection:
    """The process-wide connection for this settings' URI (workers, clock, web)."""
    with _shared_lock:
        connection = _shared.get(settings.mongodb_uri)
        if connection is None:
            connection = MongoConnection(settings)
            _shared[settings.mongodb_uri] = connection
        return connection


@atexit.register
def _close_all() -> None:
    for connection in list(_shared.values()):
        connection.close()
