"""Webhook storm reliability: a thousand deliveries (85% good, 10% duplicates, 5% forged,
10% out of order) against gunicorn + a Dramatiq worker on Redis and SecantusDB, repeated.

Each run must end with every good delivery logged once and applied, no forgery logged, and
the products equal Shopify's; the table shows how long answering and applying took. The test
suite runs the same scenario with 300 deliveries (`tests/test_webhooks_e2e.py`).

    python -m bench.webhook_storm [--deliveries 1000] [--runs 3]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from pymongo import MongoClient

from tests import servers
from tests.fakeshopify import FakeShopify, generate_store
from tests.harness import start_stack
from tests.storm import StormResult, storm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deliveries", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    fake = FakeShopify(client_secret="app-client-secret")
    with tempfile.TemporaryDirectory() as tmp, fake:
        fake.serve()
        logs = Path(tmp)
        mongo, redis = servers.secantus(logs).start(), servers.redis_server(logs).start()
        stack = start_stack("storm", logs, f"mongodb://127.0.0.1:{mongo.port}",
                            f"redis://127.0.0.1:{redis.port}/0", threads=8)  # fmt: skip
        results: list[StormResult] = []
        try:
            uri = f"mongodb://127.0.0.1:{mongo.port}"
            client: MongoClient[dict[str, object]] = MongoClient(uri, tz_aware=True)
            for run in range(args.runs):
                name = f"storm{run}"
                shop = fake.add_shop(name, data=generate_store(seed=21 + run, products=60))
                shop.configure(bucket_max=2000, restore_rate=5000)
                assert stack.wait_job(name, stack.configure(shop))["status"] == "completed"
                results.append(storm(shop, stack, client[name], args.deliveries, 3600))
                print(f"run {run + 1}: {results[-1]}", flush=True)
        finally:
            stack.stop()
            redis.stop()
            mongo.stop()
    print("\n| run | deliveries | good | duplicates | forged | all answered | all applied "
          "| applied/s | exact |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for run, result in enumerate(results, 1):
        rate = result.good / result.apply_seconds
        print(f"| {run} | {result.deliveries} | {result.good} | {result.duplicates} | "
              f"{result.forged} | {result.answer_seconds:.1f} s | {result.apply_seconds:.1f} s | "
              f"{rate:.1f} | yes |")  # fmt: skip


if __name__ == "__main__":
    main()
