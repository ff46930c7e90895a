"""/auth/install, /auth/callback (no API key) and /api/stores/<clientKey>/auth/migrate."""

from __future__ import annotations

import html
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, redirect, request

from config_db.errors import ValidationFailed
from config_db.openapi import Answer, Operation, operation, path_param, query_param
from config_db.web import context
from sync.auth.authorize import migrate_to_expiring
from sync.auth.install import authorize_url, complete_install
from sync.auth.schemas import Installed, Migrated
from sync.runtime import SyncServices

blueprint = Blueprint("auth", __name__)
EXTENSION = "shopsync.auth"
_STRING = {"type": "string"}
_CALLBACK_PARAMS = [
    query_param(name, f"Shopify's `{name}`", _STRING)
    for name in ("code", "hmac", "shop", "state", "timestamp", "host")
]
OPENAPI_PATHS: dict[str, dict[str, Operation]] = {
    "/auth/install": {
        "get": operation(
            "Start the app install: redirect to the shop's authorize page",
            {302: Answer(description="To the shop's authorize page", redirect=True)},
            errors=(400, 503),
            params=[query_param("shop", "name.myshopify.com", _STRING)],
            public=True,
        )
    },
    "/auth/callback": {
        "get": operation(
            "Shopify's redirect after authorization: exchange the code, save, sync",
            {200: Answer(Installed, text=("text/html",))},
            errors=(400, 401, 409, 502, 503),
            params=_CALLBACK_PARAMS,
            public=True,
        )
    },
    "/api/stores/{clientKey}/auth/migrate": {
        "post": operation(
            "Turn the store's non-expiring token into an expiring one (token exchange)",
            {200: Migrated},
            errors=(404, 409, 502),
            params=[path_param("clientKey", "The store's clientKey")],
        )
    },
}


def services() -> SyncServices:
    found: SyncServices = current_app.extensions[EXTENSION]
    return found


@blueprint.get("/auth/install")
def install() -> Any:
    """Send the merchant to Shopify to approve the app's scopes."""
    return redirect(authorize_url(services(), request.args.get("shop")), code=302)


@blueprint.get("/auth/callback")
def callback() -> Response | tuple[Response, int]:
    """Shopify's redirect: verify, exchange the code, save the client, register, sync."""
    params = _single_valued()
    installed = complete_install(services(), params)
    answer: dict[str, Any] = {
        "clientKey": installed.client_key,
        "shopDomain": installed.shop_domain,
    }
    started = context().on_client_saved(installed.client_key)
    answer["syncJobId"] = started.get("syncJobId")
    if _prefers_html():
        return Response(_page(answer), mimetype="text/html")
    return jsonify(answer)


@blueprint.post("/api/stores/<client_key>/auth/migrate")
def migrate(client_key: str) -> Response:
    """Token exchange to an expiring offline token; idempotent, never shows a token."""
    return jsonify(migrate_to_expiring(services(), client_key))


def _single_valued() -> dict[str, str]:
    params: dict[str, str] = {}
    for name, values in request.args.lists():
        if len(values) != 1:
            raise ValidationFailed(f"{name}: given more than once", field=name)
        params[name] = values[0]
    return params


def _prefers_html() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return (
        best == "text/html"
        and request.accept_mimetypes["text/html"] > request.accept_mimetypes["application/json"]
    )


def _page(answer: dict[str, Any]) -> str:
    shop = html.escape(str(answer["shopDomain"]))
    key = html.escape(str(answer["clientKey"]))
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>shopsync installed</title>"
        f"</head><body><h1>shopsync is installed on {shop}</h1>"
        f"<p>Store <code>{key}</code> is syncing now.</p></body></html>"
    )
