"""What every blueprint shares: the app context, JSON bodies, errors and API-key checks."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from bson.errors import BSONError
from flask import Flask, Response, current_app, jsonify, request
from flask.json.provider import DefaultJSONProvider
from pymongo.errors import DocumentTooLarge, PyMongoError
from werkzeug.exceptions import HTTPException

from config_db.errors import ShopsyncError, Unauthorized, UnsupportedMediaType, ValidationFailed
from config_db.jsonsafe import parse_json
from config_db.mongo import MongoConnection
from config_db.openapi import OPENAPI_PATH
from config_db.repository import ConfigRepository
from config_db.settings import Settings

log = logging.getLogger(__name__)
EXTENSION = "shopsync"
PUBLIC_PATHS = frozenset({OPENAPI_PATH})
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT"})
# Oversized bodies up to this size are read and dropped before answering 413; past it the
# connection is simply closed after the answer.
DRAIN_LIMIT_BYTES = 16 * 1024 * 1024


@dataclass
class ConfigContext:
    """Services the control API needs; later packages add their hooks here."""

    settings: Settings
    mongo: MongoConnection
    repository: ConfigRepository
    # Called after a client config is saved; returns extra fields for the 202 answer.
    on_client_saved: Callable[[str], dict[str, Any]] = lambda key: {}
    on_client_disabled: Callable[[str, bool], None] = lambda key, purge: None
    # Called when a needs_auth client got new credentials; returns extra answer fields.
    on_client_reauthorized: Callable[[str], dict[str, Any]] = lambda key: {}
    readiness_checks: dict[str, Callable[[], None]] = field(default_factory=dict)


def context() -> ConfigContext:
    ctx: ConfigContext = current_app.extensions[EXTENSION]
    return ctx


def iso_utc(moment: datetime) -> str:
    """ISO-8601 in UTC with a `Z`, the form every timestamp takes in answers."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.isoformat().replace("+00:00", "Z")


class ApiJSONProvider(DefaultJSONProvider):
    """JSON for BSON values: datetimes as ISO-8601 UTC, ObjectIds as strings."""

    sort_keys = False

    @staticmethod
    def default(o: Any) -> Any:
        if isinstance(o, datetime):
            return iso_utc(o)
        if isinstance(o, ObjectId):
            return str(o)
        return DefaultJSONProvider.default(o)


def read_json_object() -> dict[str, Any]:
    """The request body as a JSON object, or a 400 (413 past the size limit)."""
    raw = request.get_data(cache=True)
    payload = parse_json(raw, field="body") if raw else None
    if not isinstance(payload, dict):
        raise ValidationFailed("the body must be a JSON object", field="body")
    return payload


def error_response(status: int, body: dict[str, str]) -> tuple[Response, int]:
    return jsonify({"error": body}), status


def _drain_request_body() -> None:
    """Read (and drop) an oversized body so the client gets our 413 instead of a reset."""
    stream = request.environ.get("wsgi.input")
    remaining = min(request.content_length or DRAIN_LIMIT_BYTES, DRAIN_LIMIT_BYTES)
    try:
        while stream is not None and remaining > 0:
            chunk = stream.read(min(64 * 1024, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
    except (OSError, ValueError):
        pass


def _http_error(error: HTTPException) -> tuple[Response, int]:
    status = error.code or 500
    if status == 413:
        _drain_request_body()
    code = (error.name or "error").lower().replace(" ", "_")
    body = {"code": code, "message": error.description or code}
    if status == 413:
        body["field"] = "body"  # as the chunked-body 413 (config_db/body_limit.py)
    return error_response(status, body)


def _shopsync_error(error: ShopsyncError) -> tuple[Response, int]:
    if error.status >= 500:
        log.warning("%s: %s", type(error).__name__, error.message)
    return error_response(error.status, error.to_dict())


def _database_error(error: PyMongoError) -> tuple[Response, int]:
    # Only the class name: pymongo messages may quote documents.
    log.warning("MongoDB error: %s", type(error).__name__)
    return error_response(
        503, {"code": "database_unavailable", "message": "MongoDB is unavailable"}
    )


def _unstorable(error: BSONError) -> tuple[Response, int]:
    # A value that passed validation but BSON cannot hold: the client's input, not an outage.
    if isinstance(error, DocumentTooLarge):
        return error_response(
            413, {"code": "document_too_large", "message": "the document is too large to store"}
        )
    return error_response(
        400, {"code": "unstorable_value", "message": "a value cannot be stored in MongoDB"}
    )


def _unexpected_error(error: Exception) -> tuple[Response, int]:
    log.error("unhandled %s on %s %s", type(error).__name__, request.method, request.path)
    return error_response(500, {"code": "internal_error", "message": "internal error"})


def register_error_handlers(app: Flask) -> None:
    """Every error becomes `{"error": {"code", "message", "field"?}}`."""
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(ShopsyncError, _shopsync_error)
    app.register_error_handler(PyMongoError, _database_error)
    app.register_error_handler(BSONError, _unstorable)
    app.register_error_handler(Exception, _unexpected_error)


def presented_api_key() -> str | None:
    key = request.headers.get("X-API-Key")
    if key:
        return key
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def require_json_body() -> None:
    """Before every /api/* write: a body, if there is one, must be declared JSON (else 415)."""
    if request.method not in WRITE_METHODS or not request.path.startswith("/api/"):
        return
    has_body = (request.content_length or 0) > 0 or "chunked" in request.headers.get(
        "Transfer-Encoding", ""
    ).lower()
    if has_body and not _is_json(request.mimetype):
        raise UnsupportedMediaType(
            "Content-Type: a request body must be application/json", field="Content-Type"
        )


def _is_json(mimetype: str) -> bool:
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


def api_key_is_valid() -> bool:
    """Whether the request carries the control API key (constant-time comparison)."""
    presented = presented_api_key()
    expected = context().settings.api_key_value()
    return presented is not None and hmac.compare_digest(presented.encode(), expected.encode())


def require_api_key() -> None:
    """Before every /api/* request except the OpenAPI document: constant-time key check."""
    if not request.path.startswith("/api/") or request.path in PUBLIC_PATHS:
        return
    if not api_key_is_valid():
        raise Unauthorized("missing or wrong API key (X-API-Key or Authorization: Bearer)")
