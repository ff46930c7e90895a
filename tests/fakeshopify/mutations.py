"""Merging caller-supplied fields into nodes for ``FakeShop.update`` and ``FakeShop.create``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.fakeshopify.builders import KINDS, Builder
from tests.fakeshopify.data import Node, StoreData, gid_number, new_node

if TYPE_CHECKING:
    from tests.fakeshopify.store import FakeShop

NESTED_TYPES = {"variants": "ProductVariant", "media": "MediaImage", "codes": "DiscountRedeemCode"}


def _variant_defaults(position: int) -> dict[str, Any]:
    return {"title": "Default Title", "displayName": "Default Title", "sku": None,
            "price": "0.00", "compareAtPrice": None, "barcode": None, "position": position,
            "inventoryQuantity": 0, "taxable": True, "availableForSale": True,
            "selectedOptions": [{"name": "Title", "value": "Default Title"}],
            "image": None}  # fmt: skip


def _media_defaults() -> dict[str, Any]:
    return {"alt": None, "mediaContentType": "IMAGE", "status": "READY", "fileStatus": "READY",
            "mimeType": "image/jpeg", "image": None, "preview": None,
            "originalSource": None}  # fmt: skip


def fill_nested(store: StoreData, target: Node, changes: dict[str, Any], now: str) -> None:
    """Give new nested items (variants, media, codes) ids and defaults; re-time changed ones."""
    for key, type_name in NESTED_TYPES.items():
        items = changes.get(key)
        if not isinstance(items, list):
            continue
        old = {item.get("id"): item for item in target.get(key) or () if isinstance(item, dict)}
        for position, item in enumerate(items, start=1):
            if not item.get("id"):
                item["id"] = store.gid(type_name)
                if key == "codes":
                    item.setdefault("asyncUsageCount", 0)
                    continue
                if key == "variants":
                    item.setdefault("displayName", item.get("title") or "Default Title")
                defaults = _variant_defaults(position) if key == "variants" else _media_defaults()
                for name, value in defaults.items():
                    item.setdefault(name, value)
                item.setdefault("__typename", type_name)
                item.setdefault("createdAt", now)
                item["updatedAt"] = now
                if key == "variants":
                    item.setdefault("legacyResourceId", str(gid_number(item["id"])))
            elif key != "codes":
                before = old.get(item["id"])
                if (
                    before is not None
                    and item != before
                    and item.get("updatedAt") == before.get("updatedAt")
                ):
                    item["updatedAt"] = now


def apply_update(
    shop: FakeShop, resource: str, node: Node, fields: dict[str, Any], now: str
) -> None:
    """Merge ``fields`` into ``node`` (for discounts: into ``node["discount"]``)."""
    fields.pop("id", None)
    if resource == "discounts":
        inner = fields.pop("discount", None) or {}
        fields.update(inner)
        node = node["discount"]
    fill_nested(shop.data, node, fields, now)
    node.update(fields)


def create_node(store: StoreData, resource: str, given: dict[str, Any], now: str) -> Node:
    """A complete new node: a generated one with ``given``'s fields laid over it.

    For discounts, fields may sit in ``given["discount"]`` or at the top level (except ``id``);
    ``given["discount"]["__typename"]`` picks the discount type.
    """
    inner: dict[str, Any] = {}
    if resource == "discounts":
        inner = given.pop("discount", None) or {}
    kind = inner.get("__typename")
    if kind:
        if kind not in KINDS:
            raise ValueError(f"unknown discount type {kind!r}")
        index = store.rng.randint(100, 999)
        made = Builder(store).discount(KINDS.index(kind), index, (now, now), 2)
    else:
        made = new_node(store, resource, now)
    if "id" in given:
        made["id"] = given.pop("id")
        if "legacyResourceId" in made:
            made["legacyResourceId"] = str(gid_number(made["id"]))
    if resource == "discounts":
        inner.update(given)
        fill_nested(store, {}, inner, now)
        made["discount"].update(inner)
    else:
        fill_nested(store, {}, given, now)
        made.update(given)
    return made
