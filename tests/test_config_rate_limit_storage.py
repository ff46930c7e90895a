"""The rate limits' Redis storage: requests pass while Redis is down, and the log says so."""

from __future__ import annotations

import logging
import socket
import time
from typing import Any

import pytest
import redis

from config_db.rate_limit_storage import OutageGate
from tests.conftest import HEADERS

CLOSED_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1
WRONG = {"X-API-Key": "not-the-key"}


def _statuses(send: Any, times: int) -> list[int]:
    return [send().status_code for _ in range(times)]


def _records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "config_db.rate_limit_storage"]


def test_requests_pass_while_redis_is_down_and_the_log_says_so_once(
    limited_app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="config_db.rate_limit_storage")
    client = limited_app(redis_url=CLOSED_REDIS).test_client()
    # Given a limiter whose Redis refuses connections, When far more than TINY requests come
    reads = _statuses(lambda: client.get("/api/config/clients", headers=HEADERS), 8)
    writes = _statuses(lambda: client.delete("/api/config/clients/x", headers=HEADERS), 8)
    failures = _statuses(lambda: client.get("/api/config/clients", headers=WRONG), 8)
    # Then they are answered as without limits (no 429, no 500), and one warning says why
    assert (reads, writes, failures) == ([200] * 8, [404] * 8, [401] * 8)
    warnings = [r.getMessage() for r in _records(caplog) if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings[0].startswith("rate limits are off")


def test_a_redis_that_hangs_delays_one_request_by_about_a_second(limited_app: Any) -> None:
    # Given a "Redis" that takes connections and never answers
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        silent_url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        client = limited_app(redis_url=silent_url).test_client()
        # When requests come, Then the first waits for one timeout, the next ones not at all
        started = time.monotonic()
        assert _statuses(lambda: client.get("/api/config/clients", headers=HEADERS), 6) == [200] * 6
        assert time.monotonic() - started < 2.5


def test_the_outage_warning_comes_once_a_minute_and_recovery_is_noted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="config_db.rate_limit_storage")
    now = [1000.0]
    gate = OutageGate(clock=lambda: now[0])
    error = redis.ConnectionError("refused")
    # Given a failure: a warning, and Redis is not asked for a few seconds
    gate.failed(error)
    assert gate.skipping()
    now[0] += 6
    assert not gate.skipping()
    # When it keeps failing, Then the next warning waits for the minute to pass
    gate.failed(error)
    now[0] += 55
    gate.failed(error)
    assert [r.levelno for r in _records(caplog)] == [logging.WARNING] * 2
    # And when Redis answers again, that is said once, and a new outage warns at once
    gate.answered()
    gate.answered()
    gate.failed(error)
    assert [r.getMessage()[:22] for r in _records(caplog)] == [
        "rate limits are off: R", "rate limits are off: R", "rate limits are on aga",
        "rate limits are off: R"]  # fmt: skip
