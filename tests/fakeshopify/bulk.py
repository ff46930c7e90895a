"""Bulk queries: check the inner query, and flatten its answer into Shopify's JSONL lines.

:func:`analyze` parses and validates the inner query, counts its connections (at least 1, at
most 5, nested at most 2 deep, never inside a list field) and records where they are (a
:class:`Shape`). :func:`flatten` turns the answer into groups (a root-connection node's line and
its nested-connection nodes' lines, each with ``__parentId``); :func:`order` lays the groups out
grouped, or ungrouped the way ``groupObjects: false`` does (some children before their parent,
some after the next parent).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
    get_nullable_type,
    get_operation_ast,
    is_list_type,
    parse,
    validate,
)

MAX_CONNECTIONS = 5
MAX_DEPTH = 2
NO_CONNECTION = "Bulk queries must contain at least one connection."
TOO_MANY = f"Bulk queries cannot contain more than {MAX_CONNECTIONS} connections."
TOO_DEEP = f"Bulk queries cannot contain connections with a nesting depth greater than {MAX_DEPTH}."
IN_LIST = "Queries that contain a connection field within a list field are not currently supported."
NEEDS_ID = ("The parent 'node' field for a nested connection must select the 'id' field without "
            "an alias and must be of 'Node' type. Invalid connection fields: {}")  # fmt: skip
NOT_QUERY = "Bulk queries must contain exactly one query operation."

Line = tuple[bytes, bool]  # (JSONL line, is a root-connection node)


@dataclass
class Shape:
    """Where the connections of one selection are: by response key."""

    conns: dict[str, Conn] = field(default_factory=dict)
    objs: dict[str, Shape] = field(default_factory=dict)  # objects that hold connections
    has_id: bool = False

    def merge(self, other: Shape) -> None:
        self.has_id = self.has_id or other.has_id
        for key, conn in other.conns.items():
            mine = self.conns.setdefault(key, Conn())
            mine.nodes_keys += [k for k in conn.nodes_keys if k not in mine.nodes_keys]
            mine.edge_keys += [k for k in conn.edge_keys if k not in mine.edge_keys]
            mine.node.merge(conn.node)
        for key, sub in other.objs.items():
            self.objs.setdefault(key, Shape()).merge(sub)


@dataclass
class Conn:
    """A connection field: the keys its nodes sit under, and the nodes' shape."""

    nodes_keys: list[str] = field(default_factory=list)
    edge_keys: list[tuple[str, str]] = field(default_factory=list)  # (edges key, node key)
    node: Shape = field(default_factory=Shape)


@dataclass
class Plan:
    document: DocumentNode
    shape: Shape
    connections: int
    schema: GraphQLSchema  # the API version's: the operation executes with it


def _key(node: FieldNode) -> str:
    return node.alias.value if node.alias else node.name.value


class _Analyzer:
    def __init__(self, schema: GraphQLSchema, document: DocumentNode) -> None:
        self.schema = schema
        self.fragments = {d.name.value: d for d in document.definitions
                          if isinstance(d, FragmentDefinitionNode)}  # fmt: skip
        self.count = 0
        self.depth = 0
        self.in_list = False
        self.missing_id: list[str] = []

    def fields(self, selection_set: SelectionSetNode | None, parent: Any
               ) -> list[tuple[FieldNode, Any]]:  # fmt: skip
        """The fields of a selection set with the type each is selected on (fragments inlined)."""
        found: list[tuple[FieldNode, Any]] = []
        for sel in selection_set.selections if selection_set else ():
            if isinstance(sel, FieldNode):
                found.append((sel, parent))
            elif isinstance(sel, InlineFragmentNode):
                target = self.schema.get_type(sel.type_condition.name.value) if (
                    sel.type_condition) else parent  # fmt: skip
                found += self.fields(sel.selection_set, target)
            elif isinstance(sel, FragmentSpreadNode) and sel.name.value in self.fragments:
                fragment = self.fragments[sel.name.value]
                target = self.schema.get_type(fragment.type_condition.name.value)
                found += self.fields(fragment.selection_set, target)
        return found

    def shape(self, selection_set: SelectionSetNode | None, parent: Any, depth: int,
              in_list: bool) -> Shape:  # fmt: skip
        result = Shape()
        for node, owner in self.fields(selection_set, parent):
            name = node.name.value
            result.has_id = result.has_id or (name == "id" and node.alias is None)
            definition = getattr(owner, "fields", {}).get(name)
            if definition is None or node.selection_set is None:
                continue
            named = get_named_type(definition.type)
            if (isinstance(named, GraphQLObjectType) and named.name.endswith("Connection")
                    and "first" in definition.args and "nodes" in named.fields):  # fmt: skip
                self.in_list = self.in_list or in_list
                sub = Shape(conns={_key(node): self.connection(node, named, depth + 1)})
            else:
                listed = in_list or is_list_type(get_nullable_type(definition.type))
                inner = self.shape(node.selection_set, named, depth, listed)
                sub = Shape(objs={_key(node): inner} if inner.conns or inner.objs else {})
            result.merge(sub)
        return result

    def connection(self, node: FieldNode, named: GraphQLObjectType, depth: int) -> Conn:
        self.count += 1
        self.depth = max(self.depth, depth)
        conn = Conn()
        node_type = get_named_type(named.fields["nodes"].type)
        edge_type = get_named_type(named.fields["edges"].type)
        for sub, _owner in self.fields(node.selection_set, named):
            if sub.name.value == "nodes":
                conn.nodes_keys.append(_key(sub))
                conn.node.merge(self.shape(sub.selection_set, node_type, depth, False))
            elif sub.name.value == "edges":
                for inner, _ in self.fields(sub.selection_set, edge_type):
                    if inner.name.value == "node":
                        conn.edge_keys.append((_key(sub), _key(inner)))
                        conn.node.merge(self.shape(inner.selection_set, node_type, depth, False))
        if depth == 1 and (conn.node.conns or conn.node.objs) and not conn.node.has_id:
            self.missing_id.append(_key(node))
        return conn


def analyze(schema: GraphQLSchema, query: str) -> tuple[Plan | None, str | None]:
    """``(plan, None)``, or ``(None, the userErrors message)`` for a query bulk cannot run."""
    from tests.fakeshopify.engine import shopify_message

    try:
        document = parse(query)
    except GraphQLError as error:
        return None, f"Invalid bulk query: {error.message}"
    errors = validate(schema, document)
    if errors:
        return None, f"Invalid bulk query: {shopify_message(errors[0])}"
    operation = get_operation_ast(document)
    if operation is None or operation.operation != OperationType.QUERY:
        return None, NOT_QUERY
    root = schema.query_type
    analyzer = _Analyzer(schema, document)
    shape = analyzer.shape(operation.selection_set, root, 0, False)
    if analyzer.count == 0:
        return None, NO_CONNECTION
    if analyzer.count > MAX_CONNECTIONS:
        return None, TOO_MANY
    if analyzer.depth > MAX_DEPTH:
        return None, TOO_DEEP
    if analyzer.in_list:
        return None, IN_LIST
    if analyzer.missing_id:
        return None, NEEDS_ID.format(", ".join(analyzer.missing_id))
    return Plan(document, shape, analyzer.count, schema), None


# ------------------------------------------------------------------ output
def _dumps(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n"


def _nodes(value: Any, conn: Conn) -> list[dict[str, Any]]:
    if not isinstance(value, dict):
        return []
    for key in conn.nodes_keys:
        if isinstance(value.get(key), list):
            return [node for node in value[key] if isinstance(node, dict)]
    for edges_key, node_key in conn.edge_keys:
        if isinstance(value.get(edges_key), list):
            return [edge[node_key] for edge in value[edges_key]
                    if isinstance(edge, dict) and isinstance(edge.get(node_key), dict)]  # fmt: skip
    return []


def _strip(obj: dict[str, Any], shape: Shape, children: list[bytes], parent: Any
           ) -> dict[str, Any]:  # fmt: skip
    """``obj`` without its connections; their nodes go to ``children`` with ``__parentId``."""
    if not shape.conns and not shape.objs:
        return obj
    out = dict(obj)
    for key, conn in shape.conns.items():
        for node in _nodes(out.pop(key, None), conn):
            child = dict(_strip(node, conn.node, children, parent))
            child["__parentId"] = parent
            children.append(_dumps(child))
    for key, sub in shape.objs.items():
        value = out.get(key)
        if isinstance(value, dict):
            out[key] = _strip(value, sub, children, parent)
        elif isinstance(value, list):
            out[key] = [_strip(item, sub, children, parent) if isinstance(item, dict) else item
                        for item in value]  # fmt: skip
    return out


def flatten(data: Any, shape: Shape) -> list[tuple[bytes, list[bytes]]]:
    """``[(root node's line, its children's lines)]`` in the answer's order."""
    groups: list[tuple[bytes, list[bytes]]] = []

    def roots(value: Any, where: Shape) -> None:
        if isinstance(value, list):
            for item in value:
                roots(item, where)
            return
        if not isinstance(value, dict):
            return
        for key, conn in where.conns.items():
            for node in _nodes(value.get(key), conn):
                children: list[bytes] = []
                line = _dumps(_strip(node, conn.node, children, node.get("id")))
                groups.append((line, children))
        for key, sub in where.objs.items():
            roots(value.get(key), sub)

    roots(data, shape)
    return groups


def order(groups: list[tuple[bytes, list[bytes]]], grouped: bool) -> list[Line]:
    """The file's lines. Ungrouped: the 5th, 10th, ... parent's first child comes just before
    it; the 3rd, 8th, ... parent's last child comes after the next parent and two of its
    children. A parent's children of one connection keep their order."""
    lines: list[Line] = []
    pending: bytes | None = None
    for index, (parent, group) in enumerate(groups):
        children = list(group)
        early = children.pop(0) if not grouped and index % 5 == 4 and children else None
        late = children.pop() if not grouped and index % 5 == 2 and children else None
        if early is not None:
            lines.append((early, False))
        lines.append((parent, True))
        lines += [(child, False) for child in children[:2]]
        if pending is not None:
            lines.append((pending, False))
        lines += [(child, False) for child in children[2:]]
        pending = late
    if pending is not None:
        lines.append((pending, False))
    return lines
