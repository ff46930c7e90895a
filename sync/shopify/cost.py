"""Estimating a query's requested cost the way Shopify computes it, to size pages.

Shopify: scalars and enums cost 0, objects 1, a connection 2 + first x (one node's cost);
unions and interfaces cost their most expensive fragment.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from graphql import parse
from graphql.language import (
    DocumentNode,
    FieldNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
)
from graphql.language.ast import IntValueNode

# Inside a connection these wrap the node and add nothing of their own.
_CONNECTION_WRAPPERS = frozenset({"nodes", "edges", "node"})
_FREE_FIELDS = frozenset({"pageInfo", "cursor", "__typename"})
MAX_QUERY_COST = 1000  # Shopify's single-query limit
MAX_PAGE_SIZE = 250  # Shopify's page limit


@lru_cache(maxsize=256)
def _document(query: str) -> DocumentNode:
    return parse(query)


def _first(field: FieldNode, variables: dict[str, Any]) -> int | None:
    for argument in field.arguments or ():
        if argument.name.value != "first":
            continue
        value = argument.value
        if isinstance(value, VariableNode):
            return int(variables.get(value.name.value) or 0)
        if isinstance(value, IntValueNode):
            return int(value.value)
    return None


def _selection_cost(selection_set: SelectionSetNode | None, variables: dict[str, Any]) -> int:
    if selection_set is None:
        return 0
    total, fragments = 0, [0]
    for selection in selection_set.selections:
        if isinstance(selection, InlineFragmentNode):
            fragments.append(_selection_cost(selection.selection_set, variables))
        elif isinstance(selection, FieldNode):
            total += _field_cost(selection, variables)
    return total + max(fragments)


def _node_cost(selection_set: SelectionSetNode | None, variables: dict[str, Any]) -> int:
    """Cost of one node of a connection: 1 + its children, wrappers unwrapped."""
    if selection_set is None:
        return 0
    best = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode) and selection.name.value in _CONNECTION_WRAPPERS:
            inner = selection.selection_set
            if selection.name.value == "edges":
                best = max(best, _node_cost(inner, variables))
            else:
                best = max(best, 1 + _selection_cost(inner, variables))
    return best


def _field_cost(field: FieldNode, variables: dict[str, Any]) -> int:
    if field.name.value in _FREE_FIELDS or field.selection_set is None:
        return 0
    first = _first(field, variables)
    if first is not None:
        return 2 + first * _node_cost(field.selection_set, variables)
    return 1 + _selection_cost(field.selection_set, variables)


def requested_cost(query: str, variables: dict[str, Any] | None = None) -> int:
    """The requested cost Shopify will charge for this query with these variables."""
    variables = variables or {}
    total = 0
    for definition in _document(query).definitions:
        if isinstance(definition, OperationDefinitionNode):
            total += _selection_cost(definition.selection_set, variables)
    return total


def page_size(
    query: str, variables: dict[str, Any], budget: int, *, first_var: str = "first"
) -> int:
    """The largest `first` (1..250) whose requested cost stays within `budget`."""
    one = requested_cost(query, {**variables, first_var: 1})
    two = requested_cost(query, {**variables, first_var: 2})
    per_node, overhead = max(two - one, 1), one - max(two - one, 1)
    return max(1, min(MAX_PAGE_SIZE, (budget - overhead) // per_node))
