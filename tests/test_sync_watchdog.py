"""Recovery pieces on real Redis and SecantusDB: maintenance, the watchdog, fences, sweeps."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import dramatiq
import pytest
import redis as redis_lib
from bson import ObjectId
from gridfs import GridFSBucket

from config_db.models import parse_client_config
from sync.broker import ShutdownNotice, build_broker, queued_messages, requeue_dead_workers
from sync.orchestration.jobs import JobStore, utcnow
from sync.orchestration.launcher import SyncLauncher
from tests.conftest import make_settings, seed_payload

pytestmark = pytest.mark.real


@pytest.fixture
def services(mongo_uri: str, redis_url: str, real_mongo: Any) -> Iterator[Any]:
    from config_db.mongo import MongoConnection
    from sync.runtime import build_services

    redis_lib.Redis.from_url(redis_url).flushdb()
    settings = make_settings(
        mongodb_uri=mongo_uri, redis_url=redis_url, worker_heartbeat_timeout_seconds=1
    )
    built = build_services(settings, MongoConnection(settings))
    built.repository.save_client(
        parse_client_config(seed_payload("watched"), env="development", db_prefix="")
    )
    yield built
    real_mongo.drop_database("watched")
    built.mongo.close()


@pytest.fixture
def broker(services: Any) -> Any:
    return build_broker(services.settings)


def _message(job_id: str, resource: str) -> dramatiq.Message[Any]:
    return dramatiq.Message(
        queue_name="sync", actor_name="sync_resource", args=("watched", job_id, resource),
        kwargs={}, options={},
    )  # fmt: skip


class Sends:
    """The watchdog's send function: hands the run over and enqueues on the real broker."""

    def __init__(self, services: Any, broker: Any) -> None:
        self.services, self.broker, self.sent = services, broker, []

    def __call__(self, key: str, job_id: str, resource: str, delay: Any, replacing: Any) -> bool:
        message = _message(job_id, resource)
        jobs = JobStore(self.services.databases.get(key))
        if not jobs.hand_over(job_id, resource, message.message_id, replacing):
            return False
        self.broker.enqueue(message, delay=delay)
        self.sent.append(resource)
        return True


def _running_job(services: Any, resources: tuple[str, ...] = ("products", "media")) -> Any:
    launcher = SyncLauncher(services.databases, lambda k, j: None, services.coordinator)
    job_id = launcher.start("watched", "full", "test", resources=list(resources)).job["_id"]
    jobs = JobStore(services.databases.get("watched"))
    jobs.mark_running(job_id)
    return jobs, job_id


def _watchdog(services: Any, broker: Any, sends: Sends) -> Any:
    from sync.recovery.watchdog import Watchdog

    launcher = SyncLauncher(services.databases, lambda k, j: None, services.coordinator)
    return Watchdog(services, launcher, sends, broker, "sync")


def test_a_run_whose_message_redis_lost_is_sent_again_once(services: Any, broker: Any) -> None:
    # Given a running job whose products message is recorded but gone from Redis (flushed),
    # and whose media message is waiting in its queue
    jobs, job_id = _running_job(services)
    sends = Sends(services, broker)
    sends("watched", job_id, "products", None, None)
    sends("watched", job_id, "media", None, None)
    broker.flush("sync")
    sends("watched", job_id, "media", None, jobs.get(job_id)["resources"]["media"]["messageId"])
    long_ago = utcnow() - timedelta(seconds=60)
    jobs.note(job_id, **{"resources.products.sentAt": long_ago})
    sends.sent.clear()
    watchdog = _watchdog(services, broker, sends)
    # When the watchdog checks the store, twice
    watchdog.begin_tick()
    assert watchdog.check_store("watched") == 1
    watchdog.begin_tick()
    assert watchdog.check_store("watched") == 0
    # Then only the lost run was sent again, once, as the run's one current message
    assert sends.sent == ["products"]
    current = jobs.get(job_id)["resources"]["products"]["messageId"]
    assert current in queued_messages(broker, "sync")


def test_a_run_with_a_live_claim_or_a_fresh_send_is_left_alone(services: Any, broker: Any) -> None:
    jobs, job_id = _running_job(services)
    sends = Sends(services, broker)
    sends("watched", job_id, "products", None, None)
    sends("watched", job_id, "media", None, None)
    broker.flush("sync")  # both messages gone from Redis
    # products: a worker holds its run claim; media: sent a moment ago (its sender is mid-send)
    long_ago = utcnow() - timedelta(seconds=60)
    jobs.note(job_id, **{"resources.products.sentAt": long_ago})
    assert services.coordinator.claim_run(job_id, "products", "m1/d1")
    sends.sent.clear()
    watchdog = _watchdog(services, broker, sends)
    watchdog.begin_tick()
    assert watchdog.check_store("watched") == 0 and sends.sent == []


def test_a_delayed_message_held_by_a_worker_past_its_time_is_sent_again(
    services: Any, broker: Any
) -> None:
    # Given a run's delayed message fetched into a worker's memory and never moved (the
    # consumer dropped it on a connection error), long past its eta
    jobs, job_id = _running_job(services, ("products",))
    sends = Sends(services, broker)
    sends("watched", job_id, "products", 1, None)
    time.sleep(0.05)
    assert broker.do_fetch("sync.DQ", 10)  # now in this broker's ack set, not in the list
    found = queued_messages(broker, "sync")
    assert [item.waiting for item in found.values()] == [False]
    watchdog = _watchdog(services, broker, sends)
    sends.sent.clear()
    watchdog.begin_tick()
    assert watchdog.check_store("watched") == 0  # within the heartbeat timeout: may still move
    time.sleep(services.settings.worker_heartbeat_timeout_seconds + 0.2)
    later = utcnow() + timedelta(seconds=30)
    watchdog.begin_tick()
    assert watchdog.check_store("watched", now=later) == 1 and sends.sent == ["products"]


def test_the_clock_requeues_a_dead_workers_messages_at_once(services: Any, broker: Any) -> None:
    # Given a worker (another broker id) that fetched a message and died
    dead = build_broker(services.settings)
    dead.enqueue(_message("job", "products"))
    assert dead.do_fetch("sync", 10)
    message_id = next(iter(queued_messages(broker, "sync")))
    assert not queued_messages(broker, "sync")[message_id].waiting
    # When its heartbeat is older than the timeout and the clock runs maintenance
    time.sleep(services.settings.worker_heartbeat_timeout_seconds + 0.2)
    assert requeue_dead_workers(broker) == 1
    # Then the message is back in its queue, not after a 1-in-1,000 chance
    assert queued_messages(broker, "sync")[message_id].waiting


def test_a_message_superseded_by_the_watchdog_ends_without_working(services: Any) -> None:
    from sync.orchestration.runner import Outcome, run_resource

    jobs, job_id = _running_job(services)
    assert jobs.hand_over(job_id, "products", "current-message", None)
    outcome = run_resource(services, "watched", job_id, "products", runner="old-message")
    assert outcome is Outcome.DONE
    assert jobs.get(job_id)["resources"]["products"]["status"] == "queued"
    # and a hand-over from a message that is no longer current is refused
    assert not jobs.hand_over(job_id, "products", "next", "old-message")


def _context(services: Any, job_id: str, delivery: str, totals: dict[str, int]) -> Any:
    from sync.orchestration.context import Checkpoint, SyncContext
    from sync.orchestration.run_context import credentials

    store_db = services.databases.get("watched")
    client = services.repository.get_client("watched")
    return SyncContext(
        settings=services.settings, client=services.shopify, store=credentials(services, client),
        store_db=store_db, job_id=job_id, resource="products", mode="full", since=None,
        run_started=utcnow(), checkpoint=Checkpoint(), deadline=time.monotonic() + 60,
        delivery=delivery, totals=dict(totals),
    )  # fmt: skip


def test_counters_are_saved_as_totals_so_a_lost_update_heals(services: Any) -> None:
    jobs, job_id = _running_job(services)
    jobs.resource_started(job_id, "products", "full", delivery="m/d1")
    ctx = _context(services, job_id, "m/d1", {})
    ctx.count(seen=10, upserted=10)
    ctx.save_progress(pages=1)
    # Given MongoDB lost that acknowledged update (restarted from an older state)
    jobs.note(job_id, **{"resources.products.seen": 0, "resources.products.upserted": 0})
    # When the next page is saved
    ctx.count(seen=5, upserted=5)
    ctx.save_progress(pages=1)
    # Then the counters are the run's true totals again
    progress = jobs.get(job_id)["resources"]["products"]
    assert (progress["seen"], progress["upserted"], progress["pages"]) == (15, 15, 2)


def test_a_delivery_taken_over_stops_at_its_next_checkpoint(services: Any) -> None:
    from sync.orchestration.context import Superseded

    jobs, job_id = _running_job(services)
    jobs.resource_started(job_id, "products", "full", delivery="m/first")
    first = _context(services, job_id, "m/first", {})
    jobs.resource_started(job_id, "products", "full", delivery="m/second")
    first.count(seen=3)
    with pytest.raises(Superseded):
        first.save_progress(pages=1)
    assert jobs.get(job_id)["resources"]["products"]["seen"] == 0


def test_a_stopping_worker_ends_the_slice_at_the_next_page(services: Any) -> None:
    from sync.orchestration.context import SliceExpired

    _, job_id = _running_job(services)
    ctx = _context(services, job_id, "m/d", {})
    ctx.stopping = ShutdownNotice.stopping.is_set
    ctx.check_deadline()  # not stopping: goes on
    ShutdownNotice.stopping.set()
    try:
        with pytest.raises(SliceExpired):
            ctx.check_deadline()
    finally:
        ShutdownNotice.stopping.clear()


def test_a_page_written_again_after_a_crash_still_counts_as_upserted(real_mongo: Any) -> None:
    from sync.storage.writer import write_documents

    collection = real_mongo["watched_writes"]["products"]
    documents = [{"_id": f"gid://shopify/Product/{n}", "title": "t"} for n in range(5)]
    first = write_documents(collection, documents, run_id="job:products", now=utcnow())
    again = write_documents(collection, documents, run_id="job:products", now=utcnow())
    later = write_documents(collection, documents, run_id="next:products", now=utcnow())
    assert (first.upserted, again.upserted, again.skipped) == (5, 5, 0)
    assert (later.upserted, later.skipped) == (0, 5)
    real_mongo.drop_database("watched_writes")


def test_the_sweep_removes_only_files_no_document_points_at(real_mongo: Any) -> None:
    from sync.recovery.orphans import sweep_orphans

    store_db = real_mongo["watched_files"]
    bucket = GridFSBucket(store_db, "mediafiles")
    used, orphan = bucket.upload_from_stream("a", b"used"), bucket.upload_from_stream("b", b"x")
    store_db.media.insert_one({"_id": "gid://shopify/MediaImage/1", "gridfsId": used})
    theme_file = GridFSBucket(store_db, "themefiles").upload_from_stream("t", b"theme")
    theme = {"_id": "gid://shopify/OnlineStoreTheme/1",
             "files": [{"filename": "a"}, {"gridfsId": theme_file}]}  # fmt: skip
    store_db.themedatas.insert_one(theme)
    dangling = ObjectId.from_datetime(utcnow() - timedelta(hours=2))
    store_db["mediafiles.chunks"].insert_one({"files_id": dangling, "n": 0, "data": b"z"})
    assert sweep_orphans(store_db, utcnow(), grace_seconds=3600) == 1  # only the old chunks
    assert sweep_orphans(store_db, utcnow() + timedelta(hours=2), grace_seconds=3600) == 1
    assert [doc["_id"] for doc in store_db["mediafiles.files"].find()] == [used]
    assert [doc["_id"] for doc in store_db["themefiles.files"].find()] == [theme_file]
    assert store_db["mediafiles.chunks"].count_documents({"files_id": orphan}) == 0
    real_mongo.drop_database("watched_files")


class SlowDownloader:
    """The real downloader, slowed so that racing downloads overlap."""

    def __init__(self, real: Any) -> None:
        self.real, self.calls = real, 0

    def download(self, url: str, target: Any) -> Any:
        self.calls += 1
        time.sleep(0.5)
        return self.real.download(url, target)


def test_two_resources_and_a_webhook_racing_for_one_image_leave_one_file(
    services: Any, fake: Any
) -> None:
    from sync.storage.media_store import media_document, store_media
    from tests.fakeshopify import generate_store

    shop = fake.add_shop("raced", data=generate_store(seed=5, products=1, files=0))
    node = shop.snapshot("products")[0]["media"][0]
    downloader = SlowDownloader(services.downloader)
    contexts = [
        _context(services, job, "m/d", {}) for job in ("products-job", "media-job", "webhook:1")
    ]
    # Given three writers of the same media document at the same moment
    results: list[Any] = []

    def write(ctx: Any) -> None:
        results.append(store_media(ctx, [media_document(node)], downloader, run_id=None))

    threads = [threading.Thread(target=write, args=(ctx,)) for ctx in contexts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    # Then the bytes were downloaded once and exactly one GridFS file holds them
    store_db = services.databases.get("watched")
    assert downloader.calls == 1 and sum(result[1] for result in results) == 1
    stored = store_db.media.find_one({"_id": node["id"]})
    assert stored is not None and stored["gridfsId"] is not None
    assert [doc["_id"] for doc in store_db["mediafiles.files"].find()] == [stored["gridfsId"]]
    assert store_db["_mediaclaims"].count_documents({}) == 0


def test_workers_wait_out_a_redis_restart_and_the_web_fails_fast(log_dir: Any) -> None:
    from sync.broker import redis_client
    from tests import servers

    redis = servers.redis_server(log_dir).start()
    try:
        settings = make_settings(redis_url=f"redis://127.0.0.1:{redis.port}/0",
                                 redis_outage_seconds=30)  # fmt: skip
        patient, web = redis_client(settings, patient=True), redis_client(settings)
        assert patient.ping() and web.ping()
        redis.stop()
        restart = threading.Timer(2.0, redis.start)
        began = time.monotonic()
        restart.start()
        # Given Redis is down, when a worker's command is issued and Redis returns 2 s later
        with pytest.raises(redis_lib.ConnectionError):
            web.ping()  # the web process answers at once (503 / "left queued")
        assert time.monotonic() - began < 1.5
        assert patient.set("k", "v")  # Then the worker's command waited and went through
        assert time.monotonic() - began >= 1.5
        restart.join()
    finally:
        redis.stop()


def test_a_redis_that_lost_its_locks_does_not_start_a_second_job(services: Any) -> None:
    from sync.resources.registry import RESOURCE_NAMES

    # Given a job under way, and Redis restarted empty (every lock gone)
    launcher = SyncLauncher(services.databases, lambda k, j: None, services.coordinator)
    launcher.start("watched", "full", "test")
    services.redis.flushdb()
    # When the clock finds every resource due, no second job takes them
    assert launcher.start_scheduled("watched", "full", list(RESOURCE_NAMES)) is None
