"""The application as a whole: auth, errors, OpenAPI, health and the real end-to-end path."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from app import create_app
from tests.conftest import (
    ADMIN_TOKEN,
    API_KEY,
    HEADERS,
    SECRET_KEY,
    STOREFRONT_TOKEN,
    LogCapture,
    close_app,
    make_settings,
    seed_payload,
)
from tests.fakeshopify import generate_store
from tests.harness import Stack, json_lines, start_stack
from tests.openapi_check import openapi_path

SECRETS = (ADMIN_TOKEN, STOREFRONT_TOKEN, SECRET_KEY, API_KEY)


# --- auth and errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"}, {"Authorization": API_KEY}],
)
def test_api_needs_the_key(client: Any, headers: dict[str, str]) -> None:
    answer = client.get("/api/config/clients", headers=headers)
    assert answer.status_code == 401
    assert answer.get_json()["error"]["code"] == "unauthorized"


def test_bearer_key_is_accepted(client: Any) -> None:
    answer = client.get("/api/config/clients", headers={"Authorization": f"Bearer {API_KEY}"})
    assert answer.status_code == 200


def test_public_endpoints_need_no_key(client: Any) -> None:
    assert client.get("/health").status_code == 200
    assert client.get("/api/openapi.json").status_code == 200


def test_unknown_route_and_method_answer_json(client: Any) -> None:
    missing = client.get("/nothing-here")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"
    wrong = client.put("/api/config/sync", headers=HEADERS)
    assert wrong.status_code == 405 and "error" in wrong.get_json()


def test_unexpected_errors_are_json_500_without_details(app: Any) -> None:
    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError(f"leaky {ADMIN_TOKEN}")

    answer = app.test_client().get("/boom")
    assert answer.status_code == 500
    assert answer.get_json() == {"error": {"code": "internal_error", "message": "internal error"}}


# --- OpenAPI --------------------------------------------------------------------------------


def test_every_route_is_documented_and_nothing_else(app: Any, client: Any) -> None:
    document = client.get("/api/openapi.json").get_json()
    assert document["openapi"].startswith("3.1")
    routes = {
        (openapi_path(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert routes == documented


# --- health ---------------------------------------------------------------------------------


@pytest.mark.real
def test_ready_names_what_is_down(mongo_uri: str, real_mongo: Any, stub_broker: Any) -> None:
    app = create_app(make_settings(mongodb_uri=mongo_uri, redis_url="redis://127.0.0.1:1/0"))
    answer = app.test_client().get("/health/ready")
    close_app(app)
    assert answer.status_code == 503
    assert set(answer.get_json()["down"]) == {"redis"}


def test_ready_names_mongodb_when_it_is_down(stub_broker: Any) -> None:
    settings = make_settings(mongodb_uri="mongodb://127.0.0.1:1", mongo_timeout_seconds=0.3)
    app = create_app(settings)
    answer = app.test_client().get("/health/ready")
    close_app(app)
    assert answer.status_code == 503
    assert set(answer.get_json()["down"]) == {"mongodb", "redis"}


# --- no secret in answers or logs (in-process) ---------------------------------------------


def test_no_secret_in_any_answer_or_log_line(
    client: Any, caplog: pytest.LogCaptureFixture, log_capture: LogCapture
) -> None:
    caplog.set_level(logging.DEBUG)
    answers = [
        client.post("/api/config/sync", json=seed_payload(), headers=HEADERS),
        client.post("/api/config/sync", json=seed_payload(adminShopToken=7), headers=HEADERS),
        client.post(
            "/api/config/sync",
            json=seed_payload(adminShopToken=ADMIN_TOKEN + "\n"),
            headers=HEADERS,
        ),
        client.get("/api/config/clients", headers=HEADERS),
        client.get("/api/config/clients/mystore", headers=HEADERS),
        client.patch("/api/config/clients/mystore", json={"appName": "x"}, headers=HEADERS),
        client.get("/api/stores/mystore/sync/jobs", headers=HEADERS),
    ]
    text = "\n".join(a.get_data(as_text=True) for a in answers) + caplog.text
    text += log_capture.text()  # the lines as the processes write them (text and json)
    for secret in SECRETS:
        assert secret not in text


# --- the real path: gunicorn + Dramatiq worker + Redis + SecantusDB -------------------------


@pytest.fixture(scope="module")
def real_stack(log_dir: Path, mongo_uri: str, redis_url: str) -> Iterator[Stack]:
    # JSON logs: the real path's secret check covers that format (other stacks log text).
    redis_db = redis_url.rsplit("/", 1)[0] + "/3"
    stack = start_stack("app", log_dir, mongo_uri, redis_db, SHOPSYNC_LOG_FORMAT="json")
    yield stack
    stack.stop()


@pytest.mark.real
def test_seed_payload_end_to_end_through_real_services(
    real_stack: Stack, real_mongo: MongoClient[dict[str, Any]], fake: Any
) -> None:
    # Given the real web process and a real worker on Redis and SecantusDB, and a shop
    shop = fake.add_shop("mystore", token=ADMIN_TOKEN, data=generate_store(seed=5, products=8))
    shop.configure(bucket_max=2000, restore_rate=1000)
    payload = seed_payload(
        apiBaseUrl=shop.admin_base_url,
        adminApiBaseUrl=shop.admin_base_url,
        shopDomain="mystore.myshopify.com",
    )
    with real_stack.http() as http:
        assert http.get("/health/ready").status_code == 200
        # When the customer's example payload is posted (loopback URLs)
        answer = http.post("/api/config/sync", json=payload)
        assert answer.status_code == 202, answer.text
        body = answer.json()
        # Then the client, the shop and the store database with its indexes exist
        client_doc = real_mongo.appconfig.clients.find_one({"_id": "mystore"})
        assert client_doc["shopDomain"] == "mystore.myshopify.com"
        assert real_mongo.appconfig.shops.find_one({"_id": "mystore.myshopify.com"})
        assert body["database"] in real_mongo.list_database_names()
        assert "handle_1" in real_mongo.mystore.products.index_information()
        # And the real worker consumes the message and completes the job
        job = real_stack.wait_job("mystore", body["syncJobId"], timeout=60)
        assert job["status"] == "completed", job
        assert job["startedAt"] and job["finishedAt"]
        products = http.get("/api/stores/mystore/products?limit=250").json()["items"]
        assert len(products) == 8
        assert not any(key.startswith("_") and key != "_id" for doc in products for key in doc)
        # And a 2 MB body over real HTTP is refused with a JSON 413, nothing written
        huge = json.dumps(seed_payload("huge", padding="x" * 2_000_000))
        for _ in range(3):
            too_big = http.post(
                "/api/config/sync", content=huge, headers={"Content-Type": "application/json"}
            )
            assert too_big.status_code == 413 and too_big.json()["error"]["code"]
        assert real_mongo.appconfig.clients.count_documents({}) == 1
        listed = http.get("/api/config/clients").text
    # And no secret ever reached a response or a log line of either process
    logs = real_stack.logs()
    for secret in SECRETS:
        assert secret not in listed + answer.text + logs


@pytest.mark.real
def test_web_and_worker_log_json_lines_naming_store_job_and_resource(
    real_stack: Stack, fake: Any
) -> None:
    # Given the real web and worker processes with SHOPSYNC_LOG_FORMAT=json, and a shop
    shop = fake.add_shop("jsonlogs", data=generate_store(seed=6, products=4))
    shop.configure(bucket_max=2000, restore_rate=1000)
    # When the store is configured and synced
    job_id = real_stack.configure(shop)
    assert real_stack.wait_job("jsonlogs", job_id, timeout=60)["status"] == "completed"
    # Then every line either process wrote is a JSON object with the standard fields
    web = json_lines(real_stack.web.log())
    worker = [line for process in real_stack.workers for line in json_lines(process.log())]
    for line in web + worker:
        assert {"timestamp", "level", "logger", "message", "process"} <= line.keys(), line
    # And gunicorn's and Dramatiq's own lines are among them (its main process too)
    assert any(line["logger"] == "gunicorn.error" for line in web)
    assert any("booting up" in line["message"] for line in worker)
    assert any("ready for action" in line["message"] for line in worker)
    # And the web names the store and job it created; the worker, each resource run of it
    assert any(line.get("clientKey") == "jsonlogs" and line.get("jobId") == job_id for line in web)
    ours = [line for line in worker if line.get("clientKey") == "jsonlogs"]
    runs = {line["resource"] for line in ours if line.get("jobId") == job_id and "resource" in line}
    assert {"products", "collections"} <= runs, runs
