"""Per-shop GraphQL point budgets, shared by every thread and process through Redis.

Shopify's limit is a leaky bucket per app per store. We keep an estimate of it (available
points, bucket size, restore rate) and reserve a query's requested cost before sending it,
so concurrent syncs of one shop wait instead of being answered THROTTLED.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import redis

# Assumed until the shop's first answer tells us its bucket (Shopify's standard plan).
DEFAULT_BUCKET = 1000.0
DEFAULT_RESTORE_RATE = 50.0
STATE_TTL_SECONDS = 3600
# Reservations older than this are forgotten (their worker died between send and answer).
INFLIGHT_STALE_SECONDS = 60.0


@dataclass(frozen=True)
class ThrottleStatus:
    maximum_available: float
    currently_available: float
    restore_rate: float

    @classmethod
    def from_extensions(cls, extensions: Any) -> ThrottleStatus | None:
        """Read `extensions.cost.throttleStatus` of a GraphQL answer, if present."""
        try:
            status = extensions["cost"]["throttleStatus"]
            return cls(
                float(status["maximumAvailable"]),
                float(status["currentlyAvailable"]),
                float(status["restoreRate"]),
            )
        except (KeyError, TypeError, ValueError):
            return None


class ThrottleBudget(Protocol):
    def reserve(self, shop: str, cost: float) -> float:
        """Reserve `cost` points; 0 when reserved, else seconds to wait before asking again."""

    def settle(self, shop: str, reserved: float, status: ThrottleStatus | None) -> None:
        """Release a reservation and adopt Shopify's own numbers when it sent them."""

    def drain(self, shop: str) -> None:
        """Mark the bucket empty (after a 429)."""

    def bucket_size(self, shop: str) -> float:
        """The shop's bucket size as last seen (the default until then)."""


_RESERVE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local h = redis.call('HMGET', KEYS[1], 'avail', 'max', 'rate', 'ts', 'inflight', 'its')
local max = tonumber(h[2]) or tonumber(ARGV[2])
local rate = tonumber(h[3]) or tonumber(ARGV[3])
local avail = tonumber(h[1]) or max
local ts = tonumber(h[4]) or now
local inflight = tonumber(h[5]) or 0
local its = tonumber(h[6]) or now
if now - its > tonumber(ARGV[5]) then inflight = 0 end
avail = math.min(max, avail + math.max(0, now - ts) * rate)
-- A query asking more than the whole bucket is sent anyway: Shopify will say why.
local cost = math.min(tonumber(ARGV[1]), max)
local wait = 0
if avail >= cost then
  avail = avail - cost
  inflight = inflight + cost
  its = now
else
  wait = (cost - avail) / rate
end
redis.call('HSET', KEYS[1], 'avail', avail, 'max', max, 'rate', rate, 'ts', now,
           'inflight', inflight, 'its', its)
redis.call('EXPIRE', KEYS[1], ARGV[4])
return tostring(wait)
"""

_SETTLE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local inflight = math.max(0, (tonumber(redis.call('HGET', KEYS[1], 'inflight')) or 0)
                              - tonumber(ARGV[1]))
redis.call('HSET', KEYS[1], 'inflight', inflight)
if ARGV[2] ~= '' then
  -- Shopify's count already includes this query; others still in flight are not yet in it.
  local avail = math.max(0, tonumber(ARGV[3]) - inflight)
  redis.call('HSET', KEYS[1], 'max', ARGV[2], 'avail', avail, 'rate', ARGV[4], 'ts', now)
end
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""


class RedisThrottle:
    """The budget estimate of each shop in a Redis hash, updated atomically by Lua scripts."""

    def __init__(self, client: redis.Redis, prefix: str = "shopsync:throttle:") -> None:
        self._client = client
        self._prefix = prefix
        self._reserve = client.register_script(_RESERVE)
        self._settle = client.register_script(_SETTLE)

    def _key(self, shop: str) -> str:
        return self._prefix + shop

    def reserve(self, shop: str, cost: float) -> float:
        args = [
            cost,
            DEFAULT_BUCKET,
            DEFAULT_RESTORE_RATE,
            STATE_TTL_SECONDS,
            INFLIGHT_STALE_SECONDS,
        ]
        return float(self._reserve(keys=[self._key(shop)], args=args))

    def settle(self, shop: str, reserved: float, status: ThrottleStatus | None) -> None:
        if status is None:
            values: list[Any] = [reserved, "", 0, 0, STATE_TTL_SECONDS]
        else:
            values = [
                reserved,
                status.maximum_available,
                status.currently_available,
                status.restore_rate,
                STATE_TTL_SECONDS,
            ]
        self._settle(keys=[self._key(shop)], args=values)

    def drain(self, shop: str) -> None:
        self._client.hset(self._key(shop), mapping={"avail": 0, "ts": time.time()})

    def bucket_size(self, shop: str) -> float:
        size = self._client.hget(self._key(shop), "max")
        return float(size) if size is not None else DEFAULT_BUCKET


class LocalThrottle:
    """The same estimate kept in this process only (single-process tools and unit tests)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._shops: dict[str, dict[str, float]] = {}

    def _state(self, shop: str) -> dict[str, float]:
        now = self._clock()
        state = self._shops.setdefault(
            shop,
            {
                "avail": DEFAULT_BUCKET,
                "max": DEFAULT_BUCKET,
                "rate": DEFAULT_RESTORE_RATE,
                "ts": now,
                "inflight": 0.0,
            },
        )
        state["avail"] = min(state["max"], state["avail"] + (now - state["ts"]) * state["rate"])
        state["ts"] = now
        return state

    def reserve(self, shop: str, cost: float) -> float:
        with self._lock:
            state = self._state(shop)
            cost = min(cost, state["max"])
            if state["avail"] >= cost:
                state["avail"] -= cost
                state["inflight"] += cost
                return 0.0
            return (cost - state["avail"]) / state["rate"]

    def settle(self, shop: str, reserved: float, status: ThrottleStatus | None) -> None:
        with self._lock:
            state = self._state(shop)
            state["inflight"] = max(0.0, state["inflight"] - reserved)
            if status is not None:
                state.update(
                    max=status.maximum_available,
                    rate=status.restore_rate,
                    avail=max(0.0, status.currently_available - state["inflight"]),
                )

    def drain(self, shop: str) -> None:
        with self._lock:
            self._state(shop)["avail"] = 0.0

    def bucket_size(self, shop: str) -> float:
        with self._lock:
            return self._state(shop)["max"]
