"""Resolvers of ``webhooks.graphql``: subscription queries and mutations."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from graphql import GraphQLObjectType, GraphQLResolveInfo, GraphQLSchema

from tests.fakeshopify.data import gid_number
from tests.fakeshopify.pagination import paginate, parse_query
from tests.fakeshopify.webhookpayloads import TOPICS
from tests.fakeshopify.webhookshop import ADDRESS_FIELD

if TYPE_CHECKING:
    from tests.fakeshopify.store import FakeShop

SDL_PATH = "webhooks.graphql"
NOT_FOUND = "Webhook subscription does not exist"


def _shop(info: GraphQLResolveInfo) -> FakeShop:
    shop: FakeShop = info.context
    return shop


def _error(field: list[str], message: str) -> list[dict[str, Any]]:
    return [{"field": field, "message": message}]


def _visible(info: GraphQLResolveInfo) -> list[dict[str, Any]]:
    """Subscriptions whose topic the API's enum has (``subscribe`` accepts others too)."""
    return [sub for sub in _shop(info).subscription_nodes() if sub["topic"] in TOPICS]


def _address(given: dict[str, Any]) -> str | None:
    value = given.get("uri") or given.get("callbackUrl")
    return str(value) if value is not None else None


# ------------------------------------------------------------------ queries
def resolve_subscriptions(_root: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    subs = _visible(info)
    by_time = args.get("sortKey") == "CREATED_AT"
    entries = [((sub["createdAt"] if by_time else gid_number(sub["id"]), gid_number(sub["id"])),
                sub) for sub in subs]  # fmt: skip
    entries.sort(key=lambda entry: entry[0])
    keys = [entry[0] for entry in entries]
    topics, fmt = args.get("topics"), args.get("format")
    uri = args.get("uri") or args.get("callbackUrl")
    query = parse_query(args.get("query"))

    def predicate(sub: dict[str, Any]) -> bool:
        return ((not topics or sub["topic"] in topics) and (not fmt or sub["format"] == fmt)
                and (not uri or sub["uri"] == uri) and (query is None or query(sub)))  # fmt: skip

    return paginate(entries, keys, args, predicate)


def resolve_subscription(_root: Any, info: GraphQLResolveInfo, id: str) -> Any:  # noqa: A002
    return next((sub for sub in _visible(info) if sub["id"] == id), None)


def resolve_count(_root: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    query = parse_query(args.get("query"))
    total = sum(1 for sub in _visible(info) if query is None or query(sub))
    limit = args.get("limit")
    if limit is not None and total > limit:
        return {"count": limit, "precision": "AT_LEAST"}
    return {"count": total, "precision": "EXACT"}


# ------------------------------------------------------------------ mutations
def create(_root: Any, info: GraphQLResolveInfo, topic: str,
           webhookSubscription: dict[str, Any]) -> Any:  # noqa: N803  # fmt: skip
    shop, given = _shop(info), webhookSubscription
    uri = _address(given)
    message = shop.address_error(topic, uri)
    if message or uri is None:
        return {"webhookSubscription": None, "userErrors": _error(ADDRESS_FIELD, str(message))}
    gid = shop.subscribe(topic, uri, format=given.get("format") or "JSON",
                         include_fields=given.get("includeFields"))  # fmt: skip
    if given.get("metafieldNamespaces") or given.get("filter"):
        shop.update_subscription(gid, {"metafieldNamespaces": given.get("metafieldNamespaces"),
                                       "filter": given.get("filter")})  # fmt: skip
    return {"webhookSubscription": resolve_subscription(None, info, gid), "userErrors": []}


def update(_root: Any, info: GraphQLResolveInfo, id: str,  # noqa: A002
           webhookSubscription: dict[str, Any]) -> Any:  # noqa: N803  # fmt: skip
    shop, given = _shop(info), webhookSubscription
    current = resolve_subscription(None, info, id)
    if current is None:
        return {"webhookSubscription": None, "userErrors": _error(["id"], NOT_FOUND)}
    uri = _address(given)
    if uri is not None:
        message = shop.address_error(current["topic"], uri, ignore=id)
        if message:
            return {"webhookSubscription": None, "userErrors": _error(ADDRESS_FIELD, message)}
    changes = {"uri": uri, "format": given.get("format"),
               "includeFields": given.get("includeFields"),
               "metafieldNamespaces": given.get("metafieldNamespaces"),
               "filter": given.get("filter")}  # fmt: skip
    shop.update_subscription(id, changes)
    return {"webhookSubscription": current, "userErrors": []}


def delete(_root: Any, info: GraphQLResolveInfo, id: str) -> Any:  # noqa: A002
    if not _shop(info).unsubscribe(id):
        return {"deletedWebhookSubscriptionId": None, "userErrors": _error(["id"], NOT_FOUND)}
    return {"deletedWebhookSubscriptionId": id, "userErrors": []}


def bind_webhooks(schema: GraphQLSchema) -> None:
    types = schema.type_map

    def bind(type_name: str, field: str, resolver: Any) -> None:
        named = types[type_name]
        assert isinstance(named, GraphQLObjectType)
        named.fields[field].resolve = resolver

    bind("QueryRoot", "webhookSubscriptions", resolve_subscriptions)
    bind("QueryRoot", "webhookSubscription", resolve_subscription)
    bind("QueryRoot", "webhookSubscriptionsCount", resolve_count)
    bind("Mutation", "webhookSubscriptionCreate", create)
    bind("Mutation", "webhookSubscriptionUpdate", update)
    bind("Mutation", "webhookSubscriptionDelete", delete)
