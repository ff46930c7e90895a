"""Streaming media bytes from Shopify's CDN into a store's GridFS bucket."""

from __future__ import annotations

import hashlib
import random
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from bson import ObjectId
from pymongo.database import Database

from config_db.models import is_loopback_host
from config_db.mongo import MongoDocument
from config_db.settings import Settings
from sync.errors import MediaDownloadError
from sync.storage.gridfs_upload import ChunkedUpload

CHUNK_BYTES = 256 * 1024  # read and write in pieces: a file is never whole in memory
ATTEMPTS = 3
MAX_REDIRECTS = 5


@dataclass(frozen=True)
class Download:
    gridfs_id: ObjectId
    sha256: str
    size: int
    content_type: str


@dataclass(frozen=True)
class Target:
    """Where downloaded bytes go: a store database's GridFS bucket, under a file name."""

    store_db: Database[MongoDocument]
    bucket: str
    filename: str
    metadata: dict[str, Any]


class Downloader:
    """Downloads one URL at a time into GridFS with retries; safe to share between threads."""

    def __init__(self, http: httpx.Client, settings: Settings) -> None:
        self._http = http
        self._settings = settings

    def check_url(self, url: str) -> None:
        """https only, except loopback http in development (tests and the demo shop)."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        allowed = parts.scheme == "https" or (
            parts.scheme == "http" and not self._settings.is_production and is_loopback_host(host)
        )
        if not allowed or not host:
            raise MediaDownloadError(f"refusing to download from {parts.scheme}://{host}")

    def download(self, url: str, target: Target) -> Download:
        """Stream `url` into the target bucket, hashing as it goes; retries 5xx and timeouts."""
        self.check_url(url)
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return self._attempt(url, target)
            except _Transient as error:
                if attempt == ATTEMPTS:
                    raise MediaDownloadError(f"{error} after {attempt} attempts") from None
                time.sleep(random.uniform(0.2, 0.6) * attempt)
        raise MediaDownloadError("unreachable")  # pragma: no cover

    def _attempt(self, url: str, target: Target) -> Download:
        for _ in range(MAX_REDIRECTS):
            next_url = self._fetch(url, target)
            if isinstance(next_url, Download):
                return next_url
            url = next_url
            self.check_url(url)  # a redirect must obey the same rule as the first URL
        raise MediaDownloadError("too many redirects")

    def _fetch(self, url: str, target: Target) -> Download | str:
        """The download, or where a redirect points (followed by the caller, checked first)."""
        try:
            with self._http.stream("GET", url, follow_redirects=False) as response:
                if response.is_redirect and response.headers.get("location"):
                    return str(response.url.join(response.headers["location"]))
                if response.status_code == 429 or response.status_code >= 500:
                    raise _Transient(f"HTTP {response.status_code}")
                if response.status_code != 200:
                    raise MediaDownloadError(f"HTTP {response.status_code}")
                content_type = response.headers.get("content-type", "application/octet-stream")
                return self._store(response, target, url, content_type.split(";")[0].strip())
        except httpx.TimeoutException:
            raise _Transient("timeout") from None
        except httpx.TransportError as error:
            raise _Transient(type(error).__name__) from None

    def _store(
        self, response: httpx.Response, target: Target, url: str, content_type: str
    ) -> Download:
        digest, size = hashlib.sha256(), 0
        metadata = {**target.metadata, "sourceUrl": url, "contentType": content_type}
        upload = ChunkedUpload(target.store_db, target.bucket, target.filename, metadata)
        try:
            for chunk in response.iter_bytes(CHUNK_BYTES):
                size += len(chunk)
                if size > self._settings.media_max_bytes:
                    raise MediaDownloadError("file larger than SHOPSYNC_MEDIA_MAX_BYTES")
                digest.update(chunk)
                upload.write(chunk)
        except BaseException:
            upload.abort()
            raise
        return Download(upload.close(), digest.hexdigest(), size, content_type)


class _Transient(Exception):
    pass
