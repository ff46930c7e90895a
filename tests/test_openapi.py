"""The OpenAPI document: schemas generated from the pydantic models, and real answers of every
operation validating against it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import httpx
import pytest
import redis

from config_db.models import CLIENT_KEY_PATTERN, ClientConfig, ClientPatch
from tests.conftest import HEADERS, close_app, make_settings, seed_payload
from tests.fakeshopify import FakeShopify, generate_store
from tests.openapi_check import DocumentedAnswers
from tests.test_webhooks import delivery

APP_ID, APP_SECRET = "fake-client-id", "app-client-secret"
REF = "#/components/schemas/"


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _json_schema(response: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = response["content"]["application/json"]["schema"]
    return schema


# --- the document --------------------------------------------------------------------------


def test_request_bodies_are_the_models_that_validate_them(client: Any) -> None:
    # Given the document
    document = client.get("/api/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    paths = document["paths"]
    # Then request bodies refer to the models the routes validate with
    config_body = paths["/api/config/sync"]["post"]["requestBody"]
    patch_body = paths["/api/config/clients/{clientKey}"]["patch"]["requestBody"]
    sync_body = paths["/api/stores/{clientKey}/sync"]["post"]["requestBody"]
    assert _json_schema(config_body) == {"$ref": REF + "ClientConfig"}
    assert _json_schema(patch_body) == {"$ref": REF + "ClientPatch"}
    assert _json_schema(sync_body) == {"$ref": REF + "SyncRequest"}
    assert sync_body["required"] is False  # no body is a full sync
    # And each carries the model's fields, constraints and unknown-field refusal
    config = schemas["ClientConfig"]
    assert set(config["properties"]) == set(ClientConfig.model_fields)
    assert set(config["required"]) == {"clientKey", "adminApiBaseUrl"}
    assert config["additionalProperties"] is False
    assert config["properties"]["clientKey"]["pattern"] == CLIENT_KEY_PATTERN
    assert set(schemas["ClientPatch"]["properties"]) == set(ClientPatch.model_fields)
    assert schemas["SyncRequest"]["properties"]["mode"]["enum"] == ["full", "incremental"]


def test_every_ref_resolves_and_every_error_answer_has_the_error_shape(client: Any) -> None:
    document = client.get("/api/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    assert {ref.removeprefix(REF) for ref in _refs(document)} <= set(schemas)
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert any(int(status) < 400 for status in operation["responses"]), (method, path)
            for status, response in operation["responses"].items():
                if int(status) < 400:
                    continue
                model = schemas[_json_schema(response)["$ref"].removeprefix(REF)]
                where = (method, path, status)
                assert model["properties"]["error"] == {"$ref": REF + "ErrorDetail"}, where
                assert "error" in model["required"], where


# --- real answers --------------------------------------------------------------------------


def _small_store(seed: int, products: int) -> Any:
    return generate_store(
        seed=seed, products=products, big_product_variants=3, collections=2,
        big_collection_members=4, blogs=1, articles_per_blog=2, themes=1, files=1,
        discounts=2, big_discount_codes=3, new_model_collections=0,
    )  # fmt: skip


@pytest.fixture
def documented(
    mongo_uri: str,
    redis_url: str,
    real_mongo: Any,
    stub_broker: Any,
    stub_worker: Any,
    fake: FakeShopify,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Any]:
    """The app in-process on SecantusDB and Redis, its jobs run by an in-process worker, the
    fake Shopify over HTTP, app install configured."""
    from config_db.mongo import MongoConnection
    from sync import tasks
    from sync.runtime import build_services

    url = redis_url.rsplit("/", 1)[0] + "/8"
    redis.Redis.from_url(url).flushdb()
    settings = make_settings(
        mongodb_uri=mongo_uri, redis_url=url, shopify_client_id=APP_ID,
        shopify_client_secret=APP_SECRET, public_url="http://127.0.0.1:9",
        shopify_admin_url=f"{fake.url}/shops/{{shop}}",
        store_concurrency=8, bulk_poll_max_seconds=0.5,  # every resource at once, short polls
    )  # fmt: skip
    services = build_services(settings, MongoConnection(settings))
    monkeypatch.setattr(tasks, "worker_services", lambda: services)
    from app import create_app

    app = create_app(settings)
    yield app
    close_app(app)
    services.mongo.close()


class Scenario:
    """Calls the app in-process and checks each answer against the document."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.http = app.test_client()
        self.answers = DocumentedAnswers(self.http.get("/api/openapi.json").get_json())

    def call(self, method: str, path: str, *, key: bool = True, **options: Any) -> Any:
        headers = {**(HEADERS if key else {}), **options.pop("headers", {})}
        answer = self.http.open(path, method=method, headers=headers, **options)
        return self.answers.check_flask(self.app, answer)

    def wait_job(self, client_key: str, job_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + 60
        while True:
            job: dict[str, Any] = self.call(
                "GET", f"/api/stores/{client_key}/sync/jobs/{job_id}"
            ).json
            if job["status"] in ("completed", "failed") or time.monotonic() > deadline:
                return job
            time.sleep(0.1)


def _configure(run: Scenario, fake: FakeShopify) -> tuple[Any, dict[str, Any]]:
    shop = fake.add_shop("documented", data=_small_store(seed=5, products=6))
    shop.configure(bucket_max=2000, restore_rate=1000, webhooks_enabled=False)
    payload = seed_payload("documented", apiBaseUrl=shop.admin_base_url,
                           adminApiBaseUrl=shop.admin_base_url, shopDomain=shop.shop_domain,
                           adminShopToken=shop.token)  # fmt: skip
    saved = run.call("POST", "/api/config/sync", json=payload)
    assert saved.status_code == 202, saved.json
    return shop, saved.json


def _read_store(run: Scenario, shop: Any, real_mongo: Any) -> None:
    """Every read route, by clientKey and by shop domain, with a next page."""
    store_db = real_mongo.documented
    product = quote(store_db.products.find_one({"deleted": False})["_id"], safe="")
    collection = store_db.collections.find_one({"productIds.0": {"$exists": True}})
    collection_id = collection["_id"].rsplit("/", 1)[1]  # the numeric id form
    discount = quote(store_db.discounts.find_one({"codesCount": {"$gt": 1}})["_id"], safe="")
    for base in ("/api/stores/documented", f"/api/shops/{shop.shop_domain}"):
        page = run.call("GET", f"{base}/products?limit=2")
        assert len(page.json["items"]) == 2 and page.json["nextCursor"], page.json
        run.call("GET", f"{base}/products", query_string={"cursor": page.json["nextCursor"]})
        assert run.call("GET", f"{base}/products/{product}").status_code == 200
        members = run.call("GET", f"{base}/collections/{collection_id}/products?limit=1")
        codes = run.call("GET", f"{base}/discounts/{discount}/codes?limit=1")
        assert members.json["items"] and codes.json["items"] and codes.json["nextCursor"]
        run.call("GET", f"{base}/media?limit=3")
        run.call("GET", f"{base}/themedatas?limit=1")
        run.call("GET", f"{base}/webhookevents?include_deleted=true")


def _install(run: Scenario, fake: FakeShopify) -> None:
    """The app install: /auth/install, the fake's authorize page, /auth/callback."""
    shop = fake.add_shop("installedapp", data=_small_store(seed=6, products=2))
    shop.configure(bucket_max=2000, restore_rate=1000, webhooks_enabled=False)
    install = run.call("GET", "/auth/install", key=False, query_string={"shop": shop.shop_domain})
    assert install.status_code == 302
    approved = httpx.get(install.headers["Location"], timeout=10)
    params = dict(parse_qsl(urlsplit(approved.headers["location"]).query))
    installed = run.call("GET", "/auth/callback", key=False, query_string=params)
    assert installed.status_code == 200 and installed.json["clientKey"] == "installedapp"
    run.wait_job("installedapp", installed.json["syncJobId"])


def _errors(run: Scenario) -> None:
    """The error answers: 400, 401, 404, 409, 413, 415."""
    statuses = [
        run.call("GET", "/api/stores/documented/products?limit=999").status_code,
        run.call("POST", "/api/config/sync", json={"clientKey": "x", "bogus": 1}).status_code,
        run.call("POST", "/api/stores/documented/sync", json={"mode": "partial"}).status_code,
        run.call("GET", "/api/config/clients", key=False).status_code,
        run.call("GET", "/api/config/clients/nobody").status_code,
        run.call("GET", "/api/stores/documented/nothing").status_code,
        run.call("GET", "/api/stores/documented/sync/jobs/nojob").status_code,
        run.call("POST", "/api/config/sync", json=seed_payload("DOCUMENTED")).status_code,
        run.call("POST", "/api/config/sync", data=b"x" * 1_100_000,
                 content_type="application/json").status_code,
        run.call("POST", "/api/config/sync", data="{}", content_type="text/plain").status_code,
    ]  # fmt: skip
    assert statuses == [400, 400, 400, 401, 404, 404, 404, 409, 413, 415]


@pytest.mark.real
def test_real_answers_of_every_operation_match_the_document(
    documented: Any, fake: FakeShopify, real_mongo: Any
) -> None:
    run = Scenario(documented)
    # Given a configured store, fully synced by a worker
    run.call("GET", "/health", key=False)
    run.call("GET", "/health/ready", key=False)
    run.call("GET", "/api/openapi.json", key=False)
    shop, saved = _configure(run, fake)
    assert saved["webhooks"]["status"] == "registered" and saved["auth"]["scopes"]
    job = run.wait_job("documented", saved["syncJobId"])
    assert job["status"] == "completed" and job["resources"]["products"]["path"] == "bulk", job
    # When every operation is called (the store's reads, clients, syncs, webhooks, auth)
    _read_store(run, shop, real_mongo)
    run.call("GET", "/api/config/clients")
    run.call("GET", "/api/config/clients/documented")
    run.call("PATCH", "/api/config/clients/documented", json={"appName": "Renamed"})
    started = run.call("POST", "/api/stores/documented/sync", json={"mode": "incremental"})
    run.wait_job("documented", started.json["syncJobId"])
    run.call("GET", "/api/stores/documented/sync/jobs?limit=5")
    body, headers = delivery(shop=shop.shop_domain, secret=APP_SECRET)
    for _ in range(2):  # queued, then a duplicate
        run.call("POST", "/webhooks/shopify", data=body, headers=headers, key=False)
    run.call("GET", "/api/stores/documented/webhookevents")
    run.call("POST", "/api/stores/documented/webhooks/register")
    run.call("POST", "/api/stores/documented/auth/migrate")
    _install(run, fake)
    shop.configure(error_rate=1.0)  # Shopify answers 502 to everything
    assert run.call("POST", "/api/stores/documented/webhooks/register").status_code == 502
    _errors(run)
    assert run.call("GET", "/metrics", key=False).status_code == 200
    run.call("DELETE", "/api/config/clients/documented")
    # Then every answer matched its documented schema (checked in run.call), and every
    # operation of the document was seen answering
    documented_operations = {
        (method, path) for path, item in run.answers.document["paths"].items() for method in item
    }
    assert {(method, path) for method, path, _ in run.answers.seen} == documented_operations
    statuses = {status for _, _, status in run.answers.seen}
    assert {200, 202, 302, 400, 401, 404, 409, 413, 415, 502} <= statuses
