"""Control API rate limits (Flask-Limiter on Redis, shared by every web worker and instance).

- Reads (GET, HEAD, OPTIONS) and writes (POST, PATCH, PUT, DELETE) with the API key count per
  key, each against its own limit, across every `/api/*` route.
- Requests without the valid key count per client IP when they fail (401 on `/api/*`; 400,
  401 or 403 from the `/auth/*` install flow). Past the limit, that address's requests without
  the key get 429 at once; a request with the valid key never counts here, so it still passes.
- Everything else is never limited: `/health*`, `/metrics`, `/webhooks/shopify` (Shopify
  bursts; HMAC and body limits protect it), `/api/openapi.json`.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from flask import Flask, Response, request
from flask_limiter import ApplicationLimit, Limiter, RateLimitExceeded
from redis.backoff import NoBackoff
from redis.retry import Retry
from werkzeug.middleware.proxy_fix import ProxyFix

from config_db.rate_limit_storage import storage_uri
from config_db.settings import Settings
from config_db.web import PUBLIC_PATHS, api_key_is_valid, context, error_response, presented_api_key

READ_METHODS = ["GET", "HEAD", "OPTIONS"]
WRITE_METHODS = ["POST", "PATCH", "PUT", "DELETE"]
AUTH_FLOW_PREFIX = "/auth/"
# An install-flow answer that means one of its checks failed (shop, HMAC, state, code).
AUTH_FLOW_FAILURES = frozenset({400, 401, 403})
KEY_PREFIX = "shopsync"
# The limiter sits on every request: past this, a slow Redis lets the request through.
REDIS_TIMEOUT_SECONDS = 1.0
# Flask-Limiter skips requests without an endpoint: unknown /api/* paths must count too.
UNROUTED = "unrouted"
MESSAGES = {
    "read": "too many reads with this API key ({limit}); retry after {seconds} s",
    "write": "too many writes with this API key ({limit}); retry after {seconds} s",
    "auth-failures": (
        "too many failed authentications from this address ({limit}); retry after {seconds} s"
    ),
}


def install_rate_limits(app: Flask, settings: Settings) -> Limiter:
    """Add the limits to `app`; call it before the API-key check is registered.

    Flask runs before-request functions in order: the limiter must come first, so a client
    past its failure limit gets 429 instead of another 401.
    """
    if settings.proxy_hops:
        # Only the client address comes from the proxies, and only their own entries.
        hops = settings.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=0)  # type: ignore[method-assign]
    options: dict[str, Any] = {
        "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
        "socket_timeout": REDIS_TIMEOUT_SECONDS,
        # The limiter never waits on Redis: no retries, whatever redis-py's default policy.
        "retry": Retry(NoBackoff(), 0),
    }
    limiter = Limiter(
        client_address,
        app=app,
        application_limits=_limits(settings),
        storage_uri=storage_uri(settings.redis_url),
        storage_options=options,
        strategy="fixed-window",
        key_prefix=KEY_PREFIX,
        request_identifier=lambda: request.endpoint or UNROUTED,
        headers_enabled=False,
    )
    limiter.request_filter(_never_limited)
    app.register_error_handler(RateLimitExceeded, partial(_too_many_requests, limiter))
    return limiter


def _limits(settings: Settings) -> list[str | Callable[[], str] | ApplicationLimit]:
    def without_key() -> bool:
        return not api_key_is_valid()

    return [
        ApplicationLimit(
            limit_provider=settings.rate_limit_read,
            key_function=api_key_bucket,
            scope="read",
            methods=READ_METHODS,
            exempt_when=without_key,
        ),
        ApplicationLimit(
            limit_provider=settings.rate_limit_write,
            key_function=api_key_bucket,
            scope="write",
            methods=WRITE_METHODS,
            exempt_when=without_key,
        ),
        # Checked before the request, counted after it, and only when it failed.
        ApplicationLimit(
            limit_provider=settings.rate_limit_auth_failures,
            key_function=client_address,
            scope="auth-failures",
            exempt_when=api_key_is_valid,
            deduct_when=_failed_authentication,
        ),
    ]


def client_address() -> str:
    """The client's IP: the socket's peer, or the trusted proxies' X-Forwarded-For entry."""
    return request.remote_addr or "unknown"


def api_key_bucket() -> str:
    """The presented key's HMAC under the secret key: Redis keys and logs never hold the key."""
    secret = context().settings.secret_key_value().encode()
    presented = (presented_api_key() or "").encode()
    return "key-" + hmac.new(secret, presented, hashlib.sha256).hexdigest()[:32]


def _never_limited() -> bool:
    path = request.path
    limited_api = path.startswith("/api/") and path not in PUBLIC_PATHS
    return not (limited_api or path.startswith(AUTH_FLOW_PREFIX))


def _failed_authentication(response: Response) -> bool:
    if request.path.startswith(AUTH_FLOW_PREFIX):
        return response.status_code in AUTH_FLOW_FAILURES
    return response.status_code == 401


def _too_many_requests(limiter: Limiter, error: RateLimitExceeded) -> tuple[Response, int]:
    """429 in the JSON error shape, with Retry-After in seconds."""
    seconds = _retry_after_seconds(limiter, error)
    template = MESSAGES.get(str(error.limit.scope), "rate limit exceeded ({limit})")
    message = template.format(limit=error.limit.limit, seconds=seconds)
    response, status = error_response(429, {"code": "rate_limited", "message": message})
    response.headers["Retry-After"] = str(seconds)
    return response, status


def _retry_after_seconds(limiter: Limiter, error: RateLimitExceeded) -> int:
    """Seconds until the breached window resets, at least 1."""
    breached = limiter.current_limit
    if breached is None or not breached.breached:
        return int(error.limit.limit.get_expiry())
    return max(1, math.ceil(breached.window.reset_time - time.time()))
