"""The fake Shopify HTTP server: Admin GraphQL endpoints, CDN, control endpoints.

Routes:
- ``POST /shops/<shop>/admin/api/<version>/graphql.json``
- ``POST /admin/api/<version>/graphql.json`` (shop from ``Host: <shop>.myshopify.com``,
  or the only shop)
- ``POST /shops/<shop>/admin/oauth/access_token``, ``GET /shops/<shop>/admin/oauth/authorize``
  (and ``/admin/oauth/...`` with the shop from the Host header; see
  :mod:`tests.fakeshopify.oauth`)
- ``GET /cdn/shops/<shop>/files/<name>?v=<n>``
- ``GET /bulk/<shop>/<file>.jsonl?expires&sig`` (bulk results: :mod:`tests.fakeshopify.bulkfiles`)
- ``/_control/...`` (see :mod:`tests.fakeshopify.control`)
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from tests.fakeshopify.data import StoreData, generate_store
from tests.fakeshopify.engine import REQUEST_VERSION, Engine
from tests.fakeshopify.store import FakeShop

API_VERSIONS = frozenset(
    {"2025-07", "2025-10", "2026-01", "2026-04", "2026-07", "2026-10", "unstable"}
)
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
BAD_GATEWAY = (
    "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>"
    "<h1>502 Bad Gateway</h1><p>There was a problem with our servers.</p></body></html>"
)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")),
        status=status,
        headers=headers,
        content_type="application/json; charset=utf-8",
    )


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:  # no access log
        pass


@dataclass
class ServerHandle:
    """A running server: ``url``, ``stop()``."""

    server: BaseWSGIServer
    thread: threading.Thread | None
    url: str = field(init=False)

    def __post_init__(self) -> None:
        self.url = f"http://{self.server.host}:{self.server.port}"

    @property
    def port(self) -> int:
        return int(self.server.port)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self.thread is not None:
            self.thread.join(timeout=5)


class FakeShopify:
    """A fake Shopify with any number of shops, served over HTTP by :meth:`serve`.

    ``client_secret`` is the app's secret that signs webhooks, authenticates the token endpoint
    and signs the OAuth redirect (a shop may override it); ``client_id`` is the app's API key.
    """

    def __init__(self, client_secret: str = "fake-client-secret",
                 client_id: str = "fake-client-id") -> None:  # fmt: skip
        self.client_secret = client_secret
        self.client_id = client_id
        self.shops: dict[str, FakeShop] = {}
        self.engine = Engine()
        self.url: str | None = None
        self._handle: ServerHandle | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------ shops
    def add_shop(
        self,
        name: str,
        token: str | None = None,
        data: StoreData | None = None,
        client_secret: str | None = None,
        *,
        scopes: list[str] | None = None,
    ) -> FakeShop:
        """Add a shop (it takes ownership of ``data``; default: ``generate_store(seed=1)``).
        ``client_secret`` signs its webhooks and OAuth answers (default: the server's);
        ``scopes`` are its granted access scopes (default: ``DEFAULT_SCOPES``)."""
        with self._lock:
            if name in self.shops:
                raise ValueError(f"shop {name!r} exists")
            shop = FakeShop(name, token or f"shpat_{name}", data or generate_store(seed=1),
                            client_secret or self.client_secret)  # fmt: skip
            if scopes is not None:
                shop.set_scopes(scopes)
            if self.url is not None:
                shop.set_base(self.url)
            self.shops[name] = shop
            return shop

    def shop(self, name: str) -> FakeShop:
        return self.shops[name]

    # ------------------------------------------------------------ serving
    def serve(self, host: str = "127.0.0.1", port: int = 0, *, background: bool = True
              ) -> ServerHandle:  # fmt: skip
        """Start a threaded HTTP server; in a daemon thread unless ``background`` is False
        (then call ``handle.server.serve_forever()`` yourself)."""
        server = make_server(host, port, self, threaded=True, request_handler=_QuietHandler)
        handle = ServerHandle(server, None)
        self.url = handle.url
        for shop in self.shops.values():
            shop.set_base(handle.url)
        if background:
            handle.thread = threading.Thread(
                target=server.serve_forever, name="fakeshopify", daemon=True
            )
            handle.thread.start()
        self._handle = handle
        return handle

    def stop(self) -> None:
        """Stop the HTTP server, every shop's webhook sender (pending deliveries dropped) and
        bulk operation threads."""
        if self._handle is not None:
            self._handle.stop()
            self._handle = None
        for shop in list(self.shops.values()):
            shop.stop_deliveries()
            shop.stop_bulk()

    def __enter__(self) -> FakeShopify:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ WSGI
    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        try:
            response = self.dispatch(request)
        except Exception as exc:  # pragma: no cover - a bug in the fake: answer 500
            response = json_response({"errors": f"fake server error: {exc!r}"}, 500)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        parts = [part for part in request.path.split("/") if part]
        if len(parts) == 6 and parts[0] == "shops" and parts[2:4] == ["admin", "api"]:
            if parts[5] == "graphql.json":
                return self.graphql(request, parts[1], parts[4])
        if len(parts) == 4 and parts[:2] == ["admin", "api"] and parts[3] == "graphql.json":
            return self.graphql(request, self._shop_from_host(request), parts[2])
        if len(parts) == 5 and parts[0] == "shops" and parts[2:4] == ["admin", "oauth"]:
            return self.oauth(request, parts[1], parts[4])
        if len(parts) == 3 and parts[:2] == ["admin", "oauth"]:
            return self.oauth(request, self._shop_from_host(request), parts[2])
        if len(parts) >= 5 and parts[:2] == ["cdn", "shops"] and parts[3] == "files":
            return self.cdn(request, parts[2], "/".join(parts[4:]))
        if len(parts) == 3 and parts[0] == "bulk":
            from tests.fakeshopify.bulkfiles import download

            return download(self, request, parts[1], parts[2])
        if parts and parts[0] == "_control":
            from tests.fakeshopify.control import control

            return control(self, request, parts[1:])
        if parts == ["health"]:
            return json_response({"ok": True})
        return json_response({"errors": "Not Found"}, 404)

    def _shop_from_host(self, request: Request) -> str:
        host = (request.host or "").split(":")[0]
        if host.endswith(".myshopify.com"):
            return host.removesuffix(".myshopify.com")
        return next(iter(self.shops)) if len(self.shops) == 1 else ""

    def oauth(self, request: Request, name: str, endpoint: str) -> Response:
        from tests.fakeshopify import oauth

        shop = self.shops.get(name)
        if shop is None or endpoint not in ("access_token", "authorize"):
            return json_response({"errors": "Not Found"}, 404)
        if endpoint == "authorize":
            return oauth.authorize(self, request, shop)
        return oauth.access_token(self, request, shop)

    def graphql(self, request: Request, name: str, version: str) -> Response:
        shop = self.shops.get(name)
        if version not in API_VERSIONS or shop is None:
            return json_response({"errors": "Not Found"}, 404)
        if request.method != "POST":
            return json_response({"errors": "Method Not Allowed"}, 405)
        payload = self._payload(request)
        label = self.engine.operation_label(payload) if isinstance(payload, dict) else None
        variables = payload.get("variables") if isinstance(payload, dict) else None
        config = shop.config
        if config.latency_seconds > 0:
            time.sleep(config.latency_seconds)
        presented = request.headers.get("X-Shopify-Access-Token")
        if not shop.installed or not shop.token_valid(presented):
            shop.record(label, variables, 401, token_ok=False)
            return json_response({"errors": INVALID_TOKEN}, 401)
        fault = shop.roll_fault()
        if fault == "429":
            shop.record(label, variables, 429, throttled=True)
            return json_response({"errors": [{"message": "Throttled"}]}, 429,
                                 {"Retry-After": config.retry_after})  # fmt: skip
        if fault == "502":
            shop.record(label, variables, 502)
            return Response(BAD_GATEWAY, status=502, content_type="text/html; charset=utf-8")
        if fault == "timeout":
            time.sleep(config.timeout_seconds)
        if not isinstance(payload, dict):
            shop.record(label, variables, 400)
            return json_response({"errors": "Invalid JSON in request body"}, 400)
        version_token = REQUEST_VERSION.set(version)
        try:
            outcome = self.engine.run(shop, payload)
        finally:
            REQUEST_VERSION.reset(version_token)
        shop.record(outcome.operation, variables, outcome.status, throttled=outcome.throttled,
                    requested=outcome.requested, actual=outcome.actual)  # fmt: skip
        headers = {"X-Shopify-API-Version": version, "X-Request-Id": str(uuid.uuid4())}
        return json_response(outcome.body, outcome.status, headers)

    @staticmethod
    def _payload(request: Request) -> Any:
        raw = request.get_data(cache=True)
        if request.mimetype == "application/graphql":
            return {"query": raw.decode("utf-8", "replace")}
        try:
            return json.loads(raw or b"null")
        except ValueError:
            return None

    def cdn(self, request: Request, name: str, filename: str) -> Response:
        shop = self.shops.get(name)
        if shop is None or request.method not in ("GET", "HEAD"):
            return json_response({"errors": "Not Found"}, 404)
        shop.count_cdn()
        if shop.roll_cdn_error():
            return Response("Service Unavailable", status=503, content_type="text/plain")
        version = request.args.get("v", "1")
        size, content_type, chunks = shop.cdn_file(filename, version)
        response = Response(chunks, status=200, content_type=content_type, direct_passthrough=True)
        response.headers["Content-Length"] = str(size)
        response.headers["Cache-Control"] = "public, max-age=31536000"
        return response
