"""The control API's Flask application factory (the `shopsync` command is in cli.py)."""

from __future__ import annotations

import atexit
import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, jsonify
from pymongo import MongoClient

from config_db import api as config_api
from config_db import metrics_http, request_ids
from config_db.body_limit import ChunkedBodyLimit
from config_db.logs import configure_logging
from config_db.mongo import MongoConnection, MongoDocument
from config_db.openapi import OPENAPI_PATH, build_document
from config_db.rate_limits import install_rate_limits
from config_db.settings import Settings, get_settings
from config_db.web import (
    EXTENSION,
    ApiJSONProvider,
    ConfigContext,
    register_error_handlers,
    require_api_key,
    require_json_body,
)
from stores import api as stores_api
from stores.freshness import StoreFreshness
from stores.queries import StoreQueries
from sync.broker import get_broker

log = logging.getLogger(__name__)
VERSION = "0.1.0"
# The config POST tries webhook registration once, quickly; a worker retries failures.
REGISTER_ATTEMPTS = 2
WEBHOOK_PATH = "/webhooks/shopify"


def create_app(
    settings: Settings | None = None, *, mongo_client: MongoClient[MongoDocument] | None = None
) -> Flask:
    """Build the control API: settings, MongoDB, broker, blueprints, error handlers."""
    settings = settings or get_settings()
    settings.check_runnable()
    configure_logging(settings)
    if settings.api_key is None and not settings.is_production:  # the web alone uses the key
        log.warning("SHOPSYNC_API_KEY is unset: using the development key (development only)")
    app = Flask(__name__)
    app.json = ApiJSONProvider(app)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    # GIDs in paths ("gid://shopify/...") must keep their double slash.
    app.url_map.merge_slashes = False
    get_broker(settings, patient=False)  # before any actor module; web fails fast on Redis
    from sync.runtime import build_services

    mongo = MongoConnection(settings, client=mongo_client)
    atexit.register(mongo.close)
    services = build_services(settings, mongo)
    app.extensions[EXTENSION] = ConfigContext(
        settings=settings,
        mongo=mongo,
        repository=services.repository,
        readiness_checks={
            "mongodb": services.repository.ping,
            "redis": lambda: None if services.redis.ping() else None,
        },
    )
    app.extensions[stores_api.EXTENSION] = StoreQueries(services.repository, services.databases)
    _wire_sync_and_webhooks(app, services)
    metrics_http.install(app, [StoreFreshness(services.repository, services.databases)])
    register_error_handlers(app)
    request_ids.install(app)  # first: the limiter's and the key check's lines carry it
    install_rate_limits(app, settings)  # before the key check: past its limit, 429 not 401
    app.before_request(require_api_key)
    app.before_request(require_json_body)
    app.wsgi_app = ChunkedBodyLimit(app.wsgi_app, _body_limits(settings))  # type: ignore[method-assign]
    _register_blueprints(app)
    services.repository.ensure_indexes_quietly()
    return app


def _body_limits(settings: Settings) -> Callable[[str], int]:
    """The largest body a path takes: webhooks have their own limit."""

    def limit_for(path: str) -> int:
        if path == WEBHOOK_PATH:
            return settings.webhook_max_body_bytes
        return settings.max_body_bytes

    return limit_for


def _wire_sync_and_webhooks(app: Flask, services: Any) -> None:
    """What a saved or disabled client sets in motion: its database, a sync, webhooks."""
    from sync import tasks
    from sync.auth import api as auth_api
    from sync.auth.authorize import check_scopes, reauthorized
    from sync.orchestration.launcher import SyncLauncher
    from sync.shopify.client import ShopifyClient
    from sync.shopify.throttle import RedisThrottle
    from webhooks import api as webhooks_api
    from webhooks import tasks as webhook_tasks
    from webhooks.intake import SeenEvents, WebhookIntake
    from webhooks.subscriptions import register_webhooks

    launcher = SyncLauncher(services.databases, tasks.run_sync_job.send, services.coordinator)
    quick = ShopifyClient(
        services.http,
        RedisThrottle(services.redis),
        max_attempts=REGISTER_ATTEMPTS,
        backoff_cap_seconds=1.0,
    )

    def register(client_key: str) -> Any:
        return register_webhooks(services, client_key, shopify=quick)

    def on_client_saved(client_key: str) -> dict[str, Any]:
        services.tokens.forget(client_key)
        store_db = services.databases.ensure(client_key)
        launch = launcher.start(client_key, "full", trigger="config")
        answer: dict[str, Any] = {"database": store_db.name, "syncJobId": launch.job["_id"]}
        if not launch.enqueued:
            answer["warning"] = "broker unavailable: the scheduler will enqueue this job"
        answer["auth"] = check_scopes(services, client_key, shopify=quick)
        answer["webhooks"] = _register_or_retry(register, webhook_tasks, client_key)
        return answer

    def on_client_reauthorized(client_key: str) -> dict[str, Any]:
        answer = reauthorized(services, launcher, client_key)
        answer["webhooks"] = _register_or_retry(register, webhook_tasks, client_key)
        return answer

    def on_client_disabled(client_key: str, purge: bool) -> None:
        if purge:
            services.repository.mark_purged(client_key)
            services.databases.drop(client_key)

    context: ConfigContext = app.extensions[EXTENSION]
    context.on_client_saved, context.on_client_disabled = on_client_saved, on_client_disabled
    context.on_client_reauthorized = on_client_reauthorized
    app.extensions["shopsync.sync"] = launcher
    app.extensions[auth_api.EXTENSION] = services
    app.extensions[webhooks_api.EXTENSION] = webhooks_api.WebhookServices(
        intake=WebhookIntake(
            services.settings,
            services.repository,
            services.databases,
            webhook_tasks.apply_webhook.send,
            SeenEvents(services.redis),
        ),
        register=register,
        webhook_max_body_bytes=services.settings.webhook_max_body_bytes,
    )


def _register_or_retry(
    register: Callable[[str], Any], webhook_tasks: Any, client_key: str
) -> dict[str, Any]:
    """Register now; a failure never fails the config write and is retried by a worker."""
    registration = register(client_key)
    result: dict[str, Any] = registration.to_dict()
    if registration.status != "failed":
        return result
    if registration.auth:
        result["retry"] = "not queued: Shopify refused the credentials; PATCH new ones"
        return result
    try:
        webhook_tasks.register_store_webhooks.send(client_key)
        result["retry"] = "queued"
    except Exception:  # noqa: BLE001 - the broker is down too: the clock retries later
        result["retry"] = "by the clock: broker unavailable"
    return result


def _register_blueprints(app: Flask) -> None:
    from sync import api as sync_api
    from sync.auth import api as auth_api
    from webhooks import api as webhooks_api

    paths: dict[str, Any] = dict(metrics_http.OPENAPI_PATHS)
    for module in (config_api, sync_api, auth_api, stores_api, webhooks_api):
        app.register_blueprint(module.blueprint)
        paths.update(module.OPENAPI_PATHS)
    document = build_document(paths, VERSION)

    @app.get(OPENAPI_PATH)
    def openapi() -> Response:
        """The OpenAPI 3.1 document of this API."""
        return jsonify(document)


def main(argv: list[str] | None = None) -> None:
    """`shopsync …`: the command lives in cli.py (kept here for older entry points)."""
    from cli import main as cli_main

    cli_main(argv)


if __name__ == "__main__":
    main()
