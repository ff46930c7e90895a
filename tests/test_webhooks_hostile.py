"""POST /webhooks/shopify under hostile input: every refusal is a 4xx in the JSON error shape,
writes nothing, and leaves every other delivery (concurrent or later) unaffected."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import time
import uuid
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import mongomock
import pytest
from hypothesis import HealthCheck, event, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pymongo import MongoClient

from config_db.jsonsafe import MAX_JSON_DEPTH
from tests import servers
from tests.conftest import HEADERS, STUB_BROKER, make_settings, seed_payload, service_env
from tests.test_webhooks import APP_SECRET, sign
from webhooks import group_insert
from webhooks.errors import PayloadRefused, PayloadTooLarge
from webhooks.group_insert import GroupInserter

HMAC = "X-Shopify-Hmac-Sha256"
GOOD_BODY = b'{"id": 1, "admin_graphql_api_id": "gid://shopify/Product/1"}'
OVERFLOW_BODY = b'{"id": 18446744073709551616}'  # 2**64: no BSON integer holds it
Headers = dict[str, str]


def too_large_body() -> bytes:
    """An object whose BSON form passes MongoDB's 16 MB limit from a 3 MB body: each array
    item costs 2 bytes of JSON but ~13 of BSON (type, decimal index key, int32)."""
    return b'{"id": 9, "a": [' + b",".join([b"0"] * 1_500_000) + b"]}"


def hostile(
    body: bytes = GOOD_BODY,
    changes: Mapping[str, str | None] | None = None,
    *,
    signed: bool = True,
    event_id: str | None = None,
) -> tuple[bytes, Headers]:
    """A delivery of `body` (signed with the app secret, or not), headers then changed."""
    headers = {
        "X-Shopify-Topic": "products/update",
        HMAC: sign(body, APP_SECRET if signed else "not-the-secret"),
        "X-Shopify-Shop-Domain": "mystore.myshopify.com",
        "X-Shopify-API-Version": "2026-07",
        "X-Shopify-Webhook-Id": str(uuid.uuid4()),
        "X-Shopify-Event-Id": event_id or str(uuid.uuid4()),
        "X-Shopify-Triggered-At": "2026-11-22T10:00:00Z",
        "Content-Type": "application/json",
    }
    for name, value in (changes or {}).items():
        if value is None:
            headers.pop(name, None)
        else:
            headers[name] = value
    return body, headers


def assert_refused(answer: Any, status: int, field: str | None = None) -> dict[str, Any]:
    """The answer is `status` with `{"error": {"code", "message", "field"?}}`."""
    assert answer.status_code == status, answer.get_data(as_text=True)[:300]
    error = answer.get_json()["error"]
    assert isinstance(error["code"], str) and isinstance(error["message"], str)
    assert set(error) <= {"code", "message", "field"}
    if field is not None:
        assert error.get("field") == field
    return dict(error)


class Shop:
    """The app on mongomock with the store `mystore` configured."""

    def __init__(self, client: Any, mongo: Any, broker: Any, app: Any) -> None:
        self.client, self.mongo, self.broker, self.app = client, mongo, broker, app

    def post(self, body: bytes, headers: Headers, **options: Any) -> Any:
        return self.client.post("/webhooks/shopify", data=body, headers=headers, **options)

    def events(self) -> list[dict[str, Any]]:
        return list(self.mongo.mystore.webhookevents.find())

    def messages(self) -> int:
        queue = self.broker.queues.get("webhooks")
        return 0 if queue is None else int(queue.qsize())

    def assert_nothing_written(self) -> None:
        assert self.events() == [] and self.messages() == 0


@pytest.fixture(scope="module")
def configured_shop() -> Shop:
    """Configured once for the module: a config POST costs ~0.5 s, a delivery milliseconds."""
    from app import create_app

    mongo = mongomock.MongoClient(tz_aware=True)
    app = create_app(make_settings(), mongo_client=mongo)
    client = app.test_client()
    assert client.post("/api/config/sync", json=seed_payload(), headers=HEADERS).status_code == 202
    # No Redis in these tests: each try of the duplicate hint would wait on its retries (~0.2 s)
    app.extensions["shopsync.webhooks"].intake._seen = None  # noqa: SLF001
    return Shop(client, mongo, STUB_BROKER, app)


@pytest.fixture
def shop(configured_shop: Shop, stub_broker: Any) -> Shop:
    """`mystore` with an empty event log (stub_broker empties the queues)."""
    configured_shop.mongo.mystore.webhookevents.delete_many({})
    return configured_shop


# --- 1. The HMAC: checked on the raw bytes, before anything reads the body --------------------

VALID_DIGEST = sign(GOOD_BODY)
MALFORMED_HMACS = {
    "non-ascii": "é" * 44,
    "snowman": "\u2603",
    "control-char": "\x01" + VALID_DIGEST[1:],
    "nul-inside": VALID_DIGEST[:10] + "\x00" + VALID_DIGEST[11:],
    "lone-surrogate": "\ud800",
    "31-bytes": base64.b64encode(b"x" * 31).decode(),
    "33-bytes": base64.b64encode(b"x" * 33).decode(),
    "no-padding": VALID_DIGEST.rstrip("="),
    "urlsafe-alphabet": base64.urlsafe_b64encode(b"\xfb\xff" * 16).decode(),
    "space-inside": VALID_DIGEST[:20] + " " + VALID_DIGEST[20:],
    "hex-digest": hmac.new(APP_SECRET.encode(), GOOD_BODY, hashlib.sha256).hexdigest(),
    "padding-only": "====",
    "huge": "A" * 8000,
}


@pytest.mark.parametrize("prefix", ["X-Shopify-", "Shopify-"])
@pytest.mark.parametrize("value", MALFORMED_HMACS.values(), ids=MALFORMED_HMACS.keys())
def test_given_a_malformed_hmac_header_when_delivered_then_401_and_nothing_is_written(
    shop: Shop, value: str, prefix: str
) -> None:
    body, headers = hostile()
    del headers[HMAC]
    headers[f"{prefix}Hmac-Sha256"] = value
    error = assert_refused(shop.post(body, headers), 401, HMAC)
    assert error["code"] == "invalid_hmac"
    shop.assert_nothing_written()


@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unsigned"])
def test_given_a_body_that_is_not_utf8_then_the_hmac_is_still_checked_on_its_bytes(
    shop: Shop, signed: bool
) -> None:
    # Given a body that is not UTF-8 (shopifyapp's helper could not even verify it)
    body, headers = hostile(b'{"id": "\xff\xfe"}', signed=signed)
    # Then a signed one passes the HMAC and is refused as JSON; an unsigned one is a 401
    assert_refused(shop.post(body, headers), 400 if signed else 401, "body" if signed else HMAC)
    shop.assert_nothing_written()


def test_given_the_previous_secret_signed_the_bytes_then_the_delivery_is_accepted(
    mock_mongo: Any, stub_broker: Any
) -> None:
    from app import create_app

    app = create_app(
        make_settings(shopify_client_secret="rotated", shopify_previous_client_secret=APP_SECRET),
        mongo_client=mock_mongo,
    )
    client = app.test_client()
    client.post("/api/config/sync", json=seed_payload(), headers=HEADERS)
    body, headers = hostile(b'{"id": 1, "title": "caf\xc3\xa9"}')  # signed with the previous
    assert client.post("/webhooks/shopify", data=body, headers=headers).status_code == 200


# --- 2. Headers of a signed delivery ----------------------------------------------------------

MALFORMED_HEADERS = [
    ("X-Shopify-Topic", "products/update\x01"),
    ("X-Shopify-Topic", "prodücts/update"),
    ("X-Shopify-Topic", "products"),
    ("X-Shopify-Topic", "products/update/again"),
    ("X-Shopify-Topic", "../../admin"),
    ("X-Shopify-Topic", "products/up date"),
    ("X-Shopify-Topic", "a" * 40 + "/" + "b" * 40),
    ("X-Shopify-Webhook-Id", "w" * 129),
    ("X-Shopify-Webhook-Id", "id with spaces"),
    ("X-Shopify-Webhook-Id", "idé"),
    ("X-Shopify-Webhook-Id", "id\x00nul"),
    ("X-Shopify-Event-Id", "e" * 129),
    ("X-Shopify-Event-Id", "evt\x7f"),
    ("X-Shopify-Event-Id", "\u2603"),
    ("X-Shopify-Shop-Domain", "mystöre.myshopify.com"),
    ("X-Shopify-Shop-Domain", "mystore.myshopify.com\x00"),
    ("X-Shopify-Shop-Domain", "my_store.myshopify.com"),
    ("X-Shopify-Shop-Domain", "-mystore.myshopify.com"),
    ("X-Shopify-Shop-Domain", "mystore..myshopify.com"),
    ("X-Shopify-Shop-Domain", "mystore.myshopify.com:443"),
    ("X-Shopify-Shop-Domain", "https://mystore.myshopify.com"),
    ("X-Shopify-Shop-Domain", "a" * 256),
    ("X-Shopify-Shop-Domain", "{'$ne': null}"),
    ("X-Shopify-API-Version", "2026-07\x01"),
    ("X-Shopify-API-Version", "v" * 33),
    ("X-Shopify-API-Version", "2026 07"),
    ("X-Shopify-API-Version", "versión"),
    ("X-Shopify-Triggered-At", "2026-11-22T10:00:00Z\x1b[31m"),
    ("X-Shopify-Triggered-At", "２０２６-11-22"),
]


@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unsigned"])
@pytest.mark.parametrize(("name", "value"), MALFORMED_HEADERS)
def test_given_a_malformed_shopify_header_then_400_naming_it_once_signed_else_401(
    shop: Shop, name: str, value: str, signed: bool
) -> None:
    body, headers = hostile(changes={name: value}, signed=signed)
    answer = shop.post(body, headers)
    if signed:
        assert_refused(answer, 400, name)
    else:
        assert_refused(answer, 401, HMAC)
    shop.assert_nothing_written()


@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unsigned"])
@pytest.mark.parametrize("domain", ["mystore.myshopify.com\x00", "é.myshopify.com", "x" * 300])
def test_given_an_unparseable_shop_domain_then_no_database_query_is_made(
    shop: Shop, monkeypatch: pytest.MonkeyPatch, domain: str, signed: bool
) -> None:
    # Given a repository that fails the test if the shop is looked up
    intake = shop.app.extensions["shopsync.webhooks"].intake

    def no_query(shop_domain: str) -> None:
        raise AssertionError(f"shop looked up: {shop_domain!r}")

    monkeypatch.setattr(intake._repository, "find_shop", no_query)  # noqa: SLF001
    body, headers = hostile(changes={"X-Shopify-Shop-Domain": domain}, signed=signed)
    # Then it is refused before any query: 400 once signed (app secret), else 401
    assert_refused(shop.post(body, headers), 400 if signed else 401)
    shop.assert_nothing_written()


EDGE_TIMES = [
    "9999-12-31T23:59:59-23:59",  # past datetime.max once moved to UTC
    "0001-01-01T00:00:00+23:59",  # before datetime.min once moved to UTC
    "10000-01-01T00:00:00Z",
    "99999999999999999999",
    "-1",
    "2026-13-45T99:99:99Z",
    "not a time",
]


@pytest.mark.parametrize("triggered_at", EDGE_TIMES)
def test_given_a_triggered_at_datetime_cannot_hold_then_it_is_logged_as_null(
    shop: Shop, triggered_at: str
) -> None:
    body, headers = hostile(changes={"X-Shopify-Triggered-At": triggered_at}, event_id="edge")
    answer = shop.post(body, headers)
    assert answer.status_code == 200, answer.get_json()
    [logged] = shop.events()
    assert logged["triggeredAt"] is None and logged["_id"] == "edge:products/update"


def test_given_an_unsigned_triggered_at_at_the_edge_then_401(shop: Shop) -> None:
    changes = {"X-Shopify-Triggered-At": EDGE_TIMES[1]}
    assert_refused(shop.post(*hostile(changes=changes, signed=False)), 401, HMAC)
    shop.assert_nothing_written()


# --- 3. The JSON body -------------------------------------------------------------------------

HOSTILE_BODIES = {
    "too-deep": (b'{"a":' * (MAX_JSON_DEPTH + 1) + b"1" + b"}" * (MAX_JSON_DEPTH + 1), "body"),
    "100k-brackets": (b"[" * 100_000, "body"),
    "lone-surrogate-value": (b'{"id": 1, "title": "\\ud800"}', "body.title"),
    "lone-surrogate-key": (b'{"\\udfff": 1}', "body"),
    "array": (b"[1, 2]", "body"),
    "string": (b'"products"', "body"),
    "number": (b"1", "body"),
    "null": (b"null", "body"),
    "empty": (b"", "body"),
    "truncated": (b'{"id": 1', "body"),
    "not-utf8": (b'{"id": "\xc3\x28"}', "body"),
    "5000-digit-int": (b'{"id": 1' + b"0" * 5000 + b"}", "body"),
}


@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unsigned"])
@pytest.mark.parametrize(
    ("body", "field"), HOSTILE_BODIES.values(), ids=list(HOSTILE_BODIES.keys())
)
def test_given_a_hostile_json_body_then_400_naming_it_once_signed_else_401(
    shop: Shop, body: bytes, field: str, signed: bool
) -> None:
    started = time.monotonic()
    answer = shop.post(*hostile(body, signed=signed))
    if signed:  # the field names the body, or the path inside it
        assert assert_refused(answer, 400)["field"].startswith(field)
    else:
        assert_refused(answer, 401, HMAC)
    assert time.monotonic() - started < 5  # refused without recursing into it
    shop.assert_nothing_written()


# --- 4. Keys MongoDB cannot store -------------------------------------------------------------

ODD_KEYS_BODY = json.dumps(
    {
        "id": 7,
        "admin_graphql_api_id": "gid://shopify/Product/7",
        "$where": "1",
        "a.b": {"": 1, "c\u0000d": 2, "$set": {"x.y": [{"$in": 3}]}},
    }
).encode()
ESCAPED_PAYLOAD = {
    "id": 7,
    "admin_graphql_api_id": "gid://shopify/Product/7",
    "\uff04where": "1",
    "a\uff0eb": {"\uff3f": 1, "c\u2400d": 2, "\uff04set": {"x\uff0ey": [{"\uff04in": 3}]}},
}


@pytest.fixture
def real_shop(
    real_client: Any, real_mongo: MongoClient[dict[str, Any]], stub_broker: Any, real_app: Any
) -> Shop:
    """The app on the real SecantusDB with the store `mystore` configured."""
    answer = real_client.post("/api/config/sync", json=seed_payload(), headers=HEADERS)
    assert answer.status_code == 202
    return Shop(real_client, real_mongo, stub_broker, real_app)


@pytest.mark.real
def test_given_keys_mongodb_cannot_store_then_the_payload_is_stored_escaped(
    real_shop: Shop,
) -> None:
    answer = real_shop.post(*hostile(ODD_KEYS_BODY, event_id="odd-keys"))
    assert answer.status_code == 200, answer.get_json()
    [logged] = real_shop.events()
    assert logged["payload"] == ESCAPED_PAYLOAD
    # The worker's handlers read `id` and `admin_graphql_api_id`: untouched
    assert logged["payload"]["admin_graphql_api_id"] == "gid://shopify/Product/7"


def test_given_unsigned_keys_mongodb_cannot_store_then_401(shop: Shop) -> None:
    assert_refused(shop.post(*hostile(ODD_KEYS_BODY, signed=False)), 401, HMAC)
    shop.assert_nothing_written()


# --- 5. Group commit: one bad document never fails its neighbours -----------------------------


def _outcome(future: Future[bool]) -> Any:
    error = future.exception(timeout=30)
    return type(error) if error is not None else future.result()


@pytest.mark.real
def test_given_a_batch_with_unstorable_documents_then_each_request_gets_its_own_outcome(
    real_mongo: MongoClient[dict[str, Any]],
) -> None:
    # Given a batch as concurrent requests form it, with documents MongoDB or pymongo refuse
    events = real_mongo.grouped.webhookevents
    events.insert_one({"_id": "old", "receivedAt": "earlier"})
    documents: list[dict[str, Any]] = [
        {"_id": "good-1"},
        {"_id": "overflow", "payload": {"id": 2**64}},  # pymongo refuses the whole insert_many
        {"_id": "good-2"},
        {"_id": "too-large", "payload": "x" * (17 * 1024 * 1024)},  # MongoDB refuses this one
        {"_id": "old", "receivedAt": "now"},  # a duplicate of an event logged before
        {"_id": "good-3"},
    ]
    batch: list[group_insert.Waiting] = [(document, Future()) for document in documents]
    # When it is written
    group_insert._write(events, batch)  # noqa: SLF001 - the batch path itself
    # Then each request has its own outcome, and every good document is in
    outcomes = [_outcome(future) for _, future in batch]
    assert outcomes == [True, PayloadRefused, True, PayloadTooLarge, False, True]
    assert {doc["_id"] for doc in events.find({}, {"_id": 1})} == {
        "old",
        "good-1",
        "good-2",
        "good-3",
    }


def test_given_mongodb_is_down_then_the_batch_fails_once_and_fast_not_per_document() -> None:
    down: MongoClient[dict[str, Any]] = MongoClient(
        "mongodb://127.0.0.1:1", serverSelectionTimeoutMS=300, connectTimeoutMS=300
    )
    batch: list[group_insert.Waiting] = [({"_id": f"e{n}"}, Future()) for n in range(20)]
    started = time.monotonic()
    group_insert._write(down.db.webhookevents, batch)  # noqa: SLF001
    # Then every request sees the outage (the app answers 503), after one timeout, not 20
    from pymongo.errors import ServerSelectionTimeoutError

    assert all(_outcome(f) is ServerSelectionTimeoutError for _, f in batch)
    assert time.monotonic() - started < 3
    down.close()


def test_given_an_unencodable_document_then_insert_refuses_it_alone_before_batching(
    mock_mongo: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    inserter, events = GroupInserter(), mock_mongo.db.webhookevents
    batches: list[int] = []
    real_write = group_insert._write  # noqa: SLF001

    def write(collection: Any, batch: list[group_insert.Waiting]) -> None:
        batches.append(len(batch))
        real_write(collection, batch)

    monkeypatch.setattr(group_insert, "_write", write)
    # When documents BSON cannot hold are inserted, Then each is refused in its own thread
    for document in ({"_id": "n", "payload": {"id": 2**64}}, {"_id": "k", "p": {"k\u0000": 1}}):
        with pytest.raises(PayloadRefused):
            inserter.insert(events, document)
    with pytest.raises(PayloadTooLarge):
        inserter.insert(events, {"_id": "big", "payload": "x" * (16 * 1024 * 1024)})
    assert batches == [] and inserter._pending == {}  # noqa: SLF001 - never joined a batch
    assert inserter.insert(events, {"_id": "good"}) is True and batches == [1]


def _gate_first_batch(
    monkeypatch: pytest.MonkeyPatch, inserter: GroupInserter, expected: int
) -> list[set[str]]:
    """Skip the per-thread encode check, and hold the first batch until `expected` requests
    wait in the inserter: the next batch then surely mixes good and bad documents."""
    batches: list[set[str]] = []
    real_insert_batch = group_insert._insert_batch  # noqa: SLF001

    def queued() -> int:
        return sum(len(waiting) for waiting in inserter._pending.values())  # noqa: SLF001

    def insert_batch(collection: Any, documents: list[dict[str, Any]]) -> Any:
        if not batches:
            servers.wait_until(
                lambda: queued() + len(documents) >= expected, 20, "requests", interval=0.005
            )
        batches.append({str(document["_id"]) for document in documents})
        return real_insert_batch(collection, documents)

    monkeypatch.setattr(group_insert, "check_storable", lambda collection, document: None)
    monkeypatch.setattr(group_insert, "_insert_batch", insert_batch)
    return batches


@pytest.mark.real
@pytest.mark.parametrize("encode_check", [True, False], ids=["encode-check", "batch-fallback"])
def test_given_good_and_bad_signed_deliveries_at_once_then_only_the_bad_ones_fail(
    real_shop: Shop, monkeypatch: pytest.MonkeyPatch, encode_check: bool
) -> None:
    # Given good deliveries mixed with signed ones MongoDB cannot store, and other refusals
    good = [hostile(event_id=f"good-{n}") for n in range(24)]
    unstorable = [
        (hostile(OVERFLOW_BODY, event_id=f"overflow-{n}"), 400, "body") for n in range(3)
    ] + [(hostile(too_large_body(), event_id="too-large"), 413, "body")]
    refused = [
        (hostile(signed=False, event_id="unsigned"), 401, HMAC),
        (hostile(changes={"X-Shopify-Topic": "x"}, event_id="bad-topic"), 400, "X-Shopify-Topic"),
        (hostile(b"[]", event_id="array"), 400, "body"),
    ]
    batches: list[set[str]] = []
    if not encode_check:  # every document joins a batch: insert_many's failure must isolate
        inserter = real_shop.app.extensions["shopsync.webhooks"].intake._inserter  # noqa: SLF001
        batches = _gate_first_batch(monkeypatch, inserter, len(good) + len(unstorable))
    bad = unstorable + refused
    requests: list[tuple[bytes, Headers]] = [*good, *(request for request, _, _ in bad)]

    # When they arrive together, one connection each
    def post(request: tuple[bytes, Headers]) -> Any:
        return real_shop.app.test_client().post(
            "/webhooks/shopify", data=request[0], headers=request[1]
        )

    with ThreadPoolExecutor(len(requests)) as pool:
        answers = list(pool.map(post, requests))

    # Then every good one is 200 and logged, every bad one refused with its own 4xx
    assert [answer.status_code for answer in answers[: len(good)]] == [200] * len(good)
    for answer, (_, status, field) in zip(answers[len(good) :], bad, strict=True):
        assert_refused(answer, status, field)
    logged = {str(doc["_id"]) for doc in real_shop.mongo.mystore.webhookevents.find({}, {"_id": 1})}
    assert logged == {f"good-{n}:products/update" for n in range(24)}
    assert real_shop.messages() == len(good)
    if not encode_check:  # the fallback was exercised: a bad document shared a batch
        assert any(
            any(key.startswith(("overflow", "too-large")) for key in batch) and len(batch) > 1
            for batch in batches
        ), batches


# --- 6. Chunked bodies past the limit ---------------------------------------------------------

LIMIT = 2048


def _chunked(shop: Shop, body: bytes, headers: Headers) -> Any:
    """A body without Content-Length, as gunicorn hands a chunked one over.

    The route's own check is what is tested here: the app's WSGI-level ChunkedBodyLimit
    (config_db.body_limit) holds bodies to the settings' limit, 5 MB in these tests.
    """
    headers = {**headers, "Transfer-Encoding": "chunked"}
    return shop.client.post(
        "/webhooks/shopify",
        input_stream=io.BytesIO(body),
        headers=headers,
        environ_overrides={"wsgi.input_terminated": True},
    )


def _padded(size: int) -> bytes:
    """A JSON object of exactly `size` bytes."""
    start = b'{"id": 1, "padding": "'
    return start + b"x" * (size - len(start) - 2) + b'"}'


@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unsigned"])
@pytest.mark.parametrize("size", [LIMIT + 1, LIMIT * 8])
def test_given_a_chunked_body_over_the_limit_then_413_not_a_truncated_read(
    shop: Shop, monkeypatch: pytest.MonkeyPatch, signed: bool, size: int
) -> None:
    monkeypatch.setattr(shop.app.extensions["shopsync.webhooks"], "webhook_max_body_bytes", LIMIT)
    answer = _chunked(shop, *hostile(_padded(size), signed=signed))
    assert_refused(answer, 413, "body")
    shop.assert_nothing_written()


@pytest.mark.parametrize("size", [LIMIT + 1, LIMIT * 8])
def test_given_a_content_length_over_the_limit_then_413(
    shop: Shop, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    monkeypatch.setattr(shop.app.extensions["shopsync.webhooks"], "webhook_max_body_bytes", LIMIT)
    assert_refused(shop.post(*hostile(_padded(size))), 413)
    shop.assert_nothing_written()


def test_given_a_chunked_body_exactly_at_the_limit_then_it_is_read_whole(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shop.app.extensions["shopsync.webhooks"], "webhook_max_body_bytes", LIMIT)
    answer = _chunked(shop, *hostile(_padded(LIMIT)))
    assert answer.status_code == 200, answer.get_json()
    assert len(shop.events()) == 1


@pytest.fixture(scope="module")
def small_limit_web(log_dir: Path, mongo_uri: str, redis_url: str) -> Iterator[str]:
    """The real gunicorn web process with a 2 KB webhook limit."""
    env = service_env(mongo_uri, redis_url, SHOPSYNC_WEBHOOK_MAX_BODY_BYTES=str(LIMIT))
    web = servers.gunicorn(log_dir, env, workers=1, name="hostile-web").start()
    yield f"http://127.0.0.1:{web.port}"
    web.stop()


@pytest.mark.real
@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unsigned"])
def test_given_gunicorn_and_a_chunked_body_over_the_limit_then_413(
    small_limit_web: str, signed: bool
) -> None:
    body, headers = hostile(_padded(LIMIT * 4), signed=signed)

    def chunks() -> Iterator[bytes]:  # a generator body: httpx sends it chunked
        yield from (body[i : i + 1000] for i in range(0, len(body), 1000))

    answer = httpx.post(f"{small_limit_web}/webhooks/shopify", content=chunks(), headers=headers)
    assert answer.request.headers.get("transfer-encoding") == "chunked"
    assert answer.status_code == 413 and set(answer.json()["error"]) >= {"code", "message"}
    # A chunked body within the limit is read whole: refused for its HMAC, not its size
    small, headers = hostile(_padded(LIMIT), signed=False)
    answer = httpx.post(
        f"{small_limit_web}/webhooks/shopify", content=iter([small]), headers=headers
    )
    assert answer.status_code == 401


# --- 7. Property: no header value or body makes a 5xx, and refusals write nothing --------------

HEADER_NAMES = [
    "X-Shopify-Topic",
    "X-Shopify-Shop-Domain",
    "X-Shopify-API-Version",
    "X-Shopify-Webhook-Id",
    "X-Shopify-Event-Id",
    "X-Shopify-Triggered-At",
    "Shopify-Topic",
    "Shopify-Event-Id",
]
# Any text a header value can carry through WSGI: non-ASCII, control characters, surrogates;
# not CR/LF, which neither HTTP nor werkzeug's test client let inside a value.
header_text = st.text(
    st.characters(blacklist_characters="\r\n", blacklist_categories=()), max_size=80
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.dictionaries(st.text(max_size=8), json_values, max_size=5).map(
        lambda value: json.dumps(value).encode()
    ),
)


@hypothesis_settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    changes=st.dictionaries(st.sampled_from(HEADER_NAMES), header_text | st.none(), max_size=4),
    body=bodies,
    hmac_value=st.one_of(st.none(), header_text),
)
def test_property_any_headers_and_body_give_no_5xx_and_refusals_write_nothing(
    shop: Shop, changes: dict[str, str | None], body: bytes, hmac_value: str | None
) -> None:
    # Given a delivery signed correctly (hmac_value None) or carrying any HMAC text
    request_body, headers = hostile(body, changes)
    if hmac_value is not None:
        headers[HMAC] = hmac_value
    before = len(shop.events())
    # When it is posted
    answer = shop.post(request_body, headers)
    event(f"status {answer.status_code}")  # --hypothesis-show-statistics: which paths ran
    # Then no 5xx; a refusal has the error shape and wrote nothing
    assert answer.status_code < 500, answer.get_data(as_text=True)[:300]
    if answer.status_code != 200:
        assert_refused(answer, answer.status_code)
        assert len(shop.events()) == before
    # And the next good delivery is unaffected
    assert shop.post(*hostile()).status_code == 200
