"""POST /webhooks/shopify under hostile input: every refusal is a 4xx in the JSON error shape,
writes nothing, and leaves every other delivery (concurrent or later) unaffected. See also
test_webhooks_group_commit.py; helpers: hostile_deliveries.py; `shop` fixtures: conftest.py."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from config_db.jsonsafe import MAX_JSON_DEPTH
from tests.conftest import HEADERS, make_settings, seed_payload
from tests.hostile_deliveries import GOOD_BODY, HMAC, Shop, assert_refused, hostile
from tests.test_webhooks import APP_SECRET, sign

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


# --- 5. Property: no header value or body makes a 5xx, and refusals write nothing --------------

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
