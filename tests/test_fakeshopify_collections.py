"""The fake's collections: rule evaluation, silent membership changes, Product.collections and
the 2026-07 model (``Collection.sources``, collections hidden from older API versions)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.fakeshopify import FakeShop, FakeShopify, WebhookReceiver, generate_store
from tests.fakeshopify.collectionrules import rule_set_matches
from tests.fakeshopify.membership import SORT_ORDERS

NEW, OLD = "2026-07", "2026-04"
Node = dict[str, Any]
_names = (f"coll{n}" for n in itertools.count(1))


@pytest.fixture(scope="module")
def fake(own_fake: FakeShopify) -> FakeShopify:
    """This module's own fake (default secrets), not the suite's signed one."""
    return own_fake


@pytest.fixture
def shop(fake: FakeShopify) -> FakeShop:
    """A fresh shop per test: 80 products, 6 legacy and 2 new-model collections."""
    name = next(_names)
    shop = fake.add_shop(name, token=f"shpat_{name}", data=generate_store(seed=3, products=80))
    shop.configure(restore_rate=100_000)
    return shop


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


def post(http: httpx.Client, shop: FakeShop, query: str, version: str = NEW,
         **variables: Any) -> dict[str, Any]:  # fmt: skip
    response = http.post(
        f"{shop.admin_base_url}/admin/api/{version}/graphql.json",
        json={"query": query, "variables": variables},
        headers={"X-Shopify-Access-Token": shop.token or ""},
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def gql(http: httpx.Client, shop: FakeShop, query: str, version: str = NEW,
        **variables: Any) -> dict[str, Any]:  # fmt: skip
    body = post(http, shop, query, version, **variables)
    assert "errors" not in body, body["errors"]
    return dict(body["data"])


def collections(shop: FakeShop) -> dict[str, Node]:
    return {node["id"]: node for node in shop.snapshot("collections")}


def products(shop: FakeShop) -> dict[str, Node]:
    return {node["id"]: node for node in shop.snapshot("products")}


def smart_with(shop: FakeShop, column: str, disjunctive: bool) -> Node:
    return next(c for c in shop.snapshot("collections") if c["ruleSet"]
                and c["ruleSet"]["appliedDisjunctively"] == disjunctive
                and column in [rule["column"] for rule in c["ruleSet"]["rules"]])  # fmt: skip


def new_model(shop: FakeShop) -> list[Node]:
    return [c for c in shop.snapshot("collections") if c.get("sources")]


def members(shop: FakeShop, gid: str) -> list[str]:
    return list(collections(shop)[gid]["productIds"])


def number(gid: str) -> int:
    return int(gid.rsplit("/", 1)[1])


def prices(product: Node) -> list[float]:
    return [float(v["price"]) for v in product["variants"]]


# ---------------------------------------------------------------- rules
def test_generated_smart_collections_hold_what_their_rules_match() -> None:
    for seed in (1, 3, 7):
        store = generate_store(seed=seed, products=120)
        everything = list(store.resources["products"].values())
        smart = [c for c in store.resources["collections"].values() if c["ruleSet"]]
        assert len(smart) == 3 and {c["ruleSet"]["appliedDisjunctively"] for c in smart} == {
            True,
            False,
        }
        for collection in smart:
            expected = {p["id"] for p in everything if rule_set_matches(p, collection["ruleSet"])}
            assert set(collection["productIds"]) == expected and expected
            # and the list is in the collection's sortOrder
            key, descending = SORT_ORDERS.get(collection["sortOrder"], (None, False))
            nodes = [store.resources["products"][gid] for gid in collection["productIds"]]
            if key is not None:
                assert nodes == sorted(nodes, key=key, reverse=descending)


def test_tag_change_moves_a_product_in_and_out_silently(
    http: httpx.Client, shop: FakeShop, receiver: WebhookReceiver
) -> None:
    # Given a conjunctive smart collection "tag T and a variant over 10", and a product over 10
    # without T, and subscriptions to products/update and collections/update
    collection = smart_with(shop, "TAG", disjunctive=False)
    tag = next(r["condition"] for r in collection["ruleSet"]["rules"] if r["column"] == "TAG")
    product = next(p for p in shop.snapshot("products")
                   if tag not in p["tags"] and max(prices(p)) > 10)  # fmt: skip
    assert product["id"] not in collection["productIds"]
    for topic in ("PRODUCTS_UPDATE", "COLLECTIONS_UPDATE"):
        shop.subscribe(topic, receiver.address(f"/{topic.lower()}"))
    # When the product gets the tag
    shop.set_tags(product["id"], [*product["tags"], tag])
    # Then it is a member, on the API too, and the collection's updatedAt did not move
    assert product["id"] in members(shop, collection["id"])
    query = """query($id: ID!) { collection(id: $id) { updatedAt products(first: 250) {
      nodes { id } } } }"""
    got = gql(http, shop, query, id=collection["id"])["collection"]
    assert product["id"] in [n["id"] for n in got["products"]["nodes"]]
    assert got["updatedAt"] == collection["updatedAt"]
    # And the product itself was updated
    assert products(shop)[product["id"]]["updatedAt"] >= time.strftime("%Y-%m-%dT", time.gmtime())
    # When the tag goes again, the product leaves
    shop.set_tags(product["id"], product["tags"])
    assert product["id"] not in members(shop, collection["id"])
    assert collections(shop)[collection["id"]]["updatedAt"] == collection["updatedAt"]
    # And only products/update was sent: no collections/update for membership changes
    shop.wait_deliveries(timeout=5)  # nothing queued or in flight any more
    topics = [hit.header("X-Shopify-Topic") for hit in receiver.requests]
    assert topics == ["products/update", "products/update"]


def test_price_change_moves_a_product_in_and_out(shop: FakeShop) -> None:
    # Given a member of "tag T and a variant over 10"
    collection = smart_with(shop, "TAG", disjunctive=False)
    product = products(shop)[collection["productIds"][0]]
    # When every variant costs 5, it leaves; at 25 it is back; one variant at 11 is enough
    shop.set_variant_prices(product["id"], "5")
    assert product["id"] not in members(shop, collection["id"])
    shop.set_variant_prices(product["id"], "25")
    assert product["id"] in members(shop, collection["id"])
    variants = products(shop)[product["id"]]["variants"]
    shop.set_variant_prices(product["id"], {v["id"]: "5" for v in variants})
    shop.set_variant_prices(product["id"], {variants[-1]["id"]: "11.00"})
    assert product["id"] in members(shop, collection["id"])
    assert products(shop)[product["id"]]["variants"][-1]["price"] == "11.00"


def test_disjunctive_means_any_rule_and_conjunctive_all(shop: FakeShop) -> None:
    # Given the same two rules, applied disjunctively and conjunctively
    everything = list(products(shop).values())
    sample = next(p for p in everything if p["tags"])
    tag, vendor = sample["tags"][0], sample["vendor"]
    rules = [{"column": "TAG", "relation": "EQUALS", "condition": tag.upper()},
             {"column": "VENDOR", "relation": "EQUALS", "condition": vendor}]  # fmt: skip
    made = {kind: shop.create("collections", {"ruleSet": {"appliedDisjunctively": kind == "any",
                                                          "rules": rules}})
            for kind in ("any", "all")}  # fmt: skip
    # Then members match any rule, or all of them (tags compare without case)
    tagged = {p["id"] for p in everything if tag in p["tags"]}
    sold = {p["id"] for p in everything if p["vendor"] == vendor}
    assert set(members(shop, made["any"])) == tagged | sold
    assert set(members(shop, made["all"])) == tagged & sold
    assert tagged & sold < tagged | sold
    # And changing the rules (a collection edit: updatedAt moves) recomputes the members
    shop.update("collections", made["all"], {"ruleSet": {"appliedDisjunctively": False,
                                                          "rules": rules[:1]}})  # fmt: skip
    assert set(members(shop, made["all"])) == tagged


RELATIONS: list[tuple[str, str, str, Callable[[Node], bool]]] = [
    ("TITLE", "CONTAINS", "mug", lambda p: "mug" in p["title"].lower()),
    ("TITLE", "STARTS_WITH", "Classic", lambda p: p["title"].startswith("Classic")),
    ("TITLE", "ENDS_WITH", "7", lambda p: p["title"].endswith("7")),
    ("TITLE", "NOT_CONTAINS", "e", lambda p: "e" not in p["title"].lower()),
    ("TYPE", "NOT_EQUALS", "Home", lambda p: p["productType"] != "Home"),
    ("TYPE", "EQUALS", "apparel", lambda p: p["productType"] == "Apparel"),
    ("VENDOR", "EQUALS", "Acme Co", lambda p: p["vendor"] == "Acme Co"),
    ("VARIANT_PRICE", "LESS_THAN", "15", lambda p: min(prices(p)) < 15),
    ("VARIANT_PRICE", "GREATER_THAN", "59", lambda p: max(prices(p)) > 59),
    ("VARIANT_PRICE", "EQUALS", "24", lambda p: 24.0 in prices(p)),
    ("TAG", "NOT_EQUALS", "sale", lambda p: "sale" not in p["tags"]),
]


@pytest.mark.parametrize(("column", "relation", "condition", "expected"), RELATIONS)
def test_relations(shop: FakeShop, column: str, relation: str, condition: str,
                   expected: Callable[[Node], bool]) -> None:  # fmt: skip
    rule_set = {
        "appliedDisjunctively": False,
        "rules": [{"column": column, "relation": relation, "condition": condition}],
    }
    gid = shop.create("collections", {"ruleSet": rule_set})
    assert set(members(shop, gid)) == {p["id"] for p in shop.snapshot("products") if expected(p)}


def test_new_members_go_where_the_sort_order_puts_them(shop: FakeShop) -> None:
    # Given empty smart collections ("tagged fresh") sorted three ways
    rule_set = {
        "appliedDisjunctively": False,
        "rules": [{"column": "TAG", "relation": "EQUALS", "condition": "fresh"}],
    }
    made = {order: shop.create("collections", {"ruleSet": rule_set, "sortOrder": order})
            for order in ("ALPHA_ASC", "CREATED_DESC", "MANUAL")}  # fmt: skip
    assert all(members(shop, gid) == [] for gid in made.values())
    # When products get the tag one by one (a created product too)
    picked = [p["id"] for p in shop.snapshot("products")[5:40:7]]
    for gid in picked:
        shop.set_tags(gid, ["fresh"])
    created = shop.create("products", {"tags": ["fresh"]})
    picked.append(created)
    # Then sorted collections keep their order; MANUAL appends
    nodes = products(shop)
    by_title = sorted(picked, key=lambda g: (nodes[g]["title"].lower(), number(g)))
    newest = sorted(picked, key=lambda g: (nodes[g]["createdAt"], number(g)))
    assert members(shop, made["ALPHA_ASC"]) == by_title
    assert members(shop, made["CREATED_DESC"]) == newest[::-1]
    assert members(shop, made["MANUAL"]) == picked
    # And a deleted product leaves every collection
    shop.delete("products", created)
    assert all(created not in members(shop, gid) for gid in made.values())


# ---------------------------------------------------------------- control endpoints
def test_control_endpoints_change_tags_and_prices(http: httpx.Client, shop: FakeShop) -> None:
    base = f"{shop.admin_base_url.rsplit('/shops/', 1)[0]}/_control/shops/{shop.name}"
    product = shop.snapshot("products")[3]
    answer = http.post(f"{base}/product_tags", json={"id": product["id"], "tags": ["x", "y"]})
    assert answer.status_code == 200, answer.text
    first = product["variants"][0]["id"]
    answer = http.post(f"{base}/variant_prices", json={"id": product["id"],
                                                       "prices": {first: "77.5"}})  # fmt: skip
    assert answer.status_code == 200, answer.text
    stored = products(shop)[product["id"]]
    assert stored["tags"] == ["x", "y"] and stored["variants"][0]["price"] == "77.50"
    answer = http.post(f"{base}/variant_prices", json={"id": product["id"], "price": "3"})
    assert {v["price"] for v in products(shop)[product["id"]]["variants"]} == {"3.00"}
    unknown = {"gid://shopify/ProductVariant/1": "1"}
    answer = http.post(f"{base}/variant_prices", json={"id": product["id"], "prices": unknown})
    assert answer.status_code == 404
