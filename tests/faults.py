"""A shopsync stack with its own Redis and SecantusDB to break (tests and bench/recovery)."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis as redis_lib
from pymongo import MongoClient

from tests import servers
from tests.fakeshopify import FakeShopify, generate_store
from tests.harness import Stack, start_stack

HEARTBEAT_SECONDS = 10.0
# Production defaults otherwise: Dramatiq's maintenance chance, the 90 s lease, the 120 s
# slice, the clock's 15 s tick; only the heartbeat timeout is shortened.
FAULT_ENV = {
    "SHOPSYNC_WORKER_HEARTBEAT_TIMEOUT_SECONDS": str(HEARTBEAT_SECONDS),
    "SHOPSYNC_SYNC_LEASE_SECONDS": "90",
}
# These faults are timed by pages written: the paged path. The bulk path has its own
# (tests/test_sync_bulk_recovery.py).
PAGED_FAULT_ENV = {**FAULT_ENV, "SHOPSYNC_SYNC_PATH": "paged"}


@dataclass
class Faults:
    """A stack with its own Redis (AOF on disk) and SecantusDB (on disk) to break."""

    stack: Stack
    mongo: servers.Service
    redis: servers.Service
    redis_dir: Path

    def db(self) -> MongoClient[dict[str, Any]]:
        return MongoClient(f"mongodb://127.0.0.1:{self.mongo.port}", tz_aware=True,
                           serverSelectionTimeoutMS=20000)  # fmt: skip

    def redis_client(self) -> redis_lib.Redis:
        return redis_lib.Redis(port=self.redis.port or 0)

    def job(self, key: str, job_id: str) -> dict[str, Any]:
        """The job record straight from MongoDB (the web may be cut off from it)."""
        with self.db() as client:
            found: dict[str, Any] = client[key]["_syncjobs"].find_one({"_id": job_id}) or {}
        return found

    def pages(self, key: str, job_id: str) -> int:
        resources = self.job(key, job_id)["resources"].values()
        return sum(int(item.get("pages", 0)) for item in resources)

    def wait_pages(self, key: str, job_id: str, above: int, timeout: float) -> float:
        """Seconds until the job has written more than `above` pages."""
        began = time.monotonic()
        while self.pages(key, job_id) <= above:
            assert time.monotonic() - began < timeout, f"no progress past {above} pages"
            time.sleep(0.2)
        return time.monotonic() - began

    def wait_done(self, key: str, job_id: str, timeout: float = 240) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while (job := self.job(key, job_id)).get("status") not in ("completed", "failed"):
            assert time.monotonic() < deadline, (job, self.stack.logs()[-6000:])
            time.sleep(0.3)
        return job

    def begin(self, fake: FakeShopify, name: str, seed: int, workers: int = 1,
              products: int = 50) -> tuple[Any, str]:  # fmt: skip
        """A slow store's first sync under way on `workers` new workers: (shop, job id)."""
        shop = slow_store(fake, name, seed=seed, products=products)
        for _ in range(workers):
            self.stack.add_worker(threads=4)
        job_id = self.stack.configure(shop)
        self.wait_pages(name, job_id, above=2, timeout=120)
        return shop, job_id

    def stop_workers(self) -> None:
        """Stop every worker (the clock keeps running)."""
        for worker in [item for item in self.stack.workers if "worker" in item.name]:
            worker.stop()
            self.stack.workers.remove(worker)

    def stop(self) -> None:
        self.stack.stop()
        self.redis.stop()
        self.mongo.stop()

    def leftover_keys(self) -> list[bytes]:
        client = self.redis_client()
        return [*client.keys("shopsync:lock:*"), *client.keys("shopsync:run:*")]


def start_faults(log_dir: Path, work_dir: Path, env: dict[str, str] | None = None) -> Faults:
    """Its own SecantusDB and Redis on disk, a web process and a clock; no worker yet."""
    mongo_dir, redis_dir = work_dir / "mongo", work_dir / "redis"
    mongo_dir.mkdir(parents=True, exist_ok=True)
    redis_dir.mkdir(parents=True, exist_ok=True)
    mongo = servers.secantus(log_dir, storage=str(mongo_dir)).start()
    redis_port = servers.free_port()
    redis_argv = [shutil.which("redis-server") or "redis-server", "--bind", "127.0.0.1",
                  "--port", str(redis_port), "--dir", str(redis_dir), "--save", "",
                  "--appendonly", "yes", "--appendfsync", "always"]  # fmt: skip
    redis = servers.Service("faults-redis", redis_argv, log_dir, port=redis_port).start()
    stack = start_stack(
        "faults", log_dir, f"mongodb://127.0.0.1:{mongo.port}",
        f"redis://127.0.0.1:{redis_port}/0", workers=0, **(env or PAGED_FAULT_ENV),
    )  # fmt: skip
    stack.add_clock()
    return Faults(stack, mongo, redis, redis_dir)


def slow_store(fake: FakeShopify, name: str, seed: int, products: int = 50) -> Any:
    """A store whose sync takes a while: a budget of 100 points a second."""
    shop = fake.add_shop(name, data=generate_store(seed=seed, products=products, files=4))
    shop.configure(bucket_max=1000, restore_rate=100)
    return shop


