"""The sync engine surviving its worst days: a worker killed mid-sync, and huge files."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from pymongo import MongoClient

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


def _pages(stack: Stack, key: str, job_id: str) -> int:
    return int(stack.job(key, job_id)["resources"]["products"]["pages"])


def test_worker_killed_mid_sync_and_restarted_finishes_an_exact_copy(
    fake: FakeShopify, stack: Stack, real_mongo: MongoClient[dict[str, Any]]
) -> None:
    # Given a sync under way on a worker (a budget of 200 points/s keeps it going a while)
    shop = fake.add_shop("killed", data=generate_store(seed=11, products=200))
    shop.configure(bucket_max=1000, restore_rate=200)
    worker = stack.add_worker(threads=4)
    job_id = stack.configure(shop)
    deadline = time.monotonic() + 60
    while _pages(stack, "killed", job_id) < 3:
        assert time.monotonic() < deadline, "the sync never got going"
        time.sleep(0.1)
    # When the worker is killed with SIGKILL, mid-page, and a new one started
    worker.signal(signal.SIGKILL)
    worker.process.wait(10)  # type: ignore[union-attr]
    stack.workers.remove(worker)
    assert stack.job("killed", job_id)["status"] == "running"
    stack.add_worker(threads=4)
    # Then the job completes with an exact copy and no duplicates
    job = stack.wait_job("killed", job_id, timeout=240)
    assert job["status"] == "completed", job
    store_db = real_mongo["killed"]
    assert_exact_copy(store_db, shop)
    assert store_db.products.count_documents({}) == len(shop.snapshot("products"))
    media_ids = [doc["_id"] for doc in store_db.media.find({}, {"_id": 1})]
    assert len(media_ids) == len(set(media_ids))
    # It resumed from its checkpoint: at most the page in flight was fetched again
    products = job["resources"]["products"]
    assert products["upserted"] == 200 and products["skipped"] <= 18, products


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
