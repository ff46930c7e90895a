"""Metrics over the real path: gunicorn with 2 workers and a `dramatiq` worker (2 processes)
scraped during and after a real sync of a small fake store."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis as redis_lib
from prometheus_client.parser import text_string_to_metric_families

from tests import servers
from tests.fakeshopify import FakeShopify, generate_store
from tests.harness import API_KEY, Stack, start_stack

pytestmark = pytest.mark.real
Samples = list[tuple[str, dict[str, str], float]]


class Scrape:
    """One scrape's samples, summed over the labels a check leaves open."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples: Samples = [
            (sample.name, sample.labels, sample.value)
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        ]

    def total(self, name: str, **labels: str) -> float:
        return sum(
            value
            for found, have, value in self.samples
            if found == name and all(have.get(key) == want for key, want in labels.items())
        )


def scrape(url: str) -> Scrape:
    answer = httpx.get(url, timeout=10)
    assert answer.status_code == 200, answer.text[:300]
    return Scrape(answer.text)


def wait_for(check: Callable[[], Scrape | None], timeout: float, what: str) -> Scrape:
    deadline = time.monotonic() + timeout
    while (found := check()) is None:
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)
    return found


def test_web_and_worker_endpoints_move_with_a_real_sync(
    fake: FakeShopify, log_dir: Path, mongo_uri: str, redis_url: str, real_mongo: Any
) -> None:
    port = servers.free_port()
    stack = start_stack(
        "metrics", log_dir, mongo_uri, redis_url.rsplit("/", 1)[0] + "/9", workers=0,
        SHOPSYNC_METRICS_PORT=str(port),
    )  # fmt: skip
    try:
        stack.add_worker(processes=2, threads=4)
        servers.wait_until(lambda: servers.port_open(port), 30, "the worker metrics port")
        _check(stack, fake, f"http://127.0.0.1:{port}/metrics")
    finally:
        stack.stop()


def _check(stack: Stack, fake: FakeShopify, worker_url: str) -> None:
    # Given a small store and both endpoints scraped before its sync
    shop = fake.add_shop("metered", data=generate_store(
        seed=5, products=30, big_product_variants=20, big_collection_members=20,
        big_discount_codes=20, files=2))  # fmt: skip
    shop.configure(bucket_max=2000, restore_rate=1000, webhooks_enabled=False)
    web_url = f"{stack.url}/metrics"
    worker_before, web_before = scrape(worker_url), scrape(web_url)
    # When its config is posted and its full sync runs
    job_id = stack.configure(shop)
    written = {"client_key": "metered", "resource": "products", "outcome": "upserted"}

    def documents_written() -> Scrape | None:
        found = scrape(worker_url)
        return found if found.total("shopsync_documents_total", **written) > 0 else None

    # Then during the sync the worker's documents already move...
    during = wait_for(documents_written, 120, "documents on the worker endpoint")
    job = stack.wait_job("metered", job_id)
    assert job["status"] == "completed", job
    worker = scrape(worker_url)
    assert worker.total("shopsync_documents_total", **written) >= max(
        30, during.total("shopsync_documents_total", **written)
    )
    _worker_counts_moved(worker_before, worker)
    # And every request is counted once, under its URL rule, whichever gunicorn worker took
    # it (a connection each: a kept-alive one would stay with one worker)
    for _ in range(20):
        assert httpx.get(f"{stack.url}/health", timeout=10).status_code == 200
    web = wait_for(lambda: _fresh(scrape(web_url)), 40, "the store's lag on /metrics")
    health = {"route": "/health", "method": "GET", "status": "200"}
    assert (
        web.total("shopsync_http_requests_total", **health)
        - web_before.total("shopsync_http_requests_total", **health)
        == 20
    )
    jobs_route = "/api/stores/<client_key>/sync/jobs/<job_id>"
    assert web.total("shopsync_http_requests_total", route=jobs_route) > 0
    assert job_id not in web.text and job_id not in worker.text
    # And no secret is in either scrape
    secrets = (shop.token, API_KEY, "test-secret-key", "app-client-secret")
    assert not [s for s in secrets if s and (s in web.text or s in worker.text)]


def _worker_counts_moved(before: Scrape, after: Scrape) -> None:
    """Dramatiq's own metrics and ours, from both worker processes, in one scrape."""
    store = {"client_key": "metered"}

    def moved(name: str, **labels: str) -> bool:
        return after.total(name, **labels) > before.total(name, **labels)

    assert moved("dramatiq_messages_total", actor_name="sync_resource")
    assert moved("shopsync_graphql_requests_total", **store, result="ok")
    assert moved("shopsync_graphql_points_total", **store)
    assert moved("shopsync_bulk_operations_total", **store, status="created")
    assert moved("shopsync_bulk_operations_total", **store, status="completed")
    assert moved("shopsync_sync_jobs_total", **store, mode="full", status="completed")
    assert moved("shopsync_sync_pass_duration_seconds_count", resource="products", mode="full")


def _fresh(web: Scrape) -> Scrape | None:
    """The scrape once it shows the synced store active with a finite lag (15 s cache)."""
    lags = [v for n, labels, v in web.samples if n == "shopsync_store_sync_lag_seconds"
            and labels["client_key"] == "metered"]  # fmt: skip
    active = web.total("shopsync_store_status", client_key="metered", status="active")
    return web if lags and not math.isinf(lags[0]) and lags[0] < 600 and active == 1 else None


def test_the_clock_serves_its_ticks_and_the_watchdogs_resends(
    fake: FakeShopify, log_dir: Path, mongo_uri: str, redis_url: str
) -> None:
    # Given a store whose config job is queued (no worker), and a clock serving its metrics
    port = servers.free_port()
    stack = start_stack("clockmetrics", log_dir, mongo_uri, redis_url.rsplit("/", 1)[0] + "/10",
                        workers=0)  # fmt: skip
    try:
        shop = fake.add_shop("clocked", data=generate_store(seed=6, products=3))
        shop.configure(webhooks_enabled=False)
        stack.configure(shop)
        stack.add_clock(SHOPSYNC_CLOCK_METRICS_PORT=str(port), SHOPSYNC_SCHEDULER_TICK_SECONDS="1")
        url = f"http://127.0.0.1:{port}/metrics"
        servers.wait_until(lambda: servers.port_open(port), 30, "the clock metrics port")
        # When Redis loses the job's message
        redis_lib.Redis.from_url(stack.env["REDIS_URL"]).flushdb()
        # Then the clock's endpoint shows it leading ticks and sending the job again
        resent = {"client_key": "clocked", "kind": "job"}

        def resend_seen() -> Scrape | None:
            found = scrape(url)
            return found if found.total("shopsync_watchdog_resends_total", **resent) >= 1 else None

        clock = wait_for(resend_seen, 60, "the watchdog's re-send on the clock endpoint")
        assert clock.total("shopsync_clock_ticks_total", outcome="led") >= 1
        assert clock.total("shopsync_clock_ticks_total", outcome="failed") == 0
        assert shop.token not in clock.text and API_KEY not in clock.text
    finally:
        stack.stop()
