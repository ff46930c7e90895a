"""Bulk query operations of one shop: one background thread per operation, faults, result files.

Mixin of :class:`FakeShop`. An operation is CREATED for ``bulk_start_seconds``, then RUNNING: it
executes its query on the shop's data as it is then (every connection unbounded), flattens the
answer to JSONL (:mod:`tests.fakeshopify.bulk`) and counts ``objectCount`` up at
``bulk_objects_per_second`` before it ends COMPLETED (or FAILED, CANCELED, EXPIRED). Result
files stay in memory (:class:`~tests.fakeshopify.bulkfiles.ResultFiles`), served by
:mod:`tests.fakeshopify.bulkfiles`.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from graphql import execute_sync

from tests.fakeshopify.bulk import Line, Plan, analyze, flatten, order
from tests.fakeshopify.bulkfiles import ResultFiles
from tests.fakeshopify.cdn import UNBOUND_BASE
from tests.fakeshopify.data import StoreData, now_iso
from tests.fakeshopify.pagination import UNBOUNDED
from tests.fakeshopify.webhookpayloads import bulk_finish, shop_zone

if TYPE_CHECKING:
    from tests.fakeshopify.limits import ShopConfig

ACTIVE = ("CREATED", "RUNNING", "CANCELING")
TERMINAL = ("COMPLETED", "FAILED", "CANCELED", "EXPIRED")
FAULT_CODES = ("INTERNAL_SERVER_ERROR", "TIMEOUT")
IN_PROGRESS = "A bulk query operation for this app and shop is already in progress: {}."
NO_OPERATION = "Bulk operation does not exist"
NOT_CANCELABLE = "A bulk operation cannot be canceled when it is {}"
BULK_2026_01 = "2026-01"  # from this version: 5 at once, groupObjects defaults to false
TICK = 0.02


@dataclass
class BulkRun:
    node: dict[str, Any]  # the BulkOperation, as GraphQL answers it
    plan: Plan
    grouped: bool
    fault: tuple[str, str | None, float]  # ("COMPLETED" | "FAILED" | "EXPIRED", code, fraction)
    wake: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None


class BulkOperations:
    """Mixin of :class:`FakeShop`: ``bulkOperationRunQuery`` and friends."""

    lock: threading.RLock
    config: ShopConfig
    name: str
    data: StoreData
    _base: str | None

    if TYPE_CHECKING:

        def _emit(self, topic: str, gid: str | None = None,
                  payload: dict[str, Any] | None = None) -> None: ...  # fmt: skip

    def _init_bulk(self) -> None:
        self._bulk: dict[str, BulkRun] = {}
        self._bulk_seq = 0
        self._bulk_fault: tuple[str, str | None, float] | None = None
        self.bulk_files = ResultFiles()
        self._bulk_stats = {
            "started": 0, "max_running": 0, "refused": 0, "downloads": 0, "bytes_served": 0,
        }  # fmt: skip
        self._bulk_stop = threading.Event()
        self._bulk_done = threading.Condition(self.lock)
        #: Wall clock of result URL expiry (assignable in tests).
        self.bulk_clock: Callable[[], float] = time.time

    # ------------------------------------------------------------ reads
    @property
    def bulk_operations(self) -> list[dict[str, Any]]:
        """Copies, oldest first: the GraphQL fields (counts as ints) plus ``groupObjects``."""
        with self.lock:
            return [self._public(run) for run in self._bulk.values()]

    @staticmethod
    def _public(run: BulkRun) -> dict[str, Any]:
        node = {key: value for key, value in run.node.items() if key != "__typename"}
        return {**node, "groupObjects": run.grouped}

    @property
    def bulk_stats(self) -> dict[str, int]:
        """``{"started", "max_running" (most CREATED/RUNNING at once), "downloads",
        "bytes_served"}``."""
        with self.lock:
            return dict(self._bulk_stats)

    def bulk_node(self, gid: str) -> dict[str, Any] | None:
        """A copy of the BulkOperation ``gid`` (None when unknown)."""
        with self.lock:
            run = self._bulk.get(gid)
            return copy.copy(run.node) if run else None

    def bulk_nodes(self) -> list[dict[str, Any]]:
        with self.lock:
            return [copy.copy(run.node) for run in self._bulk.values()]

    def wait_bulk(self, gid: str, timeout: float = 10.0) -> dict[str, Any]:
        """Wait until ``gid`` is COMPLETED, FAILED, CANCELED or EXPIRED; answers it (as in
        :attr:`bulk_operations`).
        Raises KeyError for an unknown id, TimeoutError when it is still going."""
        with self._bulk_done:
            run = self._bulk.get(gid)
            if run is None:
                raise KeyError(f"no bulk operation {gid!r}")
            if not self._bulk_done.wait_for(lambda: run.node["status"] in TERMINAL, timeout):
                raise TimeoutError(f"bulk operation {gid} is still {run.node['status']}")
            return self._public(run)

    # ------------------------------------------------------------ starting and stopping
    def start_bulk(
        self, query: str, group_objects: bool | None = None, version: str = "2026-07"
    ) -> tuple[dict[str, Any] | None, list[Any]]:
        """``bulkOperationRunQuery``: ``(operation, [])`` or ``(None, userErrors)``."""
        from tests.fakeshopify.wiring import load_schema

        plan, message = analyze(load_schema(version), query)
        if plan is None:
            return None, [{"field": ["query"], "message": message, "code": "INVALID"}]
        with self.lock:
            self._bulk_stop.clear()  # stop_bulk() ended the older threads
            active = [run for run in self._bulk.values() if run.node["status"] in ACTIVE]
            limit = self.config.bulk_max_concurrent if version >= BULK_2026_01 else 1
            if len(active) >= limit:
                self._bulk_stats["refused"] += 1
                message = IN_PROGRESS.format(active[-1].node["id"])
                return None, [{"field": None, "message": message, "code": "OPERATION_IN_PROGRESS"}]
            self._bulk_seq += 1
            gid = f"gid://shopify/BulkOperation/{1_300_000_000 + self._bulk_seq}"
            node = {"__typename": "BulkOperation", "id": gid, "status": "CREATED",
                    "errorCode": None, "createdAt": now_iso(), "completedAt": None,
                    "objectCount": 0, "rootObjectCount": 0, "fileSize": None, "url": None,
                    "partialDataUrl": None, "query": query, "type": "QUERY"}  # fmt: skip
            grouped = version < BULK_2026_01 if group_objects is None else bool(group_objects)
            fault, self._bulk_fault = self._bulk_fault or ("COMPLETED", None, 1.0), None
            run = BulkRun(node, plan, grouped, fault)
            self._bulk[gid] = run
            stats = self._bulk_stats
            stats["started"] += 1
            running = sum(1 for r in self._bulk.values() if r.node["status"] in ACTIVE[:2])
            stats["max_running"] = max(stats["max_running"], running)
            run.thread = threading.Thread(
                target=self._bulk_main,
                args=(run,),
                daemon=True,
                name=f"fakeshopify-bulk-{self.name}-{self._bulk_seq}",
            )
            run.thread.start()
            return copy.copy(node), []

    def run_bulk(self, query: str, group_objects: bool | None = None,
                 version: str = "2026-07") -> str:  # fmt: skip
        """Start a bulk query from Python; answers its id (ValueError with the userErrors)."""
        node, errors = self.start_bulk(query, group_objects, version)
        if node is None:
            raise ValueError(errors[0]["message"])
        return str(node["id"])

    def request_cancel(self, gid: str) -> str | None:
        """``bulkOperationCancel``: CANCELING now, CANCELED soon; answers a userErrors message."""
        with self.lock:
            run = self._bulk.get(gid)
            if run is None:
                return NO_OPERATION
            status = run.node["status"]
            if status not in ("CREATED", "RUNNING"):
                return NOT_CANCELABLE.format(status.lower())
            run.node["status"] = "CANCELING"
        run.wake.set()
        return None

    def cancel_bulk(self, gid: str) -> None:
        """Someone else cancels ``gid`` (KeyError: unknown; ValueError: already finished)."""
        message = self.request_cancel(gid)
        if message == NO_OPERATION:
            raise KeyError(f"no bulk operation {gid!r}")
        if message:
            raise ValueError(message)

    def fail_next_bulk(self, error_code: str = "INTERNAL_SERVER_ERROR", fraction: float = 0.5
                       ) -> None:  # fmt: skip
        """The next operation ends FAILED with ``error_code`` and a ``partialDataUrl`` holding
        its first ``fraction`` of the lines."""
        if error_code not in FAULT_CODES or not 0.0 <= float(fraction) <= 1.0:
            raise ValueError(f"error_code one of {FAULT_CODES}, fraction in [0, 1]")
        with self.lock:
            self._bulk_fault = ("FAILED", error_code, float(fraction))

    def expire_next_bulk(self) -> None:
        """The next operation ends EXPIRED (no url)."""
        with self.lock:
            self._bulk_fault = ("EXPIRED", None, 1.0)

    def stop_bulk(self) -> None:
        """End the operations' threads (they stay in their current status)."""
        self._bulk_stop.set()
        with self.lock:
            runs = list(self._bulk.values())
        for run in runs:
            run.wake.set()
        for run in runs:
            if run.thread is not None and run.thread is not threading.current_thread():
                run.thread.join(timeout=5)

    # ------------------------------------------------------------ result files
    def count_bulk(self, downloads: int = 0, sent: int = 0) -> None:
        with self.lock:
            self._bulk_stats["downloads"] += downloads
            self._bulk_stats["bytes_served"] += sent

    def _store(self, name: str, data: bytes) -> str:
        """Keep ``data`` as ``name``; answers its signed URL (call under the lock)."""
        expires = int(self.bulk_clock() + self.config.bulk_url_lifetime_seconds)
        return self.bulk_files.store(self._base or UNBOUND_BASE, self.name, name, data, expires)

    # ------------------------------------------------------------ the operation's thread
    def _sleep(self, run: BulkRun, seconds: float) -> bool:
        """Wait (woken early by a cancel); False when the shop is stopping."""
        if seconds > 0 and not run.wake.is_set():
            run.wake.wait(seconds)
        return not self._bulk_stop.is_set()

    def _canceled(self, run: BulkRun) -> bool:
        """If a cancel was asked for: CANCELED (after a moment in CANCELING); answers that."""
        with self.lock:
            if run.node["status"] != "CANCELING":
                return False
        if not self._bulk_stop.wait(TICK):
            self._finish(run, "CANCELED")
        return True

    def _bulk_main(self, run: BulkRun) -> None:
        try:
            if not self._sleep(run, self.config.bulk_start_seconds) or self._canceled(run):
                return
            with self.lock:
                run.node["status"] = "RUNNING"
                if not self.config.bulk_access:
                    self._finish(run, "FAILED", "ACCESS_DENIED")
                    return
            lines, error = self._execute(run)
            if lines is None:
                self._finish(run, "FAILED", error)
            else:
                self._progress(run, lines)
        except Exception:  # pragma: no cover - a bug in the fake ends the operation
            self._finish(run, "FAILED", "INTERNAL_SERVER_ERROR")
            raise

    def _execute(self, run: BulkRun) -> tuple[list[Line] | None, str | None]:
        """The query's lines, taken from the data as it is now (or None and an error code)."""
        token = UNBOUNDED.set(True)
        try:
            # Shopify exports in the background: the shop's API keeps answering meanwhile, so
            # the export reads without the shop's lock (a large one takes seconds) and reads
            # again under it only if a change raced the read.
            result = execute_sync(run.plan.schema, run.plan.document, context_value=self)
            if result.errors and not _denied(result.errors):
                with self.lock:  # e.g. a dict changed size while it was read
                    result = execute_sync(run.plan.schema, run.plan.document, context_value=self)
        finally:
            UNBOUNDED.reset(token)
        if result.errors:
            return None, "ACCESS_DENIED" if _denied(result.errors) else "INTERNAL_SERVER_ERROR"
        return order(flatten(result.data, run.plan.shape), run.grouped), None

    def _progress(self, run: BulkRun, lines: list[Line]) -> None:
        status, code, fraction = run.fault
        target = len(lines) if status != "FAILED" else int(len(lines) * fraction)
        roots = [0]
        for _line, is_root in lines:
            roots.append(roots[-1] + is_root)
        start = time.monotonic()
        while True:
            rate = max(float(self.config.bulk_objects_per_second), 1e-6)
            done = min(target, int((time.monotonic() - start) * rate))
            with self.lock:
                run.node["objectCount"], run.node["rootObjectCount"] = done, roots[done]
            if self._canceled(run):
                return
            if done >= target:
                break
            if not self._sleep(run, min(TICK, (target - done) / rate)):
                return
        data = b"".join(line for line, _ in lines[:target])
        number = run.node["id"].rsplit("/", 1)[-1]
        with self.lock:
            if status == "FAILED" and data:
                run.node["partialDataUrl"] = self._store(f"{number}-partial.jsonl", data)
            elif status == "COMPLETED" and data:
                run.node["url"] = self._store(f"{number}.jsonl", data)
                run.node["fileSize"] = len(data)
            self._finish(run, status, code)

    def _finish(self, run: BulkRun, status: str, code: str | None = None) -> None:
        """The terminal status; bulk_operations/finish to its subscribers."""
        with self._bulk_done:
            node = run.node
            node["status"], node["errorCode"], node["completedAt"] = status, code, now_iso()
            self._emit("bulk_operations/finish", payload=bulk_finish(node["id"], shop_zone(self),
                                                                     node))  # fmt: skip
            self._bulk_done.notify_all()


def _denied(errors: list[Any]) -> bool:
    return any((error.extensions or {}).get("code") == "ACCESS_DENIED" for error in errors)
