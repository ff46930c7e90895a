"""stores.archive on a hand-built store database (real SecantusDB): types, indexes, GridFS,
refusals, damaged archives, appconfig, bounded memory."""

from __future__ import annotations

import json
import multiprocessing
import os
import tracemalloc
import uuid
import zipfile
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from bson import Binary, Decimal128, Int64, ObjectId
from gridfs import GridFSBucket
from pymongo import MongoClient
from pymongo.errors import AutoReconnect

from config_db.models import parse_client_config
from config_db.repository import ConfigRepository
from config_db.secrets import TokenCipher
from stores import archive_import
from stores.archive import export_store, import_store
from stores.databases import StoreDatabases
from stores.errors import ArchiveError
from tests.archive_checks import RAW, assert_identical_databases, raw_documents
from tests.conftest import ADMIN_TOKEN, SECRET_KEY, seed_payload

pytestmark = pytest.mark.real
T0 = datetime(2026, 3, 1, 12, 30, 15, 123000, tzinfo=UTC)
MEDIA_BYTES = os.urandom(600_000)  # three GridFS chunks of 255 KiB, the last one partial


def _repository(client: MongoClient[Any]) -> ConfigRepository:
    return ConfigRepository(client.appconfig, TokenCipher(SECRET_KEY))


def build_store(client: MongoClient[Any], key: str = "src") -> None:
    """A store database with what a sync writes: every BSON type we use, bookkeeping,
    a spilled list, an empty collection, GridFS bytes; plus the client's appconfig."""
    store_db = StoreDatabases(client).ensure(key)
    store_db.products.insert_many(
        [
            {
                "_id": f"gid://shopify/Product/{n}",
                "title": f"P{n}",
                "updatedAt": T0,
                "deleted": False,
                "price": Decimal128(Decimal("19.90")),
                "n": Int64(n),
                "tags": ["a", {"nested": [1, 2.5, None]}],
                "_syncRun": ObjectId(),
            }
            for n in range(30)
        ]  # fmt: skip
    )
    store_db["_syncstate"].insert_one({"_id": "products", "cursor": T0, "lastFullAt": T0})
    store_db["_syncjobs"].insert_one({"_id": "j1", "clientKey": key, "status": "completed"})
    store_db["_collectionmembers"].insert_one({"_id": "c#0", "collectionId": "c", "productIds": []})
    store_db.webhookevents.insert_one(
        {"_id": "e:products/update", "raw": Binary(b"\x00\xff" * 10), "u": uuid.uuid4().bytes}
    )
    GridFSBucket(store_db, bucket_name="mediafiles").upload_from_stream(
        "image.png", MEDIA_BYTES, metadata={"mediaId": "gid://shopify/MediaImage/1"}
    )
    _repository(client).save_client(
        parse_client_config(seed_payload(key), env="development", db_prefix="")
    )


def test_import_under_another_key_restores_every_byte_index_and_gridfs_file(
    real_mongo: MongoClient[Any], tmp_path: Path
) -> None:
    # Given a store database with every kind of document and an archive of it
    build_store(real_mongo)
    manifest = export_store(real_mongo, "src", tmp_path / "src.zip", version="9.9.9")
    assert manifest.collections["products"]["count"] == 30
    assert manifest.collections["mediafiles.chunks"]["count"] == 3
    assert manifest.collections["discounts"]["count"] == 0  # created by ensure(), empty
    # When it is imported under another key
    imported = import_store(real_mongo, tmp_path / "src.zip", as_client_key="copy")
    # Then every collection, document byte, index and GridFS byte is the same
    assert imported.client_key == "src" and imported.shopsync_version == "9.9.9"
    assert assert_identical_databases(real_mongo, "src", "copy") == 1
    # And the original still owns its shop: the data came, the config did not
    assert not _repository(real_mongo).client_exists("copy")
    assert any("belongs to client 'src'" in note for note in imported.notes), imported.notes


def test_manifest_checksums_are_stable_across_exports(
    real_mongo: MongoClient[Any], tmp_path: Path
) -> None:
    # Given an export of a store
    build_store(real_mongo)
    first = export_store(real_mongo, "src", tmp_path / "a.zip", version="1")
    # When a document is written again unchanged (it moves in the collection's natural order)
    products = real_mongo.get_database("src", codec_options=RAW).products
    moved = products.find_one_and_delete({"_id": "gid://shopify/Product/0"})
    products.insert_one(moved)
    # Then a second export has the same checksums
    second = export_store(real_mongo, "src", tmp_path / "b.zip", version="1")
    assert first.collections == second.collections
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        written = json.loads(archive.read("manifest.json"))
    assert written["collections"]["products"]["sha256"] == first.collections["products"]["sha256"]
    assert written["collections"]["products"]["indexes"]  # the store's indexes travel too


def test_an_existing_target_is_refused_unless_replaced(
    real_mongo: MongoClient[Any], tmp_path: Path
) -> None:
    # Given an archive and a target store that already holds a document
    build_store(real_mongo)
    export_store(real_mongo, "src", tmp_path / "src.zip", version="1")
    real_mongo.other.products.insert_one({"_id": "keep-me"})
    # Then an import over it is refused and leaves it alone
    with pytest.raises(ArchiveError, match="exists"):
        import_store(real_mongo, tmp_path / "src.zip", as_client_key="other")
    assert real_mongo.other.products.count_documents({}) == 1
    # And with replace the target becomes the archive's store
    import_store(real_mongo, tmp_path / "src.zip", as_client_key="other", replace=True)
    assert real_mongo.other.products.find_one({"_id": "keep-me"}) is None
    assert_identical_databases(real_mongo, "src", "other")


def test_a_store_being_synced_is_replaced_only_with_force(
    real_mongo: MongoClient[Any], tmp_path: Path
) -> None:
    # Given an archive, and a target store with a sync job running
    build_store(real_mongo)
    export_store(real_mongo, "src", tmp_path / "src.zip", version="1")
    real_mongo.other.products.insert_one({"_id": "keep-me"})
    real_mongo.other["_syncjobs"].insert_one({"_id": "live", "status": "running"})
    # Then replacing it is refused, naming the job, and leaves it alone
    with pytest.raises(ArchiveError, match="sync job live queued or running"):
        import_store(real_mongo, tmp_path / "src.zip", as_client_key="other", replace=True)
    assert real_mongo.other.products.count_documents({}) == 1
    # And with force it is replaced
    import_store(real_mongo, tmp_path / "src.zip", as_client_key="other", replace=True, force=True)
    assert_identical_databases(real_mongo, "src", "other")


def test_a_sync_writing_beside_a_forced_import_loses_to_the_archive(
    real_mongo: MongoClient[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an archive, and a sync still writing to the store while it is replaced (--force):
    # it made `_syncjobs` before the import reached it, and a product just after the import
    # created `products`
    build_store(real_mongo)
    export_store(real_mongo, "src", tmp_path / "src.zip", version="1")
    real_create = archive_import._create

    def racing_create(target: Any, name: str, options: dict[str, Any]) -> Any:
        if name == "_syncjobs":
            real_mongo.other["_syncjobs"].insert_one({"_id": "live", "status": "running"})
        created = real_create(target, name, options)
        if name == "products":
            real_mongo.other.products.insert_one({"_id": "gid://shopify/Product/3", "title": "x"})
        return created

    monkeypatch.setattr(archive_import, "_create", racing_create)
    # When the archive is imported over it
    import_store(real_mongo, tmp_path / "src.zip", as_client_key="other", replace=True, force=True)
    # Then the import completes and the store is the archive's, to the byte
    assert_identical_databases(real_mongo, "src", "other")


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0xFF  # inside the compressed data of a collection entry
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])


def _forge_count(path: Path) -> None:
    """A well-formed zip whose manifest claims one document more than an entry holds."""
    forged = path.with_name("forged.zip")
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(forged, "w") as target:
        for item in source.infolist():
            content = source.read(item)
            if item.filename == "manifest.json":
                manifest = json.loads(content)
                manifest["collections"]["products"]["count"] += 1
                content = json.dumps(manifest).encode()
            target.writestr(item, content)
    forged.replace(path)


@pytest.mark.parametrize("damage", [_flip_byte, _truncate, _forge_count])
def test_a_damaged_archive_is_refused_and_leaves_nothing(
    real_mongo: MongoClient[Any], tmp_path: Path, damage: Any
) -> None:
    # Given a damaged archive
    build_store(real_mongo)
    path = tmp_path / "src.zip"
    export_store(real_mongo, "src", path, version="1")
    damage(path)
    # Then importing it is refused and writes no database
    with pytest.raises(ArchiveError):
        import_store(real_mongo, path, as_client_key="broken")
    assert "broken" not in real_mongo.list_database_names()
    # And with replace, the store it would have replaced is still whole
    before = raw_documents(real_mongo, "src", "products")
    with pytest.raises(ArchiveError):
        import_store(real_mongo, path, replace=True)
    assert raw_documents(real_mongo, "src", "products") == before


def test_a_failure_while_writing_drops_the_half_written_store(
    real_mongo: MongoClient[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an archive, and MongoDB failing after a few collections were written
    build_store(real_mongo)
    export_store(real_mongo, "src", tmp_path / "src.zip", version="1")
    written = []
    insert_all = archive_import._insert_all

    def failing(collection: Any, documents: Any) -> None:
        if len(written) == 3:
            raise AutoReconnect("connection lost")
        written.append(collection.name)
        insert_all(collection, documents)

    monkeypatch.setattr(archive_import, "_insert_all", failing)
    # When the import runs, then it is refused and no half-written database is left
    with pytest.raises(ArchiveError, match="cannot restore"):
        import_store(real_mongo, tmp_path / "src.zip", as_client_key="half")
    assert len(written) == 3 and "half" not in real_mongo.list_database_names()


def test_the_config_is_restored_when_its_key_and_shop_are_free(
    real_mongo: MongoClient[Any], tmp_path: Path
) -> None:
    # Given an archive, then a fresh deployment (empty appconfig, no store database)
    build_store(real_mongo)
    stored = _repository(real_mongo).get_client("src")
    export_store(real_mongo, "src", tmp_path / "src.zip", version="1")
    real_mongo.drop_database("src")
    real_mongo.appconfig.clients.delete_many({})
    real_mongo.appconfig.shops.delete_many({})
    # When it is imported under a new key
    imported = import_store(real_mongo, tmp_path / "src.zip", as_client_key="moved")
    # Then the client is configured under that key, secrets encrypted exactly as before
    repository = _repository(real_mongo)
    restored = repository.get_client("moved")
    assert restored["clientKeyLower"] == "moved" and restored["shopDomain"] == stored["shopDomain"]
    assert restored["adminShopToken"] == stored["adminShopToken"]
    assert repository.secret(restored, "adminShopToken") == ADMIN_TOKEN
    assert repository.client_key_for_shop(stored["shopDomain"]) == "moved"
    assert any("restored" in note for note in imported.notes)
    # And a second import under the original key keeps the config (the shop is taken)
    again = import_store(real_mongo, tmp_path / "src.zip")
    assert not repository.client_exists("src")
    assert any("belongs to client 'moved'" in note for note in again.notes), again.notes


def test_jobs_caught_running_are_marked_failed_on_import(
    real_mongo: MongoClient[Any], tmp_path: Path
) -> None:
    build_store(real_mongo)
    real_mongo.src["_syncjobs"].insert_one({"_id": "j2", "clientKey": "src", "status": "running"})
    export_store(real_mongo, "src", tmp_path / "src.zip", version="1")
    imported = import_store(real_mongo, tmp_path / "src.zip", as_client_key="copy")
    statuses = {job["_id"]: job["status"] for job in real_mongo.copy["_syncjobs"].find()}
    assert statuses == {"j1": "completed", "j2": "failed"}
    assert any("1 sync jobs" in note for note in imported.notes)


def test_unknown_store_and_bad_keys_are_refused(
    real_mongo: MongoClient[Any], tmp_path: Path
) -> None:
    with pytest.raises(ArchiveError, match="no store database"):
        export_store(real_mongo, "nothere", tmp_path / "x.zip", version="1")
    assert not (tmp_path / "x.zip").exists()
    build_store(real_mongo)
    export_store(real_mongo, "src", tmp_path / "src.zip", version="1")
    for refused in ("admin", "SRC"):  # reserved; differs from "src" only in case
        with pytest.raises(ArchiveError):
            import_store(real_mongo, tmp_path / "src.zip", as_client_key=refused, replace=True)
    assert raw_documents(real_mongo, "src", "products")
    (tmp_path / "foreign.zip").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(ArchiveError):
        import_store(real_mongo, tmp_path / "foreign.zip")


LARGE = 50_000


def _measure_archive(mongo_uri: str, path: Path, peaks: Any) -> None:
    client: MongoClient[Any] = MongoClient(mongo_uri)
    client.big.list_collection_names()  # connect first: the pool's buffers are not the archive's
    tracemalloc.start()
    export_store(client, "big", path, version="1")
    export_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.reset_peak()
    import_store(client, path, as_client_key="bigcopy")
    peaks.put((export_peak, tracemalloc.get_traced_memory()[1]))


def test_memory_stays_flat_for_a_large_collection(
    real_mongo: MongoClient[Any], mongo_uri: str, tmp_path: Path
) -> None:
    # Given 50,000 small documents (about 10 MB of BSON)
    body = "x" * 160
    for start in range(0, LARGE, 10_000):
        real_mongo.big.products.insert_many(
            {"_id": n, "title": body, "updatedAt": T0} for n in range(start, start + 10_000)
        )
    total = LARGE * len(body)
    # When the store is exported and imported, each under tracemalloc, in a fresh process so
    # that threads other tests left in this one (workers, monitors) do not count
    peaks: Any = multiprocessing.get_context("spawn").Queue()
    child = multiprocessing.get_context("spawn").Process(
        target=_measure_archive, args=(mongo_uri, tmp_path / "big.zip", peaks)
    )
    child.start()
    export_peak, import_peak = peaks.get(timeout=120)
    child.join(30)
    # Then neither ever held more than a small part of the collection
    assert export_peak < total / 5, (export_peak, total)
    assert import_peak < total / 5, (import_peak, total)
    assert real_mongo.bigcopy.products.count_documents({}) == LARGE
