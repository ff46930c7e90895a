"""/api/config/*: create, read, update and disable client configs; health checks."""

from __future__ import annotations

from typing import Any, get_args

from flask import Blueprint, Response, jsonify, request

from config_db.credentials import CREDENTIAL_FIELDS
from config_db.errors import ValidationFailed
from config_db.models import (
    ClientConfig,
    ClientPatch,
    ClientStatus,
    parse_client_config,
    parse_client_patch,
)
from config_db.openapi import Operation, operation, path_param, query_param
from config_db.schemas import (
    ClientDisabled,
    ClientList,
    ClientUpdated,
    ClientView,
    ConfigSaved,
    Health,
    NotReady,
    Ready,
)
from config_db.web import ConfigContext, context, read_json_object

blueprint = Blueprint("config", __name__)

STATUS_SCHEMA = {"type": "string", "enum": list(get_args(ClientStatus))}
CLIENT_KEY = path_param("clientKey", "The client's key (its store database name)")
OPENAPI_PATHS: dict[str, dict[str, Operation]] = {
    "/health": {"get": operation("Liveness", {200: Health}, public=True)},
    "/health/ready": {
        "get": operation("Readiness of MongoDB and Redis", {200: Ready, 503: NotReady}, public=True)
    },
    "/api/config/sync": {
        "post": operation(
            "Create or replace a client config and enqueue its full sync",
            {202: ConfigSaved},
            errors=(400, 409),
            body=ClientConfig,
        )
    },
    "/api/config/clients": {
        "get": operation(
            "List clients (secrets masked)",
            {200: ClientList},
            params=[query_param("status", "Only clients with this status", STATUS_SCHEMA)],
        )
    },
    "/api/config/clients/{clientKey}": {
        "get": operation(
            "One client (secrets masked)", {200: ClientView}, errors=(404,), params=[CLIENT_KEY]
        ),
        "patch": operation(
            "Change some fields of a client (null removes an optional field)",
            {200: ClientUpdated},
            errors=(400, 404, 409),
            params=[CLIENT_KEY],
            body=ClientPatch,
        ),
        "delete": operation(
            "Disable a client; purge=true also drops its store database",
            {200: ClientDisabled},
            errors=(400, 404),
            params=[
                CLIENT_KEY,
                query_param("purge", "Drop the store database", {"type": "boolean"}),
            ],
        ),
    },
}


@blueprint.get("/health")
def health() -> Response:
    """Liveness: the process answers."""
    return jsonify({"status": "ok"})


@blueprint.get("/health/ready")
def ready() -> tuple[Response, int]:
    """Readiness: every dependency answers, or 503 naming those that do not."""
    down: dict[str, str] = {}
    for name, check in context().readiness_checks.items():
        try:
            check()
        except Exception as error:  # noqa: BLE001 - any failure means "not ready"
            down[name] = type(error).__name__
    if down:
        message = "unavailable: " + ", ".join(sorted(down))
        return jsonify(
            {
                "status": "unavailable",
                "down": down,
                "error": {"code": "not_ready", "message": message},
            }
        ), 503
    return jsonify({"status": "ready", "checks": sorted(context().readiness_checks)}), 200


@blueprint.post("/api/config/sync")
def sync_config() -> tuple[Response, int]:
    """Validate and save a client config, create its database, enqueue a full sync."""
    ctx = context()
    config = _parse(ctx, read_json_object())
    saved = ctx.repository.save_client(config)
    answer: dict[str, Any] = {
        "clientKey": config.clientKey,
        "shopDomain": saved.client["shopDomain"],
        "created": saved.created,
    }
    answer.update(ctx.on_client_saved(config.clientKey))
    return jsonify(answer), 202


@blueprint.get("/api/config/clients")
def list_clients() -> Response:
    """Every client, secrets masked."""
    repository = context().repository
    clients = repository.list_clients(request.args.get("status") or None)
    return jsonify({"items": [repository.public_view(client) for client in clients]})


@blueprint.get("/api/config/clients/<client_key>")
def get_client(client_key: str) -> Response:
    """One client, secrets masked."""
    repository = context().repository
    return jsonify(repository.public_view(repository.get_client(client_key)))


@blueprint.patch("/api/config/clients/<client_key>")
def patch_client(client_key: str) -> Response:
    """Change some fields; the merged config is validated as a whole before writing."""
    ctx = context()
    patch = parse_client_patch(read_json_object())
    stored = ctx.repository.get_client(client_key)
    merged = ctx.repository.config_payload(stored)
    # Credentials count as new only when they differ from what is stored.
    new_credentials = any(
        merged.get(name) != getattr(patch, name)
        for name in patch.model_fields_set & CREDENTIAL_FIELDS
    )
    for name in patch.model_fields_set - {"status"}:
        value = getattr(patch, name)
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    config = _parse(ctx, merged)
    reauthorized = (
        stored.get("status") == "needs_auth"
        and patch.status != "disabled"
        and (new_credentials or patch.status == "active")
    )
    saved = ctx.repository.save_client(
        config,
        status="active" if reauthorized else patch.status,
        keep_tokens=not new_credentials,
    )
    answer = ctx.repository.public_view(saved.client)
    if patch.status == "disabled":
        ctx.on_client_disabled(client_key, False)
    elif reauthorized:
        # New credentials for a store Shopify refused: it syncs again at once.
        answer.update(ctx.on_client_reauthorized(client_key))
    return jsonify(answer)


def _parse(ctx: ConfigContext, payload: dict[str, Any]) -> ClientConfig:
    settings = ctx.settings
    return parse_client_config(
        payload,
        env=settings.env,
        db_prefix=settings.db_prefix,
        app_credentials=settings.app_credentials() is not None,
    )


@blueprint.delete("/api/config/clients/<client_key>")
def delete_client(client_key: str) -> Response:
    """Disable a client (keeping its data), or with purge=true drop its database too."""
    ctx = context()
    purge_arg = request.args.get("purge", "false").lower()
    if purge_arg not in ("true", "false", "1", "0"):
        raise ValidationFailed("purge: must be true or false", field="purge")
    purge = purge_arg in ("true", "1")
    ctx.repository.set_status(client_key, "disabled", reason="deleted through the API")
    ctx.on_client_disabled(client_key, purge)
    return jsonify({"clientKey": client_key, "status": "disabled", "purged": purge})
