"""stores: hostile path and query values and forged cursors answer 400/404, never 5xx."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymongo import MongoClient

from stores.cursors import (
    Position,
    decode_after,
    decode_position,
    encode_after,
    encode_position,
)
from stores.errors import BadQuery
from stores.params import check_doc_id, check_shop_domain, parse_include_deleted, parse_since
from tests.conftest import HEADERS
from tests.test_stores import configure_store, product

# Fixtures are built once per test, not per example; every request here is a read.
ACROSS_EXAMPLES = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
ANY_TEXT = st.text(alphabet=st.characters(codec=None, categories=None), max_size=300)
LIST_URLS = (
    "/api/stores/mystore/products",
    "/api/stores/mystore/collections/7/products",
    "/api/stores/mystore/discounts/9/codes",
)


def forged(body: Any, **dumps: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(body, **dumps).encode()).decode()


# --- cursors, without a server --------------------------------------------------------------


@given(st.text(max_size=512).filter(lambda s: s and not s.startswith("$")))
def test_an_issued_after_cursor_decodes_to_its_id(last_id: str) -> None:
    if "\x00" in last_id or any(ord(c) < 32 or c in "\x7f\ufffd" for c in last_id):
        return  # not an id we store: covered below
    assert decode_after(encode_after(last_id)) == last_id


@given(st.builds(Position, *[st.integers(min_value=0, max_value=2**31 - 1)] * 2))
def test_an_issued_position_cursor_decodes_to_its_position(position: Position) -> None:
    assert decode_position(encode_position(position)) == position


@pytest.mark.parametrize("decode", [decode_after, decode_position])
@given(
    cursor=st.one_of(
        ANY_TEXT,
        st.builds(
            forged,
            st.recursive(
                st.none() | st.booleans() | st.integers() | st.floats() | ANY_TEXT,
                lambda inner: (
                    st.lists(inner, max_size=3) | st.dictionaries(ANY_TEXT, inner, max_size=3)
                ),
                max_leaves=5,
            ),
        ),
    )
)
def test_any_text_decodes_only_to_what_encodes_back_to_it(
    decode: Callable[[str], Any], cursor: str
) -> None:
    try:
        value = decode(cursor)
    except BadQuery as refused:
        assert refused.field == "cursor"
        return
    encode = encode_after if decode is decode_after else encode_position
    assert encode(value) == cursor


@pytest.mark.parametrize(
    "cursor",
    [
        forged({"after": "gid://shopify/Product/12"}).rstrip("="),  # padding dropped
        forged({"after": "gid://shopify/Product/1"}, separators=(",", ":")),  # other spacing
        forged({"after": "gid://shopify/Product/1", "x": 1}),
        forged({"after": {"$gt": ""}}),
        forged({"after": 5}),
        forged({"after": "$where"}),
        forged({"after": "a\x00b"}),
        forged({"after": "\ud800"}),  # a lone surrogate, \u-escaped by json.dumps
        forged({"after": "\ufffd"}),
        forged({"after": ""}),
        forged({"after": "g" * 513}),
        forged(["after", "gid://shopify/Product/1"]),
        forged({"chunk": 0, "offset": 1}),
        "eyJhZnRlciI6ICJnaWQ6Ly9zaG9waWZ5L1Byb2R1Y3QvMSJ9\n",
        "eyJhZnRlciI6ICJnaWQ6Ly9zaG9waWZ5L1Byb2R1Y3QvMSJ9\u00e9",
        "\ud800",
        "A" * 10_000,
    ],
)
def test_forged_after_cursors_are_refused(cursor: str) -> None:
    with pytest.raises(BadQuery) as refused:
        decode_after(cursor)
    assert refused.value.field == "cursor"


@pytest.mark.parametrize(
    "body",
    [
        {"chunk": -1, "offset": 0},
        {"chunk": 0, "offset": True},
        {"chunk": 0, "offset": 1.0},
        {"chunk": 2**31, "offset": 0},
        {"chunk": "1", "offset": 0},
        {"chunk": 0, "offset": None},
        {"offset": 0, "chunk": 0},
        {"chunk": 0},
        {"chunk": 0, "offset": 0, "x": 0},
        {"pos": 1},
    ],
)
def test_forged_position_cursors_are_refused(body: Any) -> None:
    with pytest.raises(BadQuery):
        decode_position(forged(body))


# --- values from Python callers (HTTP cannot carry lone surrogates) --------------------------


@pytest.mark.parametrize("bad", ["\ud800", "a\x00", "x" * 513, "$gt", "", "\ufffd", "1\n"])
def test_malformed_ids_are_refused_before_any_query(bad: str) -> None:
    with pytest.raises(BadQuery) as refused:
        check_doc_id(bad)
    assert refused.value.field == "id"


@pytest.mark.parametrize("bad", ["\ud800.myshopify.com", "a\x00.com", "x", "$x.com", "a" * 300])
def test_malformed_shop_domains_are_refused(bad: str) -> None:
    with pytest.raises(BadQuery) as refused:
        check_shop_domain(bad)
    assert refused.value.field == "shopDomain"


def test_odd_flags_and_timestamps_are_refused() -> None:
    with pytest.raises(BadQuery):
        parse_since("\ud800")
    with pytest.raises(BadQuery):
        parse_include_deleted("\ud800")
    assert parse_include_deleted("TRUE") and not parse_include_deleted(None)


# --- through the HTTP API, on a real SecantusDB ----------------------------------------------


@pytest.fixture
def store_client(real_client: Any, real_mongo: MongoClient[dict[str, Any]]) -> Any:
    """Given `mystore` with two products, collection 7 holding them and discount 9 with codes."""
    configure_store(real_client)
    store_db = real_mongo.mystore
    store_db.products.insert_many([product(1), product(2)])
    store_db.collections.insert_one(
        {"_id": "gid://shopify/Collection/7", "productIds": [product(1)["_id"]], "deleted": False}
    )
    store_db.discounts.insert_one(
        {"_id": "gid://shopify/DiscountCodeNode/9", "codes": [{"code": "A"}], "deleted": False}
    )
    return real_client


def answer_of(client: Any, url: str) -> tuple[int, dict[str, Any]]:
    answer = client.get(url, headers=HEADERS)
    body = answer.get_json()
    assert isinstance(body, dict), url
    return answer.status_code, body


@pytest.mark.real
@ACROSS_EXAMPLES
@given(
    cursor=st.one_of(
        st.text(max_size=200),
        st.builds(
            forged,
            st.dictionaries(
                st.sampled_from(["after", "chunk", "offset", "x"]),
                st.one_of(st.integers(), st.text(max_size=40), st.booleans()),
                max_size=2,
            ),
        ),
        # Positions we may have issued, and some out of range.
        st.builds(
            forged,
            st.fixed_dictionaries(
                {"chunk": st.integers(-1, 2**32), "offset": st.integers(-1, 2**32)}
            ),
        ),
    )
)
def test_any_cursor_text_is_a_200_or_a_400_on_cursor(store_client: Any, cursor: str) -> None:
    for url in LIST_URLS:
        status, body = answer_of(store_client, f"{url}?cursor={quote(cursor, safe='')}")
        assert status in (200, 400), (url, cursor, body)
        if status == 400:
            assert body["error"]["field"] == "cursor"


@pytest.mark.real
@ACROSS_EXAMPLES
@given(value=st.text(min_size=1, max_size=200))
def test_any_path_value_is_answered_without_a_5xx(store_client: Any, value: str) -> None:
    part = quote(value, safe="")
    urls = [
        f"/api/stores/mystore/products/{part}",
        f"/api/stores/mystore/collections/{part}/products",
        f"/api/stores/mystore/discounts/{part}/codes",
        f"/api/stores/{part}/products",
        f"/api/shops/{part}/products",
        f"/api/stores/mystore/{part}",
    ]
    for url in urls:
        status, _ = answer_of(store_client, url)
        assert status in (200, 400, 404), (url, status)


@pytest.mark.real
@ACROSS_EXAMPLES
@given(
    name=st.sampled_from(["limit", "updated_since", "include_deleted"]),
    value=st.text(max_size=60),
)
def test_any_query_value_is_a_200_or_a_400_naming_it(
    store_client: Any, name: str, value: str
) -> None:
    for url in LIST_URLS:
        status, body = answer_of(store_client, f"{url}?{name}={quote(value, safe='')}")
        assert status in (200, 400), (url, value, body)
        if status == 400:
            # The codes list takes no include_deleted or updated_since: ignored like others.
            assert body["error"]["field"] == name


HUGE = "9" * 20_000


@pytest.mark.real
@pytest.mark.parametrize(
    ("url", "status", "field"),
    [
        # Path ids: NUL, invalid UTF-8 (werkzeug makes it U+FFFD), huge, operator-like.
        ("/api/stores/mystore/products/a%00b", 400, "id"),
        ("/api/stores/mystore/products/%ED%A0%80", 400, "id"),
        ("/api/stores/mystore/products/%FF", 400, "id"),
        (f"/api/stores/mystore/products/{HUGE}", 400, "id"),
        ("/api/stores/mystore/products/%24where", 400, "id"),
        ("/api/stores/mystore/products/%C2%B2", 404, "id"),
        ("/api/stores/mystore/collections/a%00/products", 400, "id"),
        ("/api/stores/mystore/discounts/%ED%A0%80/codes", 400, "id"),
        (f"/api/stores/mystore/discounts/{HUGE}/codes", 400, "id"),
        # clientKey and shopDomain
        ("/api/stores/my%00store/products", 400, "clientKey"),
        ("/api/stores/%ED%A0%80/products", 400, "clientKey"),
        ("/api/stores/%24ne/products", 400, "clientKey"),
        ("/api/stores/mystore%0A/products", 400, "clientKey"),
        (f"/api/stores/{'k' * 5000}/products", 400, "clientKey"),
        ("/api/stores/mystore%0A/collections/7/products", 400, "clientKey"),
        ("/api/shops/mystore.myshopify.com%00/products", 400, "shopDomain"),
        ("/api/shops/%24ne/products", 400, "shopDomain"),
        (f"/api/shops/{'s' * 5000}.myshopify.com/products", 400, "shopDomain"),
        ("/api/shops/%ED%A0%80.myshopify.com/discounts/9/codes", 400, "shopDomain"),
        ("/api/shops/other.myshopify.com/discounts/9/codes", 404, "shopDomain"),
        # Collection names: a fixed set, so anything else is simply not found.
        ("/api/stores/mystore/%24cmd", 404, "collection"),
        ("/api/stores/mystore/products%00", 404, "collection"),
        (f"/api/stores/mystore/{'c' * 5000}", 404, "collection"),
        # Query values
        (
            "/api/stores/mystore/products?updated_since=9999-12-31T23:59:59-23:59",
            400,
            "updated_since",
        ),
        (
            "/api/stores/mystore/products?updated_since=0001-01-01T00:00:00%2B23:59",
            400,
            "updated_since",
        ),
        (
            "/api/stores/mystore/products?updated_since=2026-01-01T00:00:00%2B24:00",
            400,
            "updated_since",
        ),
        (f"/api/stores/mystore/products?updated_since=2026{HUGE}", 400, "updated_since"),
        ("/api/stores/mystore/products?updated_since=%00", 400, "updated_since"),
        ("/api/stores/mystore/products?include_deleted=yes", 400, "include_deleted"),
        ("/api/stores/mystore/products?include_deleted=%00", 400, "include_deleted"),
        ("/api/stores/mystore/collections/7/products?include_deleted=2", 400, "include_deleted"),
        (f"/api/stores/mystore/products?limit={HUGE}", 400, "limit"),
        ("/api/stores/mystore/products?limit=%205", 400, "limit"),
        ("/api/stores/mystore/products?limit=%2B5", 400, "limit"),
        ("/api/stores/mystore/products?limit=-1", 400, "limit"),
        ("/api/stores/mystore/products?limit=5.0", 400, "limit"),
        ("/api/stores/mystore/products?limit=1e2", 400, "limit"),
        ("/api/stores/mystore/products?limit=%D9%A3", 400, "limit"),
        ("/api/stores/mystore/discounts/9/codes?limit=251", 400, "limit"),
        ("/api/stores/mystore/collections/7/products?limit=0", 400, "limit"),
        ("/api/stores/mystore/products?cursor=%ED%A0%80", 400, "cursor"),
    ],
)
def test_hostile_values_name_their_field(
    store_client: Any, url: str, status: int, field: str
) -> None:
    got, body = answer_of(store_client, url)
    assert (got, body["error"]["field"]) == (status, field)
    assert len(body["error"]["message"]) < 200  # huge inputs are not echoed back


@pytest.mark.real
def test_a_newline_in_a_path_id_matches_no_route(store_client: Any) -> None:
    # Werkzeug's path converter (`[^/].*?`) stops at a newline: no route, a plain JSON 404.
    url = "/api/stores/mystore/products/gid%3A%2F%2Fshopify%2FProduct%2F1%0A"
    status, body = answer_of(store_client, url)
    assert status == 404 and body["error"]["code"] == "not_found"


@pytest.mark.real
@pytest.mark.parametrize(
    "query",
    [
        "updated_since=9999-12-31T23:59:59%2B00:00",
        "updated_since=0001-01-01T00:00:00-23:59",
        "updated_since=2026-01-01T00:00:00 01:00",  # a `+` left unencoded
        "include_deleted=TRUE",
        "include_deleted=0",
        "include_deleted=",
        "limit=",
        "limit=250",
        "limit=007",
    ],
)
def test_edge_values_that_are_valid_answer_200(store_client: Any, query: str) -> None:
    status, body = answer_of(store_client, f"/api/stores/mystore/products?{query}")
    assert status == 200, body
