"""sync.shopify.client with tokens, scopes and the per-store circuit breaker."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from sync.errors import ShopifyAccessDenied, ShopifyAuthError, ShopifyQueryError, StoreCircuitOpen
from sync.shopify.breaker import CircuitBreaker
from sync.shopify.client import CallStats, ShopifyClient, StoreCredentials
from sync.shopify.throttle import LocalThrottle
from tests.conftest import make_settings
from tests.test_sync_shopify import OK, QUERY, cost, scripted


class Tokens:
    """A token provider that hands out `t0`, `t1`, … and counts renewals."""

    def __init__(self) -> None:
        self.renewals = 0

    def current(self) -> str:
        return f"t{self.renewals}"

    def renew(self, rejected: str) -> str:
        self.renewals += 1
        return self.current()


def store(name: str = "alpha", tokens: Any = None) -> StoreCredentials:
    url = f"http://127.0.0.1:9/{name}/admin/api/2026-07/graphql.json"
    return StoreCredentials(name, f"{name}.myshopify.com", url, "shpat_x", tokens=tokens)


def client(http: httpx.Client, breaker: CircuitBreaker | None = None) -> ShopifyClient:
    return ShopifyClient(http, LocalThrottle(), sleep=lambda s: None, breaker=breaker)


UNAUTHORIZED = (401, {"errors": "[API] Invalid API key or access token"}, {})


def test_a_401_renews_the_token_once_and_retries() -> None:
    http, seen = scripted(UNAUTHORIZED, (200, OK, {}))
    tokens = Tokens()
    assert client(http).query(store(tokens=tokens), QUERY, cost=2, stats=CallStats())["shop"]
    assert tokens.renewals == 1
    assert [r.headers["X-Shopify-Access-Token"] for r in seen] == ["t0", "t1"]


def test_a_second_401_right_after_a_refresh_gives_up() -> None:
    http, seen = scripted(UNAUTHORIZED)
    tokens = Tokens()
    with pytest.raises(ShopifyAuthError, match="freshly refreshed"):
        client(http).query(store(tokens=tokens), QUERY, cost=2, stats=CallStats())
    assert tokens.renewals == 1 and len(seen) == 2


def test_access_denied_names_the_scope_and_is_never_an_empty_answer() -> None:
    denied = {
        "data": {"themes": None},
        "errors": [{"message": "Access denied for themes field. Required access: `read_themes` "
                    "access scope.", "extensions": {"code": "ACCESS_DENIED"}}],  # fmt: skip
        "extensions": cost(),
    }
    http, _ = scripted((200, denied, {}))
    with pytest.raises(ShopifyAccessDenied) as caught:
        client(http).query(store(), QUERY, cost=2, stats=CallStats())
    assert caught.value.scope == "read_themes"


def test_any_graphql_error_beside_data_is_an_error_not_a_partial_result() -> None:
    partial = {"data": {"products": None}, "errors": [{"message": "Internal error"}],
               "extensions": cost()}  # fmt: skip
    http, _ = scripted((200, partial, {}))
    with pytest.raises(ShopifyQueryError):
        client(http).query(store(), QUERY, cost=2, stats=CallStats())


@pytest.fixture
def breaker(redis_url: str) -> Iterator[tuple[CircuitBreaker, list[tuple[str, str]]]]:
    connection = redis.Redis.from_url(redis_url)
    connection.flushdb()
    changes: list[tuple[str, str]] = []
    settings = make_settings(breaker_failures=3, breaker_cooldown_seconds=0.3,
                             breaker_max_cooldown_seconds=1.2)  # fmt: skip
    yield CircuitBreaker(connection, settings, lambda key, s: changes.append((key, s["state"]))), (
        changes
    )


def test_a_failing_store_trips_its_breaker_and_other_stores_go_on(
    breaker: tuple[CircuitBreaker, list[tuple[str, str]]],
) -> None:
    the_breaker, changes = breaker
    # Given a store answering 503 to everything
    down, down_seen = scripted((503, "Service Unavailable", {}))
    # When it is called
    with pytest.raises(StoreCircuitOpen) as caught:
        client(down, the_breaker).query(store("alpha"), QUERY, cost=2, stats=CallStats())
    # Then after three failures (not the eight attempts) its breaker opens
    assert len(down_seen) == 3 and caught.value.reopen_at > time.time()
    assert changes == [("alpha", "open")]
    # And further calls make no request until it reopens
    with pytest.raises(StoreCircuitOpen):
        client(down, the_breaker).query(store("alpha"), QUERY, cost=2, stats=CallStats())
    assert len(down_seen) == 3
    # While another store is served as usual
    up, _ = scripted((200, OK, {}))
    assert client(up, the_breaker).query(store("beta"), QUERY, cost=2, stats=CallStats())
    # And once the cool-down is over, a good answer closes it
    time.sleep(0.35)
    assert client(up, the_breaker).query(store("alpha"), QUERY, cost=2, stats=CallStats())
    assert changes == [("alpha", "open"), ("alpha", "closed")]


def test_the_cool_down_doubles_while_the_probe_keeps_failing(
    breaker: tuple[CircuitBreaker, list[tuple[str, str]]],
) -> None:
    the_breaker, _ = breaker
    down, seen = scripted((503, "Service Unavailable", {}))
    waits = []
    for _ in range(3):
        with pytest.raises(StoreCircuitOpen) as caught:
            client(down, the_breaker).query(store("gamma"), QUERY, cost=2, stats=CallStats())
        waits.append(caught.value.reopen_at - time.time())
        # the probe after the cool-down fails: one failure opens it again, for twice as long
        time.sleep(max(0.0, caught.value.reopen_at - time.time()) + 0.02)
    assert waits[0] < 0.35 < waits[1] < 0.65 < waits[2] <= 1.2
    assert len(seen) == 3 + 1 + 1


def test_scattered_failures_between_answers_never_trip_it(
    breaker: tuple[CircuitBreaker, list[tuple[str, str]]],
) -> None:
    the_breaker, changes = breaker
    # Given a busy store where every other call fails once before it is answered
    http, seen = scripted((503, "", {}), (200, OK, {}), (503, "", {}), (200, OK, {}),
                          (503, "", {}), (200, OK, {}), (503, "", {}), (200, OK, {}))  # fmt: skip
    # When it is called four times (four failures, more than the threshold of three)
    for _ in range(4):
        assert client(http, the_breaker).query(store("delta"), QUERY, cost=2, stats=CallStats())
    # Then its breaker never opened: each answer started the count again
    assert len(seen) == 8 and changes == []
