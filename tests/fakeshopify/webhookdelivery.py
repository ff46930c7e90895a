"""Signed webhook requests and the per-shop background sender with retries.

One :class:`Deliverer` per shop owns a daemon thread (started on first use) and a heap of due
deliveries. A delivery that fails (non-2xx, including 3xx: redirects are not followed; or a
connection error or timeout) is retried after each delay of its ``delays`` in turn, with the
same headers and body, then given up. Every attempt is recorded.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import itertools
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

USER_AGENT = "Shopify-Captain-Hook"

_client: httpx.Client | None = None
_client_lock = threading.Lock()


def http_client() -> httpx.Client:
    """One shared client: no keep-alive (no stale connections), no proxies from the env,
    certificates not verified (receivers are local test servers)."""
    global _client
    with _client_lock:
        if _client is None:
            _client = httpx.Client(
                limits=httpx.Limits(max_keepalive_connections=0),
                trust_env=False,
                verify=False,
                follow_redirects=False,
            )
        return _client


def parse_delays(text: str) -> tuple[float, ...]:
    """``"0.2,0.5,1"`` -> ``(0.2, 0.5, 1.0)``: the waits before each retry ("" = no retry)."""
    delays = tuple(float(part) for part in str(text).split(",") if part.strip())
    if any(delay < 0 for delay in delays):
        raise ValueError(f"negative retry delay in {text!r}")
    return delays


def sign(secret: str, body: bytes) -> str:
    """``base64(HMAC-SHA256(secret, body))``, the ``X-Shopify-Hmac-Sha256`` value."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def triggered_now() -> str:
    """``2026-07-01T12:34:56.123456Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def merge_headers(headers: dict[str, str], extra: dict[str, str | None] | None) -> None:
    """Override ``headers`` case-insensitively with ``extra``; a None value removes a header."""
    for name, value in (extra or {}).items():
        for existing in [key for key in headers if key.lower() == name.lower()]:
            del headers[existing]
        if value is not None:
            headers[name] = str(value)


@dataclass
class Delivery:
    """One webhook to one address; ``attempt`` counts the tries made so far."""

    topic: str
    url: str
    headers: dict[str, str]
    body: bytes
    webhook_id: str
    event_id: str
    delays: tuple[float, ...] = ()
    timeout: float = 5.0
    manual: bool = False
    attempt: int = 0


def send(delivery: Delivery) -> dict[str, Any]:
    """Make one attempt; returns its record (``status`` None and ``error`` set on failure)."""
    delivery.attempt += 1
    status: int | None = None
    error: str | None = None
    timeout = httpx.Timeout(delivery.timeout, connect=min(1.0, delivery.timeout))
    try:
        response = http_client().post(
            delivery.url, content=delivery.body, headers=delivery.headers, timeout=timeout
        )
        status = response.status_code
    except Exception as exc:  # any failure is a failed attempt, never a dead sender thread
        error = f"{type(exc).__name__}: {exc}"
    return {"topic": delivery.topic, "webhook_id": delivery.webhook_id,
            "event_id": delivery.event_id, "uri": delivery.url, "status": status,
            "attempt": delivery.attempt, "time": time.time(), "error": error,
            "manual": delivery.manual}  # fmt: skip


def ok(status: int | None) -> bool:
    return status is not None and 200 <= status < 300


class Deliverer:
    """The background sender of one shop."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Delivery]] = []
        self._order = itertools.count()
        self._in_flight = 0
        self._records: list[dict[str, Any]] = []
        self._thread: threading.Thread | None = None
        self._stopped = False

    # ------------------------------------------------------------ queue
    def enqueue(self, delivery: Delivery) -> None:
        with self._cond:
            if self._thread is None or not self._thread.is_alive():
                self._stopped = False
                self._thread = threading.Thread(
                    target=self._run, name=f"fakeshopify-webhooks-{self.name}", daemon=True
                )
                self._thread.start()
            heapq.heappush(self._heap, (time.monotonic(), next(self._order), delivery))
            self._cond.notify_all()

    def record(self, entry: dict[str, Any]) -> None:
        with self._cond:
            self._records.append(entry)

    @property
    def records(self) -> list[dict[str, Any]]:
        with self._cond:
            return [dict(entry) for entry in self._records]

    def clear_records(self) -> None:
        with self._cond:
            self._records.clear()

    def pending(self) -> int:
        """Deliveries queued or waiting for a retry, plus the one being sent."""
        with self._cond:
            return len(self._heap) + self._in_flight

    def wait(self, timeout: float = 10.0) -> None:
        with self._cond:
            idle = self._cond.wait_for(lambda: not self._heap and not self._in_flight, timeout)
            if not idle:
                raise TimeoutError(
                    f"{len(self._heap) + self._in_flight} webhook deliveries of shop "
                    f"{self.name!r} still pending after {timeout} s"
                )

    def stop(self) -> None:
        """Drop pending deliveries and end the thread (a later enqueue starts a new one)."""
        with self._cond:
            self._stopped = True
            self._heap.clear()
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)

    # ------------------------------------------------------------ thread
    def _next(self) -> Delivery | None:
        with self._cond:
            while not self._stopped:
                if self._heap:
                    wait = self._heap[0][0] - time.monotonic()
                    if wait <= 0:
                        self._in_flight += 1
                        return heapq.heappop(self._heap)[2]
                    self._cond.wait(wait)
                else:
                    self._cond.wait()
            return None

    def _run(self) -> None:
        while True:
            delivery = self._next()
            if delivery is None:
                return
            entry = send(delivery)
            with self._cond:
                self._records.append(entry)
                retry = not ok(entry["status"]) and delivery.attempt <= len(delivery.delays)
                if retry and not self._stopped:
                    due = time.monotonic() + delivery.delays[delivery.attempt - 1]
                    heapq.heappush(self._heap, (due, next(self._order), delivery))
                self._in_flight -= 1
                self._cond.notify_all()
