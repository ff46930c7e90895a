"""Per-store backup and restore: one store database (and its client's appconfig) in one file.

Every collection travels as the server stores it (raw BSON, so datetimes, ObjectIds and
binary come back bit for bit), read and written in batches so memory stays flat however big
the store is. The layout is in stores/archive_format.py.
"""

from __future__ import annotations

import logging
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bson import decode, encode
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient
from pymongo.collection import Collection
from pymongo.database import Database

from config_db.mongo import APPCONFIG_DB
from config_db.portable import ClientDocuments, read_client_documents, restore_client_documents
from stores.archive_format import (
    APPCONFIG_ENTRIES,
    FORMAT,
    FORMAT_VERSION,
    ArchiveManifest,
    CollectionEntry,
    IndexSpec,
    entry_name,
    open_archive,
    read_entry,
    read_manifest,
    verify_entries,
    write_entry,
    write_manifest,
)
from stores.archive_import import LIVE_JOBS, end_interrupted_jobs, write_collections
from stores.errors import ArchiveError, BadQuery
from stores.naming import SYNC_JOBS, SYNC_STATE, database_name

log = logging.getLogger(__name__)
RAW = CodecOptions(document_class=RawBSONDocument)
CONFIG_CODEC: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=True)
# Documents per cursor batch; the server also caps a batch at 16 MiB (GridFS chunks).
READ_BATCH_DOCUMENTS = 500


@dataclass(frozen=True)
class Manifest:
    """What an archive holds; `notes` says what an import did beyond copying the data."""

    client_key: str
    shopsync_version: str
    created_at: str  # ISO-8601
    collections: dict[str, dict[str, Any]]  # name -> {"count": int, "sha256": str}
    notes: tuple[str, ...] = ()


def export_store(
    client: MongoClient[Any], client_key: str, path: Path, *, db_prefix: str = "", version: str
) -> Manifest:
    """Write the store's whole database and its client's appconfig documents to `path`.

    The file appears complete or not at all (written beside it, then renamed).
    """
    name = _database_name(client_key, db_prefix)
    if name not in client.list_database_names():
        raise ArchiveError(f"no store database {name!r}", field="clientKey")
    store_db: Database[Any] = client[name]
    partial = path.with_name(path.name + ".partial")
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            collections = {
                collection: _export_collection(archive, store_db[collection], options)
                for collection, options in _export_order(store_db)
            }
            appconfig = _export_config(archive, client, client_key)
            manifest = ArchiveManifest(
                format=FORMAT,
                formatVersion=FORMAT_VERSION,
                clientKey=client_key,
                database=name,
                shopsyncVersion=version,
                createdAt=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                collections=collections,
                appconfig=appconfig,
            )
            write_manifest(archive, manifest)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return _summary(manifest)


def import_store(
    client: MongoClient[Any],
    path: Path,
    *,
    as_client_key: str | None = None,
    db_prefix: str = "",
    replace: bool = False,
    force: bool = False,
) -> Manifest:
    """Restore an archive into `db_prefix + (as_client_key or its clientKey)`.

    Refused (ArchiveError, nothing written) when the archive is damaged, the target holds
    collections and `replace` is false, or a sync job of the target is queued or running and
    `force` is false (its writes would mix with the archive's). The archive is verified in
    full before the target is touched; a failure while writing drops the target again.
    Returns the archive's manifest (its `client_key` is the exported store's) with `notes` on
    what else was done.
    """
    with open_archive(path) as archive:
        manifest = read_manifest(archive)
        target_key = as_client_key or manifest.clientKey
        name = _database_name(target_key, db_prefix)
        _check_target(client, name, replace)
        verify_entries(archive, manifest)
        config = _read_config(archive, manifest)
        if replace:
            if not force:  # checked last, just before the drop: verifying may take minutes
                _check_idle(client[name])
            client.drop_database(name)
        try:
            write_collections(archive, client.get_database(name, codec_options=RAW), manifest)
            ended = end_interrupted_jobs(client[name])
        except BaseException:
            client.drop_database(name)  # no half-written store is ever left behind
            raise
    total = sum(entry.count for entry in manifest.collections.values())
    notes = [f"imported {total} documents in {len(manifest.collections)} collections into {name!r}"]
    if ended:
        notes.append(f"{ended} sync jobs unfinished in the archive were marked failed")
    notes.append(restore_client_documents(client[APPCONFIG_DB], config, target_key))
    for note in notes:
        log.info("import of %s: %s", manifest.clientKey, note)
    return _summary(manifest, tuple(notes))


def _database_name(client_key: str, db_prefix: str) -> str:
    try:
        return database_name(client_key, db_prefix)
    except BadQuery as error:
        raise ArchiveError(error.message, field="clientKey") from None


def _export_order(store_db: Database[Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every collection (no views) with its create options, in the order they are read.

    `_syncstate` first: its cursors then never claim more than the documents read after
    them hold, so an incremental sync after import fetches whatever changed during the
    export. GridFS last, `.files` before `.chunks`: a media document read earlier points at
    bytes already stored, and a files document's chunks were written before it.
    """
    found = {
        str(info["name"]): dict(info.get("options") or {})
        for info in store_db.list_collections()
        if info.get("type", "collection") == "collection" and not info["name"].startswith("system.")
    }

    def rank(collection: str) -> tuple[int, str]:
        if collection == SYNC_STATE:
            return 0, collection
        return 1 + collection.endswith(".files") + 2 * collection.endswith(".chunks"), collection

    return [(collection, found[collection]) for collection in sorted(found, key=rank)]


def _export_collection(
    archive: zipfile.ZipFile, collection: Collection[Any], options: dict[str, Any]
) -> CollectionEntry:
    raw = collection.with_options(codec_options=RAW)
    summary = write_entry(archive, entry_name(collection.name), _raw_documents(raw))
    return CollectionEntry(
        **summary.model_dump(), options=options, indexes=_index_specs(collection)
    )


def _raw_documents(collection: Collection[RawBSONDocument]) -> Iterator[bytes]:
    """The collection's documents as stored, in `_id` order (a reproducible sha256)."""
    cursor = collection.find({}, sort=[("_id", 1)], batch_size=READ_BATCH_DOCUMENTS)
    with cursor:
        for document in cursor:
            yield bytes(document.raw)


def _index_specs(collection: Collection[Any]) -> list[IndexSpec]:
    specs = []
    for index_name, info in sorted(collection.index_information().items()):
        if index_name == "_id_":
            continue
        options = {k: v for k, v in info.items() if k not in ("key", "v", "ns")}
        specs.append(IndexSpec(name=index_name, key=list(info["key"]), options=options))
    return specs


def _export_config(
    archive: zipfile.ZipFile, client: MongoClient[Any], client_key: str
) -> dict[Any, Any]:
    appconfig = client.get_database(APPCONFIG_DB, codec_options=CONFIG_CODEC)
    documents = read_client_documents(appconfig, client_key)
    return {
        part: write_entry(archive, APPCONFIG_ENTRIES[part], (_encode(d) for d in found))
        for part, found in (("clients", documents.clients), ("shops", documents.shops))
    }


def _encode(document: dict[str, Any]) -> bytes:
    return encode(document, codec_options=CONFIG_CODEC)


def _read_config(archive: zipfile.ZipFile, manifest: ArchiveManifest) -> ClientDocuments:
    parts = {
        part: [
            decode(raw, codec_options=CONFIG_CODEC)
            for raw in read_entry(archive, APPCONFIG_ENTRIES[part], summary)
        ]
        for part, summary in manifest.appconfig.items()
    }
    return ClientDocuments(clients=parts.get("clients", []), shops=parts.get("shops", []))


def _check_target(client: MongoClient[Any], name: str, replace: bool) -> None:
    existing = client.list_database_names()
    # MongoDB refuses two database names that differ only in case.
    clashes = [other for other in existing if other != name and other.lower() == name.lower()]
    if clashes:
        raise ArchiveError(f"database {clashes[0]!r} differs from {name!r} only in case")
    if replace or name not in existing:
        return
    if client[name].list_collection_names():
        raise ArchiveError(
            f"database {name!r} exists and holds collections: import with --replace to drop "
            "it first",
            field="clientKey",
        )


def _check_idle(store_db: Database[Any]) -> None:
    """A store being synced is not replaced under the sync's feet."""
    busy = store_db[SYNC_JOBS].find_one(LIVE_JOBS, {"_id": 1})
    if busy is not None:
        raise ArchiveError(
            f"store database {store_db.name!r} has sync job {busy['_id']} queued or running: "
            "wait for it to end (or disable the client), or import with --force",
            field="clientKey",
        )


def _summary(manifest: ArchiveManifest, notes: tuple[str, ...] = ()) -> Manifest:
    return Manifest(
        client_key=manifest.clientKey,
        shopsync_version=manifest.shopsyncVersion,
        created_at=manifest.createdAt,
        collections={
            name: {"count": entry.count, "sha256": entry.sha256}
            for name, entry in manifest.collections.items()
        },
        notes=notes,
    )
