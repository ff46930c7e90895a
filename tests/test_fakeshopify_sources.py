"""The fake's ``Product.collections`` and the 2026-07 collection model: ``Collection.sources``,
new-model collections hidden from older API versions, their membership and bulk exports."""

from __future__ import annotations

import itertools
import json

import httpx
import pytest

from tests.fakeshopify import FakeShop, FakeShopify, generate_store
from tests.fakeshopify.collectionmodel import condition, conditions_source
from tests.fakeshopify.collectionrules import EXCLUSION
from tests.test_fakeshopify_collections import (
    NEW,
    OLD,
    Node,
    collections,
    gql,
    members,
    new_model,
    number,
    post,
    prices,
    products,
    smart_with,
)

_names = (f"src{n}" for n in itertools.count(1))


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


# ---------------------------------------------------------------- Product.collections
COLLECTIONS_OF = """query($id: ID!, $after: String) { product(id: $id) { collections(first: 1,
  after: $after) { pageInfo { hasNextPage endCursor } edges { cursor node { id title } } } } }"""


def test_product_collections_pages_through_every_collection_it_is_in(
    http: httpx.Client, shop: FakeShop
) -> None:
    # Given the product in the most collections (custom, smart and new-model)
    every = collections(shop)
    counts = {gid: sum(gid in c["productIds"] for c in every.values()) for gid in products(shop)}
    product = max(counts, key=lambda gid: counts[gid])
    expected = sorted((gid for gid, c in every.items() if product in c["productIds"]),
                      key=number)  # fmt: skip
    assert len(expected) >= 3
    # When its collections are paged one at a time
    seen: list[str] = []
    after = None
    while True:
        connection = gql(http, shop, COLLECTIONS_OF, id=product, after=after)["product"][
            "collections"
        ]
        seen += [edge["node"]["id"] for edge in connection["edges"]]
        assert connection["pageInfo"]["endCursor"] == connection["edges"][-1]["cursor"]
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    # Then every collection comes once, by id
    assert seen == expected
    # And inside products(...) each product lists its own, at the usual connection cost
    query = "{ products(first: 3) { nodes { id collections(first: 250) { nodes { id } } } } }"
    body = post(http, shop, query)
    for node in body["data"]["products"]["nodes"]:
        mine = {gid for gid, c in every.items() if node["id"] in c["productIds"]}
        assert {n["id"] for n in node["collections"]["nodes"]} == mine
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 2 + 3 * (1 + 2 + 250)
    assert cost["actualQueryCost"] < cost["requestedQueryCost"]
    too_many = post(http, shop, query.replace("first: 250", "first: 251"))
    assert "251" in too_many["errors"][0]["message"]


def test_product_collections_follow_changes(http: httpx.Client, shop: FakeShop) -> None:
    collection = smart_with(shop, "TAG", disjunctive=False)
    tag = next(r["condition"] for r in collection["ruleSet"]["rules"] if r["column"] == "TAG")
    product = next(p for p in shop.snapshot("products")
                   if tag not in p["tags"] and max(prices(p)) > 10)  # fmt: skip
    query = "query($id: ID!) { product(id: $id) { collections(first: 250) { nodes { id } } } }"

    def listed() -> set[str]:
        got = gql(http, shop, query, id=product["id"])["product"]["collections"]["nodes"]
        return {n["id"] for n in got}

    assert collection["id"] not in listed()
    shop.set_tags(product["id"], [tag])
    assert collection["id"] in listed()


# ---------------------------------------------------------------- the 2026-07 model
SOURCES = """{ collections(first: 8) { nodes { id ruleSet { appliedDisjunctively }
  sources { __typename id title ... on CollectionConditionsSource { targetType shareable
    inclusion { matchType conditions { __typename id
      ... on CollectionSourceInclusionConditionProductTag { tagRelation: relation values }
      ... on CollectionSourceInclusionConditionVariantPrice { relation value { amount } } }
      selections(first: 30) { nodes { product { id } } } }
    exclusion { matchType conditions { __typename
      ... on CollectionSourceExclusionConditionCollection { excluded: values { id } } }
      selections(first: 5) { nodes { product { id } } } } }
    ... on CollectionSubCollectionsSource { collections { id } } } } } }"""


def test_sources_in_2026_07_and_an_unknown_field_before(http: httpx.Client, shop: FakeShop) -> None:
    stored = collections(shop)
    nodes = gql(http, shop, SOURCES)["collections"]["nodes"]
    assert len(nodes) == len(stored) == 8
    for node in nodes:
        collection = stored[node["id"]]
        assert node["sources"], node
        if collection.get("sources"):  # new model: no ruleSet
            assert node["ruleSet"] is None
            continue
        [source] = node["sources"]
        assert source["__typename"] == "CollectionConditionsSource"
        inclusion = source["inclusion"]
        if collection["ruleSet"] is None:  # custom: its products, selected by hand
            assert inclusion["conditions"] == [] and inclusion["matchType"] is None
            picked = [s["product"]["id"] for s in inclusion["selections"]["nodes"]]
            assert picked == sorted(collection["productIds"], key=number)[:30]
        else:  # smart: one condition per rule
            disjunctive = collection["ruleSet"]["appliedDisjunctively"]
            assert inclusion["matchType"] == ("ANY" if disjunctive else "ALL")
            assert len(inclusion["conditions"]) == len(collection["ruleSet"]["rules"])
            assert inclusion["selections"]["nodes"] == []
    for version in (OLD, "2026-01"):
        query = "{ collections(first: 1) { nodes { id sources { id } } } }"
        body = post(http, shop, query, version)
        [error] = body["errors"]
        assert error["message"] == "Field 'sources' doesn't exist on type 'Collection'"
        assert error["extensions"]["code"] == "undefinedField"


def test_new_model_collections_are_hidden_before_2026_07(
    http: httpx.Client, shop: FakeShop
) -> None:
    hidden = [c["id"] for c in new_model(shop)]
    legacy = [c["id"] for c in shop.snapshot("collections") if not c.get("sources")]
    assert len(hidden) == 2 and len(legacy) == 6
    listing = "{ collections(first: 50) { nodes { id } } collectionsCount { count } }"
    for version, expected in ((NEW, legacy + hidden), (OLD, legacy)):
        data = gql(http, shop, listing, version)
        assert [n["id"] for n in data["collections"]["nodes"]] == expected
        assert data["collectionsCount"]["count"] == len(expected)
    lookups = """query($id: ID!) { collection(id: $id) { id } node(id: $id) { id }
      nodes(ids: [$id]) { id } }"""
    assert gql(http, shop, lookups, OLD, id=hidden[0]) == {
        "collection": None, "node": None, "nodes": [None],
    }  # fmt: skip
    assert gql(http, shop, lookups, NEW, id=hidden[0])["collection"] == {"id": hidden[0]}
    # A product of a new-model collection lists it from 2026-07 only
    product = new_model(shop)[0]["productIds"][0]
    query = "query($id: ID!) { product(id: $id) { collections(first: 250) { nodes { id } } } }"
    for version, visible in ((NEW, True), (OLD, False)):
        got = gql(http, shop, query, version, id=product)["product"]["collections"]["nodes"]
        assert (hidden[0] in {n["id"] for n in got}) is visible


def bulk_lines(http: httpx.Client, shop: FakeShop, query: str, version: str) -> list[Node]:
    op = shop.wait_bulk(shop.run_bulk(query, version=version), timeout=20)
    assert op["status"] == "COMPLETED", op
    text = http.get(op["url"]).text if op["url"] else ""
    return [json.loads(line) for line in text.splitlines()]


def test_bulk_exports_follow_the_version(http: httpx.Client, shop: FakeShop) -> None:
    hidden = {c["id"] for c in new_model(shop)}
    query = "{ collections { edges { node { id products { edges { node { id } } } } } } }"
    roots = {line["id"] for line in bulk_lines(http, shop, query, OLD) if "__parentId" not in line}
    assert roots and not roots & hidden
    # 2026-07 accepts sources (a plain list, no connection) and exports every collection
    with_sources = """{ collections { edges { node { id ruleSet { appliedDisjunctively }
      sources { __typename id title ... on CollectionSubCollectionsSource { collections { id } }
      ... on CollectionConditionsSource { inclusion { matchType conditions { __typename id } } }
      } } } } }"""
    lines = bulk_lines(http, shop, with_sources, NEW)
    assert {line["id"] for line in lines} >= hidden
    assert all(line["sources"] for line in lines)
    with pytest.raises(ValueError, match="Field 'sources' doesn't exist on type 'Collection'"):
        shop.run_bulk(with_sources, version=OLD)
    # A connection inside the list is refused, as any connection in a list field
    selections = """{ collections { edges { node { id sources { ... on CollectionConditionsSource {
      inclusion { selections { edges { node { product { id } } } } } } } } } } }"""
    with pytest.raises(ValueError, match="within a list field"):
        shop.run_bulk(selections, version=NEW)


def test_new_model_membership_is_the_union_of_sources_minus_exclusions(shop: FakeShop) -> None:
    every, nodes = collections(shop), products(shop)
    excluding, two_sources = new_model(shop)
    # The exclusion one: (tagged one of two tags and a variant over 15) or picked by hand,
    # minus the excluded tag, the excluded collection's members and the product excluded by hand
    [source] = excluding["sources"]
    tags = set(source["inclusion"]["conditions"][0]["values"])
    exclusion = source["exclusion"]
    [no_tag] = exclusion["conditions"][0]["values"]
    [other] = exclusion["conditions"][1]["values"]
    expected = {gid for gid, p in nodes.items() if tags & set(p["tags"]) and max(prices(p)) > 15}
    expected |= set(source["inclusion"]["selections"])
    expected -= {gid for gid, p in nodes.items() if no_tag in p["tags"]}
    expected -= set(every[other]["productIds"]) | set(exclusion["selections"])
    assert set(excluding["productIds"]) == expected and expected
    # The two-source one: the sub-collections' members plus the vendor's active products
    sub, by_vendor = two_sources["sources"]
    [vendor] = by_vendor["inclusion"]["conditions"][0]["values"]
    expected = {gid for ref in sub["collections"] for gid in every[ref]["productIds"]}
    expected |= {gid for gid, p in nodes.items()
                 if p["vendor"] == vendor and p["status"] == "ACTIVE"}  # fmt: skip
    assert set(two_sources["productIds"]) == expected
    assert excluding["ruleSet"] is None and two_sources["ruleSet"] is None


def test_new_model_collections_follow_the_collections_they_use(shop: FakeShop) -> None:
    excluding, two_sources = new_model(shop)
    [source] = excluding["sources"]
    [other] = source["exclusion"]["conditions"][1]["values"]
    sub = two_sources["sources"][0]["collections"]
    # When the excluded collection takes a member of the first, it leaves the first (silently)
    victim = excluding["productIds"][-1]
    shop.set_collection_members(other, [*members(shop, other), victim])
    assert victim not in members(shop, excluding["id"])
    assert collections(shop)[excluding["id"]]["updatedAt"] == excluding["updatedAt"]
    # And when a referenced sub-collection is deleted, the second follows the remaining sources
    custom = next(ref for ref in sub if not collections(shop)[ref]["ruleSet"])
    shop.delete("collections", custom)
    [kept] = [ref for ref in sub if ref != custom]
    vendor = two_sources["sources"][1]["inclusion"]["conditions"][0]["values"][0]
    expected = set(members(shop, kept)) | {
        gid
        for gid, p in products(shop).items()
        if p["vendor"] == vendor and p["status"] == "ACTIVE"
    }
    assert set(members(shop, two_sources["id"])) == expected
    assert collections(shop)[two_sources["id"]]["updatedAt"] == two_sources["updatedAt"]


def test_a_collection_created_with_sources_uses_the_new_model(
    http: httpx.Client, shop: FakeShop
) -> None:
    # Given a collection created with one conditions source: vendor V, minus tag T
    product = shop.snapshot("products")[0]
    vendor, tag = product["vendor"], "hidden-tag"
    shop.set_tags(product["id"], [tag])
    source = conditions_source(
        "gid://shopify/CollectionConditionsSource/1",
        "By vendor",
        conditions=[
            condition("ProductVendor", "gid://shopify/CollectionCondition/1", "EQUALS", [vendor])
        ],  # fmt: skip
        match_type="ANY",
        exclusion={
            "matchType": "ANY",
            "selections": [],
            "conditions": [
                condition(
                    "ProductTag",
                    "gid://shopify/CollectionCondition/2",
                    "TAGGED_WITH",
                    [tag],
                    prefix=EXCLUSION,
                )
            ],
        },  # fmt: skip
    )
    gid = shop.create("collections", {"sources": [source], "ruleSet": {"rules": []}})
    # Then its ruleSet is null, its members follow the sources, and 2026-04 cannot see it
    stored = collections(shop)[gid]
    assert stored["ruleSet"] is None
    expected = {p["id"] for p in shop.snapshot("products") if p["vendor"] == vendor}
    assert set(stored["productIds"]) == expected - {product["id"]} and stored["productIds"]
    query = "query($id: ID!) { collection(id: $id) { id } }"
    assert gql(http, shop, query, OLD, id=gid)["collection"] is None
    assert gql(http, shop, query, NEW, id=gid)["collection"] == {"id": gid}
    # And when the tag goes, the product comes in
    shop.set_tags(product["id"], [])
    assert product["id"] in members(shop, gid)
