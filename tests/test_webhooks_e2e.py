"""Webhooks over the real path: the fake Shopify sends signed HTTP deliveries to gunicorn;
Dramatiq workers on Redis apply them to SecantusDB."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from tests import servers
from tests.exact_copy import check_products
from tests.fakeshopify import FakeShopify, generate_store
from tests.harness import Stack, start_stack
from tests.storm import events, storm
from webhooks.subscriptions import TOPICS

pytestmark = pytest.mark.real
SECRET = "app-client-secret"


@pytest.fixture(scope="module")
def stack(log_dir: Path, mongo_uri: str, redis_url: str) -> Iterator[Stack]:
    stack = start_stack("hooks", log_dir, mongo_uri, redis_url.rsplit("/", 1)[0] + "/4", threads=8)
    yield stack
    stack.stop()


def wait_for(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    servers.wait_until(check, timeout, what, interval=0.1)


def _synced_shop(fake: FakeShopify, stack: Stack, name: str, **shape: Any) -> Any:
    shop = fake.add_shop(name, data=generate_store(seed=21, **{"products": 20, **shape}))
    shop.configure(bucket_max=2000, restore_rate=5000)
    assert stack.wait_job(name, stack.configure(shop))["status"] == "completed"
    return shop


_events = events


def test_deliveries_from_shopify_are_applied_end_to_end(
    fake: FakeShopify, stack: Stack, real_mongo: MongoClient[dict[str, Any]]
) -> None:
    # Given a synced store whose config POST registered our webhook subscriptions
    shop = _synced_shop(fake, stack, "hooked")
    assert {sub["topic"] for sub in shop.subscriptions} == set(TOPICS)
    assert all(sub["uri"] == f"{stack.url}/webhooks/shopify" for sub in shop.subscriptions)
    store_db = real_mongo["hooked"]
    products = shop.snapshot("products")
    # When the merchant edits, deletes and creates on Shopify (real signed deliveries follow)
    shop.update("products", products[0]["id"], {"title": "Renamed by the merchant"})
    shop.delete("products", products[1]["id"])
    created = shop.create("products")
    discount = next(d for d in shop.snapshot("discounts") if d["discount"].get("codes"))
    shop.add_codes(discount["id"], ["WEBHOOK1"])
    theme = next(t for t in shop.snapshot("themes") if t["role"] != "MAIN")
    shop.publish_theme(theme["id"])
    shop.wait_deliveries()
    # Then the worker applies every one of them
    wait_for(
        lambda: (
            all(e["status"] != "queued" for e in _events(store_db)) and len(_events(store_db)) >= 5
        ),
        "webhook events applied",
    )
    assert {e["status"] for e in _events(store_db)} == {"applied"}
    assert store_db.products.find_one({"_id": products[0]["id"]})["title"] == (
        "Renamed by the merchant"
    )
    assert store_db.products.find_one({"_id": products[1]["id"]})["deleted"] is True
    assert store_db.products.find_one({"_id": created})["deleted"] is False
    codes = store_db.discounts.find_one({"_id": discount["id"]})["codes"]
    assert "WEBHOOK1" in {code["code"] for code in codes}
    assert store_db.themedatas.find_one({"_id": theme["id"]})["role"] == "MAIN"
    check_products(store_db, shop)
    # And registering again is idempotent
    with stack.http() as http:
        again = http.post("/api/stores/hooked/webhooks/register").json()
    assert again["created"] == [] and len(again["existing"]) == len(TOPICS)
    # And no secret reached the event log or any log line
    text = str(_events(store_db)) + stack.logs()
    for secret in (SECRET, shop.token, "test-secret-key"):
        assert secret not in text


# SecantusDB applies about 2-3 events a second here (a dozen round trips each, 8 threads
# contending); the suite sends 300 deliveries, `python -m bench.webhook_storm` a thousand.
@pytest.mark.timeout(400)
def test_a_storm_of_deliveries_with_duplicates_disorder_and_forgeries(
    fake: FakeShopify, stack: Stack, real_mongo: MongoClient[dict[str, Any]]
) -> None:
    shop = _synced_shop(fake, stack, "storm", products=60)
    result = storm(shop, stack, real_mongo["storm"], total=300, apply_timeout=300)
    assert result.deliveries == 300 and result.forged == 15 and result.duplicates == 30


def test_deliveries_during_a_redis_outage_are_kept_and_applied_later(
    fake: FakeShopify, log_dir: Path, mongo_uri: str, real_mongo: MongoClient[dict[str, Any]]
) -> None:
    redis_service = servers.redis_server(log_dir)
    redis_service.start()
    own = start_stack(
        "outage",
        log_dir,
        mongo_uri,
        f"redis://127.0.0.1:{redis_service.port}/0",
        SHOPSYNC_WEBHOOK_REQUEUE_AFTER_SECONDS="2",
        SHOPSYNC_SCHEDULER_TICK_SECONDS="1",
        # This clock sees every store earlier tests left in appconfig: keep it to the sweeper.
        SHOPSYNC_INCREMENTAL_INTERVAL_SECONDS="86400",
    )
    try:
        own.add_clock()
        shop = _synced_shop(fake, own, "outage")
        shop.configure(webhooks_enabled=False)
        products = shop.snapshot("products")[:5]
        for node in products:
            shop.update("products", node["id"], {"title": "Changed while Redis was down"})
        # When Redis stops, deliveries are still answered 200 and logged
        redis_service.stop()
        for node in products:
            assert shop.deliver("products/update", gid=node["id"]) == 200
        store_db = real_mongo["outage"]
        updates = {"topic": "products/update"}
        queued = store_db.webhookevents.count_documents({"status": "queued", **updates})
        assert queued == len(products)
        # Then, once Redis is back, the clock re-sends them and a worker applies them
        redis_service.start()
        wait_for(
            lambda: store_db.webhookevents.count_documents({"status": "applied", **updates})
            == len(products),
            "queued events applied after the outage",
            timeout=90,
        )
        for node in products:
            stored = store_db.products.find_one({"_id": node["id"]})
            assert stored["title"] == "Changed while Redis was down"
    finally:
        own.stop()
        redis_service.stop()


def test_uninstall_and_redact(
    fake: FakeShopify, stack: Stack, real_mongo: MongoClient[dict[str, Any]]
) -> None:
    shop = _synced_shop(fake, stack, "leaving", products=5)
    shop.deliver(
        "customers/data_request",
        {"shop_domain": shop.shop_domain},
        uri=f"{stack.url}/webhooks/shopify",
    )
    shop.uninstall()
    shop.wait_deliveries()
    store_db = real_mongo["leaving"]
    wait_for(
        lambda: (
            real_mongo.appconfig.clients.find_one({"_id": "leaving"})["status"] == "uninstalled"
        ),
        "client uninstalled",
    )
    assert store_db.products.count_documents({}) == 5  # data kept
    statuses = {e["topic"]: e["status"] for e in _events(store_db)}
    assert statuses["customers/data_request"] == "ignored"
    # 48 hours later Shopify asks for the shop's data to go
    shop.deliver(
        "shop/redact", {"shop_domain": shop.shop_domain}, uri=f"{stack.url}/webhooks/shopify"
    )
    wait_for(lambda: "leaving" not in real_mongo.list_database_names(), "store dropped")
    client = real_mongo.appconfig.clients.find_one({"_id": "leaving"})
    assert "adminShopToken" not in client
    shop_doc = real_mongo.appconfig.shops.find_one({"_id": shop.shop_domain})
    assert "accessToken" not in shop_doc
