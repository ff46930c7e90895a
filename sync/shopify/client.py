"""Shopify Admin GraphQL client: one shared httpx.Client, credentials passed on every call.

No session state lives anywhere: each call names its store's endpoint and token, so two
stores synced on threads of one worker can never swap tokens.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from config_db import metrics
from config_db.settings import Settings
from sync.errors import (
    ShopifyAuthError,
    ShopifyError,
    ShopifyUnavailable,
)
from sync.shopify.answers import (
    Retryable,
    Unauthorized,
    data_or_raise,
    parse_answer,
    throttled_wait,
)
from sync.shopify.breaker import NO_PROBE, CircuitBreaker
from sync.shopify.throttle import ThrottleBudget, ThrottleStatus

log = logging.getLogger(__name__)

# Throttle waits are expected under load; only a runaway loop would need this many.
MAX_THROTTLE_WAITS = 500
BACKOFF_BASE_SECONDS = 0.5


class TokenProvider(Protocol):
    """Where a store's current token comes from (sync.auth.tokens.StoreTokens)."""

    def current(self) -> str: ...

    def renew(self, rejected: str) -> str: ...


@dataclass(frozen=True)
class StoreCredentials:
    """Where and as whom to call one store's Admin API; the token never prints.

    With `tokens`, every call asks it for the current token (refreshed ahead of expiry) and a
    401 asks it once for a newer one; `access_token` alone is a fixed token.
    """

    client_key: str
    shop_domain: str
    graphql_url: str
    access_token: str = field(default="", repr=False)
    tokens: TokenProvider | None = field(default=None, repr=False, compare=False)

    def token(self) -> str:
        return self.tokens.current() if self.tokens is not None else self.access_token


@dataclass
class CallStats:
    """What a sequence of calls cost: points, throttle waits, requests, retries.

    Thread-safe: a page may be prefetched on another thread while this one writes.
    """

    points: int = 0
    throttle_waits: int = 0
    requests: int = 0
    retries: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **amounts: int) -> None:
        with self._lock:
            for name, amount in amounts.items():
                setattr(self, name, getattr(self, name) + amount)

    def take(self) -> CallStats:
        """Return the counts so far and start again from zero."""
        with self._lock:
            taken = CallStats(self.points, self.throttle_waits, self.requests, self.retries)
            self.points = self.throttle_waits = self.requests = self.retries = 0
        return taken


def graphql_url(admin_api_base_url: str, api_version: str) -> str:
    """`adminApiBaseUrl` without trailing `/` + `/admin/api/{version}/graphql.json`."""
    return f"{admin_api_base_url.rstrip('/')}/admin/api/{api_version}/graphql.json"


def build_http_client(settings: Settings) -> httpx.Client:
    """The process's shared HTTP client: keep-alive pool, explicit timeouts."""
    # httpx logs every request's URL at INFO; a bulk export's URL is a signed link to the
    # whole store's data, so its logger speaks only of warnings.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    timeout = httpx.Timeout(
        settings.shopify_read_timeout_seconds, connect=settings.shopify_connect_timeout_seconds
    )
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
    return httpx.Client(timeout=timeout, limits=limits, headers={"User-Agent": "shopsync/0.1"})


# A long throttle wait checks in this often: leases stay fresh, a shutdown is seen quickly.
PAUSE_STEP_SECONDS = 1.0


class ShopifyClient:
    """Sends GraphQL queries with cost-aware throttling and bounded retries."""

    def __init__(
        self,
        http: httpx.Client,
        throttle: ThrottleBudget,
        *,
        max_attempts: int = 8,
        backoff_cap_seconds: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self._http = http
        self._throttle = throttle
        self._breaker = breaker
        self._max_attempts = max_attempts
        self._backoff_cap = backoff_cap_seconds
        self._sleep = sleep

    def bucket_size(self, shop_domain: str) -> float:
        return self._throttle.bucket_size(shop_domain)

    def query(
        self,
        store: StoreCredentials,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        cost: int,
        stats: CallStats,
        on_wait: Callable[[], None] | None = None,
        attempts: int | None = None,
    ) -> dict[str, Any]:
        """Run one query and return its `data`; waits, retries or raises a ShopifyError.

        `attempts` bounds the tries on 5xx and timeouts (1 for a mutation that must not run
        twice: Shopify may have done it before the answer was lost).
        """
        failures = throttle_waits = 0
        max_attempts = attempts or self._max_attempts
        renewed = False
        while True:
            probe = self._breaker.check(store.client_key) if self._breaker else NO_PROBE
            token = store.token()
            wait = self._throttle.reserve(store.shop_domain, cost)
            if wait > 0:
                throttle_waits = self._throttle_wait(store, stats, throttle_waits, wait, on_wait)
                continue
            try:
                body, status = self._post(store, token, query, variables or {})
            except Unauthorized as refused:
                self._throttle.settle(store.shop_domain, cost, None)
                if store.tokens is None or renewed or refused.code != 401:
                    raise ShopifyAuthError(refused.message(store.shop_domain, renewed)) from None
                store.tokens.renew(token)  # once: a second 401 means the store refuses us
                renewed = True
                continue
            except Retryable as retryable:
                self._throttle.settle(store.shop_domain, cost, None)
                if retryable.throttled:
                    self._throttle.drain(store.shop_domain)
                    throttle_waits = self._throttle_wait(
                        store, stats, throttle_waits, retryable.wait or 1.0, on_wait
                    )
                    continue
                failures += 1
                if self._breaker is not None:
                    self._breaker.failure(store.client_key, probe)  # raises once it opens
                if failures >= max_attempts:
                    raise ShopifyUnavailable(
                        f"{store.shop_domain}: {retryable} after {failures} attempts"
                    ) from None
                stats.add(retries=1)
                self._pause(self._backoff(failures), on_wait)
                continue
            self._throttle.settle(store.shop_domain, cost, status)
            if self._breaker is not None:
                self._breaker.success(store.client_key, probe)
            stats.add(requests=1)
            data = self._data(store, body)
            if data is None:
                wait = throttled_wait(cost, status)
                throttle_waits = self._throttle_wait(store, stats, throttle_waits, wait, on_wait)
                continue
            actual = body.get("extensions", {}).get("cost", {}).get("actualQueryCost")
            stats.add(points=int(actual or cost))
            metrics.GRAPHQL_POINTS.labels(store.client_key).inc(int(actual or cost))
            return data

    def _data(self, store: StoreCredentials, body: dict[str, Any]) -> dict[str, Any] | None:
        """The answer's data (None: THROTTLED), counted by result."""
        try:
            data = data_or_raise(store.shop_domain, body)
        except ShopifyError:
            _answered(store, "error")
            raise
        _answered(store, "ok" if data is not None else "throttled")
        return data

    def _throttle_wait(
        self,
        store: StoreCredentials,
        stats: CallStats,
        waits: int,
        seconds: float,
        on_wait: Callable[[], None] | None,
    ) -> int:
        """Wait for the store's budget to refill; returns the waits so far."""
        stats.add(throttle_waits=1)
        if waits + 1 > MAX_THROTTLE_WAITS:
            raise ShopifyUnavailable("still throttled after many waits")
        metrics.THROTTLE_WAITS.labels(store.client_key).inc()
        metrics.THROTTLE_WAIT_SECONDS.labels(store.client_key).inc(seconds)
        self._pause(seconds, on_wait)
        return waits + 1

    def _pause(self, seconds: float, on_wait: Callable[[], None] | None) -> None:
        """Sleep in steps, calling `on_wait` at each (leases; it raises to stop waiting)."""
        if on_wait is None:
            self._sleep(seconds)
            return
        remaining = seconds
        while True:
            on_wait()
            if remaining <= 0:
                return
            step = min(remaining, PAUSE_STEP_SECONDS)
            self._sleep(step)
            remaining -= step

    def _backoff(self, failures: int) -> float:
        ceiling = min(self._backoff_cap, BACKOFF_BASE_SECONDS * 2 ** (failures - 1))
        return random.uniform(ceiling / 2, ceiling)

    def _post(
        self, store: StoreCredentials, token: str, query: str, variables: dict[str, Any]
    ) -> tuple[dict[str, Any], ThrottleStatus | None]:
        """One request; counted here unless it was answered 200 (see `_data`)."""
        try:
            return self._send(store, token, query, variables)
        except Unauthorized:
            _answered(store, "unauthorized")
            raise
        except Retryable as retryable:
            _answered(store, "throttled" if retryable.throttled else "error")
            raise
        except ShopifyError:
            _answered(store, "error")
            raise

    def _send(
        self, store: StoreCredentials, token: str, query: str, variables: dict[str, Any]
    ) -> tuple[dict[str, Any], ThrottleStatus | None]:
        headers = {"X-Shopify-Access-Token": token, "Content-Type": "application/json"}
        try:
            response = self._http.post(
                store.graphql_url, json={"query": query, "variables": variables}, headers=headers
            )
        except httpx.TimeoutException:
            raise Retryable("timeout") from None
        except httpx.TransportError as error:
            raise Retryable(f"connection error ({type(error).__name__})") from None
        return parse_answer(store.shop_domain, response)


def _answered(store: StoreCredentials, result: str) -> None:
    metrics.GRAPHQL_REQUESTS.labels(store.client_key, result).inc()
    if result == "throttled":
        metrics.GRAPHQL_THROTTLED.labels(store.client_key).inc()
