"""Flask-Limiter's Redis storage, failing open: while Redis is unreachable, requests pass.

Flask-Limiter either raises storage errors (a 500 on every request while Redis is down) or,
with `swallow_errors`, logs a traceback on every request. Failing open belongs at the storage
boundary instead: this storage answers "nothing counted yet" when Redis does not answer, stops
asking it for a few seconds (so a Redis that hangs costs one timeout, not one per request) and
says so in the log at most once a minute.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from limits.storage import RedisStorage

log = logging.getLogger(__name__)
T = TypeVar("T")

# `limits` finds a storage class by the scheme of its URI: ours is REDIS_URL with this prefix.
SCHEME_PREFIX = "shopsync+"
OUTAGE_WARNING_INTERVAL_SECONDS = 60.0  # one warning a minute while Redis stays away
OUTAGE_RETRY_SECONDS = 5.0  # after a failure, Redis is not asked again for this long


def storage_uri(redis_url: str) -> str:
    """The Flask-Limiter storage URI for REDIS_URL (redis://, rediss:// or unix://)."""
    return SCHEME_PREFIX + redis_url


class OutageGate:
    """Whether to ask Redis now; one warning a minute while it fails, one note when it is back."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._down = False
        self._retry_at = 0.0
        self._next_warning_at = 0.0

    def skipping(self) -> bool:
        """True for a few seconds after a failure: the limits are off, Redis is not asked."""
        return self._down and self._clock() < self._retry_at

    def failed(self, error: Exception) -> None:
        now = self._clock()
        with self._lock:
            self._down, self._retry_at = True, now + OUTAGE_RETRY_SECONDS
            if now < self._next_warning_at:
                return
            self._next_warning_at = now + OUTAGE_WARNING_INTERVAL_SECONDS
        # The error's class and text only: redis-py names the host, never the password.
        log.warning(
            "rate limits are off: Redis does not answer (%s: %s); requests pass until it does",
            type(error).__name__,
            error,
        )

    def answered(self) -> None:
        if not self._down:
            return
        with self._lock:
            was_down, self._down = self._down, False
            self._next_warning_at = 0.0
        if was_down:
            log.info("rate limits are on again: Redis answers")


class FailOpenRedisStorage(RedisStorage):
    """RedisStorage whose counters read as empty while Redis is unreachable.

    Covers the calls of the fixed-window strategy (`incr`, `get`, `get_expiry`), the one
    config_db/rate_limits.py uses.
    """

    STORAGE_SCHEME = [SCHEME_PREFIX + scheme for scheme in ("redis", "rediss", "unix")]

    def __init__(self, uri: str, **options: Any) -> None:
        super().__init__(uri.removeprefix(SCHEME_PREFIX), **options)
        self.gate = OutageGate()

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        return self._guarded(super().incr, 0, key, expiry, amount)

    def get(self, key: str) -> int:
        return self._guarded(super().get, 0, key)

    def get_expiry(self, key: str) -> float:
        return self._guarded(super().get_expiry, time.time(), key)

    def _guarded(self, call: Callable[..., T], open_value: T, *args: Any) -> T:
        """`call(*args)`, or `open_value` (a count of zero) when Redis does not answer."""
        if self.gate.skipping():
            return open_value
        try:
            result = call(*args)
        except self.base_exceptions as error:
            self.gate.failed(error)
            return open_value
        self.gate.answered()
        return result
