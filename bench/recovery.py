"""Recovery: time from a fault to resumed work, and job time against an undisturbed run.

    python -m bench.recovery [--products 120] [--kill-runs 5]

Starts its own SecantusDB and Redis (on disk, AOF), fake Shopify, gunicorn, a clock and
Dramatiq workers (production defaults except a 10 s heartbeat timeout), syncs a store under a
budget of 100 points/s, and breaks one thing mid-sync per row. Prints a table.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.fakeshopify import FakeShopify
from tests.faults import HEARTBEAT_SECONDS, Faults, slow_store, start_faults

Fault = Callable[[Faults], None]


def kill_worker(faults: Faults) -> None:
    worker = faults.stack.workers[-1]
    worker.signal(signal.SIGKILL)
    worker.process.wait(10)  # type: ignore[union-attr]
    faults.stack.workers.remove(worker)
    faults.stack.add_worker(threads=4)


def term_worker(faults: Faults) -> None:
    """SIGTERM one of two workers (a deploy); the other goes on."""
    worker = faults.stack.workers[-1]
    worker.signal(signal.SIGTERM)
    worker.process.wait(30)  # type: ignore[union-attr]
    faults.stack.workers.remove(worker)


def restart_redis(empty: bool) -> Fault:
    def fault(faults: Faults) -> None:
        faults.redis.stop()
        time.sleep(10)
        if empty:
            shutil.rmtree(faults.redis_dir)
            faults.redis_dir.mkdir()
        faults.redis.start()

    return fault


def kill_mongo(faults: Faults) -> None:
    faults.mongo.signal(signal.SIGKILL)
    faults.mongo.process.wait(10)  # type: ignore[union-attr]
    faults.mongo.start()


def run(
    faults: Faults, fake: FakeShopify, name: str, products: int, fault: Fault | None, workers: int
) -> tuple[float | None, float, str]:
    """(seconds from the fault to the next page written, job seconds, job status)."""
    began = time.monotonic()
    resumed = None
    if fault is None:
        shop = slow_store(fake, name, seed=7, products=products)
        faults.stack.add_worker(threads=4)
        job_id = faults.stack.configure(shop)
    else:
        _, job_id = faults.begin(fake, name, seed=7, workers=workers, products=products)
        at = faults.pages(name, job_id)
        struck = time.monotonic()
        fault(faults)
        faults.wait_pages(name, job_id, above=at, timeout=600)
        resumed = time.monotonic() - struck
    job = faults.wait_done(name, job_id, timeout=900)
    total = time.monotonic() - began
    faults.stop_workers()
    return resumed, total, str(job.get("status"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--products", type=int, default=120)
    parser.add_argument("--kill-runs", type=int, default=5)
    args = parser.parse_args()
    # Deliveries are signed with the app secret the stack is configured with.
    fake = FakeShopify(client_secret="app-client-secret")
    with tempfile.TemporaryDirectory() as tmp, fake:
        fake.serve()
        logs = Path(tmp) / "logs"
        logs.mkdir()
        faults = start_faults(logs, Path(tmp) / "data")
        try:
            rows = _rows(faults, fake, args)
        finally:
            faults.stop()
    print(f"\nheartbeat timeout {HEARTBEAT_SECONDS:.0f} s, clock tick 15 s, slice 120 s, "
          f"lease 90 s; {args.products} products at 100 points/s\n")  # fmt: skip
    print("| fault | resumed after | job time | vs undisturbed | status |")
    print("|---|---|---|---|---|")
    baseline = rows[0][2]
    for label, resumed, total, status in rows:
        shown = "-" if resumed is None else f"{resumed:.1f} s"
        print(f"| {label} | {shown} | {total:.1f} s | {total / baseline:.2f}x | {status} |")


def _rows(
    faults: Faults, fake: FakeShopify, args: argparse.Namespace
) -> list[tuple[str, float | None, float, str]]:
    plan: list[tuple[str, Fault | None, int]] = [("none (undisturbed)", None, 1)]
    plan += [(f"worker SIGKILL, run {n + 1}", kill_worker, 1) for n in range(args.kill_runs)]
    plan += [
        ("worker SIGTERM (1 of 2)", term_worker, 2),
        ("Redis down 10 s, restarted with data", restart_redis(empty=False), 1),
        ("Redis down 10 s, restarted empty", restart_redis(empty=True), 1),
        ("MongoDB SIGKILL and restart", kill_mongo, 1),
    ]
    rows = []
    for number, (label, fault, workers) in enumerate(plan):
        resumed, total, status = run(faults, fake, f"bench{number}", args.products, fault, workers)
        rows.append((label, resumed, total, status))
        print(f"{label}: resumed {resumed}, total {total:.1f} s, {status}", flush=True)
    return rows


if __name__ == "__main__":
    main()
