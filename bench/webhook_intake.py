"""Webhook intake under load: deliveries/s accepted and latency, unique and 50% duplicates.

    python -m bench.webhook_intake [--deliveries 40000] [--seconds 10] [--threads 16]

Starts SecantusDB, Redis and gunicorn (2 workers, as the Procfile) on free ports, registers
one store, then replays pre-signed deliveries with wrk (a Python asyncio client when wrk is
missing) on the same 2-core machine. CPU columns split the work between our web workers and
the database server.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil

from tests import servers
from tests.harness import API_KEY

SECRET = "bench-client-secret"
SHOP = "benchstore.myshopify.com"
Request = tuple[bytes, dict[str, str]]
SEPARATOR = b"\n@@@@@@\n"  # bench/webhook_wrk.lua splits the request file on it


def signed(topic: str, number: int) -> Request:
    """One delivery as Shopify sends it: REST-shaped body, HMAC over the raw bytes."""
    body = json.dumps(
        {
            "id": number,
            "admin_graphql_api_id": f"gid://shopify/Product/{number}",
            "title": f"Product {number}",
            "updated_at": "2026-11-22T10:00:00-05:00",
            "variants": [{"id": number * 10 + i, "price": "19.99"} for i in range(3)],
        }
    ).encode()
    digest = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    return body, {
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": digest,
        "X-Shopify-Shop-Domain": SHOP,
        "X-Shopify-API-Version": "2026-07",
        "X-Shopify-Webhook-Id": str(uuid.uuid4()),
        "X-Shopify-Event-Id": str(uuid.uuid4()),
        "Content-Type": "application/json",
        "X-Shopify-Triggered-At": "2026-11-22T15:00:00.000Z",
    }


def with_duplicates(fresh: list[Request]) -> list[Request]:
    """Every delivery sent twice, the copy one step later: half the requests are duplicates."""
    mixed: list[Request] = []
    for index, item in enumerate(fresh):
        mixed.append(item)
        if index:
            mixed.append(fresh[index - 1])
    return mixed


def cpu_seconds(service: servers.Service) -> float:
    """User + system CPU of a service's process tree so far."""
    assert service.process is not None
    root = psutil.Process(service.process.pid)
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def raw_request(port: int, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [
        "POST /webhooks/shopify HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        f"Content-Length: {len(body)}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def run_wrk(port: int, requests: list[Request], seconds: int, connections: int) -> dict[str, Any]:
    """wrk replays the requests (a C load generator leaves the CPU to the server)."""
    with tempfile.NamedTemporaryFile(delete=False, suffix=".bin") as file:
        for body, headers in requests:
            file.write(raw_request(port, body, headers) + SEPARATOR)
    script = Path(__file__).with_name("webhook_wrk.lua")
    output = subprocess.run(
        [
            "wrk",
            "-t",
            "2",
            "-c",
            str(connections),
            "-d",
            f"{seconds}s",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}",
            "--",
            file.name,
            "2",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return result


async def fire(url: str, requests: list[Request], concurrency: int) -> dict[str, Any]:
    """The fallback load generator: Python asyncio, `concurrency` requests in flight."""
    latencies: list[float] = []
    failures = 0
    queue: asyncio.Queue[Request] = asyncio.Queue()
    for item in requests:
        queue.put_nowait(item)

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal failures
        while not queue.empty():
            body, headers = queue.get_nowait()
            began = time.perf_counter()
            answer = await client.post(url, content=body, headers=headers)
            latencies.append(time.perf_counter() - began)
            failures += answer.status_code != 200

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        wall = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "requests": len(latencies),
        "seconds": wall,
        "errors": 0,
        "non2xx": failures,
        "p50_us": statistics.median(ordered) * 1e6,
        "p99_us": ordered[int(0.99 * (len(ordered) - 1))] * 1e6,
    }


def measured(
    web: servers.Service, mongo: servers.Service, run: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """Run a load and add the CPU the web workers and the database spent meanwhile."""
    web_before, db_before = cpu_seconds(web), cpu_seconds(mongo)
    result = run()
    result["web_cpu"] = cpu_seconds(web) - web_before
    result["db_cpu"] = cpu_seconds(mongo) - db_before
    return result


def table_row(label: str, result: dict[str, Any]) -> str:
    count = max(result["requests"], 1)
    return (
        f"| {label} | {result['requests'] / result['seconds']:,.0f} | "
        f"{result['p50_us'] / 1000:.1f} | {result['p99_us'] / 1000:.1f} | "
        f"{result['web_cpu'] / count * 1000:.2f} | {result['db_cpu'] / count * 1000:.2f} | "
        f"{result['requests']} | errors {result['errors']}, non-2xx {result['non2xx']} |"
    )


def runs(args: argparse.Namespace, web: servers.Service, mongo: servers.Service) -> list[str]:
    """Unique and 50%-duplicate deliveries at 8 and at `--concurrency` connections."""
    hook = f"http://127.0.0.1:{web.port}/webhooks/shopify"
    unique = [signed("products/update", n) for n in range(args.deliveries)]
    fresh = [signed("products/update", n) for n in range(args.deliveries // 2)]
    rows = []
    for connections in (8, args.concurrency):
        for name, batch in (("all new events", unique), ("50% duplicates", with_duplicates(fresh))):
            if shutil.which("wrk"):

                def load(b: list[Request] = batch, c: int = connections) -> dict[str, Any]:
                    return run_wrk(web.port, b, args.seconds, c)
            else:

                def load(b: list[Request] = batch, c: int = connections) -> dict[str, Any]:
                    return asyncio.run(fire(hook, b[:3000], c))

            rows.append(table_row(f"{name}, {connections} connections", measured(web, mongo, load)))
        unique, fresh = unique[::-1], fresh[::-1]  # the next runs send events not seen yet
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=40000, help="distinct deliveries")
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--threads", type=int, default=16, help="gunicorn threads per worker")
    args = parser.parse_args()
    log_dir = Path(tempfile.mkdtemp(prefix="bench-webhooks-"))
    mongo = servers.secantus(log_dir).start()
    redis_server = servers.redis_server(log_dir).start()
    env = {
        "MONGODB_URI": f"mongodb://127.0.0.1:{mongo.port}",
        "REDIS_URL": f"redis://127.0.0.1:{redis_server.port}/0",
        "SHOPSYNC_API_KEY": API_KEY,
        "SHOPSYNC_SECRET_KEY": "bench",
        "SHOPIFY_CLIENT_SECRET": SECRET,
    }
    web = servers.gunicorn(log_dir, env, workers=2, name="web", threads=args.threads).start()
    try:
        httpx.post(
            f"http://127.0.0.1:{web.port}/api/config/sync",
            timeout=30,
            headers={"X-API-Key": API_KEY},
            json={
                "clientKey": "benchstore",
                "shopDomain": SHOP,
                "adminApiBaseUrl": "http://127.0.0.1:9/shops/bench",
                "adminShopToken": "shpat_bench",
            },
        ).raise_for_status()
        warmup = [signed("products/update", n) for n in range(300)]
        asyncio.run(fire(f"http://127.0.0.1:{web.port}/webhooks/shopify", warmup, 16))
        rows = runs(args, web, mongo)
    finally:
        web.stop()
        mongo.stop()
        redis_server.stop()
    tool = f"wrk, {args.seconds} s a run" if shutil.which("wrk") else "Python asyncio client"
    print(f"gunicorn 2 workers x {args.threads} threads, SecantusDB and Redis; {tool}\n")
    print(
        "| run | deliveries/s | p50 ms | p99 ms | web CPU ms/delivery | "
        "SecantusDB CPU ms/delivery | requests | failures |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for line in rows:
        print(line)


if __name__ == "__main__":
    main()
