"""Metrics of the web process: GET /metrics, request labels, webhook outcomes, store freshness,
and the multiprocess folders (config_db.metrics*, stores.freshness, sync.worker_metrics).

In-process tests run in single-process mode: counters are process-wide, so each test compares
before and after.
"""

from __future__ import annotations

import math
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import mongomock
import pytest
from dramatiq.brokers.stub import StubBroker
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from pymongo.errors import ServerSelectionTimeoutError

from config_db import metrics_dir
from config_db.repository import ConfigRepository
from config_db.secrets import TokenCipher
from stores.databases import StoreDatabases
from stores.freshness import CACHE_SECONDS, StoreFreshness
from sync import worker_metrics
from tests.conftest import (
    ADMIN_TOKEN,
    API_KEY,
    HEADERS,
    SECRET_KEY,
    STOREFRONT_TOKEN,
    make_settings,
    seed_payload,
)
from tests.test_webhooks import APP_SECRET, delivery, sign
from webhooks.handlers import apply_event


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def scrape(client: Any) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    answer = client.get("/metrics")
    assert answer.status_code == 200
    text = answer.get_data(as_text=True)
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.fixture
def store(client: Any) -> Any:
    assert client.post("/api/config/sync", json=seed_payload(), headers=HEADERS).status_code == 202
    return client


# --- GET /metrics and request labels --------------------------------------------------------


def test_metrics_need_no_key_and_show_no_secret(store: Any) -> None:
    # Given a configured store and a webhook delivery signed with the app secret
    body, headers = delivery()
    store.post("/webhooks/shopify", data=body, headers=headers)
    # When Prometheus scrapes without any key
    answer = store.get("/metrics")
    # Then it gets the text format with our metrics and the store's status
    assert answer.status_code == 200
    assert answer.content_type.startswith("text/plain; version=0.0.4")
    text = answer.get_data(as_text=True)
    assert 'shopsync_store_status{client_key="mystore",status="active"} 1.0' in text
    assert "shopsync_http_requests_total{" in text
    # And no token, key or secret appears anywhere in it
    secrets = (ADMIN_TOKEN, STOREFRONT_TOKEN, API_KEY, SECRET_KEY, APP_SECRET)
    assert not [secret for secret in secrets if secret in text]
    assert headers["X-Shopify-Hmac-Sha256"] not in text
    # And a scraper asking for OpenMetrics gets it
    openmetrics = store.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert openmetrics.content_type.startswith("application/openmetrics-text")
    assert openmetrics.get_data(as_text=True).endswith("# EOF\n")


def test_requests_are_counted_by_url_rule_never_by_raw_path(store: Any) -> None:
    rule = "/api/stores/<client_key>/sync/jobs/<job_id>"
    before = value("shopsync_http_requests_total", route=rule, method="GET", status="404")
    unmatched = value("shopsync_http_requests_total", route="unmatched", method="GET", status="404")
    other = value("shopsync_http_requests_total", route="unmatched", method="other", status="405")
    # When ids go into paths, a path matches no rule, and a made-up method is used
    store.get("/api/stores/mystore/sync/jobs/job-id-1234567", headers=HEADERS)
    store.get("/no/such/path/abc-987")
    store.open("/api/openapi.json", method="BREW")
    # Then each is counted under its rule (or `unmatched`), the method under `other`
    assert value("shopsync_http_requests_total", route=rule, method="GET", status="404") == (
        before + 1
    )
    assert value("shopsync_http_requests_total", route="unmatched", method="GET", status="404") == (
        unmatched + 1
    )
    assert value(
        "shopsync_http_requests_total", route="unmatched", method="other", status="405"
    ) == (other + 1)
    assert value("shopsync_http_request_duration_seconds_count", route=rule, method="GET") >= 1
    # And no label anywhere holds an id or a raw path
    labels = {label for (_, pairs) in scrape(store) for label in pairs}
    assert not [pair for pair in labels if "1234567" in pair[1] or "abc-987" in pair[1]]


def test_a_request_refused_by_the_key_check_is_still_timed(client: Any) -> None:
    route = "/api/config/clients"
    before = value("shopsync_http_request_duration_seconds_count", route=route, method="GET")
    assert client.get(route).status_code == 401
    after = value("shopsync_http_request_duration_seconds_count", route=route, method="GET")
    assert after == before + 1
    assert value("shopsync_http_requests_total", route=route, method="GET", status="401") >= 1


# --- webhooks ---------------------------------------------------------------------------------


def test_webhook_deliveries_are_counted_by_outcome(store: Any, app: Any) -> None:
    outcomes = ("queued", "duplicate", "bad_hmac", "unknown_shop", "invalid", "too_large")
    known = {o: value("shopsync_webhook_deliveries_total", client_key="mystore", outcome=o)
             for o in outcomes}  # fmt: skip
    unknown = value("shopsync_webhook_deliveries_total", client_key="", outcome="unknown_shop")
    body, headers = delivery(event_id="evt-1")
    store.post("/webhooks/shopify", data=body, headers=headers)  # queued
    store.post("/webhooks/shopify", data=body, headers=headers)  # duplicate
    store.post("/webhooks/shopify", data=body, headers={**headers, "X-Shopify-Hmac-Sha256": "x"})
    other, other_headers = delivery(shop="stranger.myshopify.com")
    store.post("/webhooks/shopify", data=other, headers=other_headers)  # unknown shop
    bad = b"[1, 2]"
    store.post("/webhooks/shopify", data=bad,
               headers={**headers, "X-Shopify-Hmac-Sha256": sign(bad)})  # fmt: skip
    app.extensions["shopsync.webhooks"].webhook_max_body_bytes = 64
    big, big_headers = delivery(payload={"id": 2, "padding": "x" * 100})
    store.post("/webhooks/shopify", data=big, headers=big_headers)
    for outcome in ("queued", "duplicate", "bad_hmac", "invalid"):
        assert value(
            "shopsync_webhook_deliveries_total", client_key="mystore", outcome=outcome
        ) == (known[outcome] + 1), outcome
    # A shop we do not know is no store label: the header is the sender's to choose
    assert value("shopsync_webhook_deliveries_total", client_key="", outcome="unknown_shop") == (
        unknown + 1
    )
    assert value("shopsync_webhook_deliveries_total", client_key="", outcome="too_large") >= 1


def test_applied_ignored_and_failed_events_are_counted(
    store: Any, app: Any, mock_mongo: Any
) -> None:
    from sync.runtime import build_services

    context = app.extensions["shopsync"]
    services = build_services(context.settings, context.mongo)
    before = {o: value("shopsync_webhook_events_total", client_key="mystore", outcome=o)
              for o in ("applied", "ignored", "failed")}  # fmt: skip
    ids = []
    for topic in ("customers/redact", "app/uninstalled", "products/update"):
        body, headers = delivery(topic=topic)
        ids.append(
            store.post("/webhooks/shopify", data=body, headers=headers).get_json()["eventId"]
        )
    apply_event(services, "mystore", ids[0])  # ignored: no customer data
    apply_event(services, "mystore", ids[1])  # applied: the client is uninstalled
    mock_mongo.appconfig.clients.delete_one({"_id": "mystore"})
    apply_event(services, "mystore", ids[2])  # failed: the client is gone
    for outcome in ("applied", "ignored", "failed"):
        after = value("shopsync_webhook_events_total", client_key="mystore", outcome=outcome)
        assert after == before[outcome] + 1, outcome


# --- store freshness (computed at scrape time) ------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, tzinfo=UTC).timestamp()

    def __call__(self) -> float:
        return self.now


def _freshness(mongo: Any, clock: Clock) -> tuple[StoreFreshness, ConfigRepository]:
    repository = ConfigRepository(mongo.appconfig, TokenCipher("k"))
    return StoreFreshness(repository, StoreDatabases(mongo), clock=clock), repository


def _gauges(collector: StoreFreshness) -> dict[tuple[str, tuple[str, ...]], float]:
    return {
        (sample.name, tuple(sample.labels.values())): sample.value
        for family in collector.collect()
        for sample in family.samples
    }


def test_lag_is_the_stalest_resources_last_complete_pass_and_grows_between_reads() -> None:
    mongo: Any = mongomock.MongoClient(tz_aware=True)
    clock = Clock()
    at = datetime.fromtimestamp(clock.now, UTC)
    mongo.appconfig.clients.insert_many(
        [{"_id": "fresh", "status": "active"}, {"_id": "new", "status": "needs_auth"}]
    )
    mongo.fresh["_syncstate"].insert_many([
        {"_id": "products", "lastFullAt": at - timedelta(seconds=100)},
        {"_id": "collections", "lastFullAt": at - timedelta(seconds=900),
         "lastIncrementalAt": at - timedelta(seconds=40)},
        {"_id": "themedatas", "lastFullStartedAt": at,  # started, never completed: not a pass
         "skippedFor": "missing access scope read_themes"},  # and skipped since: not counted
        *({"_id": name, "lastFullAt": at - timedelta(seconds=20)}
          for name in ("blogs", "articles", "media", "discounts")),
    ])  # fmt: skip
    collector, _ = _freshness(mongo, clock)
    gauges = _gauges(collector)
    assert gauges["shopsync_store_sync_lag_seconds", ("fresh",)] == 100
    assert gauges["shopsync_store_resource_sync_lag_seconds", ("fresh", "collections")] == 40
    assert ("shopsync_store_resource_sync_lag_seconds", ("fresh", "themedatas")) not in gauges
    assert math.isinf(gauges["shopsync_store_sync_lag_seconds", ("new",)])
    assert gauges["shopsync_store_status", ("new", "needs_auth")] == 1
    assert gauges["shopsync_store_status", ("new", "active")] == 0
    # Within the cache time MongoDB is not read again, but the lag still grows
    mongo.fresh["_syncstate"].update_one({"_id": "products"}, {"$set": {"lastFullAt": at}})
    clock.now += 10
    assert _gauges(collector)["shopsync_store_sync_lag_seconds", ("fresh",)] == 110
    # After it, the new pass is seen
    clock.now += 6
    assert _gauges(collector)["shopsync_store_sync_lag_seconds", ("fresh",)] == 56


def test_lag_stays_infinite_until_every_resource_passed_and_skipped_ones_do_not_count() -> None:
    mongo: Any = mongomock.MongoClient(tz_aware=True)
    clock = Clock()
    at = datetime.fromtimestamp(clock.now, UTC)
    mongo.appconfig.clients.insert_one({"_id": "s", "status": "active"})
    # Given a first sync with three of seven resources done, one skipped for a scope
    state = mongo.s["_syncstate"]
    for name in ("products", "collections", "blogs"):
        state.insert_one({"_id": name, "lastFullAt": at - timedelta(seconds=30)})
    state.insert_one({"_id": "themedatas", "skippedFor": "missing access scope read_themes"})
    collector, _ = _freshness(mongo, clock)
    # Then the store's lag is +Inf (its copy is not whole), while the done ones have theirs
    gauges = _gauges(collector)
    assert math.isinf(gauges["shopsync_store_sync_lag_seconds", ("s",)])
    assert gauges["shopsync_store_resource_sync_lag_seconds", ("s", "blogs")] == 30
    # When the other three complete (the skipped one never does)
    for name in ("articles", "media", "discounts"):
        state.insert_one({"_id": name, "lastIncrementalAt": at - timedelta(seconds=5)})
    clock.now += CACHE_SECONDS
    # Then the lag is the stalest of the six that can sync
    assert _gauges(collector)["shopsync_store_sync_lag_seconds", ("s",)] == 30 + CACHE_SECONDS


def test_a_scrape_while_mongodb_is_down_keeps_the_last_snapshot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mongo: Any = mongomock.MongoClient(tz_aware=True)
    clock = Clock()
    mongo.appconfig.clients.insert_one({"_id": "one", "status": "active"})
    collector, repository = _freshness(mongo, clock)
    assert _gauges(collector)["shopsync_store_status", ("one", "active")] == 1

    def down(status: str | None = None) -> list[Any]:
        raise ServerSelectionTimeoutError("down")

    monkeypatch.setattr(repository, "list_clients", down)
    clock.now += 60
    assert _gauges(collector)["shopsync_store_status", ("one", "active")] == 1


# --- multiprocess folders and the worker middleware -------------------------------------------


def test_web_and_worker_folders_are_apart_and_emptied_once_per_run(tmp_path: Path) -> None:
    settings = make_settings(metrics_dir=str(tmp_path))
    web, worker = (metrics_dir.folder_for(settings, role) for role in ("web", "worker"))
    assert web != worker and web.parent == worker.parent == tmp_path
    worker.mkdir(parents=True)
    (worker / "counter_1.db").write_bytes(b"old run")
    # The first worker process of a run empties; its siblings of the same run do not
    assert metrics_dir.empty_once(worker, "100:5") is True
    assert not (worker / "counter_1.db").exists()
    (worker / "counter_2.db").write_bytes(b"sibling")
    assert metrics_dir.empty_once(worker, "100:5") is False
    assert (worker / "counter_2.db").exists()
    # The next run (same pid, another start time: a restarted container) empties again
    assert metrics_dir.empty_once(worker, "100:9") is True
    assert not (worker / "counter_2.db").exists() and worker.is_dir()


def test_an_unusable_folder_leaves_single_process_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(metrics_dir.ENV, "placeholder")
    monkeypatch.delenv(metrics_dir.ENV)
    (tmp_path / "file").write_text("in the way")
    settings = make_settings(metrics_dir=str(tmp_path / "file"))
    assert metrics_dir.use_folder(settings, "web") is None
    assert metrics_dir.ENV not in os.environ


def test_only_a_dramatiq_worker_process_gets_the_middleware(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (metrics_dir.ENV, "dramatiq_prom_db"):
        monkeypatch.setenv(name, "placeholder")  # restored after the test
    settings = make_settings(metrics_dir=str(tmp_path), metrics_port=9999)
    broker = StubBroker()
    # Outside the `dramatiq` command (web, clock, tests): nothing added, no folder
    assert worker_metrics.install(broker, settings) is False
    assert not (tmp_path / "worker").exists()
    # In a worker process of the command: the middleware, serving our folder through `serve`
    monkeypatch.setitem(sys.modules, "dramatiq.cli", sys.modules["dramatiq"])
    assert worker_metrics.install(broker, settings) is True
    added = broker.middleware[-1]
    assert type(added).__mro__[1].__name__ == "Prometheus"
    assert added.forks == [worker_metrics.serve]
    assert os.environ[metrics_dir.ENV] == str(tmp_path / "worker")
    # Port 0 turns the worker endpoint off
    assert worker_metrics.install(StubBroker(), make_settings(metrics_port=0)) is False
