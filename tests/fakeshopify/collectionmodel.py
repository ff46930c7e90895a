"""The 2026-07 collection model: which API versions see it, and legacy collections as sources.

A collection node holds ``sources`` only when it uses the new model (features ``ruleSet``
cannot express: exclusions, sub-collections, several sources). Such a collection has
``ruleSet: None`` and API versions before 2026-07 do not see it at all. Every other collection
gets its ``sources`` derived on read: a custom collection is one conditions source with manual
selections, a smart one a conditions source with one condition per rule.

Stored sources look like the GraphQL answer with references as ids::

    {"__typename": "CollectionConditionsSource", "id", "title", "description", "app": None,
     "shareable": False, "targetType": "PRODUCTS",
     "inclusion": {"matchType": "ANY" | "ALL" | None, "conditions": [...],
                   "selections": [product gids]},
     "exclusion": None | {"matchType", "conditions": [... incl. {"__typename":
                   "CollectionSourceExclusionConditionCollection", "values": [collection gids]}],
                   "selections": [product gids]}}
    {"__typename": "CollectionSubCollectionsSource", "id", "title", "description", "app": None,
     "collections": [collection gids]}

A condition: ``{"__typename": "CollectionSourceInclusionConditionProductTag", "id",
"matchType", "relation", "values"}``; price conditions have ``"value": {"amount",
"currencyCode"}`` instead of ``matchType``/``values``.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLSchema

from tests.fakeshopify.collectionrules import INCLUSION
from tests.fakeshopify.data import Node, gid_number

NEW_MODEL_VERSION = "2026-07"
#: legacy rule column -> (condition kind, {rule relation: condition relation}).
_TEXT = {"EQUALS": "EQUALS", "NOT_EQUALS": "NOT_EQUALS", "CONTAINS": "CONTAINS",
         "NOT_CONTAINS": "DOES_NOT_CONTAIN", "STARTS_WITH": "STARTS_WITH",
         "ENDS_WITH": "ENDS_WITH"}  # fmt: skip
_PRICE = {name: name for name in ("EQUALS", "NOT_EQUALS", "GREATER_THAN", "LESS_THAN")}
RULE_CONDITIONS: dict[str, tuple[str, dict[str, str]]] = {
    "TAG": ("ProductTag", {"EQUALS": "TAGGED_WITH", "NOT_EQUALS": "NOT_TAGGED_WITH"}),
    "TITLE": ("ProductTitle", _TEXT),
    "TYPE": ("ProductType", _TEXT),
    "VENDOR": ("ProductVendor", _TEXT),
    "VARIANT_PRICE": ("VariantPrice", _PRICE),
    "VARIANT_COMPARE_AT_PRICE": ("VariantCompareAtPrice",
                                 {**_PRICE, "IS_SET": "IS_SET", "IS_NOT_SET": "IS_NOT_SET"}),
}  # fmt: skip


def new_model(version: str) -> bool:
    """API versions from 2026-07 (and ``unstable``) have ``Collection.sources``."""
    return version >= NEW_MODEL_VERSION


def new_model_schema(schema: GraphQLSchema) -> bool:
    """Whether an executable schema is the 2026-07+ one (resolvers read it from ``info``)."""
    return "CollectionSource" in schema.type_map


def uses_new_model(collection: Node) -> bool:
    """A collection that only API 2026-07+ can see (its ``ruleSet`` cannot express it)."""
    return bool(collection.get("sources"))


def is_legacy(node: Any) -> bool:
    """Visible before 2026-07: anything but a new-model collection."""
    return not (isinstance(node, dict) and node.get("__typename") == "Collection"
                and uses_new_model(node))  # fmt: skip


def money(amount: str) -> Node:
    return {"amount": amount, "currencyCode": "USD"}


def condition(kind: str, gid: str, relation: str, values: list[Any] | None = None,
              match_type: str = "ANY", *, prefix: str = INCLUSION) -> Node:  # fmt: skip
    """A stored condition; price kinds take ``values=[amount]`` (or ``[]``: no value)."""
    node: Node = {"__typename": f"{prefix}{kind}", "id": gid}
    if kind.startswith("Variant"):
        node["relation"] = relation
        node["value"] = money(f"{float(values[0]):.2f}") if values else None
    elif kind == "Collection":
        node.update(matchType="ANY", values=list(values or ()))
    elif kind != "Unknown":
        node.update(matchType=match_type, relation=relation, values=list(values or ()))
    return node


def conditions_source(gid: str, title: str, *, conditions: list[Node] | None = None,
                      match_type: str | None = None, selections: list[str] | None = None,
                      exclusion: Node | None = None) -> Node:  # fmt: skip
    return {
        "__typename": "CollectionConditionsSource", "id": gid, "title": title,
        "description": None, "app": None, "shareable": False, "targetType": "PRODUCTS",
        "inclusion": {"matchType": match_type if conditions else None,
                      "conditions": list(conditions or ()),
                      "selections": list(selections or ())},
        "exclusion": exclusion,
    }  # fmt: skip


def rule_condition(rule: Node, gid: str) -> Node:
    """A legacy rule as the typed condition 2026-07 shows (``...Unknown`` when it has none)."""
    kind, relations = RULE_CONDITIONS.get(rule["column"], ("Unknown", {}))
    relation = relations.get(rule["relation"])
    if relation is None:
        return condition("Unknown", gid, "")
    if kind.startswith("Variant"):
        value = rule["condition"]
        return condition(kind, gid, relation, [f"{float(value):.2f}"] if value != "" else [])
    return condition(kind, gid, relation, [rule["condition"]])


def legacy_sources(collection: Node) -> list[Node]:
    """What ``Collection.sources`` shows for a custom or smart collection."""
    number = gid_number(collection["id"])
    gid = f"gid://shopify/CollectionConditionsSource/{number}"
    rule_set = collection.get("ruleSet")
    if not rule_set:
        return [conditions_source(gid, collection["title"],
                                  selections=list(collection.get("productIds") or ()))]  # fmt: skip
    conditions = [rule_condition(rule, f"gid://shopify/CollectionCondition/{number}{k:03d}")
                  for k, rule in enumerate(rule_set.get("rules") or ())]  # fmt: skip
    match_type = "ANY" if rule_set.get("appliedDisjunctively") else "ALL"
    return [conditions_source(gid, collection["title"], conditions=conditions,
                              match_type=match_type)]  # fmt: skip


def sources_of(collection: Node) -> list[Node]:
    return list(collection.get("sources") or ()) or legacy_sources(collection)


def references(collection: Node) -> set[str]:
    """Collections whose membership this one's depends on (sub-collections, exclusions)."""
    found: set[str] = set()
    for source in collection.get("sources") or ():
        found.update(source.get("collections") or ())
        for item in (source.get("exclusion") or {}).get("conditions") or ():
            if item["__typename"].endswith("ConditionCollection"):
                found.update(item.get("values") or ())
    return found
