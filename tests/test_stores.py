"""stores: naming, indexes, paging and the read API (real SecantusDB where it matters)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from pymongo import MongoClient

from config_db.mongo import MongoConnection
from config_db.repository import build_repository
from stores.cursors import decode_after
from stores.databases import STORE_INDEXES, StoreDatabases
from stores.errors import BadQuery, StoreNotFound
from stores.naming import candidate_ids, database_name
from stores.queries import StoreQueries, find_page
from tests.conftest import HEADERS, make_settings, seed_payload

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def product(n: int, **extra: Any) -> dict[str, Any]:
    doc = {
        "_id": f"gid://shopify/Product/{n}",
        "title": f"P{n}",
        "handle": f"p{n}",
        "updatedAt": T0 + timedelta(days=n),
        "deleted": False,
    }
    doc.update(extra)
    return doc


def test_database_name_applies_prefix_and_refuses_reserved() -> None:
    assert database_name("mystore", "t_") == "t_mystore"
    for bad in ("admin", "a.b", "", "x" * 49, "mystore\n", "my\x00store"):
        with pytest.raises(BadQuery):
            database_name(bad)
    with pytest.raises(BadQuery):
        database_name("fig", "con")


def test_numeric_ids_expand_to_gids() -> None:
    assert candidate_ids("products", "42") == ["gid://shopify/Product/42"]
    assert "gid://shopify/GenericFile/7" in candidate_ids("media", "7")
    assert candidate_ids("products", "gid://shopify/Product/1") == ["gid://shopify/Product/1"]
    # "²" is a digit to str.isdigit, not a Shopify id.
    assert candidate_ids("products", "²") == ["²"]


@pytest.mark.real
def test_ensure_creates_every_collection_with_indexes_idempotently(
    real_mongo: MongoClient[dict[str, Any]],
) -> None:
    databases = StoreDatabases(real_mongo, "p_")
    databases.ensure("shop1")
    databases.ensure("shop1")
    store_db = real_mongo["p_shop1"]
    assert set(STORE_INDEXES) <= set(store_db.list_collection_names())
    product_indexes = {name for name in store_db.products.index_information()}
    assert {"_id_", "handle_1", "updatedAt_1", "deleted_1"} <= product_indexes
    assert "status_1_receivedAt_1" in store_db.webhookevents.index_information()


@pytest.mark.real
def test_pages_follow_cursor_and_hide_tombstones(real_mongo: MongoClient[dict[str, Any]]) -> None:
    store_db = real_mongo["pages"]
    store_db.products.insert_many(
        [product(n) for n in range(1, 8)] + [product(9, deleted=True, deletedAt=T0)]
    )
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = find_page(store_db, "products", limit=3, cursor=cursor)
        seen += [doc["_id"] for doc in page.items]
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert pages == 3 and len(seen) == len(set(seen)) == 7
    with_deleted = find_page(store_db, "products", limit=250, include_deleted=True)
    assert len(with_deleted.items) == 8
    since = find_page(store_db, "products", updated_since=T0 + timedelta(days=6))
    assert [doc["title"] for doc in since.items] == ["P6", "P7"]


def test_garbage_cursor_is_a_400() -> None:
    with pytest.raises(BadQuery) as caught:
        decode_after("!!!not-a-cursor")
    assert caught.value.field == "cursor"


@pytest.mark.real
def test_python_api_finds_store_by_shop_domain(
    real_mongo: MongoClient[dict[str, Any]], mongo_uri: str
) -> None:
    settings = make_settings(mongodb_uri=mongo_uri)
    connection = MongoConnection(settings)
    repository = build_repository(settings, connection)
    from config_db.models import parse_client_config

    repository.save_client(parse_client_config(seed_payload(), env="development", db_prefix=""))
    queries = StoreQueries(repository, StoreDatabases(connection.client))
    real_mongo.mystore.products.insert_many([product(1), product(2)])
    assert queries.resolve_client_key("MyStore.myshopify.com") == "mystore"
    page = queries.get_products(shop_domain="mystore.myshopify.com", limit=1)
    assert [doc["_id"] for doc in page.items] == ["gid://shopify/Product/1"]
    assert page.next_cursor is not None
    assert queries.get_products(client_key="mystore").items[1]["title"] == "P2"
    with pytest.raises(StoreNotFound):
        queries.get_products(shop_domain="nobody.myshopify.com")
    with pytest.raises(StoreNotFound):
        queries.get_products(client_key="nobody")
    connection.close()


def configure_store(client: Any) -> None:
    """Given the store `mystore` (mystore.myshopify.com) configured through the API."""
    assert client.post("/api/config/sync", json=seed_payload(), headers=HEADERS).status_code == 202


@pytest.fixture
def seeded_client(real_client: Any, real_mongo: MongoClient[dict[str, Any]]) -> Any:
    configure_store(real_client)
    real_mongo.mystore.products.insert_many(
        [product(n) for n in range(1, 4)] + [product(5, deleted=True, deletedAt=T0)]
    )
    return real_client


@pytest.mark.real
def test_read_api_lists_pages_and_documents(seeded_client: Any) -> None:
    first = seeded_client.get("/api/stores/mystore/products?limit=2", headers=HEADERS).get_json()
    assert len(first["items"]) == 2 and first["nextCursor"]
    assert first["items"][0]["updatedAt"] == "2026-01-02T00:00:00Z"
    rest = seeded_client.get(
        f"/api/stores/mystore/products?limit=2&cursor={first['nextCursor']}", headers=HEADERS
    ).get_json()
    assert [d["title"] for d in rest["items"]] == ["P3"] and rest["nextCursor"] is None
    by_shop = seeded_client.get(
        "/api/shops/mystore.myshopify.com/products?include_deleted=true", headers=HEADERS
    ).get_json()
    assert len(by_shop["items"]) == 4


@pytest.mark.real
def test_read_api_documents_by_numeric_id_and_gid(seeded_client: Any) -> None:
    by_number = seeded_client.get("/api/stores/mystore/products/2", headers=HEADERS)
    gid = quote("gid://shopify/Product/2", safe="")
    by_gid = seeded_client.get(f"/api/stores/mystore/products/{gid}", headers=HEADERS)
    by_shop = seeded_client.get("/api/shops/mystore.myshopify.com/products/2", headers=HEADERS)
    assert by_number.status_code == by_gid.status_code == by_shop.status_code == 200
    assert by_number.get_json() == by_gid.get_json() == by_shop.get_json()
    assert by_number.get_json()["_id"] == "gid://shopify/Product/2"


@pytest.mark.real
@pytest.mark.parametrize(
    ("url", "status", "field"),
    [
        ("/api/stores/mystore/products?limit=251", 400, "limit"),
        ("/api/stores/mystore/products?limit=0", 400, "limit"),
        ("/api/stores/mystore/products?limit=abc", 400, "limit"),
        ("/api/stores/mystore/products?cursor=zzz", 400, "cursor"),
        ("/api/stores/mystore/products?updated_since=yesterday", 400, "updated_since"),
        ("/api/stores/mystore/orders", 404, "collection"),
        ("/api/stores/nobody/products", 404, "clientKey"),
        ("/api/shops/nobody.myshopify.com/products", 404, "shopDomain"),
        ("/api/stores/mystore/products/999", 404, "id"),
        ("/api/stores/mystore/_syncjobs", 404, "collection"),
    ],
)
def test_read_api_errors_name_the_field(
    seeded_client: Any, url: str, status: int, field: str
) -> None:
    answer = seeded_client.get(url, headers=HEADERS)
    assert answer.status_code == status
    assert answer.get_json()["error"]["field"] == field
