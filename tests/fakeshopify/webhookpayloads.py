"""Webhook topics (enum and REST forms) and REST-shaped payloads built from a shop's nodes.

Payloads look like Shopify's REST resources: numeric ``id``, ``admin_graphql_api_id``,
snake_case keys, lower-case product status, tags as one ``"a, b"`` string. Timestamps are
REST-style in the shop's time zone (``ianaTimezone``, ``America/New_York`` in generated stores),
whole seconds with an offset: ``"2026-01-02T03:04:05-05:00"``. GraphQL answers the same
instants as ``"2026-01-02T08:04:05Z"``: compare parsed datetimes, never strings.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, tzinfo
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from tests.fakeshopify.data import Node, StoreData, gid_number, gid_type


class ShopLike(Protocol):
    """What payloads read of a shop (a :class:`FakeShop`)."""

    data: StoreData

    @property
    def shop_domain(self) -> str: ...


#: Topics of ``WebhookSubscriptionTopic`` in this fake (the enum in ``webhooks.graphql``).
TOPICS = (
    "APP_UNINSTALLED", "BULK_OPERATIONS_FINISH", "COLLECTIONS_CREATE", "COLLECTIONS_DELETE",
    "COLLECTIONS_UPDATE", "DISCOUNTS_CREATE", "DISCOUNTS_DELETE", "DISCOUNTS_REDEEMCODE_ADDED",
    "DISCOUNTS_REDEEMCODE_REMOVED", "DISCOUNTS_UPDATE", "PRODUCTS_CREATE", "PRODUCTS_DELETE",
    "PRODUCTS_UPDATE", "SHOP_UPDATE", "THEMES_CREATE", "THEMES_DELETE", "THEMES_PUBLISH",
    "THEMES_UPDATE",
)  # fmt: skip
#: Mandatory compliance topics: configured in the app, not subscribable through the API.
COMPLIANCE_TOPICS = ("customers/data_request", "customers/redact", "shop/redact")
#: Resources of the Python mutation API whose changes have topics.
WEBHOOK_RESOURCES = ("products", "collections", "themes", "discounts")
#: Resources whose name has an underscore of its own (the first-underscore rule fails them).
_MULTI_WORD = ("BULK_OPERATIONS", "INVENTORY_ITEMS", "INVENTORY_LEVELS", "PRODUCT_LISTINGS")


def rest_topic(topic: str) -> str:
    """``PRODUCTS_UPDATE`` -> ``products/update``; a topic with a ``/`` is returned as is."""
    if "/" in topic:
        return topic
    upper = topic.upper()
    for resource in _MULTI_WORD:
        if upper.startswith(resource + "_"):
            return f"{resource.lower()}/{upper[len(resource) + 1 :].lower()}"
    head, _, tail = upper.partition("_")
    return f"{head.lower()}/{tail.lower()}"


def enum_topic(topic: str) -> str:
    """``products/update`` -> ``PRODUCTS_UPDATE``; an enum form is upper-cased."""
    return topic.replace("/", "_").upper()


# ------------------------------------------------------------------ formatting
def shop_zone(shop: ShopLike) -> tzinfo:
    try:
        return ZoneInfo(str(shop.data.shop.get("ianaTimezone") or "UTC"))
    except (KeyError, ValueError):  # pragma: no cover - unknown zone name
        return UTC


def rest_time(value: str | None, zone: tzinfo) -> str | None:
    """``2026-01-02T08:04:05Z`` -> ``2026-01-02T03:04:05-05:00`` (in ``zone``)."""
    if not value:
        return None
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment.astimezone(zone).isoformat(timespec="seconds")


def now_rest(zone: tzinfo) -> str:
    return datetime.now(UTC).astimezone(zone).isoformat(timespec="seconds")


def _ref(gid: str) -> dict[str, Any]:
    return {"id": gid_number(gid), "admin_graphql_api_id": gid}


# ------------------------------------------------------------------ resources
def product(node: Node, zone: tzinfo) -> dict[str, Any]:
    pid = gid_number(node["id"])
    t = lambda v: rest_time(v, zone)  # noqa: E731
    options = node.get("options") or []
    variants = []
    for variant in node.get("variants") or ():
        values = [o.get("value") for o in variant.get("selectedOptions") or ()]
        values += [None] * (3 - len(values))
        variants.append({
            **_ref(variant["id"]), "product_id": pid, "title": variant.get("title"),
            "price": variant.get("price"), "compare_at_price": variant.get("compareAtPrice"),
            "sku": variant.get("sku"), "barcode": variant.get("barcode"),
            "position": variant.get("position"), "option1": values[0], "option2": values[1],
            "option3": values[2], "inventory_quantity": variant.get("inventoryQuantity"),
            "taxable": variant.get("taxable"), "created_at": t(variant.get("createdAt")),
            "updated_at": t(variant.get("updatedAt")),
        })  # fmt: skip
    images = []
    for position, media in enumerate(node.get("media") or (), start=1):
        image = media.get("image") or {}
        images.append({
            "id": gid_number(media["id"]),
            "admin_graphql_api_id": f"gid://shopify/ProductImage/{gid_number(media['id'])}",
            "product_id": pid, "position": position, "alt": media.get("alt"),
            "src": image.get("url"), "width": image.get("width"), "height": image.get("height"),
            "created_at": t(media.get("createdAt")), "updated_at": t(media.get("updatedAt")),
            "variant_ids": [],
        })  # fmt: skip
    return {
        **_ref(node["id"]), "title": node.get("title"), "handle": node.get("handle"),
        "body_html": node.get("descriptionHtml"), "vendor": node.get("vendor"),
        "product_type": node.get("productType"), "status": str(node.get("status", "")).lower(),
        "tags": ", ".join(node.get("tags") or ()), "template_suffix": node.get("templateSuffix"),
        "published_scope": "global", "created_at": t(node.get("createdAt")),
        "updated_at": t(node.get("updatedAt")), "published_at": t(node.get("publishedAt")),
        "variants": variants,
        "options": [{"id": gid_number(o["id"]), "product_id": pid, "name": o.get("name"),
                     "position": o.get("position"), "values": list(o.get("values") or ())}
                    for o in options],
        "images": images, "image": images[0] if images else None,
    }  # fmt: skip


def collection(node: Node, zone: tzinfo) -> dict[str, Any]:
    return {
        **_ref(node["id"]), "title": node.get("title"), "handle": node.get("handle"),
        "body_html": node.get("descriptionHtml"),
        "sort_order": str(node.get("sortOrder") or "MANUAL").lower().replace("_", "-"),
        "template_suffix": node.get("templateSuffix"), "published_scope": "web",
        "updated_at": rest_time(node.get("updatedAt"), zone),
    }  # fmt: skip


def theme(node: Node, zone: tzinfo) -> dict[str, Any]:
    return {
        **_ref(node["id"]), "name": node.get("name"), "role": str(node.get("role")).lower(),
        "theme_store_id": node.get("themeStoreId"), "previewable": True,
        "processing": bool(node.get("processing")),
        "created_at": rest_time(node.get("createdAt"), zone),
        "updated_at": rest_time(node.get("updatedAt"), zone),
    }  # fmt: skip


def discount(node: Node, zone: tzinfo) -> dict[str, Any]:
    inner = node.get("discount") or {}
    return {
        "admin_graphql_api_id": node["id"], "title": inner.get("title"),
        "status": inner.get("status"), "created_at": rest_time(inner.get("createdAt"), zone),
        "updated_at": rest_time(inner.get("updatedAt"), zone),
    }  # fmt: skip


def redeem_code(node: Node, code: Node, zone: tzinfo) -> dict[str, Any]:
    updated = (node.get("discount") or {}).get("updatedAt")
    return {"admin_graphql_api_id": node["id"],
            "redeem_code": {"id": code["id"], "code": code["code"]},
            "updated_at": rest_time(updated, zone)}  # fmt: skip


def shop_payload(shop: ShopLike) -> dict[str, Any]:
    info = shop.data.shop
    return {
        "id": gid_number(info["id"]), "name": info.get("name"), "email": info.get("email"),
        "domain": (info.get("primaryDomain") or {}).get("host") or shop.shop_domain,
        "myshopify_domain": shop.shop_domain, "currency": info.get("currencyCode"),
        "iana_timezone": info.get("ianaTimezone"),
        "plan_name": str((info.get("plan") or {}).get("displayName", "")).lower(),
    }  # fmt: skip


def compliance(shop: ShopLike, topic: str) -> dict[str, Any]:
    base: dict[str, Any] = {"shop_id": gid_number(shop.data.shop["id"]),
                            "shop_domain": shop.shop_domain}  # fmt: skip
    customer = {"id": 7_100_000_099_001, "email": "customer@example.com", "phone": None}
    if topic == "customers/data_request":
        base.update(orders_requested=[], customer=customer, data_request={"id": 9_100_001})
    elif topic == "customers/redact":
        base.update(customer=customer, orders_to_redact=[])
    return base


def bulk_finish(gid: str | None, zone: tzinfo, node: Node | None = None) -> dict[str, Any]:
    """From the BulkOperation ``node`` when given (status and error code lower-case)."""
    now = now_rest(zone)
    gid = gid or f"gid://shopify/BulkOperation/{uuid.uuid4().int % 10**12}"
    if node is None:
        return {"admin_graphql_api_id": gid,
                "completed_at": now, "created_at": now, "error_code": None,
                "status": "completed", "type": "query"}  # fmt: skip
    code = node.get("errorCode")
    return {"admin_graphql_api_id": gid,
            "completed_at": rest_time(node.get("completedAt"), zone) or now,
            "created_at": rest_time(node.get("createdAt"), zone),
            "error_code": code.lower() if code else None,
            "status": str(node["status"]).lower(), "type": str(node["type"]).lower()}  # fmt: skip


# ------------------------------------------------------------------ dispatch
def _find_code(shop: ShopLike, gid: str) -> tuple[Node, Node]:
    """(discount node, code) for a discount gid (its first code) or a redeem-code gid."""
    if gid_type(gid) == "DiscountRedeemCode":
        for node in shop.data.resources["discounts"].values():
            for code in (node.get("discount") or {}).get("codes") or ():
                if code["id"] == gid:
                    return node, code
        raise KeyError(f"no redeem code {gid!r}")
    found = shop.data.resources["discounts"].get(gid)
    codes = (found or {}).get("discount", {}).get("codes") or []
    if found is None or not codes:
        raise KeyError(f"no code discount with codes {gid!r}")
    return found, codes[0]


def build_payload(shop: ShopLike, topic: str, gid: str | None) -> dict[str, Any]:
    """The payload Shopify would send for ``topic`` about ``gid`` now (call under the lock)."""
    zone = shop_zone(shop)
    resource, _, action = topic.partition("/")
    if topic in ("app/uninstalled", "shop/update"):
        return shop_payload(shop)
    if topic in COMPLIANCE_TOPICS:
        return compliance(shop, topic)
    if topic == "bulk_operations/finish":
        lookup = getattr(shop, "bulk_node", None)
        return bulk_finish(gid, zone, lookup(gid) if lookup and gid else None)
    if gid is None:
        raise ValueError(f"topic {topic!r} needs a payload or a gid")
    if resource in WEBHOOK_RESOURCES and action == "delete":
        if resource == "discounts":
            return {"admin_graphql_api_id": gid, "deleted_at": now_rest(zone)}
        return {"id": gid_number(gid)}
    if action.startswith("redeemcode_"):
        node, code = _find_code(shop, gid)
        return redeem_code(node, code, zone)
    builders = {"products": product, "collections": collection, "themes": theme,
                "discounts": discount}  # fmt: skip
    if resource in builders:
        current = shop.data.resources[resource].get(gid)
        if current is None:
            raise KeyError(f"no {resource} node {gid!r}")
        return builders[resource](current, zone)
    return _ref(gid)


def include_fields(payload: Any, fields: list[str]) -> Any:
    """Keep only ``fields`` (dotted paths reach into objects and lists of objects)."""
    if not fields:
        return payload
    if isinstance(payload, list):
        return [include_fields(item, fields) for item in payload]
    if not isinstance(payload, dict):
        return payload
    nested: dict[str, list[str] | None] = {}
    for name in fields:
        head, _, rest = name.partition(".")
        if not rest:
            nested[head] = None  # the whole value
            continue
        current = nested.setdefault(head, [])
        if current is not None:
            current.append(rest)
    return {key: payload[key] if rest is None else include_fields(payload[key], rest)
            for key, rest in nested.items() if key in payload}  # fmt: skip
