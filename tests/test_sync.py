"""sync: broker, jobs, launcher, actors and the /sync endpoints."""

from __future__ import annotations

from typing import Any

import dramatiq
import pytest
import redis

from config_db.models import parse_client_config
from stores.databases import StoreDatabases
from sync.broker import build_broker
from sync.orchestration.coordination import Coordinator
from sync.orchestration.jobs import JobStore, public_job
from sync.orchestration.launcher import SyncLauncher
from tests.conftest import HEADERS, make_settings, seed_payload


def test_broker_is_a_redis_broker_in_the_shopsync_namespace() -> None:
    broker = build_broker(
        make_settings(redis_url="redis://127.0.0.1:6399/3", worker_heartbeat_timeout_seconds=7)
    )
    assert type(broker).__name__ == "RedisBroker"
    assert broker.namespace == "shopsync"
    assert broker.heartbeat_timeout == 7000


def test_job_lifecycle(mock_mongo: Any) -> None:
    jobs = JobStore(mock_mongo.store)
    job = jobs.create("store", "full", ["products"], trigger="test")
    assert job["status"] == "queued"
    assert job["resources"]["products"]["seen"] == 0
    jobs.mark_running(job["_id"])
    jobs.finish(job["_id"], "failed", error="products: boom")
    done = public_job(jobs.get(job["_id"]))
    assert done["jobId"] == job["_id"] and done["status"] == "failed"
    assert done["startedAt"] is not None and done["finishedAt"] is not None


def test_launch_with_broker_down_leaves_the_job_queued(mock_mongo: Any) -> None:
    def send(client_key: str, job_id: str) -> None:
        raise dramatiq.errors.BrokerConnectionError("redis down")

    coordinator = Coordinator(redis.Redis(port=1), lease_seconds=1, store_slots=1)
    launch = SyncLauncher(StoreDatabases(mock_mongo), send, coordinator).start(
        "store", "full", "test"
    )
    assert launch.enqueued is False
    stored = mock_mongo.store["_syncjobs"].find_one({"_id": launch.job["_id"]})
    assert stored["status"] == "queued" and stored["enqueueError"] == "broker unavailable"


@pytest.mark.real
def test_actors_on_stub_broker_run_a_whole_job(
    mongo_uri: str,
    redis_url: str,
    real_mongo: Any,
    stub_broker: Any,
    stub_worker: Any,
    fake: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The actors in-process (StubBroker), with real Redis, SecantusDB and the fake shop."""
    import time

    from app import create_app
    from config_db.mongo import MongoConnection
    from sync import tasks
    from sync.resources import collections as collections_resource
    from sync.resources import discounts as discounts_resource
    from sync.runtime import build_services
    from tests.fakeshopify import generate_store

    redis.Redis.from_url(redis_url).flushdb()
    settings = make_settings(mongodb_uri=mongo_uri, redis_url=redis_url)
    services = build_services(settings, MongoConnection(settings))
    monkeypatch.setattr(tasks, "worker_services", lambda: services)
    # Lists past these sizes spill to side collections (16 MB document limit).
    monkeypatch.setattr(collections_resource, "MAX_INLINE_MEMBERS", 5)
    monkeypatch.setattr(discounts_resource, "MAX_INLINE_CODES", 100)
    shop = fake.add_shop("stubbed", data=generate_store(seed=3, products=12, files=2))
    shop.configure(bucket_max=2000, restore_rate=1000)
    app = create_app(settings)
    client = app.test_client()
    payload = seed_payload(
        "stubbed",
        apiBaseUrl=shop.admin_base_url,
        adminApiBaseUrl=shop.admin_base_url,
        shopDomain=shop.shop_domain,
        adminShopToken=shop.token,
    )
    job_id = client.post("/api/config/sync", json=payload, headers=HEADERS).get_json()["syncJobId"]
    url = f"/api/stores/stubbed/sync/jobs/{job_id}"
    deadline = time.monotonic() + 60
    while client.get(url, headers=HEADERS).get_json()["status"] not in ("completed", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    job = client.get(url, headers=HEADERS).get_json()
    assert job["status"] == "completed", job
    assert job["resources"]["products"]["seen"] == 12
    assert real_mongo.stubbed.products.count_documents({"deleted": False}) == 12
    shop_doc = real_mongo.appconfig.shops.find_one({"_id": shop.shop_domain})
    assert shop_doc["name"] == "Stubbed Store" and shop_doc["currency"]
    big = real_mongo.stubbed.collections.find_one({"productIdsSpilled": True})
    members = [
        member
        for part in real_mongo.stubbed["_collectionmembers"].find(
            {"collectionId": big["_id"]}, sort=[("index", 1)]
        )
        for member in part["productIds"]
    ]
    assert big["productIds"] == [] and len(members) == big["memberCount"] > 5
    coded = real_mongo.stubbed.discounts.find_one({"codesSpilled": True})
    spilled = real_mongo.stubbed["_discountcodes"].count_documents({"discountId": coded["_id"]})
    assert coded["codes"] == [] and coded["codesCount"] > 100 and spilled >= 1
    services.mongo.close()
    app.extensions["shopsync"].mongo.close()


def test_manual_sync_endpoint(client: Any, stub_broker: Any) -> None:
    client.post("/api/config/sync", json=seed_payload(), headers=HEADERS)
    answer = client.post("/api/stores/mystore/sync", json={"mode": "incremental"}, headers=HEADERS)
    assert answer.status_code == 202 and answer.get_json()["mode"] == "incremental"
    jobs = client.get("/api/stores/mystore/sync/jobs", headers=HEADERS).get_json()["items"]
    assert [job["trigger"] for job in jobs] == ["manual", "config"]
    assert stub_broker.queues["sync"].qsize() == 2


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"mode": "partial"}, 400, "mode"),
        ({"mode": "full", "extra": 1}, 400, "extra"),
    ],
)
def test_manual_sync_rejects_bad_bodies(
    client: Any, body: dict[str, Any], status: int, field: str
) -> None:
    client.post("/api/config/sync", json=seed_payload(), headers=HEADERS)
    answer = client.post("/api/stores/mystore/sync", json=body, headers=HEADERS)
    assert answer.status_code == status and answer.get_json()["error"]["field"] == field


def test_manual_sync_of_disabled_or_unknown_store(client: Any) -> None:
    client.post("/api/config/sync", json=seed_payload(), headers=HEADERS)
    client.delete("/api/config/clients/mystore", headers=HEADERS)
    assert client.post("/api/stores/mystore/sync", headers=HEADERS).status_code == 409
    assert client.post("/api/stores/nobody/sync", headers=HEADERS).status_code == 404
    assert client.get("/api/stores/mystore/sync/jobs/nojob", headers=HEADERS).status_code == 404


# --- scheduler ------------------------------------------------------------------------------


@pytest.fixture
def services(mongo_uri: str, redis_url: str, real_mongo: Any) -> Any:
    import redis as redis_lib

    from config_db.mongo import MongoConnection
    from sync.runtime import build_services

    redis_lib.Redis.from_url(redis_url).flushdb()
    settings = make_settings(
        mongodb_uri=mongo_uri,
        redis_url=redis_url,
        incremental_interval_seconds=300,
        full_sync_interval_seconds=86400,
    )
    built = build_services(settings, MongoConnection(settings))
    yield built
    built.mongo.close()


def _add_client(services: Any, key: str = "mystore") -> None:
    services.repository.save_client(
        parse_client_config(seed_payload(key), env="development", db_prefix="")
    )


def test_scheduler_launches_due_syncs_once_and_resends_unsent_jobs(services: Any) -> None:
    from datetime import UTC, datetime, timedelta

    from sync.orchestration.state import SyncState
    from sync.resources.registry import RESOURCE_NAMES
    from sync.scheduler import tick

    sent: list[tuple[str, str]] = []
    launcher = SyncLauncher(
        services.databases, lambda k, j: sent.append((k, j)), services.coordinator
    )
    _add_client(services)
    now = datetime(2026, 11, 22, 12, tzinfo=UTC)
    # Given a store never synced: one full job over every resource
    assert tick(services, launcher, now) == 1
    jobs = JobStore(services.databases.get("mystore"))
    first = jobs.recent()[0]
    assert first["mode"] == "full" and list(first["resources"]) == list(RESOURCE_NAMES)
    # When the clock ticks again while that job is queued: nothing is duplicated
    assert tick(services, launcher, now + timedelta(minutes=10)) == 0
    # When it has ended and state says a full pass ran an hour ago: incremental is due
    jobs.finish(first["_id"], "completed")
    state = SyncState(services.databases.get("mystore"))
    for name in RESOURCE_NAMES:
        state.started(name, "full", now - timedelta(hours=1))
    assert tick(services, launcher, now) == 1
    assert jobs.recent()[0]["mode"] == "incremental"
    # A job whose message never left (Redis down at the time) is sent again
    jobs.note(first["_id"], status="queued", enqueueError="broker unavailable")
    sent.clear()
    tick(services, launcher, now)
    assert ("mystore", first["_id"]) in sent


def test_disabled_stores_are_not_scheduled(services: Any) -> None:
    from sync.scheduler import tick

    launcher = SyncLauncher(services.databases, lambda k, j: None, services.coordinator)
    _add_client(services)
    services.repository.set_status("mystore", "disabled")
    assert tick(services, launcher) == 0


@pytest.mark.real
def test_a_rejected_token_marks_the_store_needs_auth_and_fails_its_job(
    services: Any, fake: Any
) -> None:
    from sync.orchestration.runner import run_resource, start_job
    from tests.fakeshopify import generate_store

    shop = fake.add_shop("revoked", data=generate_store(seed=4, products=3))
    services.repository.save_client(
        parse_client_config(
            seed_payload(
                "revoked",
                apiBaseUrl=shop.admin_base_url,
                adminApiBaseUrl=shop.admin_base_url,
                shopDomain=shop.shop_domain,
                adminShopToken="shpat_wrong_token_00000000",
            ),
            env="development",
            db_prefix="",
        )
    )
    services.databases.ensure("revoked")
    sent: list[Any] = []
    launcher = SyncLauncher(services.databases, lambda k, j: sent.append(j), services.coordinator)
    job_id = launcher.start("revoked", "full", "test").job["_id"]
    start_job(services, "revoked", job_id, lambda *args: sent.append(args))
    job = JobStore(services.databases.get("revoked")).get(job_id)
    assert job["status"] == "failed" and "update adminShopToken" in job["error"]
    assert "shpat_wrong_token" not in job["error"]
    client = services.repository.get_client("revoked")
    assert client["status"] == "needs_auth"
    assert shop.stats["by_status"] == {401: 1}  # never retried
    # A resource message still queued ends at once without calling Shopify
    assert run_resource(services, "revoked", job_id, "products").value == "done"
    assert shop.stats["requests"] == 1


def test_a_lock_left_by_an_ended_job_is_taken_over(services: Any) -> None:
    launcher = SyncLauncher(services.databases, lambda k, j: None, services.coordinator)
    _add_client(services)
    old = launcher.start("mystore", "full", "test", ["products"]).job["_id"]
    # While the old job is queued its lock holds
    assert launcher.start_scheduled("mystore", "incremental", ["products"]) is None
    # Once it has ended (without releasing, e.g. its worker died) the lock is taken over
    JobStore(services.databases.get("mystore")).finish(old, "failed", "gone")
    launch = launcher.start_scheduled("mystore", "incremental", ["products"])
    assert launch is not None
    assert services.coordinator.lock_owner("mystore", "products") == launch.job["_id"]


def test_a_superseded_run_whose_job_is_gone_lets_its_lock_go(services: Any) -> None:
    from sync.orchestration.runner import _unlock_if_ended

    # Given a run's lock, and its job gone with the store database (an import replaced it)
    _add_client(services)
    assert services.coordinator.lock("mystore", "products", "gone-job")
    jobs = JobStore(services.databases.get("mystore"))
    # When the run learns it was superseded, Then the lock is released at once
    _unlock_if_ended(services, jobs, "mystore", "gone-job", "products")
    assert services.coordinator.lock_owner("mystore", "products") is None


def test_a_job_whose_messages_were_lost_is_revived_then_given_up(services: Any) -> None:
    from datetime import timedelta

    from sync.orchestration.jobs import utcnow
    from sync.scheduler import MAX_REVIVALS, revive_stalled

    sent: list[str] = []
    launcher = SyncLauncher(services.databases, lambda k, j: sent.append(j), services.coordinator)
    _add_client(services)
    jobs = JobStore(services.databases.get("mystore"))
    job_id = launcher.start("mystore", "full", "test").job["_id"]
    sent.clear()
    long_ago = utcnow() - timedelta(seconds=services.settings.job_stall + 60)
    for _ in range(MAX_REVIVALS):
        jobs.note(job_id, progressAt=long_ago)
        revive_stalled(services, launcher, jobs, "mystore")
    assert sent == [job_id] * MAX_REVIVALS
    jobs.note(job_id, progressAt=long_ago)
    revive_stalled(services, launcher, jobs, "mystore")
    job = jobs.get(job_id)
    assert job["status"] == "failed" and job["error"].startswith("stalled")
    assert services.coordinator.lock_owner("mystore", "products") is None
