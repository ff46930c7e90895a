"""sync.orchestration.progress: `expected` asked once per run, the job's progress and time left."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from stores.freshness import counted_resources, latest_pass
from sync.bulk.operations import Operation
from sync.bulk.path import _after, choose
from sync.bulk.runtime import BulkRuntime, BulkSpec
from sync.errors import ShopifyAccessDenied, ShopifyQueryError
from sync.orchestration.jobs import JobStore, new_resource_progress, public_job
from sync.orchestration.progress import estimate_job, next_rate, note_expected
from sync.orchestration.state import SyncState
from tests.conftest import HEADERS, make_settings, seed_payload

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)
SPEC = BulkSpec(root="products", fields="id", count_root="productsCount")


def _ctx(count: int = 5000, *, api_version: str = "2026-07", mode: str = "full") -> Any:
    asked: list[tuple[str, dict[str, Any]]] = []

    def query(text: str, variables: dict[str, Any]) -> dict[str, Any]:
        asked.append((text, variables))
        return {"productsCount": {"count": count}}

    runtime = BulkRuntime(http=None, coordinator=None, slots=5, denied=None,  # type: ignore[arg-type]
                          note_client=lambda _fields: None)  # fmt: skip
    return SimpleNamespace(
        settings=make_settings(shopify_api_version=api_version), facts={}, mode=mode,
        query=query, asked=asked, search_filter=lambda: None, bulk=runtime, now=lambda: NOW,
        store=SimpleNamespace(client_key="k", shop_domain="k.myshopify.com"), resource="products",
    )  # fmt: skip


def _run(status: str = "running", **fields: Any) -> dict[str, Any]:
    return {**new_resource_progress(), "status": status, "mode": "full", **fields}


def _history(resource: str, last: str | None = None, seen: int = 990, **paces: float
             ) -> dict[str, Any]:  # fmt: skip
    """`_syncstate` of a store whose earlier full runs went at `paces` per path."""
    rates: dict[str, Any] = {path: {"documentsPerSecond": pace, "seen": seen}
                             for path, pace in paces.items()}  # fmt: skip
    rates["lastPath"] = last or next(iter(paces))
    return {resource: {"rates": {"full": rates}}}


def _job(status: str = "running", **runs: dict[str, Any]) -> dict[str, Any]:
    return {"_id": "j", "mode": "full", "status": status, "resources": runs}


# --- expected ---------------------------------------------------------------------------


def test_expected_is_asked_once_per_run_uncapped_and_kept_in_the_facts() -> None:
    ctx = _ctx(5000)
    # When the count is asked at the start of the main phase, and again on a later choice
    assert note_expected(ctx, "productsCount") == 5000
    assert note_expected(ctx, "productsCount") == 5000
    # Then Shopify was asked once, without the 10,000 cap, and the job keeps the answer
    [(text, variables)] = ctx.asked
    assert "productsCount(query: $query, limit: null)" in text and variables == {"query": None}
    assert ctx.facts["expected"] == 5000


def test_a_resumed_slice_does_not_ask_again() -> None:
    # Given a run whose job already holds `expected` (loaded into the facts by build_context)
    ctx = _ctx()
    ctx.facts["expected"] = 1234
    assert note_expected(ctx, "productsCount") == 1234 and ctx.asked == []


def test_api_versions_before_uncapped_counts_ask_without_limit() -> None:
    ctx = _ctx(api_version="2025-04")
    note_expected(ctx, "productsCount")
    assert "limit" not in ctx.asked[0][0]


def test_resources_without_a_count_field_keep_expected_null() -> None:
    ctx = _ctx()
    assert note_expected(ctx, None) is None and ctx.asked == [] and "expected" not in ctx.facts


def test_a_count_shopify_cannot_answer_leaves_expected_null_but_access_denied_is_raised() -> None:
    ctx = _ctx()

    def refuse(_text: str, _variables: dict[str, Any]) -> dict[str, Any]:
        raise ShopifyQueryError("Field 'productsCount' doesn't exist")

    ctx.query = refuse
    assert note_expected(ctx, "productsCount") is None

    def deny(_text: str, _variables: dict[str, Any]) -> dict[str, Any]:
        raise ShopifyAccessDenied("ACCESS_DENIED", "read_products")

    ctx.query = deny
    with pytest.raises(ShopifyAccessDenied):
        note_expected(ctx, "productsCount")


def test_an_incremental_choice_reuses_the_runs_count() -> None:
    # Given an incremental run whose delta was counted when the run began
    ctx = _ctx(7, mode="incremental")
    note_expected(ctx, SPEC.count_root)
    # When the path is chosen, no second count is asked
    assert choose(ctx, SPEC) == {"stage": "paged"}
    assert len(ctx.asked) == 1


def test_a_completed_export_sets_expected_to_its_top_level_objects() -> None:
    ctx = _ctx(300)
    ctx.facts["expected"] = 300
    done = Operation(id="gid://shopify/BulkOperation/1", status="COMPLETED", url="u",
                     object_count=1900, root_object_count=302)  # fmt: skip
    _after(ctx, {}, done)
    assert ctx.facts["expected"] == 302


# --- pace, progress and time left ---------------------------------------------------------------


def test_pace_is_remembered_per_mode_and_path_and_weighs_earlier_runs(mock_mongo: Any) -> None:
    state = SyncState(mock_mongo.store)
    started = datetime.now(UTC) - timedelta(seconds=100)
    state.completed("products", "full", started, "j1", seen=1000, path="bulk")
    rates = state.get("products")["rates"]["full"]
    first = rates["bulk"]
    assert rates["lastPath"] == "bulk" and "paged" not in rates
    assert first["seen"] == 1000 and first["documentsPerSecond"] == pytest.approx(10, rel=0.2)
    assert next_rate(first, 200, 10)["documentsPerSecond"] == pytest.approx(
        (20 + first["documentsPerSecond"]) / 2, rel=0.01
    )
    assert next_rate(first, 0, 3)["documentsPerSecond"] == first["documentsPerSecond"]
    state.completed("products", "full", started, "j2", seen=50, path="paged")
    rates = state.get("products")["rates"]["full"]
    assert rates["lastPath"] == "paged" and rates["bulk"] == first


def test_progress_counts_documents_and_the_eta_follows_the_runs_own_pace() -> None:
    # Given products 250/1,000 after 50 s and collections 50/50 done, no earlier runs
    job = _job(
        products=_run(seen=250, expected=1000, startedAt=NOW - timedelta(seconds=50)),
        collections=_run("completed", seen=50, expected=50),
    )
    estimate = estimate_job(job, {}, parallel=2, now=NOW)
    assert estimate["progress"] == pytest.approx(300 / 1050, abs=1e-4)
    # 5 documents a second, 750 to go
    assert estimate["resources"]["products"] == 150 and estimate["etaSeconds"] == 150
    assert estimate["resources"]["collections"] == 0


def test_a_bulk_export_being_prepared_uses_the_stores_earlier_pace() -> None:
    # Given an export under way for 20 s (nothing seen yet) and a last run at 10 documents/s
    job = _job(products=_run(seen=0, expected=1000, startedAt=NOW - timedelta(seconds=20)))
    history = _history("products", bulk=10.0)
    assert estimate_job(job, history, parallel=2, now=NOW)["etaSeconds"] == 80
    # and a run past its usual time is never shown as done
    late = _job(products=_run(seen=0, expected=1000, startedAt=NOW - timedelta(seconds=500)))
    assert estimate_job(late, history, parallel=2, now=NOW)["etaSeconds"] == 10


def test_a_first_sync_with_most_runs_of_unknown_size_is_not_nearly_done() -> None:
    # Given a first sync (no history): two runs of known size done, five of unknown size on
    job = _job(
        products=_run("completed", seen=50, expected=50),
        collections=_run("completed", seen=8, expected=8),
        **{name: _run(seen=3)
           for name in ("blogs", "articles", "themedatas", "media", "discounts")},  # fmt: skip
    )
    # Then the job is about two sevenths done, as the resources say, not 99 %
    assert estimate_job(job, {}, parallel=2, now=NOW)["progress"] == round(58 / (58 + 5 * 29), 4)


def test_unknown_sizes_use_the_last_run_and_never_show_done_early() -> None:
    # Given themes of unknown size, running, with no earlier run, and products done
    job = _job(
        products=_run("completed", seen=10, expected=10),
        themedatas=_run(seen=0, startedAt=NOW - timedelta(seconds=5)),
    )
    estimate = estimate_job(job, {}, parallel=2, now=NOW)
    # Then the themes weigh as a typical run of the job (10), none done: half, not 99 %
    assert estimate["progress"] == 0.5 and estimate["etaSeconds"] is None
    # With an earlier run of 3 themes in 6 s, their size and pace are known
    history = _history("themedatas", paged=0.5, seen=3)
    assert estimate_job(job, history, parallel=2, now=NOW)["etaSeconds"] == 1


def test_each_path_has_its_own_pace_and_the_runs_own_pace_wins_after_a_while() -> None:
    # Given exports that read 60 products a second and pages that read 2
    history = _history("products", bulk=60.0, paged=2.0, last="bulk", seen=300)
    queued = _job(products=_run("queued", expected=300))
    paging = _job(products=_run(expected=300, path="paged", startedAt=NOW))
    # Then a run not started yet expects the last path's pace, a paged run the pages' pace
    assert estimate_job(queued, history, parallel=2, now=NOW)["etaSeconds"] == 5
    assert estimate_job(paging, history, parallel=2, now=NOW)["etaSeconds"] == 150
    # And a run 40 s in, at 2 a second, goes by its own pace whatever the store did before
    slow = _job(products=_run(seen=80, expected=300, startedAt=NOW - timedelta(seconds=40)))
    assert estimate_job(slow, _history("products", bulk=60.0), parallel=2, now=NOW)[
        "etaSeconds"] == 110  # fmt: skip


def test_runs_share_the_stores_slots() -> None:
    started = NOW - timedelta(seconds=10)
    job = _job(
        products=_run(seen=100, expected=200, startedAt=started),
        discounts=_run(seen=100, expected=200, startedAt=started),
        media=_run("queued"),
    )
    assert estimate_job(job, {}, parallel=1, now=NOW)["etaSeconds"] == 20
    assert estimate_job(job, {}, parallel=2, now=NOW)["etaSeconds"] == 10


def test_ended_jobs() -> None:
    done = _job("completed", products=_run("completed", seen=3, expected=4))
    assert estimate_job(done, {}, parallel=2, now=NOW) | {"resources": None} == {
        "progress": 1.0, "etaSeconds": 0, "resources": None}  # fmt: skip
    failed = _job("failed", products=_run("failed", seen=1, expected=4))
    assert estimate_job(failed, {}, parallel=2, now=NOW)["etaSeconds"] is None


def test_the_job_view_adds_progress_and_eta_without_renaming(mock_mongo: Any) -> None:
    job = JobStore(mock_mongo.store).create("k", "full", ["products"], trigger="test")
    view = public_job(job, estimate_job(job, {}, parallel=2, now=NOW))
    assert view["progress"] == 0.0 and view["etaSeconds"] is None
    run = view["resources"]["products"]
    assert run["expected"] is None and run["etaSeconds"] is None and run["seen"] == 0
    # nothing internal on a run not yet started
    assert public_job(job)["resources"]["products"] == job["resources"]["products"]


def test_the_api_answers_progress_and_eta(client: Any) -> None:
    answer = client.post("/api/config/sync", json=seed_payload(), headers=HEADERS)
    job_id = answer.get_json()["syncJobId"]
    job = client.get(f"/api/stores/mystore/sync/jobs/{job_id}", headers=HEADERS).get_json()
    assert job["progress"] == 0.0 and "etaSeconds" in job
    assert {run["expected"] for run in job["resources"].values()} == {None}
    listed = client.get("/api/stores/mystore/sync/jobs", headers=HEADERS).get_json()
    assert "progress" in listed["items"][0]


def test_the_job_view_leaves_out_delivery_plumbing_and_shows_the_phase(mock_mongo: Any) -> None:
    # Given a run under way, as the workers record it (message, delivery, checkpoint)
    jobs = JobStore(mock_mongo.store)
    job = jobs.create("k", "full", ["products", "media"], trigger="test")
    jobs.hand_over(job["_id"], "products", "message-1", None)
    jobs.resource_started(job["_id"], "products", "full", delivery="message-1")
    checkpoint = {"phase": "main", "cursor": "opaque", "done": [], "bulk": None}
    jobs.note(job["_id"], **{"resources.products.checkpoint": checkpoint})
    jobs.record_send(job["_id"], "message-0")
    # When the API shows it
    view = public_job(jobs.get(job["_id"]), estimate_job(jobs.get(job["_id"]), {}, parallel=2,
                                                         now=NOW))  # fmt: skip
    # Then no cursor, message or delivery id shows; the run's phase and last move do
    run = view["resources"]["products"]
    assert not {"checkpoint", "delivery", "messageId", "sentAt"} & set(run), run
    assert not {"_id", "messageId", "sentAt"} & set(view), view
    assert run["phase"] == "main" and run["activeAt"] is not None and "etaSeconds" in run
    assert "phase" not in view["resources"]["media"]
    # and a bulk run's phase is its export's stage
    bulk = {"status": "running", "checkpoint": {"phase": None, "bulk": {"stage": "ingest"}}}
    assert public_job({**job, "resources": {"products": bulk}})["resources"]["products"][
        "phase"
    ] == "reading export"
    # and the record itself keeps them for the workers
    stored = jobs.get(job["_id"])["resources"]["products"]
    assert stored["checkpoint"]["cursor"] == "opaque" and stored["delivery"] == "message-1"


def test_a_skipped_resource_counts_again_once_a_run_of_it_starts(mock_mongo: Any) -> None:
    # Given a resource skipped for a missing scope, after a complete pass long ago
    state = SyncState(mock_mongo.store)
    state.completed("themedatas", "full", NOW - timedelta(days=3), "old-job")
    state.skipped("themedatas", "missing access scope read_themes")
    assert state.get("themedatas")["skippedFor"]
    # When the scope is back and a run starts (whether it then completes or keeps failing)
    state.started("themedatas", "incremental", NOW)
    # Then it counts for freshness again, from its last complete pass
    assert "skippedFor" not in state.get("themedatas")
    assert "themedatas" in counted_resources({"themedatas": state.get("themedatas")})
    last = latest_pass(state.get("themedatas"))
    assert last is not None and last.replace(tzinfo=UTC) == NOW - timedelta(days=3)
