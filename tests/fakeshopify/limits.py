"""Per-shop configuration, leaky-bucket cost limit, fault injection and request statistics."""

from __future__ import annotations

import copy
import random
import threading
import time
from dataclasses import dataclass, fields
from typing import Any


@dataclass
class ShopConfig:
    bucket_max: float = 1000.0
    restore_rate: float = 50.0
    error_rate: float = 0.0
    timeout_rate: float = 0.0
    timeout_seconds: float = 3.0
    latency_seconds: float = 0.0
    rate_429: float = 0.0
    retry_after: str = "2.0"
    cdn_error_rate: float = 0.0
    max_query_cost: float = 1000.0  # Shopify's single-query limit; raise it only for benchmarks
    webhooks_enabled: bool = True  # False: the mutation API queues no deliveries
    webhook_header_prefix: str = "X-Shopify-"  # or "Shopify-" (the newer names)
    webhook_retry_delays: str = "0.2,0.5,1"  # seconds before each retry; "" = no retries
    webhook_timeout_seconds: float = 5.0
    webhook_api_version: str = "2026-07"
    token_error_rate: float = 0.0  # the token endpoint answers 503 with this probability
    access_token_lifetime_seconds: float = 3600.0  # expiring access tokens
    client_credentials_lifetime_seconds: float = 86399.0
    refresh_token_lifetime_seconds: float = 7776000.0  # 90 days
    bulk_max_concurrent: int = 5  # bulk queries at once from API 2026-01 (older versions: 1)
    bulk_start_seconds: float = 0.05  # CREATED for this long, then RUNNING
    bulk_objects_per_second: float = 20000.0  # RUNNING lasts objects / this
    bulk_url_lifetime_seconds: float = 604800.0  # result URLs expire (7 days)
    bulk_access: bool = True  # False: bulk queries end FAILED / ACCESS_DENIED


HEADER_PREFIXES = ("X-Shopify-", "Shopify-")


def _coerce(name: str, default: Any, value: Any) -> Any:
    """``value`` as the type of the option's default (JSON and CLI friendly)."""
    if isinstance(default, bool):
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes", "on")
        return bool(value)
    if isinstance(default, str):
        if isinstance(value, list | tuple):
            value = ",".join(str(item) for item in value)
        value = str(value)
        if name == "webhook_header_prefix" and value not in HEADER_PREFIXES:
            raise ValueError(f"webhook_header_prefix must be one of {HEADER_PREFIXES}")
        if name == "webhook_retry_delays":
            from tests.fakeshopify.webhookdelivery import parse_delays

            parse_delays(value)
        return value
    if isinstance(default, int):
        return int(value)
    return float(value)


def _new_stats() -> dict[str, Any]:
    return {"requests": 0, "by_status": {}, "throttled": 0, "points_requested": 0,
            "points_actual": 0, "wrong_token": 0, "cdn_requests": 0, "log": []}  # fmt: skip


class Limits:
    """Mixin of :class:`FakeShop`: everything about limits, faults and stats."""

    lock: threading.RLock

    def _init_limits(self, name: str) -> None:
        self.config = ShopConfig()
        self._level = self.config.bucket_max
        self._stamp = time.monotonic()
        self._stats = _new_stats()
        self._faults = random.Random(f"faults:{name}")

    # ------------------------------------------------------------ configuration & stats
    def configure(self, **options: Any) -> None:
        known = {f.name for f in fields(ShopConfig)}
        unknown = set(options) - known
        if unknown:
            raise TypeError(f"unknown option(s): {sorted(unknown)}")
        defaults = ShopConfig()
        coerced = {key: _coerce(key, getattr(defaults, key), value)
                   for key, value in options.items()}  # fmt: skip
        with self.lock:
            self._refill()
            for key, value in coerced.items():
                setattr(self.config, key, value)
            if "bucket_max" in options:  # a resized bucket starts full
                self._level = self.config.bucket_max

    @property
    def stats(self) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self._stats)

    def reset_stats(self) -> None:
        with self.lock:
            self._stats = _new_stats()

    def record(self, operation: str | None, variables: Any, status: int, *, token_ok: bool = True,
               throttled: bool = False, requested: int = 0, actual: int = 0) -> None:  # fmt: skip
        with self.lock:
            stats = self._stats
            stats["requests"] += 1
            stats["by_status"][status] = stats["by_status"].get(status, 0) + 1
            stats["throttled"] += int(throttled)
            stats["wrong_token"] += int(not token_ok)
            stats["points_requested"] += requested
            stats["points_actual"] += actual
            stats["log"].append({"operation": operation, "variables": variables, "status": status,
                                 "throttled": throttled, "token_ok": token_ok,
                                 "requested": requested, "actual": actual,
                                 "time": time.time()})  # fmt: skip

    def count_cdn(self) -> None:
        with self.lock:
            self._stats["cdn_requests"] += 1

    def roll_fault(self) -> str | None:
        """'429', '502', 'timeout' or None, drawn with the configured probabilities."""
        with self.lock:
            cfg, draw = self.config, self._faults.random
            if cfg.rate_429 and draw() < cfg.rate_429:
                return "429"
            if cfg.error_rate and draw() < cfg.error_rate:
                return "502"
            if cfg.timeout_rate and draw() < cfg.timeout_rate:
                return "timeout"
            return None

    def roll_token_error(self) -> bool:
        with self.lock:
            rate = self.config.token_error_rate
            return bool(rate) and self._faults.random() < rate

    def roll_cdn_error(self) -> bool:
        with self.lock:
            rate = self.config.cdn_error_rate
            return bool(rate) and self._faults.random() < rate

    # ------------------------------------------------------------ leaky bucket
    def _refill(self) -> None:
        now = time.monotonic()
        gained = (now - self._stamp) * self.config.restore_rate
        self._level = min(self.config.bucket_max, self._level + gained)
        self._stamp = now

    def throttle_status(self) -> dict[str, Any]:
        with self.lock:
            self._refill()
            return {"maximumAvailable": float(self.config.bucket_max),
                    "currentlyAvailable": int(self._level),
                    "restoreRate": float(self.config.restore_rate)}  # fmt: skip

    def bucket_take(self, cost: int) -> bool:
        with self.lock:
            self._refill()
            if cost > self._level:
                return False
            self._level -= cost
            return True

    def bucket_refund(self, points: int) -> None:
        with self.lock:
            self._refill()
            self._level = min(self.config.bucket_max, self._level + points)
