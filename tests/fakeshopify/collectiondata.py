"""Generated collection rules: smart ``ruleSet``s and 2026-07 new-model collections."""

from __future__ import annotations

import random

from tests.fakeshopify.builders import ADJECTIVES, NOUNS, TAGS, TYPES, VENDORS, Builder, slug
from tests.fakeshopify.collectionmodel import condition, conditions_source
from tests.fakeshopify.collectionrules import EXCLUSION
from tests.fakeshopify.data import Node, StoreData


def _rule(column: str, relation: str, condition: str) -> Node:
    return {"column": column, "relation": relation, "condition": condition}


def smart_rule_set(rng: random.Random, index: int) -> Node:
    """One of four templates by ``index`` (odd indexes are smart): each matches roughly a
    fifth to a quarter of a generated store's products."""
    draw, tag = rng.random(), rng.choice(TAGS)  # the two draws the generator always made

    def pick(items: list[str], offset: int = 0) -> str:
        return items[(int(draw * len(items)) + offset) % len(items)]

    template = (index // 2) % 4
    if template == 0:  # tagged and not the cheapest
        rules = [_rule("TAG", "EQUALS", tag), _rule("VARIANT_PRICE", "GREATER_THAN", "10")]
    elif template == 1:
        rules = [_rule("TYPE", "EQUALS", pick(TYPES)),
                 _rule("TITLE", "STARTS_WITH", pick(ADJECTIVES))]  # fmt: skip
    elif template == 2:
        rules = [_rule("VENDOR", "EQUALS", pick(VENDORS)),
                 _rule("VARIANT_PRICE", "LESS_THAN", "40")]  # fmt: skip
    else:
        rules = [_rule("TITLE", "CONTAINS", pick(NOUNS)),
                 _rule("TITLE", "CONTAINS", pick(NOUNS, 5))]  # fmt: skip
    return {"appliedDisjunctively": template in (1, 3), "rules": rules}


def _excluding(store: StoreData, refs: list[str]) -> Node:
    """Exclude a tag, one product by hand and the members of ``refs`` (collections)."""
    rng = store.rng
    conditions = [condition("ProductTag", store.gid("CollectionCondition"), "TAGGED_WITH",
                            [rng.choice(TAGS)], prefix=EXCLUSION)]  # fmt: skip
    if refs:
        conditions.append(condition("Collection", store.gid("CollectionCondition"), "", refs,
                                    prefix=EXCLUSION))  # fmt: skip
    products = list(store.resources["products"])
    return {"matchType": "ANY", "conditions": conditions,
            "selections": [rng.choice(products)] if products else []}  # fmt: skip


def new_model_sources(store: StoreData, index: int, title: str) -> list[Node]:
    """Sources ``ruleSet`` cannot express: an exclusion (even ``index``), or two sources, one of
    them sub-collections (odd). References go to the smaller legacy collections."""
    rng = store.rng
    legacy = [c for c in store.resources["collections"].values()
              if not c.get("sources") and c["id"] != store.big_collection_id]  # fmt: skip
    smart = [c["id"] for c in legacy if c.get("ruleSet")]
    custom = [c["id"] for c in legacy if not c.get("ruleSet")]
    products = list(store.resources["products"])
    if index % 2 == 0:
        tagged = condition("ProductTag", store.gid("CollectionCondition"), "TAGGED_WITH",
                           rng.sample(TAGS, 2))  # fmt: skip
        pricey = condition("VariantPrice", store.gid("CollectionCondition"), "GREATER_THAN", [15])
        picked = rng.sample(products, min(2, len(products)))
        return [conditions_source(store.gid("CollectionConditionsSource"), title,
                                  conditions=[tagged, pricey], match_type="ALL",
                                  selections=picked,
                                  exclusion=_excluding(store, custom[:1]))]  # fmt: skip
    sub = {"__typename": "CollectionSubCollectionsSource",
           "id": store.gid("CollectionSubCollectionsSource"), "title": f"{title}: picks",
           "description": None, "app": None, "collections": (smart[:1] + custom[:1])}  # fmt: skip
    vendor = condition("ProductVendor", store.gid("CollectionCondition"), "EQUALS",
                       [rng.choice(VENDORS)])  # fmt: skip
    active = condition("ProductStatus", store.gid("CollectionCondition"), "EQUALS", ["ACTIVE"])
    return [sub, conditions_source(store.gid("CollectionConditionsSource"), f"{title}: vendor",
                                   conditions=[vendor, active], match_type="ALL")]  # fmt: skip


def new_model_collection(store: StoreData, index: int, moment: tuple[str, str]) -> Node:
    """A collection only API 2026-07+ sees (``ruleSet`` null); members computed later."""
    node = Builder(store).collection(2, moment, [])  # an even index: no ruleSet
    title = f"{store.rng.choice(ADJECTIVES)} Mix {index + 1}"
    node.update(title=title, handle=f"{slug(title)}-{node['legacyResourceId']}",
                description=f"{title} collection.", descriptionHtml=f"<p>{title} collection.</p>",
                sources=new_model_sources(store, index, title))  # fmt: skip
    return node
