"""A storm of webhook deliveries: duplicates, disorder and forgeries against a real stack.

Shared by `tests/test_webhooks_e2e.py` (a few hundred deliveries) and `bench/webhook_storm.py`
(a thousand, repeated): the same scenario and the same checks, at two sizes.
"""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

from tests import servers
from tests.exact_copy import check_products
from tests.harness import Stack

# The first sync's bulk exports each end with a bulk_operations/finish delivery, logged too.
FINISH = "bulk_operations/finish"
Delivery = tuple[dict[str, str], bytes]


@dataclass(frozen=True)
class StormResult:
    deliveries: int
    good: int
    duplicates: int
    forged: int
    answer_seconds: float
    apply_seconds: float


def events(store_db: Any) -> list[dict[str, Any]]:
    """The log's events but the bulk finish notices of the store's first sync."""
    return list(store_db.webhookevents.find({"topic": {"$ne": FINISH}}))


def build_many(shop: Any, count: int) -> list[Delivery]:
    """`count` merchant actions on Shopify, each with the delivery Shopify would send."""
    uri = shop.subscriptions[0]["uri"]
    built: list[Delivery] = []
    rng = random.Random(5)
    for index in range(count):
        products = shop.snapshot("products")
        if index % 25 == 0:
            gid, topic = shop.create("products"), "products/create"
        elif index % 40 == 1:
            gid, topic = rng.choice(products)["id"], "products/delete"
            shop.delete("products", gid)
        else:
            gid, topic = rng.choice(products)["id"], "products/update"
            shop.update("products", gid, {"title": f"Edit {index}"})
        payload = {"id": int(gid.rsplit("/", 1)[1])} if topic.endswith("delete") else None
        _, headers, body = shop.build_delivery(
            topic, payload, gid=None if payload else gid, uri=uri
        )
        built.append((headers, body))
    return built


def _forge(good: list[Delivery], count: int) -> list[Delivery]:
    return [
        (
            {
                **headers,
                "X-Shopify-Event-Id": f"forged-{index}",
                "X-Shopify-Hmac-Sha256": "AAAA" + headers["X-Shopify-Hmac-Sha256"][4:],
            },
            body,
        )
        for index, (headers, body) in enumerate(random.Random(2).sample(good, count))
    ]


def storm(shop: Any, stack: Stack, store_db: Any, total: int, apply_timeout: float) -> StormResult:
    """Send `total` deliveries (85% good, 10% duplicates, 5% forged, 10% swapped out of
    order) from 16 threads; check each answer, then that every good one is logged once and
    applied, no forgery is, and the products equal Shopify's."""
    shop.configure(webhooks_enabled=False)  # the storm sends every delivery itself
    good = build_many(shop, total * 85 // 100)
    duplicates = random.Random(1).sample(good, total // 10)
    forged = _forge(good, total // 20)
    deliveries = good + duplicates + forged
    order = random.Random(3)
    for _ in range(len(deliveries) // 10):
        first, second = order.randrange(len(deliveries)), order.randrange(len(deliveries))
        deliveries[first], deliveries[second] = deliveries[second], deliveries[first]
    started = time.monotonic()
    with httpx.Client(timeout=30) as http, ThreadPoolExecutor(16) as pool:
        url = f"{stack.url}/webhooks/shopify"
        statuses = list(
            pool.map(lambda d: http.post(url, headers=d[0], content=d[1]).status_code, deliveries)
        )
    answered = time.monotonic()
    assert statuses.count(401) == len(forged)
    assert statuses.count(200) == len(good) + len(duplicates)
    servers.wait_until(
        lambda: store_db.webhookevents.count_documents({"status": "queued"}) == 0,
        apply_timeout, "every event applied", interval=0.1,
    )  # fmt: skip
    applied = time.monotonic()
    logged = events(store_db)
    assert len(logged) == len(good)  # each good delivery logged exactly once
    assert not any(str(e.get("eventId", "")).startswith("forged") for e in logged)
    assert {e["status"] for e in logged} == {"applied"}
    check_products(store_db, shop)
    return StormResult(len(deliveries), len(good), len(duplicates), len(forged),
                       answered - started, applied - started)  # fmt: skip
