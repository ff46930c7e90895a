"""The executable schema: SDL plus a few generic resolvers over the shop's dicts.

Scalars and plain objects use graphql-core's default dict resolver; only connections, counts,
lookups and cross-references have resolvers here. ``info.context`` is the :class:`FakeShop`.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graphql import (
    GraphQLError,
    GraphQLResolveInfo,
)

from tests.fakeshopify.collectionmodel import is_legacy, new_model_schema
from tests.fakeshopify.data import gid_number
from tests.fakeshopify.pagination import Entry, Predicate, paginate, parse_query

if TYPE_CHECKING:
    from tests.fakeshopify.store import FakeShop

Resolver = Callable[..., Any]
SCHEMA_PATH = Path(__file__).with_name("schema.graphql")

#: sortKey enum value -> field of the node compared (None: the numeric id).
SORT_FIELDS = {
    "UPDATED_AT": "updatedAt",
    "CREATED_AT": "createdAt",
    "TITLE": "title",
    "PUBLISHED_AT": "publishedAt",
    "STARTS_AT": "startsAt",
    "ENDS_AT": "endsAt",
    "VENDOR": "vendor",
    "PRODUCT_TYPE": "productType",
    "HANDLE": "handle",
}
CODE_TYPES = (
    "DiscountCodeBasic",
    "DiscountCodeBxgy",
    "DiscountCodeFreeShipping",
    "DiscountCodeApp",
)


def discount_source(node: dict[str, Any]) -> dict[str, Any]:
    return node.get("discount") or {}


SOURCES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {"discounts": discount_source}


def _count(count: int) -> dict[str, Any]:
    return {"count": count, "precision": "EXACT"}


def _shop(info: GraphQLResolveInfo) -> FakeShop:
    shop: FakeShop = info.context
    return shop


def check_gid(gid: str) -> None:
    parts = gid.split("/")
    if len(parts) != 5 or parts[:3] != ["gid:", "", "shopify"] or not parts[4]:
        raise GraphQLError(
            f"Invalid global id '{gid}'", extensions={"code": "argumentLiteralsIncompatible"}
        )


def visible(info: GraphQLResolveInfo, node: Any) -> Any:
    """``node``, or None for a 2026-07-model collection asked for by an older API version."""
    return node if new_model_schema(info.schema) or is_legacy(node) else None


def _visible_only(info: GraphQLResolveInfo, predicate: Predicate | None) -> Predicate | None:
    """``predicate``, also hiding new-model collections from API versions before 2026-07."""
    if new_model_schema(info.schema):
        return predicate
    return lambda node: is_legacy(node) and (predicate is None or predicate(node))


def _list_entries(items: list[dict[str, Any]], key: Callable[[dict[str, Any]], Any]
                  ) -> tuple[list[Entry], list[Any]]:  # fmt: skip
    entries = sorted(((key(item), item) for item in items), key=lambda entry: entry[0])
    return entries, [entry[0] for entry in entries]


def _by_id(item: dict[str, Any]) -> tuple[int, int]:
    number = gid_number(item.get("id", ""))
    return (number, number)


# ------------------------------------------------------------------ root fields
def root_connection(resource: str) -> Resolver:
    source = SOURCES.get(resource)

    def resolve(_root: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
        shop = _shop(info)
        field = SORT_FIELDS.get(args.get("sortKey") or "ID")
        entries, keys = shop.sorted_entries(resource, field)
        predicate = _visible_only(info, parse_query(args.get("query"), source))
        return paginate(entries, keys, args, predicate)

    return resolve


def root_count(resource: str) -> Resolver:
    source = SOURCES.get(resource)

    def resolve(_root: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
        nodes = _shop(info).data.resources[resource].values()
        predicate = _visible_only(info, parse_query(args.get("query"), source))
        total = sum(1 for node in nodes if predicate is None or predicate(node))
        limit = args.get("limit")
        if limit is not None and total > limit:
            return {"count": limit, "precision": "AT_LEAST"}
        return _count(total)

    return resolve


def root_lookup(resource: str) -> Resolver:
    def resolve(_root: Any, info: GraphQLResolveInfo, id: str) -> Any:  # noqa: A002
        check_gid(id)
        return visible(info, _shop(info).data.resources[resource].get(id))

    return resolve


def resolve_node(_root: Any, info: GraphQLResolveInfo, id: str) -> Any:  # noqa: A002
    check_gid(id)
    return visible(info, _shop(info).lookup(id))


def resolve_nodes(_root: Any, info: GraphQLResolveInfo, ids: list[str]) -> Any:
    if len(ids) > 250:
        raise GraphQLError("The maximum number of ids is 250.")
    for gid in ids:
        check_gid(gid)
    shop = _shop(info)
    return [visible(info, shop.lookup(gid)) for gid in ids]


def resolve_themes(_root: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    entries, keys = _shop(info).sorted_entries("themes", None)
    roles, names = args.get("roles"), args.get("names")

    def predicate(node: dict[str, Any]) -> bool:
        return (not roles or node["role"] in roles) and (not names or node["name"] in names)

    return paginate(entries, keys, args, predicate if roles or names else None)


def resolve_deletion_events(_root: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    by_time = args.get("sortKey") == "CREATED_AT"
    events = _shop(info).data.deletion_events
    entries = [((e["occurredAt"] if by_time else e["_seq"], e["_seq"]), e) for e in events]
    entries.sort(key=lambda entry: entry[0])
    keys = [entry[0] for entry in entries]
    types = args.get("subjectTypes")
    query = parse_query(args.get("query"))

    def predicate(event: dict[str, Any]) -> bool:
        return (not types or event["subjectType"] in types) and (query is None or query(event))

    return paginate(entries, keys, args, predicate)


# ------------------------------------------------------------------ nested fields
def list_connection(field: str, key: Callable[[dict[str, Any]], Any] = _by_id) -> Resolver:
    def resolve(parent: dict[str, Any], _info: GraphQLResolveInfo, **args: Any) -> Any:
        entries, keys = _list_entries(parent.get(field) or [], key)
        return paginate(entries, keys, args, parse_query(args.get("query")))

    return resolve


def _variant_key(variant: dict[str, Any]) -> tuple[int, int]:
    return (variant.get("position") or 0, gid_number(variant.get("id", "")))


def resolve_variants(parent: dict[str, Any], info: GraphQLResolveInfo, **args: Any) -> Any:
    key = _by_id if args.get("sortKey") == "ID" else _variant_key
    return list_connection("variants", key)(parent, info, **args)


def resolve_codes(parent: dict[str, Any], info: GraphQLResolveInfo, **args: Any) -> Any:
    if args.get("sortKey") == "CODE":
        return list_connection("codes", lambda c: (c["code"], gid_number(c["id"])))(
            parent, info, **args
        )
    return list_connection("codes")(parent, info, **args)


def resolve_theme_files(parent: dict[str, Any], _info: GraphQLResolveInfo, **args: Any) -> Any:
    entries, keys = _list_entries(parent.get("files") or [], lambda f: (f["filename"], 0))
    patterns = args.get("filenames")
    predicate = None
    if patterns:
        exact = {p for p in patterns if "*" not in p and "?" not in p}
        globs = [p for p in patterns if p not in exact]

        def predicate(item: dict[str, Any]) -> bool:
            name = item["filename"]
            return name in exact or any(fnmatch.fnmatchcase(name, glob) for glob in globs)

    return paginate(entries, keys, args, predicate)


def ref_connection(resource: str, field: str) -> Resolver:
    """A connection over the nodes of ``resource`` whose ids ``parent[field]`` lists."""

    def resolve(parent: dict[str, Any], info: GraphQLResolveInfo, **args: Any) -> Any:
        nodes = _shop(info).data.resources[resource]
        items = [nodes[gid] for gid in parent.get(field) or () if visible(info, nodes.get(gid))]
        entries, keys = _list_entries(items, _by_id)
        return paginate(entries, keys, args)

    return resolve


def ref_count(resource: str, field: str) -> Resolver:
    def resolve(parent: dict[str, Any], info: GraphQLResolveInfo, **_: Any) -> Any:
        nodes = _shop(info).data.resources[resource]
        return _count(sum(1 for gid in parent.get(field) or () if gid in nodes))

    return resolve


def list_count(field: str) -> Resolver:
    def resolve(parent: dict[str, Any], _info: GraphQLResolveInfo, **_: Any) -> Any:
        return _count(len(parent.get(field) or ()))

    return resolve


def resolve_blog_articles(parent: dict[str, Any], info: GraphQLResolveInfo, **args: Any) -> Any:
    entries, keys = _shop(info).sorted_entries(
        "articles", SORT_FIELDS.get(args.get("sortKey") or "ID")
    )
    query = parse_query(args.get("query"))
    blog_id = parent["id"]

    def predicate(article: dict[str, Any]) -> bool:
        return article["blog"]["id"] == blog_id and (query is None or query(article))

    return paginate(entries, keys, args, predicate)


def resolve_articles_count(parent: dict[str, Any], info: GraphQLResolveInfo, **_: Any) -> Any:
    articles = _shop(info).data.resources["articles"].values()
    return _count(sum(1 for article in articles if article["blog"]["id"] == parent["id"]))


def resolve_article_blog(parent: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    ref = parent.get("blog") or {}
    blog = _shop(info).data.resources["blogs"].get(ref.get("id", ""))
    return blog or {"__typename": "Blog", "title": "", "handle": "", "commentPolicy": "CLOSED",
                    "tags": [], **ref}  # fmt: skip


def _first(field: str) -> Resolver:
    def resolve(parent: dict[str, Any], _info: GraphQLResolveInfo) -> Any:
        items = parent.get(field) or []
        return items[0] if items else None

    return resolve


def _total_inventory(parent: dict[str, Any], _info: GraphQLResolveInfo) -> int:
    return sum(v.get("inventoryQuantity") or 0 for v in parent.get("variants") or ())


def _only_default(parent: dict[str, Any], _info: GraphQLResolveInfo) -> bool:
    variants = parent.get("variants") or []
    return len(variants) == 1 and variants[0].get("title") == "Default Title"
