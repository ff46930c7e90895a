"""Small builders for the OpenAPI 3.1 document each blueprint contributes to."""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": "string"},
            },
        }
    },
}
_DESCRIPTIONS = {
    200: "OK",
    202: "Accepted",
    400: "Invalid input",
    401: "Missing or wrong credentials",
    404: "Not found",
    409: "Conflict",
    413: "Body too large",
    503: "A dependency is down",
}


def path_param(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


def query_param(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


def operation(
    summary: str,
    statuses: tuple[int, ...],
    *,
    params: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    public: bool = False,
) -> dict[str, Any]:
    """One operation: its summary, parameters, optional JSON body and answers."""
    responses: dict[str, Any] = {}
    for status in statuses:
        schema = ERROR_SCHEMA if status >= 400 else {"type": "object"}
        responses[str(status)] = {
            "description": _DESCRIPTIONS.get(status, "Answer"),
            "content": {"application/json": {"schema": schema}},
        }
    spec: dict[str, Any] = {"summary": summary, "responses": responses}
    if params:
        spec["parameters"] = params
    if body is not None:
        spec["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if public:
        spec["security"] = []
    return spec


def build_document(paths: dict[str, dict[str, Any]], version: str) -> dict[str, Any]:
    """The whole OpenAPI 3.1 document from every blueprint's paths."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "shopsync control API", "version": version},
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
            "schemas": {"Error": ERROR_SCHEMA},
        },
        "security": [{"apiKey": []}, {"bearer": []}],
        "paths": dict(sorted(paths.items())),
    }
