"""sync: the Shopify client, cost estimates, throttle budgets and coordination leases."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from sync.errors import QueryTooExpensive, ShopifyAuthError, ShopifyUnavailable
from sync.orchestration.coordination import Coordinator
from sync.shopify.client import CallStats, ShopifyClient, StoreCredentials, graphql_url
from sync.shopify.cost import page_size, requested_cost
from sync.shopify.throttle import LocalThrottle, RedisThrottle, ThrottleStatus

STORE = StoreCredentials(
    "alpha",
    "alpha.myshopify.com",
    "http://127.0.0.1:9/admin/api/2026-07/graphql.json",
    "shpat_alpha",
)
QUERY = "query { shop { name } }"


def cost(available: float = 990, requested: int = 2, actual: int | None = 2) -> dict[str, Any]:
    return {
        "cost": {
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": {
                "maximumAvailable": 1000.0,
                "currentlyAvailable": available,
                "restoreRate": 50.0,
            },
        }
    }


OK = {"data": {"shop": {"name": "A"}}, "extensions": cost()}
THROTTLED = {
    "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
    "extensions": cost(available=0, actual=None),
}


def scripted(*answers: tuple[int, Any, dict[str, str]]) -> tuple[httpx.Client, list[Any]]:
    """An httpx client whose transport plays back answers and records requests."""
    seen: list[httpx.Request] = []
    queue = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        status, body, headers = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(body, Exception):
            raise body
        content = body if isinstance(body, str) else json.dumps(body)
        return httpx.Response(status, content=content, headers=headers)

    return httpx.Client(transport=httpx.MockTransport(handler)), seen


class FakeClock:
    """Time that passes only when the client sleeps."""

    def __init__(self, sleeps: list[float]) -> None:
        self.now, self.sleeps = 0.0, sleeps

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def client_for(http: httpx.Client, sleeps: list[float], **options: Any) -> ShopifyClient:
    clock = FakeClock(sleeps)
    return ShopifyClient(http, LocalThrottle(lambda: clock.now), sleep=clock.sleep, **options)


def test_graphql_url_keeps_the_base_path() -> None:
    assert graphql_url("http://127.0.0.1:8800/shops/a/", "2026-07") == (
        "http://127.0.0.1:8800/shops/a/admin/api/2026-07/graphql.json"
    )


def test_success_sends_the_stores_own_token_and_counts_points() -> None:
    http, seen = scripted((200, OK, {}))
    stats = CallStats()
    data = client_for(http, []).query(STORE, QUERY, cost=2, stats=stats)
    assert data == {"shop": {"name": "A"}}
    assert seen[0].headers["X-Shopify-Access-Token"] == "shpat_alpha"
    assert stats.points == 2 and stats.requests == 1


def test_throttled_answer_waits_by_restore_rate_then_retries() -> None:
    http, seen = scripted((200, THROTTLED, {}), (200, OK, {}))
    sleeps: list[float] = []
    stats = CallStats()
    client_for(http, sleeps).query(STORE, QUERY, cost=100, stats=stats)
    assert len(seen) == 2 and stats.throttle_waits == 1
    assert sleeps == [pytest.approx(2.0, abs=0.1)]  # (100 - 0) / 50 per second


def test_429_waits_the_float_retry_after() -> None:
    http, seen = scripted((429, {"errors": "Throttled"}, {"Retry-After": "2.0"}), (200, OK, {}))
    sleeps: list[float] = []
    client_for(http, sleeps).query(STORE, QUERY, cost=2, stats=CallStats())
    assert sleeps[0] == 2.0 and len(seen) == 2


def test_5xx_and_timeouts_are_retried_with_backoff() -> None:
    http, seen = scripted(
        (502, "<html>bad gateway</html>", {}), (200, httpx.ReadTimeout("slow"), {}), (200, OK, {})
    )
    sleeps: list[float] = []
    stats = CallStats()
    client_for(http, sleeps).query(STORE, QUERY, cost=2, stats=stats)
    assert len(seen) == 3 and stats.retries == 2
    assert 0.25 <= sleeps[0] <= 0.5 and 0.5 <= sleeps[1] <= 1.0


def test_persistent_failure_gives_up_after_max_attempts() -> None:
    http, seen = scripted((503, "down", {}))
    with pytest.raises(ShopifyUnavailable, match="after 3 attempts"):
        client_for(http, [], max_attempts=3).query(STORE, QUERY, cost=2, stats=CallStats())
    assert len(seen) == 3


@pytest.mark.parametrize("status", [401, 403])
def test_auth_errors_are_not_retried_and_never_echo_the_token(status: int) -> None:
    http, seen = scripted((status, {"errors": "[API] Invalid API key or access token"}, {}))
    with pytest.raises(ShopifyAuthError) as caught:
        client_for(http, []).query(STORE, QUERY, cost=2, stats=CallStats())
    assert len(seen) == 1 and "shpat_alpha" not in str(caught.value)
    assert "shpat_alpha" not in repr(STORE)


def test_max_cost_exceeded_asks_for_a_smaller_page() -> None:
    body = {
        "errors": [{"message": "Query cost is 1200", "extensions": {"code": "MAX_COST_EXCEEDED"}}],
        "extensions": cost(),
    }
    http, _ = scripted((200, body, {}))
    with pytest.raises(QueryTooExpensive):
        client_for(http, []).query(STORE, QUERY, cost=1200, stats=CallStats())


def test_cost_follows_shopify_rules() -> None:
    query = "query { products(first: 10){ nodes { id variants(first: 5){ nodes { id } } } } }"
    assert requested_cost(query) == 2 + 10 * (1 + 2 + 5 * 1)
    union = "query { node(id: 1) { ... on Product { title seo { title } } ... on Blog { id } } }"
    assert requested_cost(union) == 2
    paged = "query P($first: Int!) { products(first: $first) { nodes { seo { title } } } }"
    assert page_size(paged, {}, 1000) == 250
    assert page_size(paged, {}, 200) == 99


# --- real Redis: the shared budget and the leases -------------------------------------------


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


def test_budget_is_shared_and_adopts_shopifys_numbers(redis_client: redis.Redis) -> None:
    first, second = RedisThrottle(redis_client), RedisThrottle(redis_client)
    assert first.reserve("s", 600) == 0
    wait = second.reserve("s", 600)  # only ~400 left for the other process
    assert 3.5 < wait < 4.5  # (600 - 400) / 50
    first.settle("s", 600, ThrottleStatus(200.0, 150.0, 10.0))
    assert second.bucket_size("s") == 200.0
    assert second.reserve("s", 100) == 0
    assert 4.5 < second.reserve("s", 100) < 5.5  # 50 left, 10 points per second


def test_concurrent_reservations_never_overspend(redis_client: redis.Redis) -> None:
    throttle = RedisThrottle(redis_client)
    granted: list[int] = []

    def take() -> None:
        if throttle.reserve("t", 300) == 0:
            granted.append(1)

    threads = [threading.Thread(target=take) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(granted) == 3  # 1000 points hold three 300-point queries


def test_locks_belong_to_a_job_and_slots_are_limited(redis_client: redis.Redis) -> None:
    coordinator = Coordinator(redis_client, lease_seconds=0.3, store_slots=2)
    assert coordinator.lock("s", "products", "job1")
    assert coordinator.lock("s", "products", "job1")  # the same job again (redelivery)
    assert not coordinator.lock("s", "products", "job2")
    coordinator.unlock("s", "products", "job2")  # not the owner: no effect
    assert coordinator.lock_owner("s", "products") == "job1"
    coordinator.unlock("s", "products", "job1")
    assert coordinator.lock("s", "products", "job2")
    assert coordinator.take_slot("s", "a") and coordinator.take_slot("s", "b")
    assert not coordinator.take_slot("s", "c")
    assert coordinator.take_slot("s", "a")  # a holder keeps its slot
    time.sleep(0.4)  # a dead holder's lease runs out
    assert coordinator.take_slot("s", "c")


def test_a_media_redirect_must_obey_the_same_url_rule() -> None:
    from sync.errors import MediaDownloadError
    from sync.storage.downloads import Downloader, Target
    from tests.conftest import make_settings

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": "http://169.254.169.254/latest"})

    downloader = Downloader(
        httpx.Client(transport=httpx.MockTransport(handler)), make_settings(env="production")
    )
    with pytest.raises(MediaDownloadError, match="refusing to download from http"):
        downloader.download("https://cdn.shopify.com/a.png", Target(None, "b", "f", {}))  # type: ignore[arg-type]
