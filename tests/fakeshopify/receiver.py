"""A tiny webhook receiver for tests: records every request, answers scripted statuses.

with WebhookReceiver() as receiver:
    shop.subscribe("products/update", receiver.address("/hooks"))
    receiver.script("/hooks", [500, 200])     # then 200 for ever
    ...
    [hit] = receiver.wait_for(1)
    hit.headers["X-Shopify-Topic"], hit.body, hit.json()
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]  # as sent (case kept)
    body: bytes
    time: float

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        """A header by case-insensitive name."""
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


class WebhookReceiver:
    """A threaded HTTP server on ``host`` (port 0: a free one)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._lock = threading.Condition()
        self._requests: list[Received] = []
        self._scripts: dict[str, list[int]] = {}
        self._delays: dict[str, float] = {}
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                path = self.path.split("?", 1)[0]
                status, delay = owner._record(
                    Received("POST", path, dict(self.headers.items()), body, time.time())
                )
                if delay:
                    time.sleep(delay)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(
            target=self.server.serve_forever, args=(0.05,), name="webhook-receiver", daemon=True
        )
        self._thread.start()
        self.url = f"http://{host}:{self.server.server_port}"

    def address(self, path: str = "/webhooks") -> str:
        return f"{self.url}{path}"

    def script(self, path: str, statuses: list[int], delay: float = 0.0) -> None:
        """Answer the next requests to ``path`` with ``statuses`` in turn (then 200); wait
        ``delay`` seconds before each answer."""
        with self._lock:
            self._scripts[path] = list(statuses)
            self._delays[path] = delay

    def _record(self, received: Received) -> tuple[int, float]:
        with self._lock:
            self._requests.append(received)
            self._lock.notify_all()
            script = self._scripts.get(received.path)
            status = script.pop(0) if script else 200
            return status, self._delays.get(received.path, 0.0)

    @property
    def requests(self) -> list[Received]:
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        """The requests once there are at least ``count`` (TimeoutError otherwise)."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._requests) >= count, timeout):
                raise TimeoutError(f"{len(self._requests)} of {count} requests after {timeout} s")
            return list(self._requests)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> WebhookReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
