"""The executable schemas: ``schema.graphql`` + ``webhooks.graphql`` + ``bulk.graphql`` (+
``sources.graphql`` from API 2026-07) with their resolvers bound (and the access-scope checks of
:mod:`tests.fakeshopify.scopes` in front of the root fields). One schema per collection model:
resolvers tell them apart by ``info.schema`` (:func:`.collectionmodel.new_model_schema`)."""

from __future__ import annotations

from functools import lru_cache

from graphql import GraphQLObjectType, GraphQLScalarType, GraphQLSchema, build_schema

from tests.fakeshopify.bulkschema import SDL_PATH as BULK_SDL
from tests.fakeshopify.bulkschema import bind_bulk
from tests.fakeshopify.collectionmodel import new_model
from tests.fakeshopify.collectionresolvers import bind_collections
from tests.fakeshopify.resolvers import (
    CODE_TYPES,
    SCHEMA_PATH,
    Resolver,
    _first,
    _only_default,
    _shop,
    _total_inventory,
    list_connection,
    list_count,
    ref_connection,
    ref_count,
    resolve_article_blog,
    resolve_articles_count,
    resolve_blog_articles,
    resolve_codes,
    resolve_deletion_events,
    resolve_node,
    resolve_nodes,
    resolve_theme_files,
    resolve_themes,
    resolve_variants,
    root_connection,
    root_count,
    root_lookup,
)
from tests.fakeshopify.scopes import bind_scopes
from tests.fakeshopify.webhookschema import SDL_PATH, bind_webhooks

SOURCES_SDL = "sources.graphql"


def load_schema(version: str = "2026-07") -> GraphQLSchema:
    """The schema API ``version`` is served with."""
    return _build(new_model(version))


@lru_cache(maxsize=2)
def _build(with_sources: bool) -> GraphQLSchema:
    names = (SCHEMA_PATH.name, SDL_PATH, BULK_SDL) + ((SOURCES_SDL,) if with_sources else ())
    sdl = "".join(SCHEMA_PATH.with_name(name).read_text() for name in names)
    schema = build_schema(sdl)
    bind_webhooks(schema)
    types = schema.type_map

    def bind(type_name: str, field: str, resolver: Resolver) -> None:
        named = types[type_name]
        assert isinstance(named, GraphQLObjectType)
        named.fields[field].resolve = resolver

    bind("QueryRoot", "shop", lambda _root, info: _shop(info).data.shop)
    bind("QueryRoot", "node", resolve_node)
    bind("QueryRoot", "nodes", resolve_nodes)
    for single, plural in (("product", "products"), ("collection", "collections"),
                           ("blog", "blogs"), ("article", "articles"),
                           ("discountNode", "discountNodes")):  # fmt: skip
        resource = "discounts" if plural == "discountNodes" else plural
        bind("QueryRoot", single, root_lookup(resource))
        bind("QueryRoot", plural, root_connection(resource))
    bind("QueryRoot", "files", root_connection("files"))
    bind("QueryRoot", "theme", root_lookup("themes"))
    bind("QueryRoot", "themes", resolve_themes)
    bind("QueryRoot", "deletionEvents", resolve_deletion_events)
    bind("QueryRoot", "productsCount", root_count("products"))
    bind("QueryRoot", "collectionsCount", root_count("collections"))
    bind("QueryRoot", "discountNodesCount", root_count("discounts"))

    bind("Product", "variants", resolve_variants)
    bind("Product", "variantsCount", list_count("variants"))
    bind("Product", "media", list_connection("media"))
    bind("Product", "mediaCount", list_count("media"))
    bind("Product", "featuredMedia", _first("media"))
    bind("Product", "totalInventory", _total_inventory)
    bind("Product", "hasOnlyDefaultVariant", _only_default)
    bind("Collection", "products", ref_connection("products", "productIds"))
    bind("Collection", "productsCount", ref_count("products", "productIds"))
    bind_collections(schema)
    bind("Blog", "articles", resolve_blog_articles)
    bind("Blog", "articlesCount", resolve_articles_count)
    bind("Article", "blog", resolve_article_blog)
    bind("OnlineStoreTheme", "files", resolve_theme_files)
    bind("DiscountProducts", "products", ref_connection("products", "productIds"))
    bind("DiscountCollections", "collections", ref_connection("collections", "collectionIds"))
    for type_name in CODE_TYPES:
        bind(type_name, "codes", resolve_codes)
        bind(type_name, "codesCount", list_count("codes"))
    bind_bulk(schema)  # after QueryRoot.node: it wraps it
    bind_scopes(schema)  # after the QueryRoot resolvers: it wraps them
    for scalar in ("UnsignedInt64", "Money"):  # Shopify sends both as strings
        named = types[scalar]
        assert isinstance(named, GraphQLScalarType)
        named.serialize = lambda value: str(value)  # type: ignore[method-assign]
    return schema
