"""The fake Shopify Admin GraphQL server, driven over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import httpx
import pytest

from tests.fakeshopify import (
    TOPICS,
    FakeShop,
    FakeShopify,
    WebhookReceiver,
    enum_topic,
    generate_store,
    rest_topic,
)

VERSION = "2026-07"
LARGE_FILE = 3 * 1024 * 1024 + 17

PRODUCTS_QUERY = """query Products($first: Int!, $after: String, $query: String) { products(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) { pageInfo { hasNextPage endCursor } nodes { id legacyResourceId title handle descriptionHtml vendor productType status tags templateSuffix createdAt updatedAt publishedAt seo { title description } options { id name position values } variantsCount { count } variants(first: 20) { pageInfo { hasNextPage endCursor } nodes { id legacyResourceId title sku price compareAtPrice barcode position inventoryQuantity taxable availableForSale createdAt updatedAt selectedOptions { name value } image { id url altText } } } mediaCount { count } media(first: 10) { pageInfo { hasNextPage endCursor } nodes { __typename id alt mediaContentType status ... on MediaImage { mimeType image { url altText width height } originalSource { url fileSize } createdAt updatedAt } } } } } }"""  # noqa: E501
FILES_QUERY = """query Files($first: Int!, $after: String, $query: String) { files(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) { pageInfo { hasNextPage endCursor } nodes { __typename id alt createdAt updatedAt fileStatus ... on MediaImage { mimeType image { url width height altText } originalSource { url fileSize } } ... on GenericFile { url mimeType originalFileSize } ... on Video { filename originalSource { url mimeType fileSize } sources { url mimeType fileSize } } } } }"""  # noqa: E501
DISCOUNTS_QUERY = """query Discounts($first: Int!, $after: String, $query: String) { discountNodes(first: $first, after: $after, query: $query) { pageInfo { hasNextPage endCursor } nodes { id discount { __typename ... on DiscountCodeBasic { title status summary startsAt endsAt createdAt updatedAt asyncUsageCount usageLimit codesCount { count } codes(first: 10) { pageInfo { hasNextPage endCursor } nodes { id code asyncUsageCount } } customerGets { value { __typename ... on DiscountPercentage { percentage } ... on DiscountAmount { amount { amount currencyCode } appliesOnEachItem } } } } ... on DiscountAutomaticApp { title status startsAt endsAt createdAt updatedAt appDiscountType { functionId title } } } } } }"""  # noqa: E501
THEME_FILES_QUERY = """query ThemeFiles($id: ID!, $first: Int!, $after: String, $filenames: [String!]) { theme(id: $id) { files(first: $first, after: $after, filenames: $filenames) { pageInfo { hasNextPage endCursor } nodes { filename checksumMd5 contentType size createdAt updatedAt body { __typename ... on OnlineStoreThemeFileBodyText { content } ... on OnlineStoreThemeFileBodyBase64 { contentBase64 } ... on OnlineStoreThemeFileBodyUrl { url } } } } } }"""  # noqa: E501
DELETED_QUERY = """query Deleted($first: Int!, $after: String, $query: String) { deletionEvents(first: $first, after: $after, query: $query, subjectTypes: [PRODUCT, COLLECTION]) { pageInfo { hasNextPage endCursor } nodes { occurredAt subjectId subjectType } } }"""  # noqa: E501

# The brief's Files query as written selects ``originalSource { url }`` on MediaImage (url: URL)
# and on Video (url: String!): GraphQL's overlapping-fields rule rejects that, on Shopify too.
# The engine must alias one side; this is the corrected form.
FILES_QUERY_OK = FILES_QUERY.replace(
    "... on Video { filename originalSource {",
    "... on Video { filename videoSource: originalSource {",
)

_names = (f"shop{n}" for n in itertools.count(1))


@pytest.fixture(scope="module")
def fake(own_fake: FakeShopify) -> FakeShopify:
    """This module's own fake (default secrets), not the suite's signed one."""
    return own_fake


@pytest.fixture(scope="module")
def ro_shop(fake: FakeShopify) -> FakeShop:
    """A shop the tests only read (never mutate or reconfigure); it restores fast."""
    shop = fake.add_shop("reader", token="shpat_reader", data=generate_store(seed=1))
    shop.configure(restore_rate=100_000)
    return shop


@pytest.fixture
def shop(fake: FakeShopify) -> FakeShop:
    """A fresh shop per test (mutations and faults stay local)."""
    name = next(_names)
    shop = fake.add_shop(name, token=f"shpat_{name}", data=generate_store(seed=7, products=120))
    shop.configure(restore_rate=100_000)
    return shop


def post(
    http: httpx.Client,
    shop: FakeShop,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    version: str = VERSION,
) -> httpx.Response:
    return http.post(
        f"{shop.admin_base_url}/admin/api/{version}/graphql.json",
        json={"query": query, "variables": variables or {}},
        headers={"X-Shopify-Access-Token": token or shop.token},
    )


def gql(http: httpx.Client, shop: FakeShop, query: str, /, **variables: Any) -> dict[str, Any]:
    """Run a query that must succeed; answers the whole body."""
    response = post(http, shop, query, variables)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body["errors"]
    return dict(body)


def page_all(
    http: httpx.Client, shop: FakeShop, query: str, root: str, /, **variables: Any
) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    after = None
    while True:
        data = gql(http, shop, query, after=after, **variables)["data"][root]
        nodes.extend(data["nodes"])
        if not data["pageInfo"]["hasNextPage"]:
            return nodes
        after = data["pageInfo"]["endCursor"]


# ---------------------------------------------------------------- HTTP surface
def test_wrong_token_is_401_and_counted(http: httpx.Client, shop: FakeShop) -> None:
    response = post(http, shop, "{ shop { id } }", token="shpat_wrong")
    assert response.status_code == 401
    assert response.json() == {
        "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"
    }
    assert post(http, shop, "{ shop { id } }").status_code == 200
    stats = shop.stats
    assert stats["wrong_token"] == 1 and stats["requests"] == 2
    assert stats["by_status"] == {401: 1, 200: 1}
    assert [entry["token_ok"] for entry in stats["log"]] == [False, True]
    assert stats["log"][1]["operation"] == "shop"


def test_versions_and_host_routing(http: httpx.Client, ro_shop: FakeShop) -> None:
    assert post(http, ro_shop, "{ shop { id } }", version="2024-01").status_code == 404
    for version in ("2025-07", "2026-10", "unstable"):
        assert post(http, ro_shop, "{ shop { id } }", version=version).status_code == 200
    base = ro_shop.admin_base_url.rsplit("/shops/", 1)[0]
    response = http.post(
        f"{base}/admin/api/{VERSION}/graphql.json",
        json={"query": "{ shop { myshopifyDomain } }"},
        headers={"X-Shopify-Access-Token": ro_shop.token, "Host": "reader.myshopify.com"},
    )
    assert response.json()["data"]["shop"]["myshopifyDomain"] == "reader.myshopify.com"


def test_query_errors_look_like_shopify(http: httpx.Client, ro_shop: FakeShop) -> None:
    body = post(http, ro_shop, "{ products(first: 5) { nodes { id nope } } }").json()
    assert body["errors"][0]["message"] == "Field 'nope' doesn't exist on type 'Product'"
    assert body["errors"][0]["extensions"]["code"] == "undefinedField"
    assert body["errors"][0]["locations"]
    body = post(http, ro_shop, "{ products(first: 300) { nodes { id } } }").json()
    assert "250" in body["errors"][0]["message"] and "data" not in body
    body = post(http, ro_shop, "{ products { nodes { id } } }").json()
    assert body["errors"][0]["message"] == "you must provide one of first or last"
    body = post(http, ro_shop, "query Q($n: Int!) { products(first: $n) { nodes { id } } }").json()
    assert body["errors"][0]["extensions"]["code"] == "INVALID_VARIABLE"


# ---------------------------------------------------------------- pagination & filters
def test_products_paging_50_is_complete(http: httpx.Client, ro_shop: FakeShop) -> None:
    query = "query($after: String) { products(first: 50, after: $after) { pageInfo { hasNextPage endCursor } nodes { id } } }"  # noqa: E501
    ids = [node["id"] for node in page_all(http, ro_shop, query, "products")]
    expected = [node["id"] for node in ro_shop.snapshot("products")]
    assert len(ids) == len(set(ids)) == 300
    assert ids == expected  # default sort: ID ascending
    edges = gql(http, ro_shop, "{ products(first: 3) { edges { cursor node { id } } } }")
    cursors = [edge["cursor"] for edge in edges["data"]["products"]["edges"]]
    assert len(set(cursors)) == 3
    reverse = gql(http, ro_shop, "{ products(first: 2, reverse: true) { nodes { id } } }")
    assert [n["id"] for n in reverse["data"]["products"]["nodes"]] == expected[::-1][:2]


def test_big_product_variants_page_past_250(http: httpx.Client, ro_shop: FakeShop) -> None:
    big = ro_shop.data.big_product_id
    query = """query($id: ID!, $after: String) { product(id: $id) { variantsCount { count }
      variants(first: 250, after: $after) { pageInfo { hasNextPage endCursor } nodes { id position } } } }"""  # noqa: E501
    seen: list[dict[str, Any]] = []
    after = None
    for _ in range(5):
        product = gql(http, ro_shop, query, id=big, after=after)["data"]["product"]
        assert product["variantsCount"]["count"] == 260
        seen.extend(product["variants"]["nodes"])
        if not product["variants"]["pageInfo"]["hasNextPage"]:
            break
        after = product["variants"]["pageInfo"]["endCursor"]
    assert [v["position"] for v in seen] == list(range(1, 261))
    snapshot = next(p for p in ro_shop.snapshot("products") if p["id"] == big)
    assert [v["id"] for v in seen] == [v["id"] for v in snapshot["variants"]]


def test_updated_at_filter_sees_an_update(http: httpx.Client, shop: FakeShop) -> None:
    products = shop.snapshot("products")
    latest = max(p["updatedAt"] for p in products)
    query = "query($q: String) { products(first: 250, query: $q, sortKey: UPDATED_AT) { nodes { id title updatedAt } } }"  # noqa: E501
    assert gql(http, shop, query, q=f"updated_at:>'{latest}'")["data"]["products"]["nodes"] == []
    at_least = gql(http, shop, query, q=f"updated_at:>={latest}")["data"]["products"]["nodes"]
    assert at_least and all(n["updatedAt"] == latest for n in at_least)
    target = products[17]["id"]
    shop.update("products", target, {"title": "Renamed"})
    nodes = gql(http, shop, query, q=f"updated_at:>'{latest}'")["data"]["products"]["nodes"]
    assert [(n["id"], n["title"]) for n in nodes] == [(target, "Renamed")]
    assert nodes[0]["updatedAt"] == next(
        p["updatedAt"] for p in shop.snapshot("products") if p["id"] == target
    )
    everything = gql(http, shop, query, q="")["data"]["products"]["nodes"]
    assert everything[-1]["id"] == target  # UPDATED_AT ascending: the fresh one is last
    stamps = [(n["updatedAt"], int(n["id"].rsplit("/", 1)[1])) for n in everything]
    assert stamps == sorted(stamps)
    assert len({n["updatedAt"] for n in everything}) < len(everything)  # ties exist


def test_deletion_events_after_delete(http: httpx.Client, shop: FakeShop) -> None:
    before = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
    product = shop.snapshot("products")[5]["id"]
    collection = shop.snapshot("collections")[0]
    member = collection["productIds"][0]
    shop.delete("products", product)
    shop.delete("products", member)
    shop.delete("collections", shop.snapshot("collections")[1]["id"])
    events = page_all(
        http, shop, DELETED_QUERY, "deletionEvents", first=2, query=f"occurred_at:>='{before}'"
    )
    assert [e["subjectType"] for e in events] == ["PRODUCT", "PRODUCT", "COLLECTION"]
    assert events[0]["subjectId"] == product and events[1]["subjectId"] == member
    assert not gql(http, shop, DELETED_QUERY, first=5, query="occurred_at:>'2099-01-01'")["data"][
        "deletionEvents"
    ]["nodes"]
    only = gql(
        http,
        shop,
        "{ deletionEvents(first: 5, subjectTypes: [COLLECTION]) { nodes { subjectType } } }",
    )  # noqa: E501
    assert len(only["data"]["deletionEvents"]["nodes"]) == 1
    gone = gql(http, shop, "query($id: ID!) { product(id: $id) { id } }", id=product)
    assert gone["data"]["product"] is None
    assert member not in shop.snapshot("collections")[0]["productIds"]


def test_paging_survives_concurrent_changes(http: httpx.Client, shop: FakeShop) -> None:
    query = "query($after: String) { products(first: 25, after: $after, sortKey: UPDATED_AT) { pageInfo { hasNextPage endCursor } nodes { id } } }"  # noqa: E501
    order = [
        p["id"] for p in sorted(shop.snapshot("products"), key=lambda p: (p["updatedAt"], p["id"]))
    ]  # noqa: E501
    first = gql(http, shop, query)["data"]["products"]
    seen = [n["id"] for n in first["nodes"]]
    assert seen == order[:25]
    touched_seen, touched_unseen, deleted = order[3], order[60], order[70]
    shop.update("products", touched_seen, {"vendor": "X"})
    shop.update("products", touched_unseen, {"vendor": "Y"})
    shop.delete("products", deleted)
    shop.delete("products", order[10])  # an already-seen item: the cursor does not shift
    created = shop.create("products")
    after = first["pageInfo"]["endCursor"]
    while after:
        page = gql(http, shop, query, after=after)["data"]["products"]
        seen.extend(n["id"] for n in page["nodes"])
        after = page["pageInfo"]["endCursor"] if page["pageInfo"]["hasNextPage"] else None
    untouched = set(order) - {touched_seen, touched_unseen, deleted}
    assert all(seen.count(gid) == 1 for gid in untouched)
    assert deleted not in seen and seen.count(touched_unseen) == 1
    assert seen.count(touched_seen) == 2 and created in seen


# ---------------------------------------------------------------- cost & throttling
def test_cost_of_a_known_query(http: httpx.Client, ro_shop: FakeShop) -> None:
    query = "{ products(first: 10){ nodes { id variants(first: 5){ nodes { id } } } } }"
    body = gql(http, ro_shop, query)
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 82
    counts = [min(5, len(p["variants"])) for p in ro_shop.snapshot("products")[:10]]
    assert cost["actualQueryCost"] == 2 + sum(1 + 2 + n for n in counts)
    status = cost["throttleStatus"]
    assert status["maximumAvailable"] == 1000.0 and status["restoreRate"] == 100_000.0
    assert 0 < status["currentlyAvailable"] <= 1000
    union = gql(http, ro_shop, FILES_QUERY_OK, first=10)["extensions"]["cost"]
    assert union["requestedQueryCost"] == 2 + 10 * (1 + 2)  # max over the fragments
    single = gql(http, ro_shop, '{ product(id: "gid://shopify/Product/1") { id seo { title } } }')
    assert single["extensions"]["cost"]["requestedQueryCost"] == 2


def test_max_cost_exceeded(http: httpx.Client, shop: FakeShop) -> None:
    query = "{ products(first: 250) { nodes { id variants(first: 250) { nodes { id } } } } }"
    body = post(http, shop, query).json()
    expected = 2 + 250 * (1 + 2 + 250)
    assert body["errors"][0]["extensions"] == {
        "code": "MAX_COST_EXCEEDED",
        "cost": expected,
        "maxCost": 1000,
    }
    assert body["errors"][0]["message"] == (
        f"Query cost is {expected}, which exceeds the single query max cost limit (1000)."
    )
    assert "data" not in body
    assert body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 1000


def test_throttled_then_success_after_waiting(http: httpx.Client, shop: FakeShop) -> None:
    shop.configure(bucket_max=100, restore_rate=200.0)
    query = "{ products(first: 10) { nodes { id variants(first: 5) { nodes { id } } } } }"
    first = post(http, shop, query).json()
    assert first["extensions"]["cost"]["requestedQueryCost"] == 82
    shop.configure(restore_rate=20.0)
    second = post(http, shop, query).json()
    assert second["errors"][0]["message"] == "Throttled"
    assert second["errors"][0]["extensions"]["code"] == "THROTTLED"
    cost = second["extensions"]["cost"]
    assert cost["actualQueryCost"] is None and cost["requestedQueryCost"] == 82
    assert cost["throttleStatus"]["maximumAvailable"] == 100.0
    shop.configure(restore_rate=400.0)
    wait = (82 - cost["throttleStatus"]["currentlyAvailable"]) / 400.0
    time.sleep(wait + 0.05)
    assert "data" in post(http, shop, query).json()
    too_big = "{ products(first: 50) { nodes { id variants(first: 1) { nodes { id } } } } }"
    assert post(http, shop, too_big).json()["errors"][0]["message"] == "Throttled"
    stats = shop.stats
    assert stats["throttled"] == 2 and stats["by_status"] == {200: 4}
    assert stats["points_requested"] == 164 and stats["points_actual"] <= 164


def test_429_and_502_and_timeouts(http: httpx.Client, shop: FakeShop) -> None:
    shop.configure(rate_429=1.0, retry_after="2.0")
    response = post(http, shop, "{ shop { id } }")
    assert response.status_code == 429 and response.headers["Retry-After"] == "2.0"
    assert response.json() == {"errors": [{"message": "Throttled"}]}
    shop.configure(rate_429=0.0, error_rate=1.0)
    response = post(http, shop, "{ shop { id } }")
    assert response.status_code == 502 and response.headers["content-type"].startswith("text/html")
    shop.configure(error_rate=0.0, timeout_rate=1.0, timeout_seconds=0.4)
    with pytest.raises(httpx.ReadTimeout):
        http.post(
            f"{shop.admin_base_url}/admin/api/{VERSION}/graphql.json",
            json={"query": "{ shop { id } }"},
            headers={"X-Shopify-Access-Token": shop.token},
            timeout=0.1,
        )
    shop.configure(timeout_rate=0.0, latency_seconds=0.05)
    started = time.perf_counter()
    assert post(http, shop, "{ shop { id } }").status_code == 200
    assert time.perf_counter() - started >= 0.05
    time.sleep(0.4)  # let the timed-out request finish before reading stats
    assert shop.stats["by_status"] == {429: 1, 502: 1, 200: 2}


# ---------------------------------------------------------------- themes, discounts, files
def test_theme_files_three_body_kinds(http: httpx.Client, ro_shop: FakeShop) -> None:
    themes = gql(http, ro_shop, "{ themes(first: 10) { nodes { id role } } }")["data"]["themes"]
    roles = [t["role"] for t in themes["nodes"]]
    assert roles == ["MAIN", "UNPUBLISHED", "DEVELOPMENT"]
    main = themes["nodes"][0]["id"]
    files: list[dict[str, Any]] = []
    after = None
    while True:
        page = gql(http, ro_shop, THEME_FILES_QUERY, id=main, first=10, after=after)
        connection = page["data"]["theme"]["files"]
        files.extend(connection["nodes"])
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert 20 <= len(files) <= 40
    by_name = {f["filename"]: f for f in files}
    for name in (
        "config/settings_data.json",
        "config/settings_schema.json",
        "templates/index.json",
        "templates/product.json",
        "templates/product.alternate.json",
        "sections/header-group.json",
        "locales/en.default.json",
        "layout/theme.liquid",
        "assets/logo.png",
        "assets/hero-banner.png",
    ):
        assert name in by_name, name
    settings = by_name["config/settings_data.json"]
    assert settings["body"]["content"].startswith("/*")
    kinds = {f["body"]["__typename"] for f in files}
    assert kinds == {
        "OnlineStoreThemeFileBodyText",
        "OnlineStoreThemeFileBodyBase64",
        "OnlineStoreThemeFileBodyUrl",
    }
    for item in files:
        body = item["body"]
        if "content" in body:
            data = body["content"].encode()
        elif "contentBase64" in body:
            data = base64.b64decode(body["contentBase64"])
        else:
            data = http.get(body["url"]).content
            assert len(data) > 100 * 1024
        assert hashlib.md5(data).hexdigest() == item["checksumMd5"], item["filename"]
        assert item["size"] == str(len(data))
    wanted = ["templates/index.json", "assets/logo.png", "missing.liquid"]
    picked = gql(http, ro_shop, THEME_FILES_QUERY, id=main, first=50, filenames=wanted)
    names = [f["filename"] for f in picked["data"]["theme"]["files"]["nodes"]]
    assert names == ["assets/logo.png", "templates/index.json"]
    globbed = gql(http, ro_shop, THEME_FILES_QUERY, id=main, first=50, filenames=["templates/*"])
    assert all(
        f["filename"].startswith("templates/") for f in globbed["data"]["theme"]["files"]["nodes"]
    )


def test_put_theme_file(http: httpx.Client, shop: FakeShop) -> None:
    theme = shop.snapshot("themes")[0]["id"]
    shop.put_theme_file(theme, "snippets/new.liquid", "{{ 'hi' }}")
    shop.put_theme_file(theme, "assets/tiny.png", b"\x89PNG tiny")
    big = bytes(range(256)) * 600
    shop.put_theme_file(theme, "assets/big.woff2", big)
    files = gql(
        http,
        shop,
        THEME_FILES_QUERY,
        id=theme,
        first=10,
        filenames=["snippets/new.liquid", "assets/tiny.png", "assets/big.woff2"],
    )
    nodes = {f["filename"]: f for f in files["data"]["theme"]["files"]["nodes"]}
    assert nodes["snippets/new.liquid"]["body"] == {
        "__typename": "OnlineStoreThemeFileBodyText",
        "content": "{{ 'hi' }}",
    }
    assert base64.b64decode(nodes["assets/tiny.png"]["body"]["contentBase64"]) == b"\x89PNG tiny"
    url = nodes["assets/big.woff2"]["body"]["url"]
    assert http.get(url).content == big == shop.cdn_bytes(url)
    assert nodes["assets/big.woff2"]["checksumMd5"] == hashlib.md5(big).hexdigest()
    assert nodes["assets/big.woff2"]["size"] == str(len(big))


def test_discount_union_and_code_paging(http: httpx.Client, ro_shop: FakeShop) -> None:
    nodes = page_all(http, ro_shop, DISCOUNTS_QUERY, "discountNodes", first=3)
    kinds = {n["discount"]["__typename"] for n in nodes}
    assert len(kinds) == 8 and len(nodes) == 8
    basic = next(n for n in nodes if n["discount"]["__typename"] == "DiscountCodeBasic")
    assert basic["id"].startswith("gid://shopify/DiscountCodeNode/")
    assert basic["discount"]["codesCount"]["count"] == 300
    app = next(n for n in nodes if n["discount"]["__typename"] == "DiscountAutomaticApp")
    assert app["id"].startswith("gid://shopify/DiscountAutomaticNode/")
    assert app["discount"]["appDiscountType"]["functionId"]
    query = """query($id: ID!, $after: String) { discountNode(id: $id) { discount {
      ... on DiscountCodeBasic { codes(first: 250, after: $after) {
      pageInfo { hasNextPage endCursor } edges { cursor node { code } } } } } } }"""
    codes: list[str] = []
    after = None
    while True:
        page = gql(http, ro_shop, query, id=basic["id"], after=after)
        connection = page["data"]["discountNode"]["discount"]["codes"]
        codes.extend(edge["node"]["code"] for edge in connection["edges"])
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    snapshot = next(d for d in ro_shop.snapshot("discounts") if d["id"] == basic["id"])
    assert codes == [c["code"] for c in snapshot["discount"]["codes"]] and len(set(codes)) == 300


def test_codes_and_members_mutations(http: httpx.Client, shop: FakeShop) -> None:
    discount = shop.data.big_discount_id
    assert discount is not None
    shop.add_codes(discount, ["NEW-1", "NEW-2"])
    shop.remove_codes(discount, ["BASIC1-0001"])
    query = "query($id: ID!) { discountNode(id: $id) { discount { ... on DiscountCodeBasic { updatedAt codesCount { count } } } } }"  # noqa: E501
    got = gql(http, shop, query, id=discount)["data"]["discountNode"]["discount"]
    assert got["codesCount"]["count"] == 301
    assert got["updatedAt"] >= time.strftime("%Y-%m-%dT", time.gmtime())
    collection = shop.snapshot("collections")[2]["id"]
    members = [p["id"] for p in shop.snapshot("products")[:4]]
    shop.set_collection_members(collection, members)
    query = "query($id: ID!) { collection(id: $id) { productsCount { count } products(first: 10) { nodes { id } } } }"  # noqa: E501
    got = gql(http, shop, query, id=collection)["data"]["collection"]
    assert got["productsCount"]["count"] == 4
    assert [n["id"] for n in got["products"]["nodes"]] == members


def test_mutation_api(http: httpx.Client, shop: FakeShop) -> None:
    product = shop.snapshot("products")[2]
    variants = product["variants"]
    variants[0]["price"] = "1.23"
    variants.append({"title": "Extra", "price": "9.99"})
    shop.update("products", product["id"], {"variants": variants})
    after = next(p for p in shop.snapshot("products") if p["id"] == product["id"])
    assert after["updatedAt"] > product["updatedAt"]
    assert after["variants"][0]["updatedAt"] == after["updatedAt"]
    assert after["variants"][1]["updatedAt"] == product["variants"][1]["updatedAt"]
    extra = after["variants"][-1]
    assert extra["id"].startswith("gid://shopify/ProductVariant/") and extra["price"] == "9.99"
    query = "query($id: ID!) { product(id: $id) { variantsCount { count } variants(first: 250) { nodes { title price } } } }"  # noqa: E501
    got = gql(http, shop, query, id=product["id"])["data"]["product"]
    assert got["variantsCount"]["count"] == len(variants)
    assert got["variants"]["nodes"][-1] == {"title": "Extra", "price": "9.99"}
    created = shop.create("discounts", {"discount": {"__typename": "DiscountAutomaticApp"}})
    assert created.startswith("gid://shopify/DiscountAutomaticNode/")
    recent = gql(
        http,
        shop,
        "query($q: String) { discountNodes(first: 10, query: $q) { nodes { id } } }",
        q=f"updated_at:>='{after['updatedAt']}'",
    )["data"]["discountNodes"]["nodes"]
    assert [node["id"] for node in recent] == [created]
    blog = shop.snapshot("blogs")[0]["id"]
    shop.delete("blogs", blog)
    assert all(a["blog"]["id"] != blog for a in shop.snapshot("articles"))
    assert shop.snapshot("deletionEvents") == []  # only products and collections record events
    for resource in ("products", "collections", "blogs", "articles", "themes", "files"):
        gid = shop.create(resource)
        assert any(node["id"] == gid for node in shop.snapshot(resource))
        single = {
            "products": "product",
            "collections": "collection",
            "blogs": "blog",
            "articles": "article",
            "themes": "theme",
        }.get(resource)
        if single:
            answer = gql(http, shop, f"query($id: ID!) {{ {single}(id: $id) {{ id }} }}", id=gid)
            assert answer["data"][single]["id"] == gid


def test_files_union_and_cdn(http: httpx.Client, fake: FakeShopify) -> None:
    shop = fake.add_shop(
        "files",
        token="shpat_files",
        data=generate_store(seed=3, products=5, large_file_bytes=LARGE_FILE),
    )
    shop.configure(restore_rate=100_000)
    files = page_all(http, shop, FILES_QUERY_OK, "files", first=5)
    kinds = {f["__typename"] for f in files}
    assert kinds == {"MediaImage", "GenericFile", "Video"}
    large = next(f for f in files if f["id"] == shop.data.large_file_id)
    assert large["originalFileSize"] == LARGE_FILE
    image = next(f for f in files if f["__typename"] == "MediaImage")
    response = http.get(image["image"]["url"])
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert response.content == shop.cdn_bytes(image["image"]["url"])
    assert int(response.headers["content-length"]) == image["originalSource"]["fileSize"]
    chunks = 0
    digest = hashlib.sha256()
    with http.stream("GET", large["url"]) as streamed:
        assert int(streamed.headers["content-length"]) == LARGE_FILE
        for chunk in streamed.iter_raw():
            chunks += 1
            digest.update(chunk)
    assert chunks > 1
    assert digest.digest() == hashlib.sha256(shop.cdn_bytes(large["url"])).digest()
    other = shop.cdn_bytes(image["image"]["url"].replace("?v=1", "?v=2"))
    assert other != response.content and len(other) == len(response.content)
    shop.configure(cdn_error_rate=1.0)
    assert http.get(image["image"]["url"]).status_code == 503


# ---------------------------------------------------------------- the sync engine's queries
def test_brief_queries_as_written_fail_like_shopify(http: httpx.Client, ro_shop: FakeShop) -> None:
    # products(first: 15) with variants(first: 20) and media(first: 10): 2 + 15 x 99 > 1000
    body = post(http, ro_shop, PRODUCTS_QUERY, {"first": 15}).json()
    assert body["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED"
    assert body["errors"][0]["extensions"]["cost"] == 2 + 15 * 99
    ten = gql(http, ro_shop, PRODUCTS_QUERY, first=10)
    assert ten["extensions"]["cost"]["requestedQueryCost"] == 2 + 10 * 99
    body = post(http, ro_shop, FILES_QUERY, {"first": 10}).json()
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "originalSource" in body["errors"][0]["message"]


def test_sync_engine_queries_run_clean(http: httpx.Client, ro_shop: FakeShop) -> None:
    products = page_all(http, ro_shop, PRODUCTS_QUERY, "products", first=10)
    assert len(products) == 300
    files = page_all(
        http, ro_shop, FILES_QUERY_OK, "files", first=50, query="updated_at:>'2025-01-01'"
    )
    assert any(f.get("videoSource") for f in files)
    assert len(page_all(http, ro_shop, DISCOUNTS_QUERY, "discountNodes", first=50)) == 8
    for theme in ro_shop.snapshot("themes"):
        theme_files = gql(http, ro_shop, THEME_FILES_QUERY, id=theme["id"], first=50)
        assert theme_files["data"]["theme"]["files"]["nodes"]
    gql(http, ro_shop, DELETED_QUERY, first=250, query="occurred_at:>'2026-01-01T00:00:00Z'")
    nodes = gql(
        http,
        ro_shop,
        "query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Product { title } } }",  # noqa: E501
        ids=[products[0]["id"], "gid://shopify/Product/1"],
    )
    assert nodes["data"]["nodes"][0]["title"] == products[0]["title"]
    assert nodes["data"]["nodes"][1] is None


def test_speed(http: httpx.Client, fake: FakeShopify, ro_shop: FakeShop) -> None:
    ids_query = "{ products(first: 250) { nodes { id } } }"

    def best(run: Any) -> float:
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            run()
            timings.append(time.perf_counter() - started)
        return min(timings)

    ids = best(lambda: gql(http, ro_shop, ids_query))
    ten = best(lambda: gql(http, ro_shop, PRODUCTS_QUERY, first=10))
    shop = fake.add_shop("speed", data=generate_store(seed=1))
    shop.configure(max_query_cost=5000, bucket_max=5000, restore_rate=100_000)  # allow 15
    fifteen = best(lambda: gql(http, shop, PRODUCTS_QUERY, first=15))
    print(
        f"\n250 ids: {ids * 1000:.1f} ms; full products: 10 {ten * 1000:.1f} ms, "
        f"15 {fifteen * 1000:.1f} ms"
    )
    assert ids < 0.1 and ten < 0.15 and fifteen < 0.15


# ---------------------------------------------------------------- generator, control, CLI
def test_generate_store_is_deterministic() -> None:
    one, two = generate_store(seed=5, products=40), generate_store(seed=5, products=40)
    assert one.resources == two.resources
    assert generate_store(seed=6, products=40).resources != one.resources
    products = list(one.resources["products"].values())
    assert len(products[0]["variants"]) == 260
    assert all(p["legacyResourceId"] == p["id"].rsplit("/", 1)[1] for p in products)
    assert all("2025-01-01" <= p["createdAt"] <= p["updatedAt"] < "2026-11" for p in products)
    collections = list(one.resources["collections"].values())
    assert any(c["ruleSet"] is None for c in collections)
    assert any(c["ruleSet"] for c in collections)
    articles = one.resources["articles"].values()
    assert all(a["blog"]["id"] in one.resources["blogs"] for a in articles)


def test_control_endpoints(http: httpx.Client, fake: FakeShopify, shop: FakeShop) -> None:
    base = shop.admin_base_url.rsplit("/shops/", 1)[0]
    listed = http.get(f"{base}/_control/shops").json()
    assert any(s["name"] == shop.name for s in listed)
    control = f"{base}/_control/shops/{shop.name}"
    assert http.post(f"{control}/configure", json={"bucket_max": 500}).status_code == 200
    assert shop.config.bucket_max == 500
    created = http.post(f"{control}/create", json={"resource": "blogs"}).json()["id"]
    assert any(b["id"] == created for b in http.get(f"{control}/snapshot/blogs").json())
    assert http.get(f"{control}/stats").json()["requests"] == 0


def test_cli_serves_shops() -> None:
    root = Path(__file__).resolve().parent.parent
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.fakeshopify",
            "--port",
            "0",
            "--products",
            "5",
            "--shop",
            "demo:shpat_demo_token",
            "--shop",
            "other:shpat_other",
        ],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        second = process.stdout.readline()
        assert first.startswith("demo: http://127.0.0.1:") and second.startswith("other: ")
        admin = first.split()[1]
        response = httpx.post(
            f"{admin}/admin/api/{VERSION}/graphql.json",
            json={"query": "{ productsCount { count } }"},
            headers={"X-Shopify-Access-Token": "shpat_demo_token"},
        )
        assert response.json()["data"]["productsCount"]["count"] == 5
    finally:
        process.terminate()
        process.wait(timeout=10)


# ---------------------------------------------------------------- webhooks
SUBSCRIBE = """mutation Subscribe($topic: WebhookSubscriptionTopic!, $uri: String) { webhookSubscriptionCreate(topic: $topic, webhookSubscription: {uri: $uri, format: JSON}) { webhookSubscription { id topic uri format includeFields createdAt updatedAt } userErrors { field message } } }"""  # noqa: E501
SUBSCRIPTIONS = """query Subs($topics: [WebhookSubscriptionTopic!]) { webhookSubscriptions(first: 10, topics: $topics) { nodes { id topic uri } } webhookSubscriptionsCount { count } }"""  # noqa: E501
UNSUBSCRIBE = """mutation Unsubscribe($id: ID!) { webhookSubscriptionDelete(id: $id) { deletedWebhookSubscriptionId userErrors { field message } } }"""  # noqa: E501
WEBHOOK_HEADERS = ("Topic", "Hmac-Sha256", "Shop-Domain", "API-Version", "Webhook-Id",
                   "Event-Id", "Triggered-At")  # fmt: skip
SECRET = "fake-client-secret"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


def signed(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def test_topic_forms() -> None:
    assert rest_topic("PRODUCTS_UPDATE") == "products/update"
    assert rest_topic("DISCOUNTS_REDEEMCODE_ADDED") == "discounts/redeemcode_added"
    assert rest_topic("APP_UNINSTALLED") == "app/uninstalled"
    assert rest_topic("BULK_OPERATIONS_FINISH") == "bulk_operations/finish"
    assert rest_topic("CUSTOMERS_DATA_REQUEST") == "customers/data_request"
    assert all(enum_topic(rest_topic(topic)) == topic for topic in TOPICS)


def test_webhook_subscriptions_over_graphql(http: httpx.Client, shop: FakeShop) -> None:
    uri = "https://hooks.example.com/shopify"
    body = gql(http, shop, SUBSCRIBE, topic="PRODUCTS_UPDATE", uri=uri)
    created = body["data"]["webhookSubscriptionCreate"]
    assert created["userErrors"] == []
    sub = created["webhookSubscription"]
    assert sub["id"].startswith("gid://shopify/WebhookSubscription/")
    assert (sub["topic"], sub["uri"], sub["format"], sub["includeFields"]) == (
        "PRODUCTS_UPDATE", uri, "JSON", [])  # fmt: skip
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 10 and cost["actualQueryCost"] == 10
    assert shop.stats["log"][-1]["operation"] == "Subscribe"
    invalid = "Address is invalid"
    for bad, message in ((uri, "Address for this topic has already been taken"),
                         ("ftp://hooks.example.com/x", invalid), ("/relative", invalid),
                         (None, invalid)):  # fmt: skip
        answer = gql(http, shop, SUBSCRIBE, topic="PRODUCTS_UPDATE", uri=bad)
        assert answer["data"]["webhookSubscriptionCreate"] == {
            "webhookSubscription": None,
            "userErrors": [{"field": ["webhookSubscription", "callbackUrl"], "message": message}],
        }
    other = gql(http, shop, SUBSCRIBE, topic="THEMES_PUBLISH", uri=uri)
    other_id = other["data"]["webhookSubscriptionCreate"]["webhookSubscription"]["id"]
    listed = gql(http, shop, SUBSCRIPTIONS, topics=["THEMES_PUBLISH"])["data"]
    assert listed["webhookSubscriptions"]["nodes"] == [
        {"id": other_id, "topic": "THEMES_PUBLISH", "uri": uri}
    ]
    assert listed["webhookSubscriptionsCount"] == {"count": 2}
    assert [s["topic"] for s in shop.subscriptions] == ["PRODUCTS_UPDATE", "THEMES_PUBLISH"]
    gone = gql(http, shop, UNSUBSCRIBE, id=sub["id"])["data"]["webhookSubscriptionDelete"]
    assert gone == {"deletedWebhookSubscriptionId": sub["id"], "userErrors": []}
    again = gql(http, shop, UNSUBSCRIBE, id=sub["id"])["data"]["webhookSubscriptionDelete"]
    assert again["deletedWebhookSubscriptionId"] is None and again["userErrors"]
    assert [s["id"] for s in shop.subscriptions] == [other_id]
    shop.clear_subscriptions()
    assert gql(http, shop, SUBSCRIPTIONS)["data"]["webhookSubscriptions"]["nodes"] == []
    assert post(http, shop, SUBSCRIBE, {"topic": "PRODUCTS_UPDATE"}, token="x").status_code == 401
    shop.configure(bucket_max=5, restore_rate=0.001)  # a mutation needs 10 points
    throttled = post(http, shop, SUBSCRIBE, {"topic": "PRODUCTS_UPDATE", "uri": uri}).json()
    assert throttled["errors"][0]["extensions"]["code"] == "THROTTLED"
    assert throttled["extensions"]["cost"]["requestedQueryCost"] == 10


def test_update_delivers_signed_rest_payload(shop: FakeShop, receiver: WebhookReceiver) -> None:
    first, second = receiver.address("/one"), receiver.address("/two")
    shop.subscribe("PRODUCTS_UPDATE", first)
    shop.subscribe("products/update", second)
    shop.subscribe("products/delete", first)
    product = shop.snapshot("products")[1]
    shop.update("products", product["id"], {"title": "Übergröße", "tags": ["eco", "gift"]})
    shop.wait_deliveries()
    hits = receiver.wait_for(2)
    assert sorted(hit.path for hit in hits) == ["/one", "/two"]
    hit = hits[0]
    for name in WEBHOOK_HEADERS:
        assert hit.header(f"X-Shopify-{name}"), name
    assert hit.header("Content-Type") == "application/json"
    assert hmac.compare_digest(hit.header("X-Shopify-Hmac-Sha256") or "", signed(SECRET, hit.body))
    assert hit.header("X-Shopify-Topic") == "products/update"
    assert hit.header("X-Shopify-Shop-Domain") == shop.shop_domain
    assert hit.header("X-Shopify-API-Version") == VERSION
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z",
                        hit.header("X-Shopify-Triggered-At") or "")  # fmt: skip
    assert hits[0].header("X-Shopify-Event-Id") == hits[1].header("X-Shopify-Event-Id")
    assert hits[0].header("X-Shopify-Webhook-Id") != hits[1].header("X-Shopify-Webhook-Id")
    payload = hit.json()
    assert payload["id"] == int(product["legacyResourceId"])
    assert payload["admin_graphql_api_id"] == product["id"]
    assert payload["title"] == "Übergröße" and payload["tags"] == "eco, gift"
    assert payload["status"] == product["status"].lower()
    assert {"handle", "vendor", "product_type", "created_at", "updated_at"} <= set(payload)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d", payload["updated_at"])
    variant = payload["variants"][0]
    assert {"id", "admin_graphql_api_id", "title", "price", "sku", "position", "updated_at"} <= set(
        variant
    )
    assert isinstance(variant["id"], int) and isinstance(variant["price"], str)
    records = shop.deliveries
    assert [(r["topic"], r["status"], r["attempt"]) for r in records] == [
        ("products/update", 200, 1)
    ] * 2
    assert {r["webhook_id"] for r in records} == {h.header("X-Shopify-Webhook-Id") for h in hits}
    receiver.clear()
    shop.delete("products", product["id"])
    shop.wait_deliveries()
    [deleted] = receiver.wait_for(1)
    assert deleted.header("X-Shopify-Topic") == "products/delete"
    assert deleted.json() == {"id": int(product["legacyResourceId"])}


def test_failed_delivery_is_retried(shop: FakeShop, receiver: WebhookReceiver) -> None:
    shop.configure(webhook_retry_delays="0.05,0.05,0.05")
    shop.subscribe("COLLECTIONS_UPDATE", receiver.address("/flaky"))
    shop.subscribe("COLLECTIONS_UPDATE", receiver.address("/down"))
    receiver.script("/flaky", [500, 503])
    receiver.script("/down", [500] * 10)
    collection = shop.snapshot("collections")[1]["id"]
    shop.set_collection_members(collection, [])
    shop.wait_deliveries(timeout=5)
    flaky = [hit for hit in receiver.requests if hit.path == "/flaky"]
    assert len(flaky) == 3
    assert len({hit.body for hit in flaky}) == 1
    assert len({hit.header("X-Shopify-Webhook-Id") for hit in flaky}) == 1
    assert flaky[0].json()["admin_graphql_api_id"] == collection
    by_uri: dict[str, list[tuple[int, int | None]]] = {}
    for record in shop.deliveries:
        by_uri.setdefault(record["uri"].rsplit("/", 1)[1], []).append(
            (record["attempt"], record["status"])
        )
    assert by_uri["flaky"] == [(1, 500), (2, 503), (3, 200)]
    assert by_uri["down"] == [(1, 500), (2, 500), (3, 500), (4, 500)]  # then given up
    shop.configure(webhook_retry_delays="")
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    shop.subscribe("COLLECTIONS_UPDATE", f"http://127.0.0.1:{closed_port}/closed")
    shop.clear_deliveries()
    shop.set_collection_members(collection, [])
    shop.wait_deliveries(timeout=5)
    closed = [r for r in shop.deliveries if r["uri"].endswith("/closed")]
    assert len(closed) == 1 and closed[0]["status"] is None and closed[0]["error"]


def test_webhooks_disabled_and_theme_files(shop: FakeShop, receiver: WebhookReceiver) -> None:
    for topic in ("PRODUCTS_CREATE", "THEMES_UPDATE", "THEMES_PUBLISH"):
        shop.subscribe(topic, receiver.address(f"/{topic.lower()}"))
    shop.configure(webhooks_enabled=False)
    shop.create("products")
    shop.wait_deliveries()
    assert shop.deliveries == [] and receiver.requests == []
    shop.configure(webhooks_enabled=True)
    themes = shop.snapshot("themes")
    shop.put_theme_file(themes[0]["id"], "templates/index.json", '{"sections": {}}')
    shop.wait_deliveries()
    assert shop.deliveries == [] and receiver.requests == []  # no topic for file edits
    target = next(t for t in themes if t["role"] != "MAIN")
    shop.publish_theme(target["id"])
    shop.wait_deliveries()
    [hit] = receiver.wait_for(1)
    assert hit.header("X-Shopify-Topic") == "themes/publish"
    assert hit.json()["id"] == int(target["id"].rsplit("/", 1)[1])
    assert hit.json()["role"] == "main"
    roles = {t["id"]: t["role"] for t in shop.snapshot("themes")}
    assert roles[target["id"]] == "MAIN" and list(roles.values()).count("MAIN") == 1


def test_manual_deliveries(shop: FakeShop, receiver: WebhookReceiver) -> None:
    uri = receiver.address("/manual")
    product = shop.snapshot("products")[3]["id"]
    with pytest.raises(LookupError):
        shop.deliver("products/update", gid=product)
    assert shop.deliver("products/update", gid=product, uri=uri, bad_hmac=True) == 200
    assert shop.deliver("products/update", {"id": 1}, uri=uri, secret="rotated") == 200
    assert shop.deliver("shop/redact", uri=uri, body=b"not json", headers={"X-Extra": "1"}) == 200
    receiver.script("/manual", [401])
    assert shop.deliver("customers/redact", uri=uri) == 401
    bad, rotated, raw, redact = receiver.wait_for(4)
    assert bad.header("X-Shopify-Hmac-Sha256") != signed(SECRET, bad.body)
    assert bad.json()["admin_graphql_api_id"] == product
    assert rotated.header("X-Shopify-Hmac-Sha256") == signed("rotated", rotated.body)
    assert raw.body == b"not json" and raw.header("X-Extra") == "1"
    assert raw.header("X-Shopify-Hmac-Sha256") == signed(SECRET, b"not json")
    assert set(redact.json()) == {"shop_id", "shop_domain", "customer", "orders_to_redact"}
    assert [r["status"] for r in shop.deliveries] == [200, 200, 200, 401]
    assert all(r["manual"] for r in shop.deliveries)
    receiver.clear()
    shop.configure(webhook_header_prefix="Shopify-")
    shop.deliver("app/uninstalled", uri=uri)
    [hit] = receiver.wait_for(1)
    names = {name.lower() for name in hit.headers}
    assert all(f"shopify-{name.lower()}" in names for name in WEBHOOK_HEADERS)
    assert not any(name.startswith("x-shopify-") for name in names)
    assert hit.header("Shopify-Hmac-Sha256") == signed(SECRET, hit.body)


def test_include_fields_and_compliance_subscriptions(
    http: httpx.Client, shop: FakeShop, receiver: WebhookReceiver
) -> None:
    fields = ["id", "updated_at", "variants.price"]
    shop.subscribe("products/update", receiver.address("/slim"), include_fields=fields)
    shop.subscribe("customers/data_request", receiver.address("/gdpr"))
    product = shop.snapshot("products")[5]["id"]
    shop.update("products", product, {"vendor": "Slim"})
    shop.wait_deliveries()
    [slim] = receiver.wait_for(1)
    payload = slim.json()
    assert set(payload) == {"id", "updated_at", "variants"}
    assert all(set(variant) == {"price"} for variant in payload["variants"])
    assert [s["topic"] for s in shop.subscriptions][1] == "CUSTOMERS_DATA_REQUEST"
    listed = gql(http, shop, SUBSCRIPTIONS)["data"]  # not an API topic: not listed
    assert [n["topic"] for n in listed["webhookSubscriptions"]["nodes"]] == ["PRODUCTS_UPDATE"]
    assert shop.deliver("customers/data_request") == 200
    request = receiver.wait_for(2)[1].json()
    assert set(request) == {"shop_id", "shop_domain", "orders_requested", "customer",
                            "data_request"}  # fmt: skip
    assert request["shop_domain"] == shop.shop_domain


def test_build_delivery_replays_identically(shop: FakeShop, receiver: WebhookReceiver) -> None:
    shop.subscribe("discounts/update", receiver.address("/discounts"))
    discount = shop.snapshot("discounts")[0]["id"]
    url, headers, body = shop.build_delivery("discounts/update", gid=discount)
    assert url == receiver.address("/discounts")
    assert headers["X-Shopify-Hmac-Sha256"] == signed(SECRET, body)
    assert json.loads(body)["admin_graphql_api_id"] == discount
    with httpx.Client() as client:
        for _ in range(2):
            assert client.post(url, content=body, headers=headers).status_code == 200
    one, two = receiver.wait_for(2)
    assert one.body == two.body == body
    assert one.header("X-Shopify-Webhook-Id") == two.header("X-Shopify-Webhook-Id")
    fixed = {"event_id": "e-1", "webhook_id": "w-1", "triggered_at": "2026-07-01T00:00:00.000000Z"}
    assert shop.build_delivery("discounts/update", gid=discount, **fixed) == shop.build_delivery(
        "discounts/update", gid=discount, **fixed
    )
    assert shop.build_delivery("products/delete", {"id": 5}) == (None, ANY, b'{"id":5}')


def test_discount_and_code_topics(shop: FakeShop, receiver: WebhookReceiver) -> None:
    for topic in ("DISCOUNTS_REDEEMCODE_ADDED", "DISCOUNTS_REDEEMCODE_REMOVED",
                  "DISCOUNTS_DELETE", "DISCOUNTS_CREATE"):  # fmt: skip
        shop.subscribe(topic, receiver.address("/d"))
    discount = shop.data.big_discount_id
    assert discount is not None
    shop.add_codes(discount, ["HOOK-1", "HOOK-2"])
    shop.remove_codes(discount, ["HOOK-1"])
    created = shop.create("discounts")
    shop.delete("discounts", created)
    shop.wait_deliveries()
    hits = receiver.wait_for(5)
    topics = [hit.header("X-Shopify-Topic") for hit in hits]
    assert sorted(topics) == sorted(["discounts/redeemcode_added"] * 2 + [
        "discounts/redeemcode_removed", "discounts/create", "discounts/delete"])  # fmt: skip
    added = [hit.json() for hit in hits if hit.header("X-Shopify-Topic").endswith("_added")]
    assert sorted(p["redeem_code"]["code"] for p in added) == ["HOOK-1", "HOOK-2"]
    assert all(p["admin_graphql_api_id"] == discount for p in added)
    deleted = next(h.json() for h in hits if h.header("X-Shopify-Topic") == "discounts/delete")
    assert deleted["admin_graphql_api_id"] == created and "deleted_at" in deleted


def test_uninstall(http: httpx.Client, shop: FakeShop, receiver: WebhookReceiver) -> None:
    shop.subscribe("APP_UNINSTALLED", receiver.address("/bye"))
    assert post(http, shop, "{ shop { id } }").status_code == 200
    shop.uninstall()
    shop.wait_deliveries()
    [hit] = receiver.wait_for(1)
    assert hit.header("X-Shopify-Topic") == "app/uninstalled"
    payload = hit.json()
    assert payload["myshopify_domain"] == shop.shop_domain and isinstance(payload["id"], int)
    assert {"name", "domain"} <= set(payload)
    assert post(http, shop, "{ shop { id } }").status_code == 401
    assert shop.subscriptions == []
    shop.reinstall()
    assert post(http, shop, "{ shop { id } }").status_code == 200


def test_webhook_control_endpoints(
    http: httpx.Client, fake: FakeShopify, receiver: WebhookReceiver
) -> None:
    shop = fake.add_shop("hooked", data=generate_store(seed=3, products=5), client_secret="s3")
    assert shop.client_secret == "s3"
    control = f"{fake.url}/_control/shops/{shop.name}"
    uri = receiver.address("/ctl")
    made = http.post(f"{control}/subscribe", json={"topic": "themes/publish", "uri": uri})
    assert made.status_code == 200
    assert http.get(f"{control}/subscriptions").json()[0]["topic"] == "THEMES_PUBLISH"
    theme = next(t for t in shop.snapshot("themes") if t["role"] != "MAIN")["id"]
    assert http.post(f"{control}/publish_theme", json={"id": theme}).status_code == 200
    assert http.post(f"{control}/wait_deliveries", json={}).status_code == 200
    answer = http.post(f"{control}/deliver", json={"topic": "shop/redact", "uri": uri})
    assert answer.json() == {"status": 200}
    hits = receiver.wait_for(2)
    assert all(hit.header("X-Shopify-Hmac-Sha256") == signed("s3", hit.body) for hit in hits)
    assert [d["topic"] for d in http.get(f"{control}/deliveries").json()] == [
        "themes/publish", "shop/redact"]  # fmt: skip
    assert http.post(f"{control}/uninstall").status_code == 200
    assert http.post(f"{control}/deliver", json={"topic": "app/uninstalled"}).status_code == 404
