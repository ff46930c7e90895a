"""Discount nodes of the eight ``Discount`` union types."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.fakeshopify.data import Node

if TYPE_CHECKING:
    from tests.fakeshopify.builders import Builder

_CLASSES = {
    "Basic": "ORDER",
    "Bxgy": "PRODUCT",
    "FreeShipping": "SHIPPING",
    "App": "PRODUCT",
}


def _status(index: int, created: str, updated: str) -> tuple[str, str, str | None]:
    """(status, startsAt, endsAt) consistent with each other."""
    if index % 5 == 3:
        return "EXPIRED", created, updated
    if index % 7 == 6:
        return "SCHEDULED", "2026-12-26T00:00:00Z", "2026-12-31T23:59:59Z"
    return "ACTIVE", created, None if index % 2 == 0 else "2026-12-31T23:59:59Z"


def _money(amount: str) -> dict[str, str]:
    return {"amount": amount, "currencyCode": "USD"}


def _customer_gets(build: Builder, bxgy: bool) -> Node:
    rng = build.rng
    value: dict[str, Any]
    if bxgy:
        value = {
            "__typename": "DiscountOnQuantity",
            "quantity": {"__typename": "DiscountQuantity", "quantity": "1"},
            "effect": {"__typename": "DiscountPercentage", "percentage": 1.0},
        }
    elif rng.random() < 0.5:
        value = {"__typename": "DiscountPercentage", "percentage": rng.choice((0.1, 0.15, 0.25))}
    else:
        value = {
            "__typename": "DiscountAmount",
            "amount": _money(rng.choice(("5.00", "10.00", "20.00"))),
            "appliesOnEachItem": False,
        }
    return {
        "value": value,
        "items": {"__typename": "AllDiscountItems", "allItems": True},
        "appliesOnOneTimePurchase": True,
        "appliesOnSubscription": False,
    }


def _summary(gets: Node | None, kind: str) -> str:
    if gets is None:
        return "Free shipping on all products"
    value = gets["value"]
    if value["__typename"] == "DiscountPercentage":
        return f"{round(value['percentage'] * 100)}% off entire order"
    if value["__typename"] == "DiscountAmount":
        return f"${value['amount']['amount']} off entire order"
    return "Buy 2 items, get 1 item free" if "Bxgy" in kind else "Discount"


def discount_node(
    build: Builder, kind: str, index: int, moment: tuple[str, str], n_codes: int
) -> Node:
    """A ``DiscountNode`` dict whose ``discount`` has ``__typename`` ``kind``."""
    rng = build.rng
    created, updated = moment
    code = kind.startswith("DiscountCode")
    variant = kind.removeprefix("DiscountCode").removeprefix("DiscountAutomatic")
    status, starts, ends = _status(index, created, updated)
    number = build.store.new_number()
    node_type = "DiscountCodeNode" if code else "DiscountAutomaticNode"
    discount_class = _CLASSES[variant]
    discount: dict[str, Any] = {
        "__typename": kind,
        "title": f"{variant} promo {index + 1}",
        "status": status,
        "startsAt": starts,
        "endsAt": ends,
        "createdAt": created,
        "updatedAt": updated,
        "asyncUsageCount": rng.randint(0, 500),
        "discountClass": discount_class,
        "discountClasses": [discount_class],
        "combinesWith": {
            "orderDiscounts": rng.random() < 0.5,
            "productDiscounts": rng.random() < 0.5,
            "shippingDiscounts": rng.random() < 0.5,
        },
    }
    gets = None
    if variant in ("Basic", "Bxgy"):
        gets = _customer_gets(build, variant == "Bxgy")
        discount["customerGets"] = gets
    if variant == "Bxgy":
        discount["customerBuys"] = {
            "value": {"__typename": "DiscountQuantity", "quantity": "2"},
            "items": {"__typename": "AllDiscountItems", "allItems": True},
        }
        discount["usesPerOrderLimit"] = rng.choice((None, 1, 3))
    if variant == "FreeShipping":
        discount["maximumShippingPrice"] = rng.choice((None, _money("15.00")))
    if variant in ("FreeShipping", "App"):
        discount["appliesOnOneTimePurchase"] = True
        discount["appliesOnSubscription"] = False
    if variant == "App":
        discount["discountId"] = f"gid://shopify/{node_type}/{number}"
        discount["appDiscountType"] = {
            "appKey": "8f3c2a1b0d9e4f5a6b7c8d9e0f1a2b3c",
            "functionId": f"01J{number:023d}"[:26],
            "title": "Volume pricing",
            "description": "Tiered discounts by quantity",
            "discountClass": discount_class,
        }
    else:
        discount["summary"] = _summary(gets, kind)
    if code:
        discount["usageLimit"] = rng.choice((None, 100, 1000))
        discount["appliesOncePerCustomer"] = rng.random() < 0.5
        prefix = f"{variant.upper()}{index + 1}-" if n_codes > 5 else f"{variant.upper()}{number}-"
        discount["codes"] = build.codes(prefix, n_codes)
    return {"__typename": "DiscountNode", "id": f"gid://shopify/{node_type}/{number}",
            "discount": discount}  # fmt: skip
