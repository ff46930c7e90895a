"""Whether a product matches a collection: legacy ``ruleSet`` rules and 2026-07 sources.

Text comparisons ignore case, as Shopify's do. A column with several values per product (tags,
variants) matches when any value satisfies the relation, except that a negative tag relation
(``NOT_EQUALS``, ``NOT_TAGGED_WITH``) means no tag equals the value. Variant conditions target
PRODUCTS: the whole product matches when any variant does. Unknown columns never match.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.fakeshopify.data import Node

#: collection gid -> the set of its current member product gids (sub-collections, exclusions).
Members = Callable[[str], set[str]]

INCLUSION = "CollectionSourceInclusionCondition"
EXCLUSION = "CollectionSourceExclusionCondition"
_TEXT_FIELDS = {"TITLE": "title", "TYPE": "productType", "VENDOR": "vendor"}
_KINDS = {"ProductTitle": "TITLE", "ProductType": "TYPE", "ProductVendor": "VENDOR"}
_NEGATIVE = {"NOT_EQUALS": "EQUALS", "NOT_CONTAINS": "CONTAINS", "DOES_NOT_CONTAIN": "CONTAINS",
             "NOT_TAGGED_WITH": "EQUALS"}  # fmt: skip


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def compare_text(relation: str, value: str | None, condition: str) -> bool:
    """One text value against a condition (case-insensitive)."""
    if relation in _NEGATIVE:
        return not compare_text(_NEGATIVE[relation], value, condition)
    text, wanted = (value or "").lower(), condition.lower()
    if relation in ("EQUALS", "TAGGED_WITH"):
        return text == wanted
    if relation == "CONTAINS":
        return wanted in text
    if relation == "STARTS_WITH":
        return text.startswith(wanted)
    if relation == "ENDS_WITH":
        return text.endswith(wanted)
    return False


def compare_number(relation: str, value: Any, condition: Any) -> bool:
    """One number (a price, a quantity) against a condition; IS_SET / IS_NOT_SET test presence."""
    left, right = _number(value), _number(condition)
    if relation in ("IS_SET", "IS_NOT_SET"):
        return (left is not None) == (relation == "IS_SET")
    if left is None or right is None:
        return False
    if relation == "GREATER_THAN":
        return left > right
    if relation == "LESS_THAN":
        return left < right
    if relation == "EQUALS":
        return left == right
    if relation == "NOT_EQUALS":
        return left != right
    return False


def _tagged(product: Node, relation: str, condition: str) -> bool:
    tags = product.get("tags") or ()
    if relation in _NEGATIVE:  # no tag equals the value
        return not any(compare_text(_NEGATIVE[relation], tag, condition) for tag in tags)
    return any(compare_text(relation, tag, condition) for tag in tags)


def _variants(product: Node, field: str, test: Callable[[Any], bool]) -> bool:
    return any(test(variant.get(field)) for variant in product.get("variants") or ())


def rule_matches(product: Node, rule: Node) -> bool:
    """One legacy rule ``{column, relation, condition}``."""
    column, relation, condition = rule["column"], rule["relation"], str(rule["condition"])
    if column == "TAG":
        return _tagged(product, relation, condition)
    if column in _TEXT_FIELDS:
        return compare_text(relation, product.get(_TEXT_FIELDS[column]), condition)
    if column == "VARIANT_TITLE":
        return _variants(product, "title", lambda v: compare_text(relation, v, condition))
    fields = {"VARIANT_PRICE": "price", "VARIANT_COMPARE_AT_PRICE": "compareAtPrice",
              "VARIANT_INVENTORY": "inventoryQuantity"}  # fmt: skip
    if column in fields:
        return _variants(product, fields[column], lambda v: compare_number(relation, v, condition))
    return False


def rule_set_matches(product: Node, rule_set: Node) -> bool:
    """``appliedDisjunctively``: any rule; otherwise all of them (no rules: nothing matches)."""
    rules = rule_set.get("rules") or []
    if not rules:
        return False
    tests = (rule_matches(product, rule) for rule in rules)
    return any(tests) if rule_set.get("appliedDisjunctively") else all(tests)


def _by_match_type(match_type: str | None, results: list[bool]) -> bool:
    return all(results) if match_type == "ALL" else any(results)


def condition_matches(product: Node, condition: Node) -> bool:
    """One typed condition of a 2026-07 source (inclusion or exclusion, not by collection)."""
    kind = condition["__typename"].removeprefix(INCLUSION).removeprefix(EXCLUSION)
    relation = condition.get("relation") or ""
    values = condition.get("values") or []
    if kind == "ProductTag":
        tests = [_tagged(product, relation, str(value)) for value in values]
    elif kind in _KINDS:
        text = product.get(_TEXT_FIELDS[_KINDS[kind]])
        tests = [compare_text(relation, text, str(value)) for value in values]
    elif kind == "ProductStatus":
        tests = [compare_text(relation, product.get("status"), str(value)) for value in values]
    elif kind in ("VariantPrice", "VariantCompareAtPrice"):
        field = "price" if kind == "VariantPrice" else "compareAtPrice"
        amount = (condition.get("value") or {}).get("amount")
        return _variants(product, field, lambda v: compare_number(relation, v, amount))
    else:  # Unknown, and anything this fake does not model
        return False
    return _by_match_type(condition.get("matchType"), tests)


def _conditions_match(product: Node, part: Node) -> bool:
    conditions = part.get("conditions") or []
    if not conditions:
        return False
    tests = [condition_matches(product, item) for item in conditions]
    return _by_match_type(part.get("matchType"), tests)


def _excluded(product: Node, exclusion: Node | None, members: Members) -> bool:
    """Manual exclusions, collections (always ANY) and the other exclusion conditions."""
    if not exclusion:
        return False
    gid = product["id"]
    if gid in (exclusion.get("selections") or ()):
        return True
    by_collection = [c for c in exclusion.get("conditions") or ()
                     if c["__typename"] == f"{EXCLUSION}Collection"]  # fmt: skip
    for condition in by_collection:
        if any(gid in members(ref) for ref in condition.get("values") or ()):
            return True
    others = [c for c in exclusion.get("conditions") or () if c not in by_collection]
    return _conditions_match(product, {**exclusion, "conditions": others})


def source_includes(product: Node, source: Node, members: Members) -> bool:
    """A stored source (see :mod:`tests.fakeshopify.collectionmodel`) holds ``product``."""
    if source["__typename"] == "CollectionSubCollectionsSource":
        return any(product["id"] in members(ref) for ref in source.get("collections") or ())
    inclusion = source.get("inclusion") or {}
    included = product["id"] in (inclusion.get("selections") or ()) or _conditions_match(
        product, inclusion
    )
    return included and not _excluded(product, source.get("exclusion"), members)


def collection_includes(product: Node, collection: Node, members: Members) -> bool:
    """A rule-based collection (2026-07 sources or a legacy ``ruleSet``) holds ``product``."""
    sources = collection.get("sources")
    if sources:
        return any(source_includes(product, source, members) for source in sources)
    rule_set = collection.get("ruleSet")
    return rule_set_matches(product, rule_set) if rule_set else False


def is_rule_based(collection: Node) -> bool:
    """Membership computed by the fake (smart, or new model), not a manual list."""
    return bool(collection.get("sources") or collection.get("ruleSet"))
