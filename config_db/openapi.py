"""The OpenAPI 3.1 document, its schemas generated from the pydantic models.

Each blueprint lists its operations with the models of its request body and answers;
`build_document` turns every model into JSON Schema once (`models_json_schema`), puts the
definitions under `components/schemas` and refers to them with `$ref`. OpenAPI 3.1 takes
JSON Schema 2020-12 as is, so pydantic's output needs no translation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, models_json_schema
from pydantic_core import CoreSchema

from config_db.schemas import ErrorBody, OpenApiDocument

Model = type[BaseModel]
REF_TEMPLATE = "#/components/schemas/{model}"
OPENAPI_PATH = "/api/openapi.json"
_DESCRIPTIONS = {
    200: "OK",
    202: "Accepted",
    302: "Redirect",
    400: "Invalid input",
    401: "Missing or wrong credentials",
    404: "Not found",
    409: "Conflict",
    413: "Body too large",
    415: "The body is not application/json",
    429: "Too many requests",
    502: "Shopify refused or failed",
    503: "A dependency is down",
}
# Statuses the app's before-request hooks and error handlers give whole groups of routes, so
# no operation lists them: the API key check and MongoDB being unreachable (every keyed
# route reads appconfig), the body limit on writes, and JSON bodies on /api writes.
KEY_ERRORS = (401, 429)
WRITE_ERRORS = (413,)
API_WRITE_ERRORS = (415,)
OUTAGE_ERRORS = (503,)


@dataclass(frozen=True)
class Answer:
    """One documented answer: a JSON body of `model` (none when None)."""

    model: Model | None = None
    description: str | None = None
    # Text bodies besides (or instead of) JSON: text/html for browsers, text/plain, ...
    text: tuple[str, ...] = ()
    redirect: bool = False  # a Location header


@dataclass(frozen=True)
class Operation:
    summary: str
    answers: Mapping[int, Answer]
    errors: tuple[int, ...] = ()
    params: tuple[dict[str, Any], ...] = ()
    body: Model | None = None
    body_required: bool = True
    public: bool = False
    description: str | None = None


class _Generator(GenerateJsonSchema):
    """pydantic's JSON Schema without a made-up title on every field ("Clientkey")."""

    def field_title_should_be_set(self, schema: CoreSchema) -> bool:
        return False


@dataclass
class _Schemas:
    """The models of a document and, once generated, the `$ref` of each."""

    wanted: dict[tuple[Model, JsonSchemaMode], None] = field(default_factory=dict)
    refs: dict[tuple[Any, JsonSchemaMode], dict[str, Any]] = field(default_factory=dict)

    def want(self, model: Model, mode: JsonSchemaMode) -> None:
        self.wanted[(model, mode)] = None

    def generate(self) -> dict[str, Any]:
        """Generate every wanted model at once; answers the component schemas."""
        refs, definitions = models_json_schema(
            list(self.wanted), ref_template=REF_TEMPLATE, schema_generator=_Generator
        )
        self.refs = dict(refs)
        return dict(sorted(definitions.get("$defs", {}).items()))


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
    answers: Mapping[int, Model | Answer | None],
    *,
    errors: Iterable[int] = (),
    params: Iterable[dict[str, Any]] = (),
    body: Model | None = None,
    body_required: bool = True,
    public: bool = False,
    description: str | None = None,
) -> Operation:
    """One operation: answers by status (a model or an Answer), error statuses, body model."""
    return Operation(
        summary=summary,
        answers={
            status: found if isinstance(found, Answer) else Answer(found)
            for status, found in answers.items()
        },
        errors=tuple(errors),
        params=tuple(params),
        body=body,
        body_required=body_required,
        public=public,
        description=description,
    )


SELF = operation("This document", {200: OpenApiDocument}, public=True)


def _error_statuses(path: str, method: str, spec: Operation) -> list[int]:
    statuses = set(spec.errors)
    if not spec.public:
        statuses.update(KEY_ERRORS + OUTAGE_ERRORS)
    if method in ("post", "patch"):
        statuses.update(WRITE_ERRORS)
        if path.startswith("/api/"):
            statuses.update(API_WRITE_ERRORS)
    return sorted(statuses - set(spec.answers))


def _content(answer: Answer, schemas: _Schemas) -> dict[str, Any]:
    content: dict[str, Any] = {}
    if answer.model is not None:
        content["application/json"] = {"schema": schemas.refs[(answer.model, "serialization")]}
    for media_type in answer.text:
        content[media_type] = {"schema": {"type": "string"}}
    return {"content": content} if content else {}


def _response(status: int, answer: Answer, schemas: _Schemas) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": answer.description or _DESCRIPTIONS.get(status, "Answer")
    }
    response.update(_content(answer, schemas))
    if answer.redirect:
        response["headers"] = {"Location": {"schema": {"type": "string", "format": "uri"}}}
    return response


def _render(path: str, method: str, spec: Operation, schemas: _Schemas) -> dict[str, Any]:
    answers = dict(spec.answers)
    for status in _error_statuses(path, method, spec):
        answers[status] = Answer(ErrorBody)
    rendered: dict[str, Any] = {"summary": spec.summary}
    if spec.description:
        rendered["description"] = spec.description
    if spec.params:
        rendered["parameters"] = list(spec.params)
    if spec.body is not None:
        rendered["requestBody"] = {
            "required": spec.body_required,
            "content": {"application/json": {"schema": schemas.refs[(spec.body, "validation")]}},
        }
    if spec.public:
        rendered["security"] = []
    rendered["responses"] = {
        str(status): _response(status, answers[status], schemas) for status in sorted(answers)
    }
    return rendered


def build_document(paths: Mapping[str, Mapping[str, Operation]], version: str) -> dict[str, Any]:
    """The whole OpenAPI 3.1 document from every blueprint's operations."""
    paths = {OPENAPI_PATH: {"get": SELF}, **paths}
    schemas = _Schemas()
    schemas.want(ErrorBody, "serialization")
    for item in paths.values():
        for spec in item.values():
            if spec.body is not None:
                schemas.want(spec.body, "validation")
            for answer in spec.answers.values():
                if answer.model is not None:
                    schemas.want(answer.model, "serialization")
    components = schemas.generate()
    return {
        "openapi": "3.1.0",
        "info": {"title": "shopsync control API", "version": version},
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
            "schemas": components,
        },
        "security": [{"apiKey": []}, {"bearer": []}],
        "paths": {
            path: {method: _render(path, method, spec, schemas) for method, spec in item.items()}
            for path, item in sorted(paths.items())
        },
    }
