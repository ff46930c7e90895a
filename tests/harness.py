"""Running shopsync for real in tests: gunicorn + Dramatiq workers on Redis and SecantusDB."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests import servers

API_KEY = "test-api-key-0123456789"
# Short leases, timeouts and backoff so fault and kill tests take seconds, not minutes.
FAST_ENV = {
    "SHOPSYNC_WORKER_HEARTBEAT_TIMEOUT_SECONDS": "5",
    "SHOPSYNC_SYNC_LEASE_SECONDS": "8",
    "SHOPSYNC_SHOPIFY_READ_TIMEOUT_SECONDS": "2",
    "SHOPSYNC_SHOPIFY_CONNECT_TIMEOUT_SECONDS": "2",
    "SHOPSYNC_BACKOFF_CAP_SECONDS": "1",
    "SHOPSYNC_SHOPIFY_MAX_ATTEMPTS": "12",
}


@dataclass
class Stack:
    """One web process and its workers, sharing a Redis database and the MongoDB server."""

    name: str
    log_dir: Path
    env: dict[str, str]
    web: servers.Service
    workers: list[servers.Service] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web.port}"

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"X-API-Key": API_KEY}, timeout=30)

    def add_worker(self, *, processes: int = 1, threads: int = 4, **env: str) -> servers.Service:
        worker = servers.dramatiq_worker(
            self.log_dir,
            {**self.env, **env},
            processes=processes,
            threads=threads,
            name=f"{self.name}-worker{len(self.workers)}",
        )
        worker.start(ready=lambda: worker.log().count("is ready for action") >= processes)
        self.workers.append(worker)
        return worker

    def configure(self, shop: Any, client_key: str | None = None, **extra: Any) -> str:
        """POST the store's config (loopback URLs to the fake shop); returns the job id."""
        payload = {
            "clientKey": client_key or shop.name,
            "clientName": f"{shop.name} store",
            "apiBaseUrl": shop.admin_base_url,
            "adminApiBaseUrl": shop.admin_base_url,
            "shopDomain": shop.shop_domain,
            "adminShopToken": shop.token,
            **extra,
        }
        with self.http() as http:
            answer = http.post("/api/config/sync", json=payload)
        assert answer.status_code == 202, answer.text
        return str(answer.json()["syncJobId"])

    def start_sync(self, client_key: str, mode: str = "incremental") -> str:
        with self.http() as http:
            answer = http.post(f"/api/stores/{client_key}/sync", json={"mode": mode})
        assert answer.status_code == 202, answer.text
        return str(answer.json()["syncJobId"])

    def job(self, client_key: str, job_id: str) -> dict[str, Any]:
        with self.http() as http:
            found: dict[str, Any] = http.get(f"/api/stores/{client_key}/sync/jobs/{job_id}").json()
        return found

    def wait_job(self, client_key: str, job_id: str, timeout: float = 180) -> dict[str, Any]:
        """Wait until the job has ended; fail with the worker logs when it takes too long."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(client_key, job_id)
            if job["status"] in ("completed", "failed"):
                return job
            if time.monotonic() > deadline:
                logs = "\n".join(worker.log()[-4000:] for worker in self.workers)
                raise AssertionError(f"job {job_id} still {job['status']}: {job}\n{logs}")
            time.sleep(0.2)

    @contextmanager
    def worker_with(self, **env: str) -> Iterator[None]:
        """For the block, the stack's workers are replaced by one with `env` (8 threads)."""
        previous = [worker for worker in self.workers if "worker" in worker.name]
        for worker in previous:
            worker.stop()
            self.workers.remove(worker)
        added = self.add_worker(threads=8, **env)  # type: ignore[arg-type]
        try:
            yield
        finally:
            added.stop()
            self.workers.remove(added)
            for _ in previous:
                self.add_worker(threads=8)

    def add_clock(self, **env: str) -> servers.Service:
        clock = servers.clock(self.log_dir, {**self.env, **env}, name=f"{self.name}-clock")
        clock.start(ready=lambda: "clock started" in clock.log())
        self.workers.append(clock)
        return clock

    def logs(self) -> str:
        """Every process's log; JSON lines also decoded, so an escaped secret is found too."""
        return readable(self.web.log() + "".join(worker.log() for worker in self.workers))

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.web.stop()


def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON objects of a log, one a line (fails on a line that is not one)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def readable(text: str) -> str:
    """A log's text, plus the decoded values of the lines that are JSON objects."""
    decoded = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                decoded.extend(str(value) for value in json.loads(line).values())
            except ValueError:
                continue
    return text + "\n".join(decoded)


def start_stack(
    name: str,
    log_dir: Path,
    mongo_uri: str,
    redis_url: str,
    *,
    workers: int = 1,
    threads: int = 4,
    **env: str,
) -> Stack:
    """A web process plus `workers` worker processes, with FAST_ENV and `env`.

    SHOPSYNC_PUBLIC_URL is the web process's own address, so webhooks reach it.
    """
    port = servers.free_port()
    full_env = {
        "SHOPSYNC_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "MONGODB_URI": mongo_uri,
        "REDIS_URL": redis_url,
        "SHOPSYNC_API_KEY": API_KEY,
        "SHOPSYNC_SECRET_KEY": "test-secret-key",
        "SHOPSYNC_ENV": "development",
        "SHOPIFY_CLIENT_SECRET": "app-client-secret",
        # Each stack its own metrics folders (stacks run side by side), no worker endpoint
        # unless a test asks for one on a free port.
        "SHOPSYNC_METRICS_DIR": str(log_dir / f"{name}-metrics"),
        "SHOPSYNC_METRICS_PORT": "0",
        "SHOPSYNC_CLOCK_METRICS_PORT": "0",
        **FAST_ENV,
        **env,
    }
    web = servers.gunicorn(log_dir, full_env, name=f"{name}-web", port=port).start()
    stack = Stack(name, log_dir, full_env, web)
    for _ in range(workers):
        stack.add_worker(threads=threads)
    return stack
