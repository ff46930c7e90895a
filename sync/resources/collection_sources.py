"""`Collection.sources`, the 2026-07 collection model, selected and stored beside `ruleSet`.

API 2026-07 describes a collection by one or more sources (typed inclusion conditions,
manual selections, exclusions, sub-collections); `ruleSet` stays but is deprecated and is null
for collections it cannot express (shopify.dev changelog "New Collection model and APIs now
available", 2026-06-17; reference.md "Collections in 2026-07"). Older versions have no
`sources` field at all, so the selection depends on the API version.

The product lists inside a source (`inclusion.selections`, `exclusion.selections`,
`products`) are not selected: membership is already `productIds`, and a manual source of a
large collection would repeat all of it.
"""

from __future__ import annotations

from typing import Any

SOURCES_VERSION = "2026-07"
# Condition kinds with their `relation`/`values`/`value` fields. The same field has another
# enum or list type on each kind, which GraphQL refuses to merge in one selection unless
# aliased (`relation__ProductTag: relation`); `unalias` gives them their names back.
_INCLUSION = {
    "ProductTag": ("relation", "values", "matchType"),
    "ProductTitle": ("relation", "values", "matchType"),
    "ProductType": ("relation", "values", "matchType"),
    "ProductVendor": ("relation", "values", "matchType"),
    "ProductStatus": ("relation", "values", "matchType"),
    "VariantPrice": ("relation", "value { amount currencyCode }"),
    "VariantCompareAtPrice": ("relation", "value { amount currencyCode }"),
}
_EXCLUSION = {
    "Collection": ("matchType", "values { id }"),
    "ProductTag": ("relation", "values", "matchType"),
    "ProductType": ("relation", "values", "matchType"),
    "ProductVendor": ("relation", "values", "matchType"),
}
_ALIASED = ("relation", "values", "value")


def _conditions(prefix: str, kinds: dict[str, tuple[str, ...]]) -> str:
    fragments = []
    for kind, fields in kinds.items():
        selected = " ".join(
            f"{field.split()[0]}__{kind}: {field}" if field.split()[0] in _ALIASED else field
            for field in fields
        )
        fragments.append(f"... on {prefix}{kind} {{ {selected} }}")
    return "conditions { __typename id " + " ".join(fragments) + " }"


SOURCES_FIELDS = f"""
  sources {{
    __typename id title description
    ... on CollectionConditionsSource {{
      targetType shareable
      inclusion {{ matchType {_conditions("CollectionSourceInclusionCondition", _INCLUSION)} }}
      exclusion {{ matchType {_conditions("CollectionSourceExclusionCondition", _EXCLUSION)} }}
    }}
    ... on CollectionSubCollectionsSource {{ collections {{ id }} }}
  }}
"""


def has_sources(api_version: str) -> bool:
    """Whether this Admin API version has `Collection.sources` (2026-07 and later)."""
    return api_version >= SOURCES_VERSION


def unalias(value: Any) -> Any:
    """`relation__ProductTag` → `relation`, recursively: stored fields keep GraphQL's names."""
    if isinstance(value, list):
        return [unalias(item) for item in value]
    if not isinstance(value, dict):
        return value
    return {
        (key.split("__", 1)[0] if "__" in key.lstrip("_") else key): unalias(item)
        for key, item in value.items()
    }
