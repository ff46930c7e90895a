"""Resolvers of ``bulk.graphql``: bulkOperationRunQuery, bulkOperationCancel and the queries."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from graphql import GraphQLObjectType, GraphQLResolveInfo, GraphQLSchema

from tests.fakeshopify.data import gid_number, gid_type
from tests.fakeshopify.pagination import paginate, parse_query

if TYPE_CHECKING:
    from tests.fakeshopify.resolvers import Resolver
    from tests.fakeshopify.store import FakeShop

SDL_PATH = "bulk.graphql"
_OPERATION_TYPE = re.compile(r"\boperation_type:\s*['\"]?(\w+)['\"]?", re.IGNORECASE)
_SORT_FIELDS = {"CREATED_AT": "createdAt", "COMPLETED_AT": "completedAt", "STATUS": "status"}
#: UnsignedInt64 fields: JSON strings, as Shopify sends them (graphql-core 3.3 ignores the
#: scalar's ``serialize`` that wiring sets, so the resolvers convert).
_COUNTS = ("objectCount", "rootObjectCount", "fileSize")


def _shop(info: GraphQLResolveInfo) -> FakeShop:
    shop: FakeShop = info.context
    return shop


def run_query(_root: Any, info: GraphQLResolveInfo, query: str,
              groupObjects: bool | None = None) -> Any:  # noqa: N803  # fmt: skip
    from tests.fakeshopify.engine import REQUEST_VERSION  # engine imports the schema

    node, errors = _shop(info).start_bulk(query, groupObjects, REQUEST_VERSION.get())
    return {"bulkOperation": node, "userErrors": errors}


def cancel(_root: Any, info: GraphQLResolveInfo, id: str) -> Any:  # noqa: A002
    shop = _shop(info)
    message = shop.request_cancel(id)
    errors = [{"field": ["id"], "message": message}] if message else []
    return {"bulkOperation": shop.bulk_node(id), "userErrors": errors}


def resolve_operation(_root: Any, info: GraphQLResolveInfo, id: str) -> Any:  # noqa: A002
    return _shop(info).bulk_node(id)


def resolve_current(_root: Any, info: GraphQLResolveInfo, type: str = "QUERY") -> Any:  # noqa: A002
    nodes = [node for node in _shop(info).bulk_nodes() if node["type"] == type]
    return nodes[-1] if nodes else None


def resolve_operations(_root: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    """``query:`` knows status, operation_type, created_at and id (others are ignored)."""
    field = _SORT_FIELDS.get(args.get("sortKey") or "CREATED_AT")
    entries = [(((node.get(field) or "") if field else gid_number(node["id"]),
                 gid_number(node["id"])), node) for node in _shop(info).bulk_nodes()]  # fmt: skip
    entries.sort(key=lambda entry: entry[0])
    text = args.get("query") or ""
    kinds = {match.upper() for match in _OPERATION_TYPE.findall(text)}
    query = parse_query(_OPERATION_TYPE.sub(" ", text))

    def predicate(node: dict[str, Any]) -> bool:
        return (not kinds or node["type"] in kinds) and (query is None or query(node))

    return paginate(entries, [entry[0] for entry in entries], args, predicate)


def _as_string(name: str) -> Resolver:
    def resolve(node: dict[str, Any], _info: GraphQLResolveInfo) -> str | None:
        value = node.get(name)
        return None if value is None else str(value)

    return resolve


def bind_bulk(schema: GraphQLSchema) -> None:
    """Bind the bulk fields; ``node(id:)`` also finds BulkOperations."""
    types = schema.type_map

    def bind(type_name: str, field: str, resolver: Resolver) -> None:
        named = types[type_name]
        assert isinstance(named, GraphQLObjectType)
        named.fields[field].resolve = resolver

    bind("Mutation", "bulkOperationRunQuery", run_query)
    bind("Mutation", "bulkOperationCancel", cancel)
    bind("QueryRoot", "bulkOperation", resolve_operation)
    bind("QueryRoot", "currentBulkOperation", resolve_current)
    bind("QueryRoot", "bulkOperations", resolve_operations)
    for name in _COUNTS:
        bind("BulkOperation", name, _as_string(name))
    root = types["QueryRoot"]
    assert isinstance(root, GraphQLObjectType)
    node_resolver = root.fields["node"].resolve
    assert node_resolver is not None

    def resolve_node(parent: Any, info: GraphQLResolveInfo, id: str) -> Any:  # noqa: A002
        if gid_type(id) == "BulkOperation":
            return _shop(info).bulk_node(id)
        return node_resolver(parent, info, id=id)

    root.fields["node"].resolve = resolve_node
