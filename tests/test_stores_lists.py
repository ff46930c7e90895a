"""stores: a collection's products and a discount's codes, inline or spilled, page by page."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from pymongo import MongoClient
from pymongo.database import Database

from stores import queries
from stores.api import EXTENSION
from stores.cursors import Position, encode_after, encode_position
from stores.list_layout import CODES, MEMBERS
from sync.resources.collections import MEMBERS_CHUNK
from sync.resources.discounts import CODES_CHUNK
from sync.storage.spill import spill
from tests.conftest import HEADERS
from tests.test_stores import T0, configure_store, product

Store = Database[dict[str, Any]]
COLLECTION = "gid://shopify/Collection/7"
DISCOUNT = "gid://shopify/DiscountCodeNode/9"
# Members in stored order: 99 was never synced, 5 is a tombstone.
MEMBER_NUMBERS = [3, 1, 99, 5, 2, 8, 6, 4]
LIVE_IN_ORDER = [3, 1, 2, 8, 6, 4]


def gid(n: int) -> str:
    return f"gid://shopify/Product/{n}"


def store_collection(
    store_db: Store, members: list[str], *, chunk: int | None, **extra: Any
) -> None:
    """A collection document; with `chunk`, its members spilled as the sync spills them."""
    if chunk is not None:
        spill(store_db["_collectionmembers"], MEMBERS, COLLECTION, members, chunk)
    store_db.collections.insert_one(
        {
            "_id": COLLECTION,
            "title": "Seven",
            "productIds": [] if chunk else members,
            "productIdsSpilled": chunk is not None,
            "memberCount": len(members),
            "deleted": False,
            **extra,
        }
    )


def store_discount(store_db: Store, codes: list[dict[str, Any]], *, chunk: int | None) -> None:
    if chunk is not None:
        spill(store_db["_discountcodes"], CODES, DISCOUNT, codes, chunk)
    store_db.discounts.insert_one(
        {
            "_id": DISCOUNT,
            "type": "DiscountCodeBasic",
            "codes": [] if chunk else codes,
            "codesSpilled": chunk is not None,
            "codesCount": len(codes),
            "deleted": False,
        }
    )


def code(n: int) -> dict[str, Any]:
    return {"id": f"gid://shopify/DiscountRedeemCode/{n}", "code": f"C{n}", "asyncUsageCount": n}


@pytest.fixture
def store(real_client: Any, real_mongo: MongoClient[dict[str, Any]]) -> Store:
    """Given `mystore` with products 1..8 (5 a tombstone, 99 never synced)."""
    configure_store(real_client)
    store_db = real_mongo.mystore
    store_db.products.insert_many(
        [product(n, _contentHash="h") for n in (1, 2, 3, 4, 6, 8)]
        + [product(5, deleted=True, deletedAt=T0)]
    )
    return store_db


def get(client: Any, url: str, status: int = 200) -> Any:
    answer = client.get(url, headers=HEADERS)
    assert answer.status_code == status, answer.get_json()
    return answer.get_json()


def walk(client: Any, url: str, limit: int) -> tuple[list[Any], int]:
    """Every item of a paged list, following nextCursor; and how many pages it took."""
    items: list[Any] = []
    pages, cursor = 0, None
    while True:
        query = f"limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        separator = "&" if "?" in url else "?"
        page = get(client, f"{url}{separator}{query}")
        items += page["items"]
        pages += 1
        cursor = page["nextCursor"]
        if cursor is None:
            return items, pages


@pytest.mark.real
@pytest.mark.parametrize("chunk", [None, 3], ids=["inline", "spilled"])
def test_members_are_products_in_stored_order_skipping_tombstones_and_unsynced(
    real_client: Any, store: Store, chunk: int | None
) -> None:
    store_collection(store, [gid(n) for n in MEMBER_NUMBERS], chunk=chunk)
    # When the members are read two at a time (pages cross chunks when spilled)
    items, pages = walk(real_client, "/api/stores/mystore/collections/7/products", 2)
    # Then they are the live product documents, in membership order, without bookkeeping
    assert [item["_id"] for item in items] == [gid(n) for n in LIVE_IN_ORDER]
    assert pages == 3
    assert items[0] == get(real_client, "/api/stores/mystore/products/3")
    assert not any("_contentHash" in item for item in items)


@pytest.mark.real
@pytest.mark.parametrize("chunk", [None, 2], ids=["inline", "spilled"])
def test_members_with_include_deleted_show_tombstones(
    real_client: Any, store: Store, chunk: int | None
) -> None:
    store_collection(store, [gid(n) for n in MEMBER_NUMBERS], chunk=chunk)
    url = "/api/stores/mystore/collections/7/products?include_deleted=true"
    items, _ = walk(real_client, url, 250)
    assert [item["_id"] for item in items] == [gid(n) for n in MEMBER_NUMBERS if n != 99]
    assert items[2]["_id"] == gid(5) and items[2]["deleted"] is True


@pytest.mark.real
def test_members_by_numeric_id_gid_and_shop_domain_agree(real_client: Any, store: Store) -> None:
    store_collection(store, [gid(n) for n in MEMBER_NUMBERS], chunk=None)
    urls = [
        "/api/stores/mystore/collections/7/products",
        f"/api/stores/mystore/collections/{quote(COLLECTION, safe='')}/products",
        # A client that leaves the GID's slashes unencoded reaches the same route.
        f"/api/stores/mystore/collections/{COLLECTION}/products",
        "/api/shops/mystore.myshopify.com/collections/7/products",
        f"/api/shops/mystore.myshopify.com/collections/{quote(COLLECTION, safe='')}/products",
    ]
    answers = [get(real_client, url) for url in urls]
    assert all(answer == answers[0] for answer in answers)
    assert len(answers[0]["items"]) == len(LIVE_IN_ORDER)


@pytest.mark.real
def test_plain_document_reads_still_reach_collections_and_discounts(
    real_client: Any, store: Store
) -> None:
    store_collection(store, [gid(1)], chunk=None)
    store_discount(store, [code(1)], chunk=None)
    by_gid = get(real_client, f"/api/stores/mystore/collections/{quote(COLLECTION, safe='')}")
    assert by_gid["title"] == "Seven" and by_gid["productIds"] == [gid(1)]
    assert get(real_client, "/api/stores/mystore/collections/7") == by_gid
    assert get(real_client, f"/api/shops/mystore.myshopify.com/discounts/{DISCOUNT}")["_id"] == (
        DISCOUNT
    )


@pytest.mark.real
def test_a_stretch_of_unsynced_members_ends_a_page_early_but_paging_goes_on(
    real_client: Any, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a scan budget of 4 members a page and 9 unsynced members before product 1
    monkeypatch.setattr(queries, "MEMBER_SCAN_BATCH", 2)
    monkeypatch.setattr(queries, "MAX_MEMBER_SCAN", 4)
    members = [gid(n) for n in range(100, 109)] + [gid(1), gid(2)]
    store_collection(store, members, chunk=4)
    first = get(real_client, "/api/stores/mystore/collections/7/products?limit=5")
    # Then the first page is empty yet not the last, and paging still finds every product
    assert first["items"] == [] and first["nextCursor"] is not None
    items, pages = walk(real_client, "/api/stores/mystore/collections/7/products", 5)
    assert [item["_id"] for item in items] == [gid(1), gid(2)] and pages == 3


@pytest.mark.real
def test_tombstoned_and_empty_collections_list_what_they_hold(
    real_client: Any, store: Store
) -> None:
    store_collection(store, [gid(1), gid(2)], chunk=None, deleted=True, deletedAt=T0)
    # A bare tombstone (deleted before it was ever synced) has no list at all.
    store.collections.insert_one({"_id": "gid://shopify/Collection/8", "deleted": True})
    assert len(get(real_client, "/api/stores/mystore/collections/7/products")["items"]) == 2
    bare = get(real_client, "/api/stores/mystore/collections/8/products")
    assert bare == {"items": [], "nextCursor": None}


@pytest.mark.real
@pytest.mark.parametrize(
    "url",
    [
        "/api/stores/mystore/collections/404/products",
        "/api/stores/mystore/collections/gid%3A%2F%2Fshopify%2FCollection%2F404/products",
        "/api/shops/mystore.myshopify.com/collections/404/products",
        "/api/stores/mystore/discounts/404/codes",
        "/api/shops/mystore.myshopify.com/discounts/404/codes",
    ],
)
def test_unknown_collection_or_discount_is_a_404_on_id(
    real_client: Any, store: Store, url: str
) -> None:
    assert get(real_client, url, 404)["error"]["field"] == "id"


@pytest.mark.real
@pytest.mark.parametrize("chunk", [None, 2], ids=["inline", "spilled"])
def test_codes_page_in_stored_order(real_client: Any, store: Store, chunk: int | None) -> None:
    codes = [code(n) for n in (5, 1, 4, 2, 3)]
    store_discount(store, codes, chunk=chunk)
    items, pages = walk(real_client, "/api/stores/mystore/discounts/9/codes", 2)
    assert items == codes and pages == 3
    by_shop = get(real_client, f"/api/shops/mystore.myshopify.com/discounts/{DISCOUNT}/codes")
    assert by_shop == {"items": codes, "nextCursor": None}


@pytest.mark.real
def test_an_automatic_discount_without_codes_has_an_empty_list(
    real_client: Any, store: Store
) -> None:
    store.discounts.insert_one({"_id": "gid://shopify/DiscountAutomaticNode/3", "deleted": False})
    answer = get(real_client, "/api/stores/mystore/discounts/3/codes")
    assert answer == {"items": [], "nextCursor": None}


@pytest.mark.real
def test_spilled_codes_of_a_huge_discount_page_across_chunks(
    real_client: Any, store: Store
) -> None:
    # Given 25,000 codes spilled with the sync's own chunk size (beyond the inline limit)
    total = 25_000
    store_discount(store, [code(n) for n in range(total)], chunk=CODES_CHUNK)
    url = "/api/stores/mystore/discounts/9/codes?limit=20&cursor="
    # When a page starts 10 codes before the end of chunk 0, it runs on into chunk 1
    across = get(real_client, url + encode_position(Position(0, CODES_CHUNK - 10)))
    assert [c["asyncUsageCount"] for c in across["items"]] == list(
        range(CODES_CHUNK - 10, CODES_CHUNK + 10)
    )
    assert across["nextCursor"] == encode_position(Position(1, 10))
    # And the page at the very end is short and the last one
    last_chunk = total // CODES_CHUNK - 1
    last = get(real_client, url + encode_position(Position(last_chunk, CODES_CHUNK - 5)))
    assert len(last["items"]) == 5 and last["nextCursor"] is None
    for beyond in (Position(last_chunk, CODES_CHUNK + 1), Position(last_chunk + 9, 0)):
        assert get(real_client, url + encode_position(beyond)) == {"items": [], "nextCursor": None}


@pytest.mark.real
def test_spilled_members_beyond_the_inline_limit(real_client: Any, store: Store) -> None:
    # Given 20,001 members spilled with the sync's chunk size; only the last 3 are synced
    # (1 and 2 end chunk 1, 3 is alone in chunk 2)
    members = [gid(n) for n in range(1_000, 1_000 + 19_998)] + [gid(1), gid(2), gid(3)]
    store_collection(store, members, chunk=MEMBERS_CHUNK)
    url = "/api/stores/mystore/collections/7/products?cursor="
    page = get(real_client, url + encode_position(Position(1, 9_990)))
    assert [item["_id"] for item in page["items"]] == [gid(1), gid(2), gid(3)]
    assert page["nextCursor"] is None


@pytest.mark.real
@pytest.mark.parametrize(
    "url",
    [
        # A collection-page cursor is no list position, and the reverse.
        f"/api/stores/mystore/collections/7/products?cursor={encode_after(gid(1))}",
        f"/api/stores/mystore/discounts/9/codes?cursor={encode_after(gid(1))}",
        f"/api/stores/mystore/products?cursor={encode_position(Position(0, 1))}",
    ],
)
def test_cursors_of_one_kind_are_refused_by_the_other(
    real_client: Any, store: Store, url: str
) -> None:
    store_collection(store, [gid(1)], chunk=None)
    store_discount(store, [code(1)], chunk=None)
    assert get(real_client, url, 400)["error"]["field"] == "cursor"


@pytest.mark.real
def test_python_api_reads_the_same_lists(real_client: Any, store: Store) -> None:
    store_collection(store, [gid(n) for n in MEMBER_NUMBERS], chunk=3)
    store_discount(store, [code(n) for n in range(3)], chunk=None)
    read: queries.StoreQueries = real_client.application.extensions[EXTENSION]
    page = read.get_collection_products("7", shop_domain="mystore.myshopify.com", limit=4)
    assert [doc["_id"] for doc in page.items] == [gid(n) for n in LIVE_IN_ORDER[:4]]
    rest = read.get_collection_products(COLLECTION, client_key="mystore", cursor=page.next_cursor)
    assert [doc["_id"] for doc in rest.items] == [gid(n) for n in LIVE_IN_ORDER[4:]]
    codes = read.get_discount_codes("9", client_key="mystore", limit=2)
    assert codes.items == [code(0), code(1)] and codes.next_cursor == encode_position(
        Position(0, 2)
    )


@pytest.mark.real
def test_uneven_and_empty_chunks_page_like_one_list(real_client: Any, store: Store) -> None:
    # Given chunks the sync left uneven: members pulled from chunk 0, chunk 1 emptied,
    # and members appended to the last chunk
    chunks = [[gid(3), gid(99)], [], [gid(1), gid(5)], [gid(2), gid(8), gid(6), gid(4)]]
    store["_collectionmembers"].insert_many(
        [
            {"_id": f"{COLLECTION}#{index}", "collectionId": COLLECTION, "index": index,
             "productIds": members}
            for index, members in enumerate(chunks)
        ]
    )  # fmt: skip
    store_collection(store, [], chunk=None, productIdsSpilled=True)
    for limit in (1, 2, 250):
        items, _ = walk(real_client, "/api/stores/mystore/collections/7/products", limit)
        assert [item["_id"] for item in items] == [gid(n) for n in LIVE_IN_ORDER], limit
