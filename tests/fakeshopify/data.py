"""A fake shop's canonical data and the deterministic store generator.

Nodes are plain dicts shaped like Shopify's GraphQL answers (with ``__typename``); nested
connections are stored as full python lists (``product["variants"]``, ``discount["codes"]``,
``theme["files"]``) and collection membership as ``collection["productIds"]``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

RESOURCES = ("products", "collections", "blogs", "articles", "themes", "files", "discounts")

Node = dict[str, Any]

_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
_LATEST = datetime(2026, 10, 31, 23, 59, 59, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_iso() -> str:
    return iso(datetime.now(UTC))


def gid_number(gid: str) -> int:
    """The numeric part of ``gid://shopify/Type/123`` (0 when there is none)."""
    tail = gid.rsplit("/", 1)[-1].split("?", 1)[0]
    return int(tail) if tail.isdigit() else 0


def gid_type(gid: str) -> str:
    parts = gid.split("/")
    return parts[3] if len(parts) > 4 else ""


@dataclass
class CdnEntry:
    """A file the fake CDN serves: its size and type, or explicit bytes."""

    size: int
    content_type: str
    data: bytes | None = None


@dataclass
class StoreData:
    """Everything one shop holds. Build it with :func:`generate_store`."""

    seed: int
    shop: Node
    resources: dict[str, dict[str, Node]]
    deletion_events: list[Node] = field(default_factory=list)
    cdn: dict[str, CdnEntry] = field(default_factory=dict)
    big_product_id: str | None = None
    big_collection_id: str | None = None
    big_discount_id: str | None = None
    large_file_id: str | None = None
    next_number: int = 7_100_000_000_001
    rng: random.Random = field(default_factory=random.Random)

    def new_number(self) -> int:
        number = self.next_number
        self.next_number += self.rng.randint(1, 9)
        return number

    def gid(self, type_name: str) -> str:
        return f"gid://shopify/{type_name}/{self.new_number()}"


def generate_store(
    seed: int,
    *,
    products: int = 300,
    big_product_variants: int = 260,
    collections: int = 6,
    big_collection_members: int = 300,
    blogs: int = 2,
    articles_per_blog: int = 15,
    themes: int = 3,
    files: int = 12,
    large_file_bytes: int = 0,
    discounts: int = 8,
    big_discount_codes: int = 300,
    new_model_collections: int = 2,
    product_media: tuple[int, ...] = (0, 1, 1, 2, 2, 3),
    product_variants: tuple[int, ...] = (1, 1, 2, 3, 4, 5),
) -> StoreData:
    """A deterministic store for ``seed``.

    Product #1 (the lowest id, ``StoreData.big_product_id``) has ``big_product_variants``
    variants, the first collection ``big_collection_members`` members and the first code
    discount ``big_discount_codes`` codes. Several products share an ``updatedAt``. Every
    product but the first has a number of images drawn from ``product_media`` and of variants
    from ``product_variants``.

    Collections alternate custom (even index: members drawn at random; the first one,
    "Everything", holds the first ``big_collection_members`` products) and smart (odd: a
    ``ruleSet``, members computed from it). ``new_model_collections`` more, made last, use 2026-07
    sources that ``ruleSet`` cannot express (API versions before 2026-07 do not see them).
    """
    from tests.fakeshopify.builders import Builder
    from tests.fakeshopify.collectiondata import new_model_collection
    from tests.fakeshopify.membership import compute_memberships

    rng = random.Random(seed)
    store = StoreData(
        seed=seed,
        shop={},
        resources={name: {} for name in RESOURCES},
        rng=rng,
        next_number=7_100_000_000_001 + seed * 1000,
    )
    build = Builder(store)
    store.shop = build.shop()

    created = _spread(rng, products, _EPOCH, datetime(2026, 6, 1, tzinfo=UTC))
    made: list[Node] = []
    for index, moment in enumerate(created):
        updated = min(moment + timedelta(seconds=rng.randint(0, 150 * 86400)), _LATEST)
        variants = big_product_variants if index == 0 else rng.choice(product_variants)
        media = rng.choice(product_media) if index else 3
        made.append(build.product(iso(moment), iso(updated), variants, media))
    # ties: several products share one updatedAt (the latest of the group keeps every
    # updatedAt >= its createdAt)
    groups = [made[i - 1 : i + 1] for i in range(3, len(made), 10)] + [made[40:45]]
    for group in groups:
        tie = max((p["updatedAt"] for p in group), default="")
        for product in group:
            product["updatedAt"] = tie
    for product in made:
        store.resources["products"][product["id"]] = product
    product_ids = list(store.resources["products"])
    if product_ids:
        store.big_product_id = product_ids[0]

    for index in range(collections):
        if index == 0:
            members = product_ids[: min(big_collection_members, len(product_ids))]
        else:  # drawn for smart ones too, so that a seed keeps making the same content
            count = min(len(product_ids), rng.randint(3, 40))
            members = sorted(rng.sample(product_ids, count), key=gid_number)
        collection = build.collection(index, _moment(rng), members if index % 2 == 0 else [])
        store.resources["collections"][collection["id"]] = collection
        if index == 0:
            store.big_collection_id = collection["id"]

    for index in range(blogs):
        blog = build.blog(index, _moment(rng))
        store.resources["blogs"][blog["id"]] = blog
        for number in range(articles_per_blog):
            article = build.article(blog, number, _moment(rng))
            store.resources["articles"][article["id"]] = article

    for index in range(themes):
        theme = build.theme(index, _moment(rng))
        store.resources["themes"][theme["id"]] = theme

    for index in range(files):
        node = build.file(index, _moment(rng))
        store.resources["files"][node["id"]] = node
    if large_file_bytes > 0:
        node = build.generic_file("large-archive.zip", _moment(rng), size=large_file_bytes)
        store.resources["files"][node["id"]] = node
        store.large_file_id = node["id"]

    for index in range(discounts):
        kind = index % 8
        codes = big_discount_codes if index == 0 else rng.randint(1, 5)
        node = build.discount(kind, index, _moment(rng), codes)
        store.resources["discounts"][node["id"]] = node
        if index == 0:
            store.big_discount_id = node["id"]

    for index in range(new_model_collections):
        collection = new_model_collection(store, index, _moment(rng))
        store.resources["collections"][collection["id"]] = collection
    compute_memberships(store)
    return store


def new_node(store: StoreData, resource: str, now: str) -> Node:
    """A complete new node for ``resource`` with fresh ids, created and updated ``now``."""
    from tests.fakeshopify.builders import Builder

    build = Builder(store)
    rng = store.rng
    if resource == "products":
        return build.product(now, now, rng.randint(1, 4), rng.randint(0, 2))
    if resource == "collections":
        return build.collection(rng.randint(100, 999), (now, now), [])
    if resource == "blogs":
        return build.blog(rng.randint(100, 999), (now, now))
    if resource == "articles":
        blogs = list(store.resources["blogs"].values())
        blog = blogs[0] if blogs else build.blog(0, (now, now))
        if not blogs:
            store.resources["blogs"][blog["id"]] = blog
        return build.article(blog, rng.randint(100, 999), (now, now))
    if resource == "themes":
        return build.theme(rng.randint(3, 9), (now, now))
    if resource == "files":
        return build.file(rng.randint(0, 99), (now, now))
    if resource == "discounts":
        return build.discount(rng.randint(0, 7), rng.randint(100, 999), (now, now), 2)
    raise KeyError(f"unknown resource {resource!r}")


def _spread(rng: random.Random, count: int, start: datetime, end: datetime) -> list[datetime]:
    span = int((end - start).total_seconds())
    return sorted(start + timedelta(seconds=rng.randint(0, span)) for _ in range(count))


def _moment(rng: random.Random) -> tuple[str, str]:
    """A (createdAt, updatedAt) pair in 2025-2026."""
    created = _EPOCH + timedelta(seconds=rng.randint(0, 500 * 86400))
    updated = min(created + timedelta(seconds=rng.randint(0, 90 * 86400)), _LATEST)
    return iso(created), iso(updated)
