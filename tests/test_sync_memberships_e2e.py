"""Rule-based collection membership between full passes, over the real path.

Shopify moves a product in or out of a smart collection without touching the collection (no
`updatedAt` change, no `collections/update`); the fake does the same. Tag and price changes
must reach every collection's `productIds` and `memberCount` through webhooks alone, and
through incremental passes alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from tests import servers
from tests.exact_copy import check_collections
from tests.fakeshopify import FakeShopify, generate_store
from tests.fakeshopify.builders import TAGS
from tests.harness import Stack, start_stack

pytestmark = pytest.mark.real


@pytest.fixture(scope="module")
def stack(log_dir: Path, mongo_uri: str, redis_url: str) -> Iterator[Stack]:
    stack = start_stack("members", log_dir, mongo_uri, redis_url.rsplit("/", 1)[0] + "/8")
    yield stack
    stack.stop()


def _synced_shop(fake: FakeShopify, stack: Stack, name: str) -> Any:
    store = generate_store(
        seed=33, products=40, big_product_variants=3, collections=8, big_collection_members=20,
        blogs=1, articles_per_blog=2, themes=1, files=2, discounts=2, big_discount_codes=5,
    )  # fmt: skip
    shop = fake.add_shop(name, data=store)
    shop.configure(bucket_max=2000, restore_rate=5000)
    assert stack.wait_job(name, stack.configure(shop))["status"] == "completed"
    return shop


def _members(shop: Any) -> dict[str, set[str]]:
    return {node["id"]: set(node["productIds"]) for node in shop.snapshot("collections")}


def _move_products(shop: Any) -> set[str]:
    """Tag and price changes on Shopify; answers the collections whose members changed."""
    before = _members(shop)
    stamps = {node["id"]: node["updatedAt"] for node in shop.snapshot("collections")}
    for index, product in enumerate(shop.snapshot("products")[1:15]):
        shop.set_tags(product["id"], [TAGS[index % len(TAGS)], TAGS[(index * 3) % len(TAGS)]])
        shop.set_variant_prices(product["id"], "5.00" if index % 3 == 0 else "45.00")
    after = _members(shop)
    # Shopify's behaviour, which the fake keeps: the collections themselves did not change
    assert {node["id"]: node["updatedAt"] for node in shop.snapshot("collections")} == stamps
    return {gid for gid in after if after[gid] != before.get(gid)}


def test_webhooks_alone_keep_smart_collections_exact(
    fake: FakeShopify, stack: Stack, real_mongo: MongoClient[dict[str, Any]]
) -> None:
    # Given a synced store with webhooks and no clock (no incremental pass will run)
    shop = _synced_shop(fake, stack, "memhooks")
    store_db = real_mongo["memhooks"]
    # When tags and prices move products across several smart collections
    moved = _move_products(shop)
    assert len(moved) >= 3, moved
    shop.wait_deliveries()
    # Then once the products/update deliveries are applied, every collection equals Shopify
    updates = {"topic": "products/update"}
    servers.wait_until(
        lambda: store_db.webhookevents.count_documents({**updates, "status": "applied"}) >= 14
        and store_db.webhookevents.count_documents({**updates, "status": "queued"}) == 0,
        90, "product updates applied", interval=0.2,
    )  # fmt: skip
    assert store_db.webhookevents.count_documents({"topic": "collections/update"}) == 0
    check_collections(store_db, shop)


def test_incremental_passes_alone_keep_smart_collections_exact(
    fake: FakeShopify, stack: Stack, real_mongo: MongoClient[dict[str, Any]]
) -> None:
    # Given a synced store whose webhooks never arrive
    shop = _synced_shop(fake, stack, "memincr")
    shop.clear_subscriptions()
    store_db = real_mongo["memincr"]
    # When tags and prices move products across several smart collections
    moved = _move_products(shop)
    assert len(moved) >= 3, moved
    assert store_db.webhookevents.count_documents({"topic": "products/update"}) == 0
    # Then one incremental pass makes every collection equal Shopify again
    job = stack.wait_job("memincr", stack.start_sync("memincr", "incremental"))
    assert job["status"] == "completed", job
    assert job["resources"]["products"].get("membershipChanges", 0) >= len(moved)
    check_collections(store_db, shop)
