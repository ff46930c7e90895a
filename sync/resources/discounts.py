"""Code and automatic discounts of every type, with every redeem code."""

from __future__ import annotations

from typing import Any

from config_db.mongo import MongoDocument
from stores.list_layout import CODES
from sync.bulk.path import main_phase
from sync.bulk.runtime import BulkSpec, has_all
from sync.orchestration.context import SyncContext
from sync.orchestration.paging import pages, rest_of
from sync.resources.deletions import mark_listed, sweep_unseen
from sync.storage.documents import convert_timestamps
from sync.storage.spill import spill
from sync.storage.writer import write_documents

NAME = "discounts"
MAX_INLINE_CODES = 10_000  # past this, codes go to `_discountcodes` (16 MB document limit)
CODES_CHUNK = 5_000
CODE_TYPES = (
    "DiscountCodeBasic",
    "DiscountCodeBxgy",
    "DiscountCodeFreeShipping",
    "DiscountCodeApp",
)
AUTOMATIC_TYPES = (
    "DiscountAutomaticBasic",
    "DiscountAutomaticBxgy",
    "DiscountAutomaticFreeShipping",
    "DiscountAutomaticApp",
)
_COMMON = """title status startsAt endsAt createdAt updatedAt asyncUsageCount
  combinesWith { orderDiscounts productDiscounts shippingDiscounts }"""
_VALUE = """value { __typename ... on DiscountPercentage { percentage }
  ... on DiscountAmount { amount { amount currencyCode } appliesOnEachItem }
  ... on DiscountOnQuantity { quantity { quantity } } }"""
_CODES = """usageLimit appliesOncePerCustomer codesCount { count }
  codes(first: 10) { pageInfo { hasNextPage endCursor } nodes { id code asyncUsageCount } }"""
_EXTRA = {
    "Basic": f"customerGets {{ {_VALUE} }}",
    "Bxgy": f"customerGets {{ {_VALUE} }} customerBuys {{ value {{ __typename }} }}",
    "FreeShipping": "maximumShippingPrice { amount currencyCode }",
    "App": "appDiscountType { functionId title appKey }",
}


def _fragment(type_name: str) -> str:
    kind = type_name.removeprefix("DiscountCode").removeprefix("DiscountAutomatic")
    codes = _CODES if type_name in CODE_TYPES else ""
    # The App types have no `summary`.
    summary = "" if kind == "App" else "summary"
    return f"... on {type_name} {{ {_COMMON} {summary} {codes} {_EXTRA[kind]} }}"


DISCOUNT_FIELDS = (
    "id discount { __typename "
    + " ".join(_fragment(name) for name in CODE_TYPES + AUTOMATIC_TYPES)
    + " }"
)
DISCOUNTS_QUERY = f"""
query Discounts($first: Int!, $after: String, $query: String) {{
  discountNodes(first: $first, after: $after, query: $query) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{ {DISCOUNT_FIELDS} }}
  }}
}}
"""
DISCOUNT_QUERY = f"query Discount($id: ID!) {{ discountNode(id: $id) {{ {DISCOUNT_FIELDS} }} }}"
_MORE_CODES = " ".join(
    f"... on {name} {{ codes(first: $first, after: $after) {{ pageInfo {{ hasNextPage "
    "endCursor } nodes { id code asyncUsageCount } } }"
    for name in CODE_TYPES
)
MORE_CODES_QUERY = f"""
query DiscountCodes($id: ID!, $first: Int!, $after: String) {{
  discountNode(id: $id) {{ discount {{ __typename {_MORE_CODES} }} }}
}}
"""


_BULK_CODES = "codes { edges { node { id code asyncUsageCount } } }"
BULK = BulkSpec(
    root="discountNodes",
    fields=DISCOUNT_FIELDS.replace(
        "codes(first: 10) { pageInfo { hasNextPage endCursor } nodes { id code asyncUsageCount } }",
        _BULK_CODES,
    ),
    place=lambda _line: ("discount", "codes"),
    refetch_query=DISCOUNT_QUERY,
    refetch_path=("discountNode",),
    count_root="discountNodesCount",
    complete=lambda node: has_all(node, ("discount", "codes"), ("discount", "codesCount", "count")),
)


def discount_document(ctx: SyncContext, node: dict[str, Any]) -> MongoDocument:
    """The union's fields flattened onto the document, `type` = __typename, every code."""
    discount = dict(node.get("discount") or {})
    type_name = discount.pop("__typename", None)
    codes = rest_of(
        ctx,
        discount.pop("codes", None),
        MORE_CODES_QUERY,
        ("discountNode", "discount", "codes"),
        node["id"],
    )
    document: dict[str, Any] = {**discount, "_id": node["id"], "id": node["id"], "type": type_name}
    spilled = len(codes) > MAX_INLINE_CODES
    spill_codes(ctx, node["id"], codes if spilled else [])
    document["codes"] = [] if spilled else codes
    document["codesSpilled"] = spilled
    document["codesCount"] = (discount.get("codesCount") or {}).get("count", len(codes))
    converted: MongoDocument = convert_timestamps(document)
    return converted


def spill_codes(ctx: SyncContext, discount_id: str, codes: list[dict[str, Any]]) -> None:
    """Codes of huge discounts in `_discountcodes` ({discountId, index, codes})."""
    spill(ctx.collection(CODES.side), CODES, discount_id, codes, CODES_CHUNK)


def sync(ctx: SyncContext) -> None:
    """Every discount (changed ones when incremental); deleted ones tombstoned."""
    target = ctx.collection(NAME)

    def write(nodes: list[MongoDocument]) -> None:
        documents = [discount_document(ctx, node) for node in nodes]
        counts = write_documents(target, documents, run_id=ctx.run_id, now=ctx.now())
        ctx.count(seen=len(documents), upserted=counts.upserted, skipped=counts.skipped)

    def paged() -> None:
        variables = {"query": ctx.search_filter()}
        for nodes in pages(ctx, "main", DISCOUNTS_QUERY, ("discountNodes",), variables):
            write(nodes)

    main_phase(ctx, BULK, write, paged)
    if ctx.mode == "incremental":
        mark_listed(ctx, "discountNodes", NAME)
    sweep_unseen(ctx, NAME)
