"""Membership of rule-based collections, computed from the rules as Shopify does.

A product that is created, updated or deleted is re-evaluated against every smart and
new-model collection and added to or removed from its ``productIds``. As on Shopify, such a
change does not touch the collection's ``updatedAt`` and sends no ``collections/update``
(reference.md, "Collections in 2026-07"). A product that joins a collection goes where the
collection's ``sortOrder`` puts it (ALPHA_ASC/ALPHA_DESC by title, CREATED/CREATED_DESC by
``createdAt``, PRICE_ASC/PRICE_DESC by lowest variant price, ties by id); with MANUAL and
BEST_SELLING it is appended. Members already in a collection keep their place.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tests.fakeshopify.collectionmodel import references
from tests.fakeshopify.collectionrules import Members, collection_includes, source_includes
from tests.fakeshopify.data import Node, StoreData, gid_number

SortKey = Callable[[Node], tuple[Any, int]]


def _lowest_price(product: Node) -> float:
    prices = [float(v["price"]) for v in product.get("variants") or () if v.get("price")]
    return min(prices, default=0.0)


def _key(read: Callable[[Node], Any]) -> SortKey:
    return lambda product: (read(product), gid_number(product["id"]))


_TITLE, _CREATED = _key(lambda p: p["title"].lower()), _key(lambda p: p["createdAt"])
_PRICE = _key(_lowest_price)
#: sortOrder -> (key, descending). MANUAL and BEST_SELLING are not here: new members go last.
SORT_ORDERS: dict[str, tuple[SortKey, bool]] = {
    "ALPHA_ASC": (_TITLE, False), "ALPHA_DESC": (_TITLE, True),
    "CREATED": (_CREATED, False), "CREATED_DESC": (_CREATED, True),
    "PRICE_ASC": (_PRICE, False), "PRICE_DESC": (_PRICE, True),
}  # fmt: skip


def member_sets(collections: dict[str, Node]) -> tuple[Members, dict[str, set[str]]]:
    """A lazily built ``collection gid -> member set`` lookup (and its cache, to keep current)."""
    cache: dict[str, set[str]] = {}

    def members(gid: str) -> set[str]:
        if gid not in cache:
            node = collections.get(gid)
            cache[gid] = set(node["productIds"]) if node is not None else set()
        return cache[gid]

    return members, cache


def evaluation_order(collections: dict[str, Node]) -> list[Node]:
    """Rule-based collections, each after the new-model collections it references."""
    legacy = [c for c in collections.values() if c.get("ruleSet") and not c.get("sources")]
    ordered: list[Node] = []
    seen: set[str] = set()

    def visit(node: Node) -> None:
        if node["id"] in seen:
            return
        seen.add(node["id"])
        for ref in sorted(references(node)):
            target = collections.get(ref)
            if target is not None and target.get("sources"):
                visit(target)
        ordered.append(node)

    for node in collections.values():
        if node.get("sources"):
            visit(node)
    return legacy + ordered


def full_membership(store: StoreData, collection: Node, members: Members) -> list[str]:
    """Every product the collection's rules or sources hold, in its ``sortOrder``."""
    products = store.resources["products"]
    found = [p for p in products.values() if collection_includes(p, collection, members)]
    key, descending = SORT_ORDERS.get(collection.get("sortOrder") or "", (None, False))
    if key is None:
        found.sort(key=lambda p: gid_number(p["id"]))
    else:
        found.sort(key=key, reverse=descending)
    return [p["id"] for p in found]


def compute_memberships(store: StoreData, only: set[str] | None = None,
                        keep: str | None = None) -> None:  # fmt: skip
    """(Re)compute the members of every rule-based collection, or of those in ``only`` and the
    new-model collections that reference them (but not ``keep``'s)."""
    collections = store.resources["collections"]
    members, cache = member_sets(collections)
    changed = set(only or ())
    for node in evaluation_order(collections):
        if only is not None and node["id"] not in changed and not references(node) & changed:
            continue
        if node["id"] == keep:
            continue
        node["productIds"] = full_membership(store, node, members)
        cache[node["id"]] = set(node["productIds"])
        changed.add(node["id"])


def _inserted(products: dict[str, Node], collection: Node, gid: str) -> list[str]:
    """A copy of the collection's ``productIds`` with ``gid`` where its ``sortOrder`` puts it
    (a new list: a bulk export reading the old one without the lock sees it whole)."""
    ids: list[str] = list(collection["productIds"])
    key, descending = SORT_ORDERS.get(collection.get("sortOrder") or "", (None, False))
    if key is None:
        return [*ids, gid]
    mine = key(products[gid])
    for position, other in enumerate(ids):
        theirs = key(products[other]) if other in products else mine
        if (theirs < mine) if descending else (theirs > mine):
            return [*ids[:position], gid, *ids[position:]]
    return [*ids, gid]


class Memberships:
    """Mixin of :class:`FakeShop`: keeps rule-based memberships current; answers
    ``Product.collections``."""

    lock: threading.RLock
    data: StoreData
    _version: int

    if TYPE_CHECKING:

        def update(self, resource: str, gid: str, fields: dict[str, Any]) -> None: ...

    def _init_memberships(self) -> None:
        self._member_index: tuple[int, dict[str, list[str]]] = (-1, {})

    # ------------------------------------------------------------ reads
    def collections_of(self, product_gid: str) -> list[Node]:
        """The collections ``product_gid`` is in now (every model; callers filter by version)."""
        with self.lock:
            if self._member_index[0] != self._version:
                index: dict[str, list[str]] = {}
                for gid, node in self.data.resources["collections"].items():
                    for member in node["productIds"]:
                        index.setdefault(member, []).append(gid)
                self._member_index = (self._version, index)
            collections = self.data.resources["collections"]
            return [collections[c] for c in self._member_index[1].get(product_gid, ())
                    if c in collections]  # fmt: skip

    def source_members(self, source: Node) -> list[str]:
        """The products one stored source holds (``CollectionConditionsSource.products``)."""
        with self.lock:
            members, _ = member_sets(self.data.resources["collections"])
            return [gid for gid, product in self.data.resources["products"].items()
                    if source_includes(product, source, members)]  # fmt: skip

    # ------------------------------------------------------------ keeping memberships current
    def _refresh_product(self, gid: str) -> None:
        """Re-evaluate one product (created or updated) against every rule-based
        collection. Collections are not touched (no ``updatedAt``, no webhook)."""
        products = self.data.resources["products"]
        collections = self.data.resources["collections"]
        product = products.get(gid)
        members, _ = member_sets(collections)
        for node in evaluation_order(collections):
            inside = members(node["id"])
            wanted = product is not None and collection_includes(product, node, members)
            if wanted and gid not in inside:
                node["productIds"] = _inserted(products, node, gid)
                inside.add(gid)
            elif not wanted and gid in inside:
                node["productIds"] = [other for other in node["productIds"] if other != gid]
                inside.discard(gid)

    def _refresh_memberships(self, resource: str, gid: str) -> None:
        """After a product or collection was created or updated."""
        if resource == "products":
            self._refresh_product(gid)
        elif resource == "collections":
            self._refresh_collection(gid)

    def _refresh_collection(self, gid: str) -> None:
        """After a collection changed (rules, sources, members, deleted): it and its dependents.
        A collection given ``sources`` uses the new model: its ``ruleSet`` becomes null."""
        node = self.data.resources["collections"].get(gid)
        if node is not None and node.get("sources"):
            node["ruleSet"] = None
        compute_memberships(self.data, only={gid})

    def _refresh_dependents(self, gid: str) -> None:
        """After a collection's member list was set by hand: the collections built on it."""
        compute_memberships(self.data, only={gid}, keep=gid)

    # ------------------------------------------------------------ product edits (tests, control)
    def set_tags(self, product_gid: str, tags: list[str]) -> None:
        """Replace a product's tags: ``products/update``, memberships re-evaluated."""
        self.update("products", product_gid, {"tags": list(tags)})

    def set_variant_prices(self, product_gid: str, prices: dict[str, str] | str) -> None:
        """Set variant prices (``{variant gid: "12.00"}``, or one price for every variant)."""
        with self.lock:
            variants = [dict(v) for v in self.data.resources["products"][product_gid]["variants"]]
            unknown = set(prices) - {v["id"] for v in variants} if isinstance(prices, dict) else ()
            if unknown:
                raise KeyError(f"no variants {sorted(unknown)} on {product_gid}")
            for variant in variants:
                price = prices if isinstance(prices, str) else prices.get(variant["id"])
                if price is not None:
                    variant["price"] = f"{float(price):.2f}"
            self.update("products", product_gid, {"variants": variants})
