"""webhooks: verified intake, the event log, deduplication and the sweeper."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import dramatiq
import pytest

from tests.conftest import ADMIN_TOKEN, HEADERS, LogCapture, seed_payload
from webhooks.intake import WebhookIntake

APP_SECRET = "app-client-secret"  # make_settings' SHOPIFY_CLIENT_SECRET


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def delivery(
    topic: str = "products/update",
    payload: dict[str, Any] | None = None,
    *,
    shop: str = "mystore.myshopify.com",
    secret: str = APP_SECRET,
    prefix: str = "X-Shopify-",
    event_id: str | None = None,
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload or {"id": 1, "admin_graphql_api_id": "gid://shopify/Product/1"})
    raw = body.encode()
    headers = {
        f"{prefix}Topic": topic,
        f"{prefix}Hmac-Sha256": sign(raw, secret),
        f"{prefix}Shop-Domain": shop,
        f"{prefix}API-Version": "2026-07",
        f"{prefix}Webhook-Id": str(uuid.uuid4()),
        f"{prefix}Event-Id": event_id or str(uuid.uuid4()),
        f"{prefix}Triggered-At": "2026-11-22T10:00:00.123456Z",
        "Content-Type": "application/json",
    }
    return raw, headers


@pytest.fixture
def store(client: Any) -> Any:
    assert client.post("/api/config/sync", json=seed_payload(), headers=HEADERS).status_code == 202
    return client


def _events(mock_mongo: Any) -> list[dict[str, Any]]:
    return list(mock_mongo.mystore.webhookevents.find())


def _webhook_messages(stub_broker: Any) -> int:
    return stub_broker.queues["webhooks"].qsize() if "webhooks" in stub_broker.queues else 0


def test_a_valid_delivery_is_logged_once_and_enqueued(
    store: Any, mock_mongo: Any, stub_broker: Any
) -> None:
    body, headers = delivery(event_id="evt-1")
    answer = store.post("/webhooks/shopify", data=body, headers=headers)
    assert answer.status_code == 200 and answer.get_json()["status"] == "queued"
    [event] = _events(mock_mongo)
    assert event["_id"] == "evt-1:products/update"
    assert (event["topic"], event["shopDomain"], event["status"]) == (
        "products/update",
        "mystore.myshopify.com",
        "queued",
    )
    assert event["payload"]["admin_graphql_api_id"] == "gid://shopify/Product/1"
    assert event["triggeredAt"].year == 2026 and event["apiVersion"] == "2026-07"
    assert _webhook_messages(stub_broker) == 1
    # When Shopify delivers the same event again
    again = store.post("/webhooks/shopify", data=body, headers=headers)
    assert again.status_code == 200 and again.get_json()["status"] == "duplicate"
    assert len(_events(mock_mongo)) == 1 and _webhook_messages(stub_broker) == 1


def test_same_event_of_two_topics_are_two_events(store: Any, mock_mongo: Any) -> None:
    for topic in ("products/update", "collections/update"):
        body, headers = delivery(topic, event_id="evt-2")
        assert store.post("/webhooks/shopify", data=body, headers=headers).status_code == 200
    assert {e["_id"] for e in _events(mock_mongo)} == {
        "evt-2:products/update",
        "evt-2:collections/update",
    }


def test_unprefixed_headers_are_accepted(store: Any, mock_mongo: Any) -> None:
    body, headers = delivery(prefix="Shopify-")
    assert store.post("/webhooks/shopify", data=body, headers=headers).status_code == 200
    assert len(_events(mock_mongo)) == 1


@pytest.mark.parametrize("tamper", ["wrong-secret", "no-hmac", "body-changed", "not-base64"])
def test_bad_or_missing_hmac_is_401_and_nothing_is_stored(
    store: Any, mock_mongo: Any, stub_broker: Any, tamper: str
) -> None:
    body, headers = delivery(secret="wrong" if tamper == "wrong-secret" else APP_SECRET)
    if tamper == "no-hmac":
        del headers["X-Shopify-Hmac-Sha256"]
    if tamper == "body-changed":
        body = body.replace(b"1", b"2")
    if tamper == "not-base64":
        headers["X-Shopify-Hmac-Sha256"] = "%%%"
    answer = store.post("/webhooks/shopify", data=body, headers=headers)
    assert answer.status_code == 401 and answer.get_json()["error"]["code"] == "invalid_hmac"
    assert _events(mock_mongo) == [] and _webhook_messages(stub_broker) == 0


def test_unknown_shop_is_404_but_only_with_a_valid_hmac(store: Any, mock_mongo: Any) -> None:
    body, headers = delivery(shop="stranger.myshopify.com")
    assert store.post("/webhooks/shopify", data=body, headers=headers).status_code == 404
    body, headers = delivery(shop="stranger.myshopify.com", secret="guess")
    assert store.post("/webhooks/shopify", data=body, headers=headers).status_code == 401
    assert _events(mock_mongo) == []


def test_a_clients_own_secret_replaces_the_apps_and_rotation_is_accepted(
    client: Any,
    mock_mongo: Any,
    app: Any,
) -> None:
    payload = seed_payload(webhookSecret="whsec_store_own_0001")
    assert client.post("/api/config/sync", json=payload, headers=HEADERS).status_code == 202
    body, headers = delivery(secret="whsec_store_own_0001")
    assert client.post("/webhooks/shopify", data=body, headers=headers).status_code == 200
    body, headers = delivery()  # the app secret no longer fits this store
    assert client.post("/webhooks/shopify", data=body, headers=headers).status_code == 401


def test_previous_app_secret_is_accepted_during_rotation(
    settings: Any, mock_mongo: Any, stub_broker: Any
) -> None:
    from app import create_app
    from tests.conftest import make_settings

    app = create_app(
        make_settings(
            shopify_client_secret="new-secret", shopify_previous_client_secret=APP_SECRET
        ),
        mongo_client=mock_mongo,
    )
    client = app.test_client()
    client.post("/api/config/sync", json=seed_payload(), headers=HEADERS)
    for secret in ("new-secret", APP_SECRET):
        body, headers = delivery(secret=secret)
        assert client.post("/webhooks/shopify", data=body, headers=headers).status_code == 200
    body, headers = delivery(secret="older-still")
    assert client.post("/webhooks/shopify", data=body, headers=headers).status_code == 401


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ("no-topic", 400, "X-Shopify-Topic"),
        ("no-ids", 400, "X-Shopify-Webhook-Id"),
        ("not-json", 400, "body"),
    ],
)
def test_malformed_signed_deliveries_are_400(
    store: Any, mock_mongo: Any, change: str, status: int, field: str
) -> None:
    body, headers = delivery()
    if change == "no-topic":
        del headers["X-Shopify-Topic"]
    if change == "no-ids":
        del headers["X-Shopify-Webhook-Id"], headers["X-Shopify-Event-Id"]
    if change == "not-json":
        body = b"{not json"
        headers["X-Shopify-Hmac-Sha256"] = sign(body)
    answer = store.post("/webhooks/shopify", data=body, headers=headers)
    assert answer.status_code == status and answer.get_json()["error"]["field"] == field
    assert _events(mock_mongo) == []


def test_a_body_over_the_webhook_limit_is_413(store: Any, mock_mongo: Any, app: Any) -> None:
    hooks = app.extensions["shopsync.webhooks"]
    hooks.webhook_max_body_bytes = 2048
    body, headers = delivery(payload={"id": 1, "padding": "x" * 4096})
    assert store.post("/webhooks/shopify", data=body, headers=headers).status_code == 413
    small, headers = delivery()
    assert store.post("/webhooks/shopify", data=small, headers=headers).status_code == 200


def test_with_redis_down_deliveries_are_still_logged_and_answered(
    store: Any, mock_mongo: Any, app: Any
) -> None:
    from webhooks.sweeper import requeue_waiting

    intake: WebhookIntake = app.extensions["shopsync.webhooks"].intake

    def broker_down(client_key: str, event_id: str) -> None:
        raise dramatiq.errors.BrokerConnectionError("redis is down")

    intake._send = broker_down  # noqa: SLF001 - the broker outage, simulated at its edge
    body, headers = delivery(event_id="evt-down")
    assert store.post("/webhooks/shopify", data=body, headers=headers).status_code == 200
    [event] = _events(mock_mongo)
    assert event["status"] == "queued"
    # The clock's sweeper sends it once it has waited long enough
    services = _services_for(app)
    sent: list[tuple[str, str]] = []
    mock_mongo.mystore.webhookevents.update_one(
        {"_id": event["_id"]}, {"$set": {"receivedAt": event["receivedAt"].replace(year=2025)}}
    )
    assert requeue_waiting(services, lambda k, e: sent.append((k, e))) == 1
    assert sent == [("mystore", "evt-down:products/update")]


def _age(mock_mongo: Any, event_id: str, *fields: str) -> None:
    long_ago = {key: datetime(2025, 1, 1, tzinfo=UTC) for key in fields}
    mock_mongo.mystore.webhookevents.update_one({"_id": event_id}, {"$set": long_ago})


def test_the_sweeper_backs_off_and_counts_only_real_sends(
    store: Any, mock_mongo: Any, app: Any
) -> None:
    from webhooks.events import MAX_REQUEUES
    from webhooks.sweeper import requeue_waiting

    # Given an event whose message never reached a worker
    body, headers = delivery(event_id="evt-slow")
    assert store.post("/webhooks/shopify", data=body, headers=headers).status_code == 200
    event_id = "evt-slow:products/update"
    _age(mock_mongo, event_id, "receivedAt")
    services = _services_for(app)
    sent: list[tuple[str, str]] = []

    def send(key: str, event: str) -> None:
        sent.append((key, event))

    # When the clock ticks twice in a row, it is re-sent once: a backlog is not a lost message
    assert requeue_waiting(services, send) == 1
    assert requeue_waiting(services, send) == 0
    [event] = _events(mock_mongo)
    assert event["requeues"] == 1
    assert event["status"] == "queued"

    # When the broker is down at the next re-send, that attempt is not counted
    def broker_down(key: str, event: str) -> None:
        raise dramatiq.errors.BrokerConnectionError("redis is down")

    _age(mock_mongo, event_id, "nextSendAt")
    with pytest.raises(dramatiq.errors.BrokerConnectionError):
        requeue_waiting(services, broker_down)
    assert _events(mock_mongo)[0]["requeues"] == 1

    # Then, after MAX_REQUEUES real re-sends, the event is given up on, not sent forever
    for _ in range(MAX_REQUEUES - 1):
        _age(mock_mongo, event_id, "nextSendAt")
        assert requeue_waiting(services, send) == 1
    _age(mock_mongo, event_id, "nextSendAt")
    assert requeue_waiting(services, send) == 0
    [event] = _events(mock_mongo)
    assert (event["status"], event["requeues"]) == ("failed", MAX_REQUEUES)
    assert len(sent) == MAX_REQUEUES


def _services_for(app: Any) -> Any:
    from sync.runtime import build_services

    context = app.extensions["shopsync"]
    return build_services(context.settings, context.mongo)


def test_secrets_never_reach_the_event_log_or_a_log_line(
    store: Any, mock_mongo: Any, app: Any, log_capture: LogCapture
) -> None:
    # Given deliveries: a valid one, a forged one, and one left queued by a broker outage
    body, headers = delivery()
    store.post("/webhooks/shopify", data=body, headers=headers)
    forged_body, forged = delivery(secret="not-the-secret")
    assert store.post("/webhooks/shopify", data=forged_body, headers=forged).status_code == 401
    _break_the_broker(app)
    queued_body, queued = delivery(event_id="evt-left-queued")
    assert store.post("/webhooks/shopify", data=queued_body, headers=queued).status_code == 200
    # Then neither the event log nor a log line (text and json) holds a secret or signature
    text = json.dumps(_events(mock_mongo), default=str) + log_capture.text()
    assert "evt-left-queued" in log_capture.text()  # the outage was logged
    for secret in (APP_SECRET, ADMIN_TOKEN, headers["X-Shopify-Hmac-Sha256"],
                   forged["X-Shopify-Hmac-Sha256"], queued["X-Shopify-Hmac-Sha256"]):  # fmt: skip
        assert secret not in text


def _break_the_broker(app: Any) -> None:
    def broker_down(client_key: str, event_id: str) -> None:
        raise dramatiq.errors.BrokerConnectionError("redis is down")

    app.extensions["shopsync.webhooks"].intake._send = broker_down  # noqa: SLF001


def test_a_delivery_left_queued_is_logged_with_its_store_and_event(
    store: Any, app: Any, log_capture: LogCapture
) -> None:
    # Given a broker outage
    _break_the_broker(app)
    # When a delivery comes in
    body, headers = delivery(event_id="evt-9")
    assert store.post("/webhooks/shopify", data=body, headers=headers).status_code == 200
    # Then the warning names the store and the event, as fields
    [line] = [line for line in log_capture.lines() if "left queued" in line]
    if log_capture.format == "json":
        record = json.loads(line)
        assert (record["clientKey"], record["eventId"]) == ("mystore", "evt-9:products/update")
        assert record["level"] == "warning" and record["logger"] == "webhooks.intake"
    else:
        assert "clientKey=mystore" in line and "eventId=evt-9:products/update" in line


@pytest.mark.real
def test_failed_registration_is_reported_and_retried_without_failing_the_config(
    mock_mongo: Any, stub_broker: Any, redis_url: str, fake: Any
) -> None:
    from app import create_app
    from tests.conftest import make_settings
    from tests.fakeshopify import generate_store

    shop = fake.add_shop("unregistered", data=generate_store(seed=8, products=2))
    shop.configure(error_rate=1.0)  # Shopify answers 502 to everything
    app = create_app(
        make_settings(redis_url=redis_url, public_url="http://127.0.0.1:9000"),
        mongo_client=mock_mongo,
    )
    payload = seed_payload(
        "unregistered",
        apiBaseUrl=shop.admin_base_url,
        adminApiBaseUrl=shop.admin_base_url,
        shopDomain=shop.shop_domain,
        adminShopToken=shop.token,
    )
    answer = app.test_client().post("/api/config/sync", json=payload, headers=HEADERS)
    assert answer.status_code == 202
    webhooks = answer.get_json()["webhooks"]
    assert webhooks["status"] == "failed" and webhooks["retry"] == "queued"
    assert shop.token not in answer.get_data(as_text=True)
    assert _webhook_messages(stub_broker) == 1  # register_store_webhooks, retried by a worker
    stored = mock_mongo.appconfig.shops.find_one({"_id": shop.shop_domain})
    assert stored["webhookRegistrationError"]


@pytest.mark.real
def test_a_refused_token_is_not_retried_and_marks_needs_auth(
    mock_mongo: Any, stub_broker: Any, redis_url: str, fake: Any
) -> None:
    from app import create_app
    from tests.conftest import make_settings
    from tests.fakeshopify import generate_store

    shop = fake.add_shop("refused", data=generate_store(seed=9, products=2))
    app = create_app(
        make_settings(redis_url=redis_url, public_url="http://127.0.0.1:9000"),
        mongo_client=mock_mongo,
    )
    payload = seed_payload(
        "refused",
        apiBaseUrl=shop.admin_base_url,
        adminApiBaseUrl=shop.admin_base_url,
        shopDomain=shop.shop_domain,
        adminShopToken="shpat_not_the_right_one_0000",
    )
    answer = app.test_client().post("/api/config/sync", json=payload, headers=HEADERS)
    webhooks = answer.get_json()["webhooks"]
    assert answer.status_code == 202 and webhooks["status"] == "failed"
    assert webhooks["retry"].startswith("not queued")
    assert _webhook_messages(stub_broker) == 0
    assert mock_mongo.appconfig.clients.find_one({"_id": "refused"})["status"] == "needs_auth"
    assert "shpat_not_the_right_one" not in answer.get_data(as_text=True)


@pytest.mark.real
def test_group_commit_gives_each_request_its_own_outcome(real_mongo: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from webhooks.group_insert import GroupInserter

    inserter, events = GroupInserter(), real_mongo.grouped.webhookevents
    events.insert_one({"_id": "dup-0"})
    ids = [f"dup-{n % 50}" if n % 3 == 0 else f"new-{n}" for n in range(300)]
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda event_id: inserter.insert(events, {"_id": event_id}), ids))
    # Exactly one request per distinct id wins; every other one is told it is a duplicate
    winners = [event_id for event_id, won in zip(ids, results, strict=True) if won]
    assert sorted(winners) == sorted(set(ids) - {"dup-0"})
    assert events.count_documents({}) == len(set(ids))
