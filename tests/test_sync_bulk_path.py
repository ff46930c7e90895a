"""sync.bulk.path: what follows each way an operation can end, and when a pass goes bulk."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import mongomock
import pytest

from sync.bulk.operations import Operation
from sync.bulk.path import _after, choose
from sync.bulk.runtime import BulkRuntime, BulkSpec
from tests.conftest import make_settings

NOW = datetime(2026, 12, 7, tzinfo=UTC)
SPEC = BulkSpec(root="products", fields="id", count_root="productsCount")


class _NoSlots:
    def free_bulk_slot(self, *_args: Any) -> None:
        pass


def _ctx(denied: dict[str, Any] | None = None, mode: str = "full", **settings: Any) -> Any:
    noted: list[dict[str, Any]] = []
    runtime = BulkRuntime(http=None, coordinator=_NoSlots(), slots=5, denied=denied,  # type: ignore[arg-type]
                          note_client=noted.append)  # fmt: skip
    store_db = mongomock.MongoClient().store
    return SimpleNamespace(
        settings=make_settings(**settings), bulk=runtime, facts={}, mode=mode, noted=noted,
        totals={}, counts={},
        now=lambda: NOW, run_id="job:products", resource="products",
        store=SimpleNamespace(client_key="k", shop_domain="k.myshopify.com"),
        collection=lambda name: store_db[name], search_filter=lambda: "updated_at:>='x'",
        query=lambda query, variables: {"productsCount": {"count": 7}},
    )  # fmt: skip


def _op(status: str, code: str | None = None, url: str | None = None,
        partial: str | None = None) -> Operation:  # fmt: skip
    return Operation(id="gid://shopify/BulkOperation/1", status=status, error_code=code,
                     url=url, partial_data_url=partial)  # fmt: skip


def test_a_completed_export_is_ingested_and_an_empty_one_goes_to_the_refetch_stage() -> None:
    ctx = _ctx()
    assert _after(ctx, {}, _op("COMPLETED", url="u"))["stage"] == "ingest"
    assert _after(ctx, {}, _op("COMPLETED"))["stage"] == "refetch"


def test_a_completed_export_without_url_but_with_objects_is_run_again() -> None:
    lost = Operation(id="gid://shopify/BulkOperation/1", status="COMPLETED", object_count=5)
    assert _after(_ctx(), {}, lost) == {"stage": "start", "reruns": 1}


def test_reading_the_same_export_again_keeps_its_place_and_a_new_one_starts_at_zero() -> None:
    read = {"stage": "running", "ingestOf": "gid://shopify/BulkOperation/1", "offset": 900,
            "lines": 7}  # fmt: skip
    again = _after(_ctx(), read, _op("COMPLETED", url="u"))
    assert (again["offset"], again["lines"]) == (900, 7)
    other = Operation(id="gid://shopify/BulkOperation/2", status="COMPLETED", url="u")
    assert (_after(_ctx(), read, other)["offset"], _after(_ctx(), read, other)["lines"]) == (0, 0)


def test_a_rerun_after_lines_were_read_counts_the_objects_once() -> None:
    ctx = _ctx()
    ctx.totals, ctx.counts = {"seen": 40, "upserted": 40, "points": 9}, {"seen": 2}
    _after(ctx, {"lines": 120}, _op("EXPIRED"))
    assert ctx.totals == {"seen": 0, "upserted": 0, "skipped": 0, "refetched": 0, "points": 9}
    assert "seen" not in ctx.counts


def test_a_completed_export_clears_an_earlier_denial() -> None:
    ctx = _ctx(denied={"fallbackReason": "denied", "retryAt": NOW - timedelta(hours=1)})
    _after(ctx, {}, _op("COMPLETED", url="u"))
    assert ctx.noted == [{"bulkFallback": None}]


@pytest.mark.parametrize("code", ["INTERNAL_SERVER_ERROR", "TIMEOUT"])
def test_a_failed_export_ingests_its_partial_data_then_goes_paged(code: str) -> None:
    state = _after(_ctx(), {}, _op("FAILED", code, partial="p"))
    assert (state["stage"], state["partial"], state["then"]) == ("ingest", True, "paged")
    assert "url" not in state  # a signed link to the export never goes into the job
    assert code in state["reason"] and "partial data ingested" in state["reason"]
    without = _after(_ctx(), {}, _op("FAILED", code))
    assert without["stage"] == "paged" and code in without["reason"]


def test_access_denied_sends_the_shop_paged_until_the_retry_time() -> None:
    ctx = _ctx()
    state = _after(ctx, {}, _op("FAILED", "ACCESS_DENIED"))
    assert state["stage"] == "paged" and "ACCESS_DENIED" in ctx.facts["fallbackReason"]
    [noted] = ctx.noted
    assert noted["bulkFallback"]["retryAt"] == NOW + timedelta(days=1)


@pytest.mark.parametrize(("status", "reruns"), [("EXPIRED", 3), ("CANCELED", 1)])
def test_expired_and_canceled_exports_run_again_a_bounded_number_of_times(
    status: str, reruns: int
) -> None:
    state: dict[str, Any] = {}
    for attempt in range(1, reruns + 1):
        state = _after(_ctx(), state, _op(status))
        assert state == {"stage": "start", "reruns": attempt}
    final = _after(_ctx(), state, _op(status))
    assert final["stage"] == "paged" and status.lower()[:6] in final["reason"]


def test_choose_bulk_for_full_passes_and_large_deltas_only() -> None:
    assert choose(_ctx(), SPEC) == {"stage": "start"}
    assert choose(_ctx(mode="incremental"), SPEC) == {"stage": "paged"}  # 7 < 5,000
    large = _ctx(mode="incremental", bulk_incremental_threshold=7)
    assert choose(large, SPEC) == {"stage": "start"}
    assert choose(_ctx(sync_path="paged"), SPEC) == {"stage": "paged"}
    assert choose(_ctx(mode="incremental", sync_path="bulk"), SPEC) == {"stage": "start"}


def test_choose_paged_before_api_2026_01() -> None:
    assert choose(_ctx(shopify_api_version="2025-10"), SPEC) == {"stage": "paged"}


def test_choose_paged_while_the_shop_is_denied_and_bulk_after_the_retry_time() -> None:
    denied = {"fallbackReason": "bulk operations ACCESS_DENIED", "retryAt": NOW + timedelta(1)}
    ctx = _ctx(denied=denied)
    assert choose(ctx, SPEC)["stage"] == "paged"
    assert ctx.facts["fallbackReason"] == "bulk operations ACCESS_DENIED"
    assert choose(_ctx(denied=denied, sync_path="bulk"), SPEC) == {"stage": "start"}
    later = {**denied, "retryAt": NOW - timedelta(seconds=1)}
    assert choose(_ctx(denied=later), SPEC) == {"stage": "start"}


def test_adopt_only_this_runs_operation_and_cancel_an_older_stray(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sync.bulk import operations, path

    query = "{ products { edges { node { id } } } }"
    started = NOW - timedelta(minutes=1)

    def op(number: int, created: datetime, text: str = query) -> Operation:
        return Operation(id=f"gid://shopify/BulkOperation/{number}", status="RUNNING",
                         query=f"  {text}\n", created_at=created.isoformat())  # fmt: skip

    running = [op(1, started - timedelta(hours=2)), op(2, started + timedelta(seconds=5)),
               op(3, started, text="{ files { edges { node { id } } } }")]  # fmt: skip
    cancelled: list[str] = []
    monkeypatch.setattr(operations, "find", lambda _ctx, search: running if "RUNNING" in search
                        else [])  # fmt: skip
    monkeypatch.setattr(operations, "cancel", lambda _ctx, gid: cancelled.append(gid))
    ctx = _ctx()
    ctx.run_started = started
    # Given a stray of an earlier job, this run's own operation and another query's
    adopted = path._adopt(ctx, query, {"stage": "start"})
    # Then this run's is adopted, the earlier one cancelled, the other query left alone
    assert adopted is not None and adopted.id.endswith("/2")
    assert cancelled == ["gid://shopify/BulkOperation/1"]
    # and with only the stray left, nothing is adopted
    running[:] = [running[0]]
    assert path._adopt(ctx, query, {"stage": "start"}) is None
