"""One GraphQL request against one shop: parse, validate, cost, bucket, execute, refund."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    execute_sync,
    get_operation_ast,
    parse,
    validate,
)
from graphql.execution.values import get_variable_values

from tests.fakeshopify.collectionmodel import new_model
from tests.fakeshopify.cost import plan_operation
from tests.fakeshopify.wiring import load_schema

if TYPE_CHECKING:
    from tests.fakeshopify.store import FakeShop

RATE_LIMIT_DOCS = "https://shopify.dev/api/usage/rate-limits"
#: The API version of the request being served (the server sets it around :meth:`Engine.run`).
REQUEST_VERSION: ContextVar[str] = ContextVar("fakeshopify_api_version", default="2026-07")

_SHOPIFY_MESSAGES = [
    (
        re.compile(r"Cannot query field '(\w+)' on type '(\w+)'\..*"),
        r"Field '\1' doesn't exist on type '\2'",
        "undefinedField",
    ),
    (
        re.compile(r"Unknown argument '(\w+)' on field '\w+\.(\w+)'\..*"),
        r"Field '\2' doesn't accept argument '\1'",
        "argumentNotAccepted",
    ),
    (
        re.compile(r"Field '\w+\.(\w+)' argument '(\w+)' of type .* is required.*"),
        r"Field '\1' is missing required arguments: \2",
        "missingRequiredArguments",
    ),
]


@dataclass
class Outcome:
    status: int
    body: Any
    operation: str | None = None
    throttled: bool = False
    requested: int = 0
    actual: int = 0


def _format(error: GraphQLError, default_code: str) -> dict[str, Any]:
    formatted: dict[str, Any] = dict(error.formatted)
    extensions: dict[str, Any] = dict(formatted.get("extensions") or {})
    message = str(formatted["message"])
    if default_code == "GRAPHQL_VALIDATION_FAILED":
        for pattern, replacement, code in _SHOPIFY_MESSAGES:
            if pattern.fullmatch(message):
                message = pattern.sub(replacement, message)
                extensions.setdefault("code", code)
                break
    if error.original_error is not None and not isinstance(error.original_error, GraphQLError):
        extensions.setdefault("code", "INTERNAL_SERVER_ERROR")
    extensions.setdefault("code", default_code)
    formatted["message"] = message
    formatted["extensions"] = extensions
    return formatted


def shopify_message(error: GraphQLError) -> str:
    """A validation error's message in Shopify's words."""
    return str(_format(error, "GRAPHQL_VALIDATION_FAILED")["message"])


def _errors(errors: list[GraphQLError], code: str) -> dict[str, Any]:
    return {"errors": [_format(error, code) for error in errors]}


class Engine:
    """Shared by all shops of a server; caches parsed and validated documents per schema (the
    API version of the request picks it: :data:`REQUEST_VERSION`)."""

    def __init__(self, cache_size: int = 512) -> None:
        self._cache: OrderedDict[
            tuple[bool, str], tuple[DocumentNode | None, list[GraphQLError]]
        ] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    @property
    def schema(self) -> GraphQLSchema:
        """The schema of the request being served (2026-07 outside a request)."""
        return load_schema(REQUEST_VERSION.get())

    def prepare(self, query: str) -> tuple[DocumentNode | None, list[GraphQLError]]:
        key = (new_model(REQUEST_VERSION.get()), query)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        try:
            document: DocumentNode | None = parse(query)
            assert document is not None
            errors = list(validate(self.schema, document))
        except GraphQLError as error:
            document, errors = None, [error]
        with self._lock:
            self._cache[key] = (document, errors)
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return document, errors

    def operation_label(self, payload: dict[str, Any]) -> str | None:
        """operationName, else the operation's name, else its first root field."""
        if payload.get("operationName"):
            return str(payload["operationName"])
        query = payload.get("query")
        if not isinstance(query, str):
            return None
        document, _ = self.prepare(query)
        operation = get_operation_ast(document) if document else None
        if operation is None:
            return None
        if operation.name:
            return operation.name.value
        for selection in operation.selection_set.selections:
            if isinstance(selection, FieldNode):
                return selection.name.value
        return None

    def run(self, shop: FakeShop, payload: dict[str, Any]) -> Outcome:
        label = self.operation_label(payload)
        query = payload.get("query")
        if not isinstance(query, str) or not query.strip():
            body = {"errors": {"query": "Required parameter missing or invalid"}}
            return Outcome(400, body, label)
        variables = payload.get("variables") or {}
        if not isinstance(variables, dict):
            return Outcome(400, {"errors": {"variables": "Invalid variables"}}, label)
        name = payload.get("operationName") or None
        document, errors = self.prepare(query)
        if errors or document is None:
            code = "GRAPHQL_VALIDATION_FAILED" if document is not None else "GRAPHQL_PARSE_FAILED"
            return Outcome(200, _errors(errors, code), label)
        operation = get_operation_ast(document, name)
        if operation is None:
            message = f"No operation named '{name}'" if name else "An operation name is required"
            return Outcome(200, _errors([GraphQLError(message)], "OPERATION_NOT_FOUND"), label)
        coerced = get_variable_values(self.schema, operation.variable_definitions or (), variables)
        if isinstance(coerced, list):
            return Outcome(200, _errors(coerced, "INVALID_VARIABLE"), label)
        return self._execute(shop, document, operation, coerced.coerced, variables, name, label)

    def _execute(
        self,
        shop: FakeShop,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        coerced: dict[str, Any],
        variables: dict[str, Any],
        name: str | None,
        label: str | None,
    ) -> Outcome:
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        plan, arg_errors = plan_operation(self.schema, operation, fragments, coerced)
        if arg_errors:
            return Outcome(200, _errors(arg_errors, "argumentLiteralsIncompatible"), label)
        requested = plan.requested()
        limit = int(shop.config.max_query_cost)
        if requested > limit:
            message = (
                f"Query cost is {requested}, which exceeds the single query max cost limit "
                f"({limit})."
            )
            extensions = {"code": "MAX_COST_EXCEEDED", "cost": requested, "maxCost": limit}
            error = {"message": message, "extensions": extensions}
            return Outcome(
                200, {"errors": [error], "extensions": self._cost(shop, requested, None)}, label
            )
        if not shop.bucket_take(requested):
            error = {
                "message": "Throttled",
                "extensions": {"code": "THROTTLED", "documentation": RATE_LIMIT_DOCS},
            }
            throttled = {"errors": [error], "extensions": self._cost(shop, requested, None)}
            return Outcome(200, throttled, label, throttled=True)
        with shop.lock:
            result = execute_sync(
                self.schema,
                document,
                context_value=shop,
                variable_values=variables,
                operation_name=name,
            )
        actual = min(requested, plan.actual(result.data)) if result.data is not None else 0
        shop.bucket_refund(requested - actual)
        body: dict[str, Any] = {}
        if result.errors:
            body["errors"] = [_format(error, "BAD_REQUEST") for error in result.errors]
        body["data"] = result.data
        body["extensions"] = self._cost(shop, requested, actual)
        return Outcome(200, body, label, requested=requested, actual=actual)

    @staticmethod
    def _cost(shop: FakeShop, requested: int, actual: int | None) -> dict[str, Any]:
        return {
            "cost": {
                "requestedQueryCost": requested,
                "actualQueryCost": actual,
                "throttleStatus": shop.throttle_status(),
            }
        }
