"""A circuit breaker per store, shared by every process through Redis.

Failures of one store's calls (5xx, timeouts, connection errors) in a row, within a window,
open its breaker: its calls stop for a cool-down, doubled on each trip in a row up to a cap,
instead of every message burning its retries; other stores are not affected. Any answer
starts the count again, so a busy store with scattered errors never trips. The first call
after the cool-down is the probe: a success closes the breaker, a failure opens it again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis

from config_db.settings import Settings
from sync.errors import StoreCircuitOpen

log = logging.getLogger(__name__)
PREFIX = "shopsync:breaker:"
# The breaker's state on the client document (appconfig), for operators.
OnChange = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class Probe:
    """What check() saw: a breaker that tripped before (probing), failures being counted."""

    probing: bool = False
    failing: bool = False


NO_PROBE = Probe()


class CircuitBreaker:
    """check() before a call, failure() after a transient failure, success() after an answer."""

    def __init__(
        self, client: redis.Redis, settings: Settings, on_change: OnChange | None = None
    ) -> None:
        self._redis = client
        self._threshold = settings.breaker_failures
        self._window = settings.breaker_window_seconds
        self._cooldown = settings.breaker_cooldown_seconds
        self._cap = settings.breaker_max_cooldown_seconds
        self._on_change = on_change

    def check(self, client_key: str) -> Probe:
        """Raise StoreCircuitOpen while open; else what success() must reset afterwards."""
        reopen_at, trips, failures = self._redis.mget(
            _key(client_key, "open"), _key(client_key, "trips"), _key(client_key, "failures")
        )
        if reopen_at is not None and float(reopen_at) > time.time():
            raise StoreCircuitOpen(
                f"{client_key}: circuit breaker open until {_iso(float(reopen_at))} after "
                "repeated failures (5xx, timeouts or connection errors)",
                float(reopen_at),
            )
        return Probe(probing=trips is not None, failing=failures is not None)

    def failure(self, client_key: str, probe: Probe = NO_PROBE) -> None:
        """Count a failure; open the breaker (raising StoreCircuitOpen) past the threshold.

        A failed probe (the first calls after a cool-down) opens it again at once.
        """
        if probe.probing:
            self._trip(client_key, 1)
        key = _key(client_key, "failures")
        pipe = self._redis.pipeline()
        pipe.incr(key)
        pipe.expire(key, int(self._window) + 1, nx=True)
        count = int(pipe.execute()[0])
        if count >= self._threshold:
            self._trip(client_key, count)

    def success(self, client_key: str, probe: Probe) -> None:
        """An answer came: the count starts again; after a trip this closes the breaker.

        Costs a Redis call only when there is something to reset.
        """
        if probe.failing and not probe.probing:
            self._redis.delete(_key(client_key, "failures"))
        if not probe.probing:
            return
        removed = self._redis.delete(
            _key(client_key, "trips"), _key(client_key, "failures"), _key(client_key, "open")
        )
        if removed:
            log.info("%s: circuit breaker closed", client_key)
            self._notify(client_key, {"state": "closed", "closedAt": datetime.now(UTC)})

    def _trip(self, client_key: str, failures: int) -> None:
        trips = int(self._redis.incr(_key(client_key, "trips")))
        cooldown = min(self._cap, self._cooldown * 2 ** (trips - 1))
        reopen_at = time.time() + cooldown
        pipe = self._redis.pipeline()
        pipe.set(_key(client_key, "open"), repr(reopen_at), px=int(cooldown * 1000))
        # Forgotten a while after the last trip: the next bad spell starts at the base again.
        pipe.expire(_key(client_key, "trips"), int(cooldown + self._cap + self._window))
        pipe.delete(_key(client_key, "failures"))
        pipe.execute()
        log.warning(
            "%s: circuit breaker open for %.0f s (trip %d, %d failures)",
            client_key, cooldown, trips, failures,
        )  # fmt: skip
        self._notify(
            client_key,
            {
                "state": "open",
                "openedAt": datetime.now(UTC),
                "reopenAt": datetime.fromtimestamp(reopen_at, UTC),
                "trips": trips,
            },
        )
        raise StoreCircuitOpen(
            f"{client_key}: circuit breaker opened until {_iso(reopen_at)} after {failures} "
            "failures (5xx, timeouts or connection errors)",
            reopen_at,
        )

    def _notify(self, client_key: str, state: dict[str, Any]) -> None:
        if self._on_change is None:
            return
        try:
            self._on_change(client_key, state)
        except Exception as error:  # noqa: BLE001 - the breaker works without the record
            log.warning("%s: breaker state not recorded: %s", client_key, type(error).__name__)


def _key(client_key: str, part: str) -> str:
    return f"{PREFIX}{client_key}:{part}"


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
