"""Bulk operations of the fake Shopify Admin GraphQL server, driven over real HTTP."""

from __future__ import annotations

import itertools
import json
import threading
import time
from typing import Any

import httpx
import pytest

from tests.fakeshopify import FakeShop, FakeShopify, WebhookReceiver, generate_store

VERSION = "2026-07"
RUN = """mutation Run($query: String!, $group: Boolean) {
  bulkOperationRunQuery(query: $query, groupObjects: $group) {
    bulkOperation { id status objectCount url } userErrors { field message code } } }"""
CANCEL = """mutation Cancel($id: ID!) { bulkOperationCancel(id: $id) {
  bulkOperation { id status } userErrors { field message } } }"""
POLL = """query Poll($id: ID!) { bulkOperation(id: $id) { id status errorCode createdAt completedAt
  objectCount rootObjectCount fileSize url partialDataUrl query type } }"""
LIST = """query List($query: String) { bulkOperations(first: 10, query: $query) {
  nodes { id status } edges { cursor node { id } } pageInfo { hasNextPage } } }"""
PRODUCTS_BULK = """{ products { edges { node { id title handle tags updatedAt
  options { name values } variants { edges { node { id title sku position price } } }
  media { nodes { id alt mediaContentType } } } } } }"""
PRODUCT_PAGE = """query($after: String) { products(first: 50, after: $after) {
  pageInfo { hasNextPage endCursor } nodes { id title handle tags updatedAt
  options { name values } } } }"""
CHILD_PAGE = """query($id: ID!, $va: String, $ma: String) { product(id: $id) {
  variants(first: 250, after: $va) { pageInfo { hasNextPage endCursor }
    nodes { id title sku position price } }
  media(first: 250, after: $ma) { pageInfo { hasNextPage endCursor }
    nodes { id alt mediaContentType } } } }"""
SMALL = "{ products { nodes { id variants { nodes { id } } } } }"

_names = (f"bulk{n}" for n in itertools.count(1))


@pytest.fixture(scope="module")
def fake(own_fake: FakeShopify) -> FakeShopify:
    """This module's own fake (default secrets), not the suite's signed one."""
    return own_fake


@pytest.fixture
def shop(fake: FakeShopify) -> FakeShop:
    """A fresh shop per test: 40 products, the first with 300 variants; 300 codes."""
    name = next(_names)
    data = generate_store(seed=5, products=40, big_product_variants=300,
                          big_collection_members=40, big_discount_codes=300)  # fmt: skip
    shop = fake.add_shop(name, token=f"shpat_{name}", data=data)
    shop.configure(restore_rate=100_000)
    return shop


def post(http: httpx.Client, shop: FakeShop, query: str, variables: dict[str, Any] | None = None,
         *, version: str = VERSION) -> httpx.Response:  # fmt: skip
    return http.post(
        f"{shop.admin_base_url}/admin/api/{version}/graphql.json",
        json={"query": query, "variables": variables or {}},
        headers={"X-Shopify-Access-Token": shop.token or ""},
    )


def gql(http: httpx.Client, shop: FakeShop, query: str, /, **variables: Any) -> dict[str, Any]:
    response = post(http, shop, query, variables)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body["errors"]
    return dict(body["data"])


def run(http: httpx.Client, shop: FakeShop, query: str, group: bool | None = None, *,
        version: str = VERSION) -> dict[str, Any]:  # fmt: skip
    """bulkOperationRunQuery's payload."""
    response = post(http, shop, RUN, {"query": query, "group": group}, version=version)
    assert response.status_code == 200, response.text
    return dict(response.json()["data"]["bulkOperationRunQuery"])


def start(http: httpx.Client, shop: FakeShop, query: str, group: bool | None = None) -> str:
    payload = run(http, shop, query, group)
    assert payload["userErrors"] == [], payload
    return str(payload["bulkOperation"]["id"])


def finished(http: httpx.Client, shop: FakeShop, gid: str) -> dict[str, Any]:
    shop.wait_bulk(gid, timeout=10)
    return dict(gql(http, shop, POLL, id=gid)["bulkOperation"])


def lines_of(http: httpx.Client, url: str) -> list[dict[str, Any]]:
    response = http.get(url)
    assert response.status_code == 200, response.text
    assert response.content.endswith(b"\n")
    return [json.loads(line) for line in response.content.decode("utf-8").splitlines()]


def children(lines: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    by_parent: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        if "__parentId" in line:
            by_parent.setdefault(line["__parentId"], []).append(
                {k: v for k, v in line.items() if k != "__parentId"}
            )
    return by_parent


def paged_products(http: httpx.Client, shop: FakeShop) -> list[dict[str, Any]]:
    """Every product with all its variants and media, by paging."""
    products: list[dict[str, Any]] = []
    after = None
    while True:
        page = gql(http, shop, PRODUCT_PAGE, after=after)["products"]
        products += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    for product in products:
        product["variants"], product["media"] = [], []
        cursors: dict[str, str | None] = {"va": None, "ma": None}
        todo = {"variants": "va", "media": "ma"}
        while todo:
            found = gql(http, shop, CHILD_PAGE, id=product["id"], **cursors)["product"]
            for field, cursor in list(todo.items()):
                product[field] += found[field]["nodes"]
                info = found[field]["pageInfo"]
                cursors[cursor] = info["endCursor"]
                if not info["hasNextPage"]:
                    del todo[field]
    return products


# ---------------------------------------------------------------- results
def test_products_bulk_equals_paging(http: httpx.Client, shop: FakeShop) -> None:
    # Given a store whose first product has 300 variants
    gid = start(http, shop, PRODUCTS_BULK)
    # When the bulk query finishes and its file is downloaded
    done = finished(http, shop, gid)
    lines = lines_of(http, done["url"])
    # Then reassembling the lines by __parentId gives what paging gives
    kids = children(lines)
    rebuilt = []
    for line in lines:
        if "__parentId" not in line:
            assert "variants" not in line and "media" not in line
            mine = kids.get(line["id"], [])
            variants = [k for k in mine if "/ProductVariant/" in k["id"]]
            media = [k for k in mine if "/ProductVariant/" not in k["id"]]
            rebuilt.append({**line, "variants": variants, "media": media})
    assert rebuilt == paged_products(http, shop)
    assert len(rebuilt[0]["variants"]) == 300
    # And some child comes before its parent (groupObjects defaults to false from 2026-01)
    position = {line["id"]: index for index, line in enumerate(lines)}
    assert any(position[line["__parentId"]] > index
               for index, line in enumerate(lines) if "__parentId" in line)  # fmt: skip
    raw = http.get(done["url"]).content
    assert done["objectCount"] == str(len(lines)) and done["rootObjectCount"] == "40"
    assert done["fileSize"] == str(len(raw)) and done["errorCode"] is None
    assert done["type"] == "QUERY" and done["query"] == PRODUCTS_BULK
    assert done["createdAt"] <= done["completedAt"]
    assert raw.split(b"\n")[0] == json.dumps(lines[0], separators=(",", ":")).encode()
    # And bulk work drew nothing from the bucket: the mutation cost 10, the poll 1
    costs = {entry["operation"]: entry["actual"] for entry in shop.stats["log"]}
    assert costs["Run"] == 10 and costs["Poll"] == 1


def test_grouped_output_and_snapshot(http: httpx.Client, shop: FakeShop) -> None:
    # Given a grouped bulk query that finished
    done = finished(http, shop, start(http, shop, PRODUCTS_BULK, group=True))
    lines = lines_of(http, done["url"])
    # Then every child follows its parent (or a sibling) directly
    parent = None
    for line in lines:
        if "__parentId" in line:
            assert line["__parentId"] == parent
        else:
            parent = line["id"]
    # When the shop changes afterwards, the finished file does not
    first = shop.snapshot("products")[0]["id"]
    shop.update("products", first, {"title": "Changed later"})
    assert lines_of(http, done["url"]) == lines


def test_filters_nodes_form_and_zero_objects(http: httpx.Client, shop: FakeShop) -> None:
    # Given a query: filter and the nodes form
    since = sorted(p["updatedAt"] for p in shop.snapshot("products"))[20]
    query = f"{{ products(query: \"updated_at:>='{since}'\", sortKey: UPDATED_AT) {{ nodes {{ id updatedAt }} }} }}"  # noqa: E501
    done = finished(http, shop, start(http, shop, query))
    # Then only matching products are written, in sortKey order
    lines = lines_of(http, done["url"])
    expected = sorted((p["updatedAt"], int(p["id"].rsplit("/", 1)[1]), p["id"])
                      for p in shop.snapshot("products") if p["updatedAt"] >= since)  # fmt: skip
    assert [line["id"] for line in lines] == [entry[2] for entry in expected]
    # And a query matching nothing completes with no url and objectCount "0"
    empty = finished(
        http, shop, start(http, shop, '{ products(query: "tag:nope") { nodes { id } } }')
    )
    assert (empty["status"], empty["url"], empty["objectCount"]) == ("COMPLETED", None, "0")


def test_discount_codes_and_collection_members(http: httpx.Client, shop: FakeShop) -> None:
    # Given code discounts (the first with 300 codes) and collections with members
    discounts = """{ discountNodes { edges { node { id discount { __typename
      ... on DiscountCodeBasic { title codes { edges { node { id code } } } }
      ... on DiscountCodeBxgy { title codes { nodes { id code } } } } } } } }"""
    done = finished(http, shop, start(http, shop, discounts))
    lines = lines_of(http, done["url"])
    # Then codes are lines of their own, with the DiscountNode's id as __parentId
    kids = children(lines)
    big = shop.data.big_discount_id
    assert big is not None
    stored = {n["id"]: n for n in shop.snapshot("discounts")}
    assert [c["code"] for c in kids[big]] == [c["code"] for c in stored[big]["discount"]["codes"]]
    assert len(kids[big]) == 300
    for line in lines:
        if "__parentId" not in line:
            assert "codes" not in line["discount"]
            typename = line["discount"]["__typename"]
            if typename in ("DiscountCodeBasic", "DiscountCodeBxgy"):
                assert len(kids[line["id"]]) == len(stored[line["id"]]["discount"]["codes"])
    # And collection members are lines under their collection
    members = "{ collections { edges { node { id products { edges { node { id } } } } } } }"
    lines = lines_of(http, finished(http, shop, start(http, shop, members))["url"])
    kids = children(lines)
    # (the connection lists members by id; productIds keeps the collection's sortOrder)
    for collection in shop.snapshot("collections"):
        by_id = sorted(collection["productIds"], key=lambda gid: int(gid.rsplit("/", 1)[1]))
        assert [p["id"] for p in kids.get(collection["id"], [])] == by_id


# ---------------------------------------------------------------- lifecycle
def test_status_progress_listing_and_current(http: httpx.Client, shop: FakeShop) -> None:
    # Given a slow run: about 520 lines at 1000 a second
    shop.configure(bulk_objects_per_second=1000)
    gid = start(http, shop, PRODUCTS_BULK)
    # When it is polled until it finishes
    seen: list[tuple[str, int]] = []
    listed_running = False
    while not seen or seen[-1][0] != "COMPLETED":
        op = gql(http, shop, POLL, id=gid)["bulkOperation"]
        seen.append((op["status"], int(op["objectCount"])))
        if op["status"] == "RUNNING" and not listed_running:
            running = gql(http, shop, LIST, query="status:running")["bulkOperations"]
            listed_running = [n["id"] for n in running["nodes"]] == [gid]
            assert gql(http, shop, "{ currentBulkOperation { id } }")["currentBulkOperation"] == {
                "id": gid
            }
        time.sleep(0.02)
    # Then it went CREATED/RUNNING -> COMPLETED, counting up
    statuses = [status for status, _ in seen]
    assert statuses[0] in ("CREATED", "RUNNING") and "RUNNING" in statuses
    counts = [count for _, count in seen]
    assert counts == sorted(counts) and any(0 < c < counts[-1] for c in counts)
    assert listed_running
    # And bulkOperations filters on status, operation_type, created_at and id
    assert gql(http, shop, LIST, query="status:RUNNING")["bulkOperations"]["nodes"] == []
    created = shop.bulk_operations[0]["createdAt"]
    for text in ("status:COMPLETED", "operation_type:QUERY", f"created_at:>='{created}'",
                 f"id:{gid.rsplit('/', 1)[1]}"):  # fmt: skip
        assert gql(http, shop, LIST, query=text)["bulkOperations"]["nodes"] == [
            {"id": gid, "status": "COMPLETED"}
        ], text
    assert gql(http, shop, LIST, query="operation_type:MUTATION")["bulkOperations"]["nodes"] == []
    assert gql(http, shop, POLL, id="gid://shopify/BulkOperation/1")["bulkOperation"] is None


def test_concurrency_limit_and_cancel(http: httpx.Client, shop: FakeShop, fake: FakeShopify
                                      ) -> None:  # fmt: skip
    # Given operations that stay CREATED for a while
    shop.configure(bulk_start_seconds=30)
    gids = [start(http, shop, SMALL) for _ in range(5)]
    # When a 6th is asked for, it is refused
    refused = run(http, shop, SMALL)
    message = f"A bulk query operation for this app and shop is already in progress: {gids[-1]}."
    assert refused == {
        "bulkOperation": None,
        "userErrors": [{"field": None, "message": message, "code": "OPERATION_IN_PROGRESS"}],
    }
    assert shop.bulk_stats["max_running"] == 5 and shop.bulk_stats["started"] == 5
    # When one is cancelled, it is CANCELING, then CANCELED, and a slot frees up
    answer = gql(http, shop, CANCEL, id=gids[0])["bulkOperationCancel"]
    assert answer == {"bulkOperation": {"id": gids[0], "status": "CANCELING"}, "userErrors": []}
    cancelled = finished(http, shop, gids[0])
    assert (cancelled["status"], cancelled["url"]) == ("CANCELED", None)
    assert cancelled["completedAt"] is not None
    again = gql(http, shop, CANCEL, id=gids[0])["bulkOperationCancel"]["userErrors"]
    assert again == [
        {"field": ["id"], "message": "A bulk operation cannot be canceled when it is canceled"}
    ]  # noqa: E501
    gids.append(start(http, shop, SMALL))
    # And someone else's cancel (shop.cancel_bulk) and the control endpoint end the rest
    shop.cancel_bulk(gids[1])
    control = f"{fake.url}/_control/shops/{shop.name}"
    for gid in gids[2:]:
        assert http.post(f"{control}/cancel_bulk", json={"id": gid}).status_code == 200
    assert {shop.wait_bulk(gid)["status"] for gid in gids} == {"CANCELED"}
    listed = http.get(f"{control}/bulk_operations").json()
    assert [op["id"] for op in listed] == gids and listed[0]["status"] == "CANCELED"


def test_older_versions_allow_one(http: httpx.Client, shop: FakeShop) -> None:
    # Given API 2025-10 (one bulk query at a time; grouped by default)
    shop.configure(bulk_start_seconds=30)
    first = run(http, shop, SMALL, version="2025-10")["bulkOperation"]["id"]
    # When a second is asked for, it is refused
    second = run(http, shop, SMALL, version="2025-10")
    assert second["bulkOperation"] is None
    assert second["userErrors"][0]["code"] == "OPERATION_IN_PROGRESS"
    # And 2026-01 still has room for four more
    assert run(http, shop, SMALL, version="2026-01")["userErrors"] == []
    assert shop.bulk_operations[0]["groupObjects"] is True
    assert shop.bulk_operations[1]["groupObjects"] is False
    for op in shop.bulk_operations:
        shop.cancel_bulk(op["id"])
    assert shop.wait_bulk(first)["status"] == "CANCELED"


# ---------------------------------------------------------------- faults
def test_fail_next_bulk_leaves_partial_data(http: httpx.Client, shop: FakeShop) -> None:
    # Given a complete run of a query
    full = lines_of(http, finished(http, shop, start(http, shop, PRODUCTS_BULK))["url"])
    # When the next one fails with TIMEOUT at half way
    shop.fail_next_bulk("TIMEOUT", fraction=0.5)
    failed = finished(http, shop, start(http, shop, PRODUCTS_BULK))
    # Then it is FAILED with the first half of the lines behind partialDataUrl
    assert (failed["status"], failed["errorCode"], failed["url"]) == ("FAILED", "TIMEOUT", None)
    assert lines_of(http, failed["partialDataUrl"]) == full[: len(full) // 2]
    assert failed["objectCount"] == str(len(full) // 2)
    # And the control endpoint arms INTERNAL_SERVER_ERROR the same way
    control = f"{shop.admin_base_url.rsplit('/shops/', 1)[0]}/_control/shops/{shop.name}"
    body = {"error_code": "INTERNAL_SERVER_ERROR", "fraction": 0.25}
    assert http.post(f"{control}/fail_next_bulk", json=body).status_code == 200
    failed = finished(http, shop, start(http, shop, PRODUCTS_BULK))
    assert failed["errorCode"] == "INTERNAL_SERVER_ERROR"
    assert len(lines_of(http, failed["partialDataUrl"])) == len(full) // 4
    # And the next run is normal again (control endpoints run and wait)
    gid = http.post(f"{control}/run_bulk", json={"query": SMALL}).json()["id"]
    assert http.post(f"{control}/wait_bulk", json={"id": gid}).json()["status"] == "COMPLETED"
    assert http.get(f"{control}/bulk_stats").json()["started"] == 4


def test_access_denied_and_expired(http: httpx.Client, shop: FakeShop) -> None:
    # Given an app that has not switched bulk queries on
    shop.configure(bulk_access=False)
    denied = finished(http, shop, start(http, shop, SMALL))
    # Then the operation is created, then FAILED with ACCESS_DENIED
    assert (denied["status"], denied["errorCode"], denied["url"]) == (
        "FAILED", "ACCESS_DENIED", None)  # fmt: skip
    # And a query on a root field without its scope fails the same way
    shop.configure(bulk_access=True)
    shop.set_scopes(["read_products"])
    denied = finished(http, shop, start(http, shop, "{ discountNodes { nodes { id } } }"))
    assert (denied["status"], denied["errorCode"]) == ("FAILED", "ACCESS_DENIED")
    # When the next operation is set to expire, it ends EXPIRED without a url
    shop.expire_next_bulk()
    expired = finished(http, shop, start(http, shop, SMALL))
    assert (expired["status"], expired["url"], expired["errorCode"]) == ("EXPIRED", None, None)


def test_download_ranges_and_url_expiry(http: httpx.Client, shop: FakeShop) -> None:
    # Given a finished operation's file
    url = finished(http, shop, start(http, shop, PRODUCTS_BULK))["url"]
    whole = http.get(url).content
    # When it is fetched from a byte offset, the rest comes back as 206
    part = http.get(url, headers={"Range": "bytes=1000-"})
    assert part.status_code == 206 and part.content == whole[1000:]
    assert part.headers["Content-Range"] == f"bytes 1000-{len(whole) - 1}/{len(whole)}"
    middle = http.get(url, headers={"Range": "bytes=10-19"})
    assert middle.status_code == 206 and middle.content == whole[10:20]
    assert http.get(url, headers={"Range": f"bytes={len(whole)}-"}).status_code == 416
    assert shop.bulk_stats["downloads"] == 3
    assert shop.bulk_stats["bytes_served"] == len(whole) * 2 - 1000 + 10
    # And a tampered signature is refused
    assert http.get(url.replace("sig=", "sig=0")).status_code == 403
    # When the URL's lifetime has passed, it answers 403 ExpiredToken
    shop.bulk_clock = lambda: time.time() + 604_801
    expired = http.get(url)
    assert expired.status_code == 403 and "<Code>ExpiredToken</Code>" in expired.text
    shop.bulk_clock = time.time
    shop.configure(bulk_url_lifetime_seconds=0)
    short = finished(http, shop, start(http, shop, SMALL))["url"]
    assert http.get(short).status_code == 403


# ---------------------------------------------------------------- webhook and validation
def test_finish_webhook(http: httpx.Client, shop: FakeShop) -> None:
    with WebhookReceiver() as receiver:
        # Given a subscription to bulk_operations/finish
        shop.subscribe("BULK_OPERATIONS_FINISH", receiver.address("/bulk"))
        # When an operation completes and another fails
        done = finished(http, shop, start(http, shop, SMALL))
        shop.fail_next_bulk()
        failed = finished(http, shop, start(http, shop, SMALL))
        shop.wait_deliveries()
        hits = receiver.wait_for(2)
    # Then each is announced, REST-style, without a url
    by_id = {hit.json()["admin_graphql_api_id"]: hit for hit in hits}
    payload = by_id[done["id"]].json()
    assert by_id[done["id"]].header("X-Shopify-Topic") == "bulk_operations/finish"
    assert set(payload) == {"admin_graphql_api_id", "completed_at", "created_at", "error_code",
                            "status", "type"}  # fmt: skip
    assert (payload["status"], payload["error_code"], payload["type"]) == (
        "completed", None, "query")  # fmt: skip
    failure = by_id[failed["id"]].json()
    assert (failure["status"], failure["error_code"]) == ("failed", "internal_server_error")
    _url, _headers, body = shop.build_delivery("bulk_operations/finish", gid=failed["id"],
                                               uri="http://127.0.0.1:9/x")  # fmt: skip
    assert json.loads(body) == failure


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("{ products { nodes { id } } collections { nodes { id } } blogs { nodes { id } } "
         "articles { nodes { id } } files { nodes { id } } themes { nodes { id } } }",
         "more than 5 connections"),
        ("{ collections { nodes { id products { nodes { id variants { nodes { id } } } } } } }",
         "nesting depth greater than 2"),
        ("{ shop { id } }", "at least one connection"),
        ("{ products { nodes { id nope } } }", "Field 'nope' doesn't exist on type 'Product'"),
        ("{ products { nodes { id }", "Invalid bulk query"),
        ("{ products { nodes { title variants { nodes { id } } } } }", "must select the 'id'"),
        ('mutation { bulkOperationCancel(id: "gid://shopify/BulkOperation/1") { userErrors '
         "{ message } } }", "exactly one query operation"),
    ],
)  # fmt: skip
def test_invalid_inner_query(http: httpx.Client, shop: FakeShop, query: str, message: str) -> None:
    # When the inner query breaks a bulk rule
    payload = run(http, shop, query)
    # Then it is refused with INVALID and no operation
    assert payload["bulkOperation"] is None
    [error] = payload["userErrors"]
    assert error["code"] == "INVALID" and error["field"] == ["query"]
    assert message in error["message"]
    assert shop.bulk_stats["started"] == 0


def test_stop_ends_bulk_threads() -> None:
    # Given an operation waiting to start on a server of its own
    fake = FakeShopify()
    shop = fake.add_shop("solo", data=generate_store(seed=2, products=3))
    fake.serve()
    shop.configure(bulk_start_seconds=30)
    gid = shop.run_bulk(SMALL)
    assert [t for t in threading.enumerate() if t.name.startswith("fakeshopify-bulk-solo-")]
    # When the server stops, its thread ends
    fake.stop()
    assert not [t for t in threading.enumerate() if t.name.startswith("fakeshopify-bulk-solo-")]
    assert shop.bulk_operations[0]["id"] == gid
