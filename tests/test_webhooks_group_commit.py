"""POST /webhooks/shopify under hostile input, concurrent and oversized: in a group commit one
document MongoDB cannot store fails only its own request (its neighbours in the batch are
written), and a body past the limit is refused with a 413 whether or not it is chunked.

The other hostile deliveries (HMAC, headers, JSON body, keys) are in test_webhooks_hostile.py."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import MongoClient

from tests import servers
from tests.conftest import service_env
from tests.hostile_deliveries import (
    HMAC,
    OVERFLOW_BODY,
    Headers,
    Shop,
    assert_refused,
    hostile,
    too_large_body,
)
from webhooks import group_insert
from webhooks.errors import PayloadRefused, PayloadTooLarge
from webhooks.group_insert import GroupInserter

# --- 1. Group commit: one bad document never fails its neighbours -----------------------------


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


# --- 2. Chunked bodies past the limit ---------------------------------------------------------

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
