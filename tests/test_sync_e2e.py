"""The sync engine over the real path: gunicorn, Dramatiq workers, Redis, SecantusDB and
the fake Shopify Admin API over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from tests.exact_copy import assert_exact_copy
from tests.fakeshopify import FakeShopify, generate_store
from tests.harness import Stack, start_stack

pytestmark = pytest.mark.real


@pytest.fixture(scope="module")
def stack(log_dir: Path, mongo_uri: str, redis_url: str) -> Iterator[Stack]:
    stack = start_stack("e2e", log_dir, mongo_uri, redis_url.rsplit("/", 1)[0] + "/1", threads=8)
    yield stack
    stack.stop()


def test_full_sync_makes_an_exact_copy(
    fake: FakeShopify, stack: Stack, real_mongo: MongoClient[dict[str, Any]]
) -> None:
    # Given a generated store with a >250-variant product, a >250-member collection,
    # a >250-code discount, 3 themes, product images and library files
    shop = fake.add_shop("full", data=generate_store(seed=7, products=300))
    # A Plus-sized budget: no throttling; webhooks off so only the sync writes.
    shop.configure(bucket_max=2000, restore_rate=1000, webhooks_enabled=False)
    # When its config is posted and the job runs
    job_id = stack.configure(shop)
    job = stack.wait_job("full", job_id)
    # Then the job completed over every resource and the database equals the shop
    assert job["status"] == "completed", job
    assert set(job["resources"]) == {
        "products",
        "collections",
        "blogs",
        "articles",
        "themedatas",
        "media",
        "discounts",
    }
    assert job["resources"]["products"]["seen"] == 300
    # Full passes go through bulk operations (themes stay paged): each read something
    for name, run in job["resources"].items():
        assert run["points"] > 0, (name, run)
        expected_path = "paged" if name == "themedatas" else "bulk"
        assert run["path"] == expected_path, (name, run)
        assert (run["pages"] if expected_path == "paged" else run["linesIngested"]) >= 1, run
    assert_exact_copy(real_mongo["full"], shop)


def _store(fake: FakeShopify, name: str, **options: Any) -> Any:
    """A small generated store (still over every page limit that matters) with a fast budget."""
    shape = {
        "products": 60,
        "big_product_variants": 260,
        "big_collection_members": 260,
        "big_discount_codes": 260,
        "files": 6,
    }
    shape.update(options)
    shop = fake.add_shop(name, data=generate_store(seed=len(name), **shape))
    # Webhooks would apply the same changes concurrently and blur the job's counts.
    shop.configure(bucket_max=2000, restore_rate=1000, webhooks_enabled=False)
    return shop


def _mutate(shop: Any) -> dict[str, int]:
    """Edits, creates and deletes on every resource; returns changed counts per collection."""
    products = shop.snapshot("products")
    for node in products[:3]:
        shop.update("products", node["id"], {"title": node["title"] + " (edited)"})
    created = shop.create("products")
    shop.delete("products", products[10]["id"])
    collection = shop.snapshot("collections")[0]
    shop.set_collection_members(collection["id"], [created, products[0]["id"]])
    article = shop.snapshot("articles")[0]
    shop.update("articles", article["id"], {"title": "Edited article"})
    shop.delete("articles", shop.snapshot("articles")[1]["id"])
    theme = shop.snapshot("themes")[0]
    shop.put_theme_file(theme["id"], "templates/index.json", '{"sections": {"new": {}}}')
    discount = next(d for d in shop.snapshot("discounts") if d["discount"].get("codes"))
    shop.add_codes(discount["id"], ["NEWCODE1", "NEWCODE2"])
    shop.delete("files", shop.snapshot("files")[0]["id"])
    return {"products": 4, "products_deleted": 1, "articles": 1, "articles_deleted": 1}


def test_incremental_sync_applies_edits_creates_and_deletes_only(
    fake: FakeShopify, stack: Stack, real_mongo: MongoClient[dict[str, Any]]
) -> None:
    shop = _store(fake, "incr")
    assert stack.wait_job("incr", stack.configure(shop))["status"] == "completed"
    # Given edits, creates and deletes on Shopify after the full sync
    changed = _mutate(shop)
    # When an incremental sync runs
    job = stack.wait_job("incr", stack.start_sync("incr", "incremental"))
    assert job["status"] == "completed", job
    # Then the copy is exact again
    assert_exact_copy(real_mongo["incr"], shop)
    # And only what changed was fetched and written
    products = job["resources"]["products"]
    assert products["mode"] == "incremental"
    assert (products["seen"], products["upserted"], products["deleted"]) == (
        changed["products"],
        changed["products"],
        changed["products_deleted"],
    )
    articles = job["resources"]["articles"]
    assert (articles["upserted"], articles["deleted"]) == (1, 1)
    assert job["resources"]["collections"]["upserted"] == 1
    assert job["resources"]["discounts"]["upserted"] == 1
    assert job["resources"]["media"]["deleted"] == 1
    assert job["resources"]["themedatas"]["upserted"] == 1
    assert job["resources"]["themedatas"]["filesChanged"] == 1
    assert job["resources"]["blogs"]["upserted"] == 0
    # And no byte was downloaded again: files and images are fetched once
    assert job["resources"]["media"].get("downloaded", 0) == 0


def test_throttled_sync_completes_within_the_budget(
    fake: FakeShopify, stack: Stack, real_mongo: MongoClient[dict[str, Any]]
) -> None:
    # Given a small bucket: 200 points restoring 50 per second
    shop = _store(
        fake,
        "slow",
        products=40,
        big_product_variants=40,
        big_collection_members=40,
        big_discount_codes=40,
        files=3,
    )
    shop.configure(bucket_max=200, restore_rate=50)
    shop.reset_stats()
    # Through pages: the paged path is what spends the budget (a bulk export barely touches it)
    with stack.worker_with(SHOPSYNC_SYNC_PATH="paged"):
        job = stack.wait_job("slow", stack.configure(shop), timeout=300)
    assert job["status"] == "completed", job
    assert_exact_copy(real_mongo["slow"], shop)
    stats = shop.stats
    # Then no page was asked for more than twice (once more after a THROTTLED answer)
    asked: dict[str, int] = {}
    for entry in stats["log"]:
        key = f"{entry['operation']}:{sorted((entry['variables'] or {}).items())}"
        asked[key] = asked.get(key, 0) + 1
    assert max(asked.values()) <= 2
    # And the points used came close to what the bucket allowed over the run
    times = [entry["time"] for entry in stats["log"]]
    allowed = 200 + 50 * (max(times) - min(times))
    assert stats["points_actual"] / allowed > 0.6, (stats["points_actual"], allowed)
    assert stats["throttled"] <= len(stats["log"]) * 0.1


def test_random_502s_and_timeouts_still_converge_to_an_exact_copy(
    fake: FakeShopify, stack: Stack, real_mongo: MongoClient[dict[str, Any]]
) -> None:
    # Given about 10% of API calls failing with 502 or timing out, and 2% of CDN downloads
    shop = _store(fake, "faulty", products=150)
    # A 300-point bucket keeps pages small: many calls, so faults surely happen.
    shop.configure(
        bucket_max=300,
        restore_rate=1000,
        error_rate=0.07,
        timeout_rate=0.04,
        timeout_seconds=3,
        cdn_error_rate=0.02,
    )
    job = stack.wait_job("faulty", stack.configure(shop), timeout=300)
    # Then the sync retried its way through to an exact copy
    assert job["status"] == "completed", job
    # (the config save's and the job start's own calls are retried outside the job's counts)
    outside = {"Scopes", "Shop", "Subscriptions", "Subscribe"}
    failures = sum(
        1 for e in shop.stats["log"] if e["status"] == 502 and e["operation"] not in outside
    )
    assert failures > 0 and sum(r.get("retries", 0) for r in job["resources"].values()) >= failures
    assert_exact_copy(real_mongo["faulty"], shop)


def test_two_stores_at_once_on_one_worker_stay_isolated(
    fake: FakeShopify, stack: Stack, real_mongo: MongoClient[dict[str, Any]]
) -> None:
    # Given two stores with different tokens (their generated ids even overlap)
    alpha, beta = _store(fake, "isoalpha"), _store(fake, "isobeta", products=80)
    for shop in (alpha, beta):
        shop.configure(bucket_max=400, restore_rate=1000)
        shop.reset_stats()
    # When both sync at the same time on the one worker's threads
    jobs = {"isoalpha": stack.configure(alpha), "isobeta": stack.configure(beta)}
    done = {key: stack.wait_job(key, job_id) for key, job_id in jobs.items()}
    assert all(job["status"] == "completed" for job in done.values())
    first, second = sorted(done.values(), key=lambda job: job["startedAt"])
    assert second["startedAt"] < first["finishedAt"]  # they really overlapped
    # Then no request carried the other store's token and each database is its own store
    for key, shop in (("isoalpha", alpha), ("isobeta", beta)):
        assert shop.stats["wrong_token"] == 0 and shop.stats["by_status"].get(401) is None
        assert_exact_copy(real_mongo[key], shop)
