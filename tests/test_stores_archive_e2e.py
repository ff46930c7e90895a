"""Export a really synced store, import it under another key, restore it on an empty
deployment and sync it incrementally from the archive's cursors (actors in-process on the
StubBroker; real Redis, SecantusDB and the fake Shopify over HTTP)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import redis
from pymongo import MongoClient

from stores.archive import export_store, import_store
from tests.archive_checks import assert_identical_databases
from tests.conftest import HEADERS, make_settings, seed_payload
from tests.db_compare import assert_same_databases
from tests.fakeshopify import generate_store

pytestmark = pytest.mark.real


def _wait_job(client: Any, key: str, job_id: str) -> dict[str, Any]:
    url = f"/api/stores/{key}/sync/jobs/{job_id}"
    deadline = time.monotonic() + 120
    while (job := client.get(url, headers=HEADERS).get_json())["status"] not in (
        "completed",
        "failed",
    ):
        assert time.monotonic() < deadline, job
        time.sleep(0.1)
    return dict(job)


@pytest.fixture
def synced(
    mongo_uri: str,
    redis_url: str,
    real_mongo: MongoClient[Any],
    stub_worker: Any,
    fake: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> Any:
    """The control API in-process, and store "archsrc" synced once in full."""
    from app import create_app
    from config_db.mongo import MongoConnection
    from sync import tasks
    from sync.resources import collections as collections_resource
    from sync.resources import discounts as discounts_resource
    from sync.runtime import build_services

    redis.Redis.from_url(redis_url).flushdb()
    settings = make_settings(mongodb_uri=mongo_uri, redis_url=redis_url)
    services = build_services(settings, MongoConnection(settings))
    monkeypatch.setattr(tasks, "worker_services", lambda: services)
    # Small spill thresholds: the side collections of long lists travel too.
    monkeypatch.setattr(collections_resource, "MAX_INLINE_MEMBERS", 5)
    monkeypatch.setattr(discounts_resource, "MAX_INLINE_CODES", 50)
    shape: dict[str, Any] = {
        "products": 40, "big_product_variants": 30, "big_collection_members": 40,
        "big_discount_codes": 80, "files": 2, "themes": 1, "articles_per_blog": 3,
    }  # fmt: skip
    shop = fake.add_shop("archsrc", data=generate_store(seed=11, **shape))
    shop.configure(bucket_max=2000, restore_rate=1000, webhooks_enabled=False)
    app = create_app(settings)
    client = app.test_client()
    payload = seed_payload(
        "archsrc",
        apiBaseUrl=shop.admin_base_url,
        adminApiBaseUrl=shop.admin_base_url,
        shopDomain=shop.shop_domain,
        adminShopToken=shop.token,
    )
    answer = client.post("/api/config/sync", json=payload, headers=HEADERS).get_json()
    assert _wait_job(client, "archsrc", answer["syncJobId"])["status"] == "completed"
    yield client, shop
    services.mongo.close()
    app.extensions["shopsync"].mongo.close()


def test_a_synced_store_exports_imports_and_syncs_on_from_its_cursors(
    synced: Any, real_mongo: MongoClient[Any], tmp_path: Path
) -> None:
    client, shop = synced
    archive = tmp_path / "archsrc.zip"
    # Given an export of the synced store (spilled lists and GridFS bytes included)
    manifest = export_store(real_mongo, "archsrc", archive, version="0.1.0")
    for name in ("_syncstate", "_syncjobs", "_collectionmembers", "_discountcodes",
                 "mediafiles.chunks", "themefiles.chunks"):  # fmt: skip
        assert manifest.collections[name]["count"] > 0, name
    # When it is imported under another key
    import_store(real_mongo, archive, as_client_key="archcopy")
    # Then every document and every GridFS byte is the same
    files = sum(manifest.collections[f"{b}.files"]["count"] for b in ("mediafiles", "themefiles"))
    assert assert_identical_databases(real_mongo, "archsrc", "archcopy") == files > 3
    assert_same_databases(real_mongo.archsrc, real_mongo.archcopy)

    # Given a fresh deployment restored from the archive, and one product edited on Shopify
    real_mongo.drop_database("archsrc")
    real_mongo.appconfig.clients.delete_many({})
    real_mongo.appconfig.shops.delete_many({})
    restored = import_store(real_mongo, archive)
    assert any("restored" in note for note in restored.notes), restored.notes
    edited = shop.snapshot("products")[5]
    shop.update("products", edited["id"], {"title": "Edited after the backup"})
    # When an incremental sync runs on the restored store
    answer = client.post("/api/stores/archsrc/sync", json={"mode": "incremental"}, headers=HEADERS)
    job = _wait_job(client, "archsrc", answer.get_json()["syncJobId"])
    # Then it started from the archived cursors: only the edit was fetched
    assert job["status"] == "completed", job
    products = job["resources"]["products"]
    assert (products["mode"], products["seen"], products["upserted"]) == ("incremental", 1, 1)
    stored = real_mongo.archsrc.products.find_one({"_id": edited["id"]}) or {}
    assert stored.get("title") == "Edited after the backup"
