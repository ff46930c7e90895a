"""Sync throughput: end-to-end rates, use of Shopify's point budget, our own overhead.

    python -m bench.sync_throughput [--products 500] [--throttled-products 150]

Starts its own SecantusDB, Redis, fake Shopify (a separate process), gunicorn and a Dramatiq
worker; prints a table. SecantusDB is far slower than MongoDB, so the end-to-end rows are a
floor; the overhead row excludes MongoDB and HTTP time and is the part that is ours.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from pymongo import MongoClient, monitoring

from tests import servers
from tests.harness import Stack, start_stack


def fake_shop(
    port: int, name: str, products: int, bucket: float, rate: float
) -> subprocess.Popen[str]:
    """The fake Shopify in its own process, so its CPU is not ours."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.fakeshopify",
            "--port",
            str(port),
            "--shop",
            f"{name}:shpat_{name}",
            "--products",
            str(products),
            "--bucket-max",
            str(bucket),
            "--restore-rate",
            str(rate),
        ],
        cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    process.stdout.readline()
    return process


class Shop:
    """Enough of FakeShop for Stack.configure, and the control API for stats."""

    def __init__(self, port: int, name: str) -> None:
        self.name, self.token = name, f"shpat_{name}"
        self.admin_base_url = f"http://127.0.0.1:{port}/shops/{name}"
        self.shop_domain = f"{name}.myshopify.com"
        self.control = f"http://127.0.0.1:{port}/_control/shops/{name}"

    def stats(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.control}/stats", timeout=30).json())


def end_to_end(stack: Stack, products: int, throttled: bool) -> dict[str, Any]:
    name = "throttled" if throttled else "open"
    port = servers.free_port()
    bucket, rate = (1000.0, 50.0) if throttled else (1e9, 1e9)
    process = fake_shop(port, name, products, bucket, rate)
    shop = Shop(port, name)
    try:
        started = time.monotonic()
        job = stack.wait_job(name, stack.configure(shop), timeout=3600)
        elapsed = time.monotonic() - started
        stats = shop.stats()
    finally:
        process.terminate()
    assert job["status"] == "completed", job
    docs = sum(r["seen"] for r in job["resources"].values()) + sum(
        r.get("mediaUpserted", 0) for r in job["resources"].values()
    )
    times = [entry["time"] for entry in stats["log"]]
    window = max(times) - min(times)
    return {
        "job": job,
        "elapsed": elapsed,
        "docs": docs,
        "stats": stats,
        "window": window,
        "bucket": bucket,
        "rate": rate,
    }


class MongoTimer(monitoring.CommandListener):
    def __init__(self) -> None:
        self.seconds = 0.0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self.seconds += event.duration_micros / 1e6

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self.seconds += event.duration_micros / 1e6


def own_overhead(mongo_uri: str, redis_url: str, products: int) -> dict[str, float]:
    """One thread runs a whole sync in this process; MongoDB and HTTP time are subtracted."""
    from config_db.models import parse_client_config
    from config_db.mongo import MongoConnection
    from config_db.settings import Settings
    from sync.orchestration.launcher import SyncLauncher
    from sync.orchestration.runner import Outcome, run_resource, start_job
    from sync.runtime import build_services

    timer = MongoTimer()
    settings = Settings(
        mongodb_uri=mongo_uri,
        redis_url=redis_url,
        api_key="bench",
        secret_key="bench",
        media_concurrency=1,
        sync_slice_seconds=3600,
    )
    connection = MongoConnection(
        settings, client=MongoClient(mongo_uri, tz_aware=True, event_listeners=[timer])
    )
    services = build_services(settings, connection)
    port = servers.free_port()
    process = fake_shop(port, "overhead", products, 1e9, 1e9)
    shop = Shop(port, "overhead")
    try:
        services.repository.save_client(
            parse_client_config(
                {
                    "clientKey": "overhead",
                    "adminApiBaseUrl": shop.admin_base_url,
                    "shopDomain": shop.shop_domain,
                    "adminShopToken": shop.token,
                },
                env="development",
                db_prefix="",
            )
        )
        services.databases.ensure("overhead")
        queue: list[tuple[str, ...]] = []
        launcher = SyncLauncher(
            services.databases, lambda k, j: queue.append(("job", k, j)), services.coordinator
        )
        launcher.start("overhead", "full", "bench")
        http_timer = _time_http(services.http)
        timer.seconds = 0.0
        started = time.perf_counter()
        while queue:
            item = queue.pop(0)
            if item[0] == "job":
                start_job(
                    services, item[1], item[2], lambda k, j, r: queue.append(("res", k, j, r))
                )
            elif run_resource(services, item[1], item[2], item[3]) is not Outcome.DONE:
                queue.append(item)
        wall = time.perf_counter() - started
        job = services.databases.get("overhead")["_syncjobs"].find_one()
    finally:
        process.terminate()
        connection.close()
    docs = sum(r["seen"] for r in job["resources"].values()) + sum(
        r.get("mediaUpserted", 0) for r in job["resources"].values()
    )
    own = wall - timer.seconds - http_timer[0]
    return {"wall": wall, "mongo": timer.seconds, "http": http_timer[0], "own": own, "docs": docs}


def _time_http(http: httpx.Client) -> list[float]:
    """Total seconds spent inside HTTP requests (Shopify API and CDN), from the transport."""
    spent = [0.0]
    transport = http._transport  # noqa: SLF001 - wrap the transport to time every request
    original = transport.handle_request

    def timed(request: httpx.Request) -> httpx.Response:
        began = time.perf_counter()
        response = original(request)
        response.read()
        spent[0] += time.perf_counter() - began
        return response

    transport.handle_request = timed  # type: ignore[method-assign]
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=500)
    parser.add_argument("--throttled-products", type=int, default=150)
    parser.add_argument("--overhead-products", type=int, default=300)
    args = parser.parse_args()
    log_dir = Path(tempfile.mkdtemp(prefix="bench-"))
    mongo = servers.secantus(log_dir).start()
    redis_server = servers.redis_server(log_dir).start()
    mongo_uri = f"mongodb://127.0.0.1:{mongo.port}"
    redis_url = f"redis://127.0.0.1:{redis_server.port}/0"
    stack = start_stack(
        "bench",
        log_dir,
        mongo_uri,
        redis_url,
        threads=8,
        SHOPSYNC_SHOPIFY_READ_TIMEOUT_SECONDS="30",
    )
    try:
        open_run = end_to_end(stack, args.products, throttled=False)
        throttled = end_to_end(stack, args.throttled_products, throttled=True)
        overhead = own_overhead(
            mongo_uri, f"redis://127.0.0.1:{redis_server.port}/1", args.overhead_products
        )
    finally:
        stack.stop()
        mongo.stop()
        redis_server.stop()
    print_table(args, open_run, throttled, overhead)


def print_table(
    args: Any, open_run: dict[str, Any], throttled: dict[str, Any], overhead: dict[str, float]
) -> None:
    products = open_run["job"]["resources"]["products"]["seen"]
    points = throttled["stats"]["points_actual"]
    budget = throttled["rate"] * throttled["window"]
    after_bucket = (points - throttled["bucket"]) / budget
    rows = [
        (
            "products/s end-to-end, throttling off",
            f"{products / open_run['elapsed']:.1f}",
            f"{products} products in {open_run['elapsed']:.1f} s",
        ),
        (
            "docs/s end-to-end, throttling off",
            f"{open_run['docs'] / open_run['elapsed']:.1f}",
            f"{open_run['docs']} documents (all resources + product media)",
        ),
        (
            "point budget used, throttling on",
            f"{points / budget:.0%}",
            f"{points} points / (50/s x {throttled['window']:.1f} s); goal >= 90%",
        ),
        (
            "  the same, initial full bucket excluded",
            f"{after_bucket:.0%}",
            f"({points} - 1000) / (50/s x {throttled['window']:.1f} s)",
        ),
        (
            "  THROTTLED answers",
            str(throttled["stats"]["throttled"]),
            f"of {throttled['stats']['requests']} requests",
        ),
        (
            "own overhead per document (no MongoDB, no HTTP)",
            f"{overhead['own'] / overhead['docs'] * 1000:.2f} ms",
            f"{overhead['docs']} docs: wall {overhead['wall']:.1f} s = MongoDB "
            f"{overhead['mongo']:.1f} s + HTTP {overhead['http']:.1f} s"
            f" + ours {overhead['own']:.1f} s",
        ),
    ]
    print("| measure | value | detail |\n|---|---|---|")
    for row in rows:
        print(f"| {row[0]} | {row[1]} | {row[2]} |")


if __name__ == "__main__":
    main()
