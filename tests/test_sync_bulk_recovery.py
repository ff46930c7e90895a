"""The bulk path when a worker dies: while Shopify runs the export, and in the middle of
reading it. The redelivered run adopts the same operation; no second export is started."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.exact_copy import assert_exact_copy
from tests.fakeshopify import FakeShopify, generate_store
from tests.faults import FAULT_ENV, HEARTBEAT_SECONDS, Faults, start_faults

# Timing-sensitive (kills, leases, token lifetimes, wake-ups): run alone, after the rest.
pytestmark = [pytest.mark.real, pytest.mark.serial]
BULK_ENV = {**FAULT_ENV, "SHOPSYNC_BULK_POLL_MAX_SECONDS": "2"}


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory, log_dir: Path) -> Iterator[Faults]:
    started = start_faults(log_dir, tmp_path_factory.mktemp("bulkfaults"), env=BULK_ENV)
    yield started
    started.stop()


def _products_ops(shop: Any) -> list[dict[str, Any]]:
    return [op for op in shop.bulk_operations if op["query"].startswith("{ products")]


def _wait(faults: Faults, what: str, condition: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _kill_worker(faults: Faults) -> None:
    worker = faults.stack.workers[-1]
    worker.signal(signal.SIGKILL)
    worker.process.wait(10)  # type: ignore[union-attr]
    faults.stack.workers.remove(worker)
    faults.stack.add_worker(threads=4)


def _assert_exact(faults: Faults, key: str, shop: Any, job: dict[str, Any]) -> None:
    assert job["status"] == "completed", job
    products = job["resources"]["products"]
    count = len(shop.snapshot("products"))
    # One export of the products, read to its last line, every product counted once
    assert len(_products_ops(shop)) == 1, _products_ops(shop)
    assert (products["path"], products["bulkStatus"]) == ("bulk", "COMPLETED"), products
    assert products["linesIngested"] == products["objectCount"], products
    assert (products["seen"], products["upserted"], products["skipped"]) == (count, count, 0)
    with faults.db() as client:
        assert_exact_copy(client[key], shop)


def _products_run(faults: Faults, key: str, job_id: str) -> dict[str, Any]:
    return dict(faults.job(key, job_id).get("resources", {}).get("products", {}))


def test_worker_killed_while_shopify_runs_the_export_adopts_it(
    fake: FakeShopify, faults: Faults
) -> None:
    # Given a store whose exports take Shopify tens of seconds
    shop = fake.add_shop("bulkwait", data=generate_store(seed=61, products=150, files=3))
    shop.configure(bulk_objects_per_second=40, webhooks_enabled=False)
    faults.stack.add_worker(threads=4)
    job_id = faults.stack.configure(shop)
    # When the worker is killed while the products export is RUNNING
    _wait(faults, "a running export",
          lambda: _products_run(faults, "bulkwait", job_id).get("bulkStatus") == "RUNNING")
    _kill_worker(faults)  # fmt: skip
    shop.configure(bulk_objects_per_second=20000)
    # Then the redelivered run adopts the same operation, and the copy is exact
    job = faults.wait_done("bulkwait", job_id, timeout=HEARTBEAT_SECONDS + 180)
    _assert_exact(faults, "bulkwait", shop, job)
    faults.stop_workers()


def test_worker_killed_mid_download_reads_the_same_export_again(
    fake: FakeShopify, faults: Faults
) -> None:
    # Given a store whose products export is several megabytes
    data = generate_store(seed=62, products=8000, files=2, product_media=(0,))
    shop = fake.add_shop("bulkread", data=data)
    shop.configure(webhooks_enabled=False)
    faults.stack.add_worker(threads=4)
    job_id = faults.stack.configure(shop)

    def reading() -> bool:
        ops = [op for op in _products_ops(shop) if op["status"] == "COMPLETED"]
        return bool(ops) and shop.bulk_stats["bytes_served"] > 0.2 * int(ops[0]["fileSize"])

    # When the worker is killed while it reads the products export
    _wait(faults, "the download", reading)
    assert _products_run(faults, "bulkread", job_id).get("status") == "running"
    _kill_worker(faults)
    # Then the new delivery reads that export again (from its last saved position), starts
    # no second one, and the copy is exact
    job = faults.wait_done("bulkread", job_id, timeout=HEARTBEAT_SECONDS + 240)
    _assert_exact(faults, "bulkread", shop, job)
    served = sum(int(op["fileSize"] or 0) for op in shop.bulk_operations)
    assert shop.bulk_stats["bytes_served"] > served  # part of it was read twice
    faults.stop_workers()
