"""Shopify's calculated query cost, requested (from ``first``) and actual (from the answer).

Rules: scalars, enums and ``__typename`` 0; an object field 1 plus its children; a connection
(a ``...Connection`` field taking ``first``) 2 + first x (1 + the node's children), where the
wrappers ``nodes``, ``edges``, ``node``, ``pageInfo`` and ``cursor`` add nothing; a list of
objects without pagination 1 like a single object; ``nodes(ids:)`` len(ids) x (1 + children).
On an abstract type, fields selected directly are added to the maximum over the fragments.
The actual cost uses the same rules with the number of nodes each connection returned.
A mutation costs 10 per root field, whatever it selects (requested and actual).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    Undefined,
    get_named_type,
    is_abstract_type,
    value_from_ast_untyped,
)

from tests.fakeshopify.pagination import MAX_PAGE

MUTATION_COST = 10


@dataclass
class Selection:
    """Fields selected on one type: shared fields plus alternative fragments (max)."""

    fields: list[FieldPlan] = field(default_factory=list)
    branches: list[Selection] = field(default_factory=list)
    dynamic: bool = False  # contains a connection (actual cost differs from requested)

    _requested: int | None = None

    def requested(self) -> int:
        if self._requested is None:
            total = sum(plan.requested() for plan in self.fields)
            branches = max((branch.requested() for branch in self.branches), default=0)
            self._requested = total + branches
        return self._requested

    def actual(self, data: Any) -> int:
        if not self.dynamic:
            return self.requested()
        if not isinstance(data, dict):
            return self.minimal()
        total = sum(plan.actual(data) for plan in self.fields)
        return total + max((branch.actual(data) for branch in self.branches), default=0)

    def minimal(self) -> int:
        """Cost when the object is null: nested connections returned nothing."""
        total = sum(plan.actual({}) for plan in self.fields)
        return total + max((branch.minimal() for branch in self.branches), default=0)


@dataclass
class FieldPlan:
    key: str
    kind: str  # "scalar" | "object" | "connection" | "ids" | "mutation"
    size: int = 0  # first/last, or len(ids)
    children: Selection = field(default_factory=Selection)
    nodes_key: str | None = None
    edges_key: str | None = None
    node_key: str | None = None

    def requested(self) -> int:
        if self.kind == "scalar":
            return 0
        if self.kind == "mutation":
            return MUTATION_COST
        child = self.children.requested()
        if self.kind == "connection":
            return 2 + self.size * (1 + child)
        if self.kind == "ids":
            return self.size * (1 + child)
        return 1 + child

    def actual(self, data: dict[str, Any]) -> int:
        if self.kind == "scalar":
            return 0
        if self.kind == "mutation":
            return MUTATION_COST
        value = data.get(self.key)
        if self.kind == "connection":
            items = self._items(value)
            if not self.children.dynamic:
                return 2 + len(items) * (1 + self.children.requested())
            return 2 + sum(1 + self.children.actual(item) for item in items)
        if self.kind == "ids":
            items = value if isinstance(value, list) else []
            return sum(1 + self.children.actual(item) for item in items if item is not None)
        if isinstance(value, list):  # list of objects: costs like one object
            return 1 + max((self.children.actual(item) for item in value), default=0)
        return 1 + self.children.actual(value)

    def _items(self, value: Any) -> list[Any]:
        if not isinstance(value, dict):
            return []
        if self.nodes_key and isinstance(value.get(self.nodes_key), list):
            return list(value[self.nodes_key])
        if self.edges_key and isinstance(value.get(self.edges_key), list):
            return [edge.get(self.node_key) if isinstance(edge, dict) else None
                    for edge in value[self.edges_key]]  # fmt: skip
        return []


class Planner:
    """Builds the cost plan of one operation; collects pagination-argument errors."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.errors: list[GraphQLError] = []

    def plan(self, operation: OperationDefinitionNode) -> Selection:
        root = self.schema.get_root_type(operation.operation)
        assert root is not None
        if operation.operation == OperationType.MUTATION:
            result = Selection()
            for node in self._flatten(operation.selection_set, root, False)[0]:
                key = node.alias.value if node.alias else node.name.value
                kind = "scalar" if node.name.value.startswith("__") else "mutation"
                result.fields.append(FieldPlan(key, kind))
            return result
        return self.selection(operation.selection_set, root)

    def _flatten(
        self, selection_set: SelectionSetNode | None, parent: Any, abstract: bool, depth: int = 0
    ) -> tuple[list[FieldNode], list[tuple[Any, SelectionSetNode]]]:
        """Fields that always apply, and fragments that only apply to some concrete types."""
        fields: list[FieldNode] = []
        branches: list[tuple[Any, SelectionSetNode]] = []
        if selection_set is None or depth > 20:
            return fields, branches
        for sel in selection_set.selections:
            condition: str | None
            if isinstance(sel, FieldNode):
                fields.append(sel)
                continue
            if isinstance(sel, FragmentSpreadNode):
                fragment = self.fragments.get(sel.name.value)
                if fragment is None:
                    continue
                condition, sub = fragment.type_condition.name.value, fragment.selection_set
            elif isinstance(sel, InlineFragmentNode):
                condition = sel.type_condition.name.value if sel.type_condition else None
                sub = sel.selection_set
            else:
                continue
            target = self.schema.get_type(condition) if condition else parent
            if not abstract or target is parent:
                more, extra = self._flatten(sub, parent, abstract, depth + 1)
                fields.extend(more)
                branches.extend(extra)
            else:
                branches.append((target, sub))
        return fields, branches

    def selection(self, selection_set: SelectionSetNode | None, parent: Any) -> Selection:
        result = Selection()
        abstract = is_abstract_type(parent)
        fields, branches = self._flatten(selection_set, parent, abstract)
        for node in fields:
            plan = self.field(node, parent)
            if plan is not None:
                result.fields.append(plan)
                result.dynamic = (
                    result.dynamic or plan.kind == "connection" or plan.children.dynamic
                )
        for target, sub in branches:
            branch = self.selection(sub, target)
            result.branches.append(branch)
            result.dynamic = result.dynamic or branch.dynamic
        return result

    def _arg(self, node: FieldNode, name: str) -> Any:
        for arg in node.arguments or ():
            if arg.name.value == name:
                value = value_from_ast_untyped(arg.value, self.variables)
                return None if value is Undefined else value
        return None

    def field(self, node: FieldNode, parent: Any) -> FieldPlan | None:
        name = node.name.value
        key = node.alias.value if node.alias else name
        if name.startswith("__"):
            return FieldPlan(key, "scalar")
        definition = getattr(parent, "fields", {}).get(name)
        if definition is None:
            return None
        named = get_named_type(definition.type)
        if not isinstance(named, GraphQLObjectType) and not is_abstract_type(named):
            return FieldPlan(key, "scalar")
        if name == "nodes" and "ids" in definition.args and parent.name == "QueryRoot":
            ids = self._arg(node, "ids")
            children = self.selection(node.selection_set, named)
            return FieldPlan(key, "ids", size=len(ids or []), children=children)
        if named.name.endswith("Connection") and "first" in definition.args:
            return self.connection(node, key, definition, named)
        # a plain object, or a list of objects without pagination: 1 + children
        return FieldPlan(key, "object", children=self.selection(node.selection_set, named))

    def connection(self, node: FieldNode, key: str, definition: Any, named: Any) -> FieldPlan:
        first, last = self._arg(node, "first"), self._arg(node, "last")
        if first is None and last is None:
            default = definition.args["first"].ast_node
            if default is not None and default.default_value is not None:
                first = value_from_ast_untyped(default.default_value)
        size = first if first is not None else last
        if size is None:
            self._error(node, "you must provide one of first or last")
            size = 0
        elif not isinstance(size, int) or size < 0:
            self._error(
                node, f"Argument 'first' or 'last' must be a non-negative integer, got {size!r}."
            )
            size = 0
        elif size > MAX_PAGE:
            self._error(
                node,
                f"The maximum page size is {MAX_PAGE}: 'first' or 'last' is {size}, "
                f"which exceeds {MAX_PAGE}.",
            )
        plan = FieldPlan(key, "connection", size=size)
        node_type = get_named_type(named.fields["nodes"].type)
        children = Selection()
        for sub in self._flatten(node.selection_set, named, False)[0]:
            sub_key = sub.alias.value if sub.alias else sub.name.value
            if sub.name.value == "nodes":
                plan.nodes_key = sub_key
                self._merge(children, self.selection(sub.selection_set, node_type))
            elif sub.name.value == "edges":
                plan.edges_key = sub_key
                edge_type = get_named_type(named.fields["edges"].type)
                for inner in self._flatten(sub.selection_set, edge_type, False)[0]:
                    if inner.name.value == "node":
                        plan.node_key = inner.alias.value if inner.alias else "node"
                        self._merge(children, self.selection(inner.selection_set, node_type))
        plan.children = children
        return plan

    @staticmethod
    def _merge(into: Selection, other: Selection) -> None:
        into.fields.extend(other.fields)
        into.branches.extend(other.branches)
        into.dynamic = into.dynamic or other.dynamic

    def _error(self, node: FieldNode, message: str) -> None:
        self.errors.append(
            GraphQLError(message, nodes=[node], extensions={"code": "argumentLiteralsIncompatible"})
        )


def plan_operation(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
) -> tuple[Selection, list[GraphQLError]]:
    planner = Planner(schema, fragments, variables)
    return planner.plan(operation), planner.errors
