"""The sync engine on its worst days: killed workers, Redis and MongoDB restarts, huge files."""

from __future__ import annotations

import shutil
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import psutil
import pytest
import redis as redis_lib
from pymongo import MongoClient

from sync.jobs import utcnow
from tests import servers
from tests.exact_copy import assert_exact_copy
from tests.fakeshopify import FakeShopify, generate_store
from tests.harness import Stack, start_stack

pytestmark = pytest.mark.real
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def stack(log_dir: Path, mongo_uri: str, redis_url: str) -> Iterator[Stack]:
    stack = start_stack(
        "recovery", log_dir, mongo_uri, redis_url.rsplit("/", 1)[0] + "/2", workers=0
    )
    yield stack
    stack.stop()


HEARTBEAT_SECONDS = 10.0
# Production defaults otherwise: Dramatiq's maintenance chance, the 90 s lease, the 120 s
# slice, the clock's 15 s tick; only the heartbeat timeout is shortened.
FAULT_ENV = {
    "SHOPSYNC_WORKER_HEARTBEAT_TIMEOUT_SECONDS": str(HEARTBEAT_SECONDS),
    "SHOPSYNC_SYNC_LEASE_SECONDS": "90",
}


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

    def leftover_keys(self) -> list[bytes]:
        client = self.redis_client()
        return [*client.keys("shopsync:lock:*"), *client.keys("shopsync:run:*")]


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory, log_dir: Path) -> Iterator[Faults]:
    mongo_dir, redis_dir = tmp_path_factory.mktemp("mongo"), tmp_path_factory.mktemp("redis")
    mongo = servers.secantus(log_dir, storage=str(mongo_dir)).start()
    redis_port = servers.free_port()
    redis_argv = [shutil.which("redis-server") or "redis-server", "--bind", "127.0.0.1",
                  "--port", str(redis_port), "--dir", str(redis_dir), "--save", "",
                  "--appendonly", "yes", "--appendfsync", "always"]  # fmt: skip
    redis = servers.Service("faults-redis", redis_argv, log_dir, port=redis_port).start()
    stack = start_stack(
        "faults", log_dir, f"mongodb://127.0.0.1:{mongo.port}",
        f"redis://127.0.0.1:{redis_port}/0", workers=0, **FAULT_ENV,
    )  # fmt: skip
    stack.add_clock()
    yield Faults(stack, mongo, redis, redis_dir)
    stack.stop()
    redis.stop()
    mongo.stop()


def _slow_store(fake: FakeShopify, name: str, seed: int, products: int = 80) -> Any:
    """A store whose sync takes a while: a budget of 100 points a second."""
    shop = fake.add_shop(name, data=generate_store(seed=seed, products=products, files=4))
    shop.configure(bucket_max=1000, restore_rate=100)
    return shop


def _assert_exact(faults: Faults, key: str, shop: Any, job: dict[str, Any]) -> None:
    assert job["status"] == "completed", job
    with faults.db() as client:
        store_db = client[key]
        assert_exact_copy(store_db, shop)
        # Counters are the documents written: no page counted twice or lost
        products = job["resources"]["products"]
        count = len(shop.snapshot("products"))
        assert (products["seen"], products["upserted"], products["skipped"]) == (count, count, 0)
    assert faults.leftover_keys() == []  # nothing left locked


def test_worker_killed_mid_sync_resumes_within_the_heartbeat_and_a_minute(
    fake: FakeShopify, faults: Faults
) -> None:
    # Given a sync under way on a worker
    shop = _slow_store(fake, "killed", seed=11)
    worker = faults.stack.add_worker(threads=4)
    job_id = faults.stack.configure(shop)
    faults.wait_pages("killed", job_id, above=2, timeout=60)
    # When the worker is killed with SIGKILL mid-slice and a new one started
    worker.signal(signal.SIGKILL)
    worker.process.wait(10)  # type: ignore[union-attr]
    faults.stack.workers.remove(worker)
    at_kill = faults.pages("killed", job_id)
    replacement = faults.stack.add_worker(threads=4)
    # Then work resumes within the heartbeat timeout + 60 s (the clock requeues the messages)
    resumed = faults.wait_pages("killed", job_id, above=at_kill, timeout=HEARTBEAT_SECONDS + 60)
    # and the job ends with an exact copy, from its checkpoints
    _assert_exact(faults, "killed", shop, faults.wait_done("killed", job_id))
    print(f"resumed {resumed:.1f} s after the new worker started")
    replacement.stop()
    faults.stack.workers.remove(replacement)


@pytest.mark.parametrize("keep_data", [True, False], ids=["with-data", "empty"])
def test_redis_restarted_mid_sync_ends_exact_with_nothing_locked(
    fake: FakeShopify, faults: Faults, keep_data: bool
) -> None:
    key = f"redis-{'kept' if keep_data else 'empty'}"
    shop = _slow_store(fake, key, seed=21 if keep_data else 22)
    worker = faults.stack.add_worker(threads=4)
    job_id = faults.stack.configure(shop)
    faults.wait_pages(key, job_id, above=2, timeout=60)
    # When Redis stops for 10 s and comes back with its data, or with nothing at all
    faults.redis.stop()
    time.sleep(10)
    if not keep_data:
        shutil.rmtree(faults.redis_dir)
        faults.redis_dir.mkdir()
    faults.redis.start()
    # Then the job ends exact within a bounded time and no lock is left behind
    _assert_exact(faults, key, shop, faults.wait_done(key, job_id, timeout=180))
    worker.stop()
    faults.stack.workers.remove(worker)


def test_a_worker_stopped_with_sigterm_hands_its_slice_over_at_once(
    fake: FakeShopify, faults: Faults
) -> None:
    # Given a sync under way on two workers
    shop = _slow_store(fake, "termed", seed=31)
    first = faults.stack.add_worker(threads=4)
    second = faults.stack.add_worker(threads=4)
    job_id = faults.stack.configure(shop)
    faults.wait_pages("termed", job_id, above=2, timeout=60)
    # When one of them gets SIGTERM (a deploy), mid-slice
    first.signal(signal.SIGTERM)
    stopped = time.monotonic()
    first.process.wait(10)  # type: ignore[union-attr]
    exited = time.monotonic() - stopped
    faults.stack.workers.remove(first)
    # Then it checkpointed and left inside the shutdown timeout, and the other worker went
    # on with no gap longer than a few seconds (not a heartbeat timeout)
    longest, last_pages, last_change = 0.0, faults.pages("termed", job_id), time.monotonic()
    while (job := faults.job("termed", job_id))["status"] not in ("completed", "failed"):
        pages = sum(int(item.get("pages", 0)) for item in job["resources"].values())
        if pages != last_pages:
            longest = max(longest, time.monotonic() - last_change)
            last_pages, last_change = pages, time.monotonic()
        assert time.monotonic() - last_change < 60, job
        time.sleep(0.1)
    print(f"SIGTERM: exited after {exited:.1f} s, longest gap {longest:.1f} s")
    assert exited < 5, exited
    assert longest < 7, longest
    _assert_exact(faults, "termed", shop, job)
    second.stop()
    faults.stack.workers.remove(second)


def test_mongodb_killed_mid_sync_leaves_true_counters_and_no_orphan_files(
    fake: FakeShopify, faults: Faults
) -> None:
    from sync.recovery.orphans import sweep_orphans

    shop = _slow_store(fake, "mongokill", seed=41)
    worker = faults.stack.add_worker(threads=4)
    job_id = faults.stack.configure(shop)
    faults.wait_pages("mongokill", job_id, above=2, timeout=60)
    # When MongoDB is killed with SIGKILL mid-sync and restarted on its data
    faults.mongo.signal(signal.SIGKILL)
    faults.mongo.process.wait(10)  # type: ignore[union-attr]
    faults.mongo.start()
    job = faults.wait_done("mongokill", job_id)
    # Then the copy is exact, the counters true, and after the sweep no file is an orphan
    _assert_exact(faults, "mongokill", shop, job)
    with faults.db() as client:
        store_db = client["mongokill"]
        sweep_orphans(store_db, utcnow() + timedelta(seconds=1), grace_seconds=0)
        referenced = set(store_db.media.distinct("gridfsId"))
        files = {doc["_id"] for doc in store_db["mediafiles.files"].find({}, {"_id": 1})}
        assert files == referenced - {None}
        assert_exact_copy(store_db, shop)
    worker.stop()
    faults.stack.workers.remove(worker)


def _rss(process: psutil.Process) -> int:
    """Resident memory of a process and its children (the worker processes)."""
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def test_a_20mb_file_is_streamed_within_a_fixed_memory_bound(
    fake: FakeShopify, stack: Stack, real_mongo: MongoClient[dict[str, Any]]
) -> None:
    worker = stack.add_worker(threads=2)
    small = fake.add_shop("warmup", data=generate_store(seed=12, products=5, files=2))
    small.configure(bucket_max=2000, restore_rate=1000)
    assert stack.wait_job("warmup", stack.configure(small))["status"] == "completed"
    # Given a store whose Files library holds a 20 MB file
    shop = fake.add_shop(
        "bigfile", data=generate_store(seed=13, products=5, files=2, large_file_bytes=20 * MIB)
    )
    shop.configure(bucket_max=2000, restore_rate=1000)
    process = psutil.Process(worker.process.pid)  # type: ignore[union-attr]
    baseline, peak, stop = _rss(process), [0], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _rss(process))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        job = stack.wait_job("bigfile", stack.configure(shop))
    finally:
        stop.set()
        sampler.join()
    # Then the bytes arrived whole and the worker never held the file in memory
    assert job["status"] == "completed", job
    assert_exact_copy(real_mongo["bigfile"], shop)
    largest = real_mongo["bigfile"].media.find_one(sort=[("size", -1)])
    assert largest["size"] == 20 * MIB
    assert peak[0] - baseline < 12 * MIB, (baseline // MIB, peak[0] // MIB)
