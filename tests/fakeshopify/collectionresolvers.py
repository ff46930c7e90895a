"""Resolvers of ``Product.collections`` and of the 2026-07 ``Collection.sources`` types."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLObjectType, GraphQLResolveInfo, GraphQLSchema

from tests.fakeshopify.collectionmodel import sources_of
from tests.fakeshopify.data import gid_number
from tests.fakeshopify.pagination import paginate, parse_query
from tests.fakeshopify.resolvers import (
    SORT_FIELDS,
    Resolver,
    _by_id,
    _list_entries,
    _shop,
    visible,
)


def resolve_product_collections(parent: dict[str, Any], info: GraphQLResolveInfo, **args: Any
                                ) -> Any:  # fmt: skip
    """The collections the product is in now, custom and rule-based, that the version sees."""
    items = [c for c in _shop(info).collections_of(parent["id"]) if visible(info, c)]
    field = SORT_FIELDS.get(args.get("sortKey") or "ID")
    if field is None:
        entries, keys = _list_entries(items, _by_id)
    else:
        entries, keys = _list_entries(items, lambda c: (c.get(field) or "", gid_number(c["id"])))
    return paginate(entries, keys, args, parse_query(args.get("query")))


def resolve_sources(parent: dict[str, Any], _info: GraphQLResolveInfo) -> list[dict[str, Any]]:
    return sources_of(parent)


def resolve_selections(parent: dict[str, Any], info: GraphQLResolveInfo, **args: Any) -> Any:
    """Manual inclusions or exclusions: ``{product, variantIds}`` by product id."""
    products = _shop(info).data.resources["products"]
    items = [{"product": products[gid], "variantIds": None, "id": gid}
             for gid in parent.get("selections") or () if gid in products]  # fmt: skip
    entries, keys = _list_entries(items, _by_id)
    return paginate(entries, keys, args)


def resolve_source_products(parent: dict[str, Any], info: GraphQLResolveInfo, **args: Any
                            ) -> Any:  # fmt: skip
    shop = _shop(info)
    products = shop.data.resources["products"]
    items = [products[gid] for gid in shop.source_members(parent) if gid in products]
    entries, keys = _list_entries(items, _by_id)
    return paginate(entries, keys, args)


def _collections(field: str) -> Resolver:
    def resolve(parent: dict[str, Any], info: GraphQLResolveInfo) -> list[dict[str, Any]]:
        nodes = _shop(info).data.resources["collections"]
        return [nodes[gid] for gid in parent.get(field) or () if gid in nodes]

    return resolve


def bind_collections(schema: GraphQLSchema) -> None:
    """``Product.collections`` on every version; the sources fields where the schema has them."""
    types = schema.type_map

    def bind(type_name: str, field: str, resolver: Resolver) -> None:
        named = types[type_name]
        assert isinstance(named, GraphQLObjectType)
        named.fields[field].resolve = resolver

    bind("Product", "collections", resolve_product_collections)
    if "CollectionSource" not in types:
        return
    bind("Collection", "sources", resolve_sources)
    bind("CollectionSourceInclusion", "selections", resolve_selections)
    bind("CollectionSourceExclusion", "selections", resolve_selections)
    bind("CollectionConditionsSource", "products", resolve_source_products)
    bind("CollectionSubCollectionsSource", "collections", _collections("collections"))
    bind("CollectionSourceExclusionConditionCollection", "values", _collections("values"))
