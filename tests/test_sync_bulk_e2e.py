"""Bulk operations over the real path: gunicorn, Dramatiq workers, Redis, SecantusDB and the
fake Shopify's bulk operations over HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from tests.db_compare import COMPARED, assert_same_databases
from tests.exact_copy import assert_exact_copy
from tests.fakeshopify import FakeShopify, generate_store
from tests.harness import Stack, start_stack

pytestmark = pytest.mark.real
BULK_RESOURCES = ("products", "collections", "blogs", "articles", "media", "discounts")
FAKE_NAMES = ("products", "collections", "blogs", "articles", "files", "discounts")


@pytest.fixture(scope="module")
def stack(log_dir: Path, mongo_uri: str, redis_url: str) -> Iterator[Stack]:
    # Seven of a store's runs at once, so one shop can want more operations than Shopify allows.
    stack = start_stack(
        "bulk", log_dir, mongo_uri, redis_url.rsplit("/", 1)[0] + "/4", workers=2, threads=8,
        SHOPSYNC_STORE_CONCURRENCY="7", SHOPSYNC_BULK_POLL_MAX_SECONDS="2",
    )  # fmt: skip
    yield stack
    stack.stop()


def _shop(fake: FakeShopify, name: str, seed: int, **shape: Any) -> Any:
    options = {"products": 40, "big_product_variants": 30, "big_collection_members": 30,
               "big_discount_codes": 40, "files": 4} | shape  # fmt: skip
    shop = fake.add_shop(name, data=generate_store(seed=seed, **options))
    shop.configure(bucket_max=2000, restore_rate=1000, webhooks_enabled=False)
    return shop


def _operations(shop: Any, root: str) -> list[dict[str, Any]]:
    return [op for op in shop.bulk_operations if f"{{ {root}" in op["query"]]


def test_bulk_full_sync_of_a_large_store_is_an_exact_copy(
    fake: FakeShopify, stack: Stack, real_mongo: MongoClient[dict[str, Any]]
) -> None:
    # Given a store with a 2,048-variant product, a 30,000-member collection and a
    # discount with 20,000 codes (the other products plain: one variant, no image)
    shop = _shop(fake, "bulkbig", seed=41, products=30_000, big_product_variants=2048,
                 big_collection_members=30_000, big_discount_codes=20_000,
                 product_media=(0,), product_variants=(1,))  # fmt: skip
    # When its first (full) sync runs
    job = stack.wait_job("bulkbig", stack.configure(shop), timeout=600)
    # Then every resource but themes went bulk, and the database equals the shop
    assert job["status"] == "completed", job
    for name in BULK_RESOURCES:
        run = job["resources"][name]
        assert (run["path"], run["bulkStatus"]) == ("bulk", "COMPLETED"), (name, run)
        assert run["bulkOperationId"].startswith("gid://shopify/BulkOperation/")
        assert run["linesIngested"] == run["objectCount"], (name, run)
    assert job["resources"]["themedatas"]["path"] == "paged"
    assert job["resources"]["products"]["seen"] == 30_000
    store_db = real_mongo["bulkbig"]
    assert_exact_copy(store_db, shop)
    big = store_db.collections.find_one({"memberCount": 30_000})
    assert big is not None and big["productIdsSpilled"] is True
    coded = store_db.discounts.find_one({"codesCount": 20_000})
    assert coded is not None and coded["codesSpilled"] is True
    widest = store_db.products.find_one({"variantsCount.count": 2048}) or {}
    assert [variant["position"] for variant in widest["variants"]] == list(range(1, 2049))


def test_bulk_and_paged_paths_write_identical_databases(
    fake: FakeShopify, stack: Stack, real_mongo: MongoClient[dict[str, Any]]
) -> None:
    # Given two shops generated alike (same seed, so the same ids and content), with a
    # discount whose 10,050 codes spill to `_discountcodes`
    shape = {"big_product_variants": 300, "big_discount_codes": 10_050}
    bulk_shop = _shop(fake, "twinbulk", seed=43, **shape)
    paged_shop = _shop(fake, "twinpaged", seed=43, **shape)
    # When one syncs through bulk operations and the other through pages only
    bulk_job = stack.wait_job("twinbulk", stack.configure(bulk_shop))
    with stack.worker_with(SHOPSYNC_SYNC_PATH="paged"):
        paged_job = stack.wait_job("twinpaged", stack.configure(paged_shop))
    assert bulk_job["resources"]["products"]["path"] == "bulk", bulk_job
    # The export's signed URL (a link to the whole store's data) is in no answer and no log
    assert "sig=" not in json.dumps(bulk_job) and "/bulk/twinbulk/" not in stack.logs()
    assert paged_job["resources"]["products"]["path"] == "paged", paged_job
    assert not _operations(paged_shop, "products")
    # Then each is an exact copy of its shop (media bytes included), and the two databases
    # hold the same documents field for field, spilled lists included (but the bytes' hashes:
    # the fake's CDN derives a file's bytes from the shop's name; and themes, paged in both)
    assert_exact_copy(real_mongo["twinbulk"], bulk_shop)
    assert_exact_copy(real_mongo["twinpaged"], paged_shop)
    assert_same_databases(
        real_mongo["twinbulk"], real_mongo["twinpaged"], {"twinpaged": "twinbulk"},
        ignore=frozenset({"sha256", "downloadedAt"}),
        collections=tuple(name for name in COMPARED if name != "themedatas"),
    )  # fmt: skip


def test_a_large_incremental_delta_goes_bulk_and_a_small_one_stays_paged(
    fake: FakeShopify, stack: Stack, real_mongo: MongoClient[dict[str, Any]]
) -> None:
    # Given a synced store
    shop = _shop(fake, "delta", seed=53, products=60)
    assert stack.wait_job("delta", stack.configure(shop))["status"] == "completed"
    # When 3 products change (under the 5,000 threshold), an incremental pass stays paged
    for node in shop.snapshot("products")[:3]:
        shop.update("products", node["id"], {"title": node["title"] + " (small)"})
    small = stack.wait_job("delta", stack.start_sync("delta"))["resources"]["products"]
    assert (small["mode"], small["path"], small["seen"]) == ("incremental", "paged", 3), small
    # and when 20 more change with a threshold of 10, it goes bulk with the same filter
    for node in shop.snapshot("products")[10:30]:
        shop.update("products", node["id"], {"title": node["title"] + " (large)"})
    with stack.worker_with(SHOPSYNC_BULK_INCREMENTAL_THRESHOLD="10"):
        large = stack.wait_job("delta", stack.start_sync("delta"))["resources"]["products"]
    assert (large["mode"], large["path"], large["seen"]) == ("incremental", "bulk", 23), large
    assert "updated_at:>=" in _operations(shop, "products")[-1]["query"]
    assert_exact_copy(real_mongo["delta"], shop)


# Measures a wake-up of under 4 s against polls 7 s apart: run alone, after the rest.
@pytest.mark.serial
def test_the_finish_webhook_wakes_the_waiting_run(
    fake: FakeShopify, stack: Stack, real_mongo: MongoClient[dict[str, Any]]
) -> None:
    # Given a shop that sends bulk_operations/finish (subscribed when its config is posted),
    # exports that take Shopify 8 s, and polls at 1, 3, 7, 15 s
    shop = _shop(fake, "woken", seed=57, products=30)
    shop.configure(webhooks_enabled=True, bulk_start_seconds=8)
    with stack.worker_with(SHOPSYNC_BULK_POLL_MAX_SECONDS="60"):
        job = stack.wait_job("woken", stack.configure(shop), timeout=120)
    # Then each run went on right after Shopify's webhook, not at its next poll (at 15 s)
    assert job["status"] == "completed", job
    events = list(real_mongo.woken.webhookevents.find({"topic": "bulk_operations/finish"}))
    assert len(events) == 6 and all(event["status"] == "applied" for event in events), events
    for name in BULK_RESOURCES:
        [operation] = [op for op in shop.bulk_operations if op["id"] ==
                       job["resources"][name]["bulkOperationId"]]  # fmt: skip
        completed = datetime.fromisoformat(operation["completedAt"])
        finished = datetime.fromisoformat(job["resources"][name]["finishedAt"])
        assert (finished - completed).total_seconds() < 4, (name, completed, finished)
    assert_exact_copy(real_mongo["woken"], shop)


def _wait_for(predicate: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.mark.parametrize(
    ("fault", "status", "reason"),
    [
        ("failed", "paged", "partial data ingested"),
        ("denied", "paged", "ACCESS_DENIED"),
        ("expired", "bulk", None),
        ("canceled", "bulk", None),
    ],
)
def test_each_failure_mode_ends_in_an_exact_copy(
    fake: FakeShopify, stack: Stack, real_mongo: MongoClient[dict[str, Any]],
    fault: str, status: str, reason: str | None,
) -> None:  # fmt: skip
    # Given a shop whose next products export goes wrong in one of Shopify's ways
    key = f"fault{fault}"
    shop = _shop(fake, key, seed=47, products=120)
    if fault == "failed":
        shop.fail_next_bulk("INTERNAL_SERVER_ERROR", fraction=0.5)
    elif fault == "denied":
        shop.configure(bulk_access=False)
    elif fault == "expired":
        shop.expire_next_bulk()
    else:
        shop.configure(bulk_start_seconds=2)  # long enough to cancel before it ends
    # When it syncs (the products export cancelled by "someone else" while it runs)
    job_id = stack.configure(shop)
    if fault == "canceled":
        _wait_for(lambda: _operations(shop, "products"))
        shop.configure(bulk_start_seconds=0.05)
        shop.cancel_bulk(_operations(shop, "products")[0]["id"])
    job = stack.wait_job(key, job_id, timeout=300)
    # Then the job completes with an exact copy, the fallback (or the rerun) recorded
    assert job["status"] == "completed", job
    assert_exact_copy(real_mongo[key], shop)
    runs = job["resources"]
    ops = [op["status"] for op in shop.bulk_operations]
    # Every object counted once, whichever path read it (a partial export and pages included)
    for name, fake_name in zip(BULK_RESOURCES, FAKE_NAMES, strict=True):
        count = len(shop.snapshot(fake_name))
        assert (runs[name]["seen"], runs[name]["upserted"]) == (count, count), (name, runs[name])
    if fault == "denied":
        # Every resource went paged, saying why, and the shop is paged until the retry time
        assert all(runs[name]["path"] == "paged" for name in BULK_RESOURCES), runs
        assert all(reason in runs[name]["fallbackReason"] for name in BULK_RESOURCES), runs
        client = real_mongo.appconfig.clients.find_one({"_id": key})
        assert reason in client["bulkFallback"]["fallbackReason"]
        return
    hit = [name for name in BULK_RESOURCES if runs[name]["path"] != "bulk"]
    if fault == "failed":
        # The one failed export's partial data went in, and pages completed that resource
        assert len(hit) == 1 and reason in runs[hit[0]]["fallbackReason"], runs
        assert "INTERNAL_SERVER_ERROR" in runs[hit[0]]["fallbackReason"]
        assert ops.count("FAILED") == 1 and len(ops) == len(BULK_RESOURCES), ops
    else:
        # The export that ended badly was run again, once, and every resource stayed bulk
        assert hit == [], runs
        assert ops.count(fault.upper()) == 1 and len(ops) == len(BULK_RESOURCES) + 1, ops


def test_one_shop_never_runs_more_than_five_operations(
    fake: FakeShopify, stack: Stack, real_mongo: MongoClient[dict[str, Any]]
) -> None:
    # Given a shop with six bulk resources whose exports each take Shopify 3 s at least,
    # and worker threads for all of them
    shop = _shop(fake, "fivemax", seed=49, products=60)
    shop.configure(bulk_start_seconds=3)
    # When it syncs
    job = stack.wait_job("fivemax", stack.configure(shop), timeout=300)
    # Then five ran at once, the sixth waited for a slot (Shopify never had to refuse it)
    assert job["status"] == "completed", job
    assert_exact_copy(real_mongo["fivemax"], shop)
    assert shop.bulk_stats["max_running"] == 5, shop.bulk_stats
    assert shop.bulk_stats["refused"] == 0, shop.bulk_stats
    ops = sorted(shop.bulk_operations, key=lambda op: op["createdAt"])
    assert len(ops) == 6 and ops[5]["createdAt"] >= min(op["completedAt"] for op in ops[:5])


def test_six_stores_share_the_per_shop_limit(
    fake: FakeShopify, stack: Stack, real_mongo: MongoClient[dict[str, Any]]
) -> None:
    # Given six shops whose exports take Shopify 3 s at least
    shops = [_shop(fake, f"six{n}", seed=50 + n, products=30) for n in range(6)]
    for shop in shops:
        shop.configure(bulk_start_seconds=3)
    # When all six sync at once
    jobs = {shop.name: stack.configure(shop) for shop in shops}
    done = {key: stack.wait_job(key, job_id, timeout=400) for key, job_id in jobs.items()}
    # Then every copy is exact, no shop ever ran more than 5 operations, Shopify never
    # refused one, and more than five ran at one moment across shops (the limit is per shop)
    for shop in shops:
        assert done[shop.name]["status"] == "completed", done[shop.name]
        assert_exact_copy(real_mongo[shop.name], shop)
        stats = shop.bulk_stats
        assert stats["max_running"] <= 5, (shop.name, stats)
        assert stats["refused"] == 0, (shop.name, stats)
    operations = [op for shop in shops for op in shop.bulk_operations]
    at_once = max(
        sum(1 for op in operations if op["createdAt"] <= moment < op["completedAt"])
        for moment in {op["createdAt"] for op in operations}
    )
    assert at_once > 5, operations


def test_media_left_without_bytes_are_fetched_by_the_next_pass(
    fake: FakeShopify, stack: Stack, real_mongo: MongoClient[dict[str, Any]]
) -> None:
    # Given a synced store where a crash left an image and a file without their bytes
    shop = _shop(fake, "nobytes", seed=59, products=20)
    assert stack.wait_job("nobytes", stack.configure(shop))["status"] == "completed"
    media = real_mongo["nobytes"].media
    lost = [media.find_one({"productId": {"$exists": True}}),
            media.find_one({"inFilesLibrary": True, "productId": {"$exists": False}})]  # fmt: skip
    for doc in lost:
        assert doc is not None
        unset = {"gridfsId": "", "sha256": "", "size": ""}
        media.update_one({"_id": doc["_id"]}, {"$unset": unset})
    # When the next (incremental) pass runs, nothing having changed on Shopify
    job = stack.wait_job("nobytes", stack.start_sync("nobytes"))
    # Then both have their bytes again
    assert job["resources"]["products"].get("mediaDownloaded") == 1, job["resources"]["products"]
    assert job["resources"]["media"].get("downloaded") == 1, job["resources"]["media"]
    assert_exact_copy(real_mongo["nobytes"], shop)
