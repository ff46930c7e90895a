"""The OAuth endpoints of a shop: ``POST …/admin/oauth/access_token`` and ``GET …/authorize``.

Token endpoint (form-encoded or JSON body; query-string parameters are a fallback):

- ``grant_type=client_credentials&client_id&client_secret`` -> ``{access_token, scope,
  expires_in}``
- ``grant_type=refresh_token&refresh_token&client_id&client_secret`` -> an expiring pair
  ``{access_token, scope, expires_in, refresh_token, refresh_token_expires_in}``
- ``grant_type=urn:ietf:params:oauth:grant-type:token-exchange&client_id&client_secret&
  subject_token&subject_token_type=…offline-access-token&requested_token_type=…offline-access-
  token&expiring=1`` -> an expiring pair (the static token stops working)
- ``client_id&client_secret&code[&expiring=1]`` (no grant_type, or ``authorization_code``) ->
  an expiring pair, or ``{access_token, scope}`` (the new static token)

Errors: 400 ``invalid_request`` (missing parameter, bad body), 400 ``unsupported_grant_type``,
401 ``invalid_client`` (wrong client_id / client_secret), 400 ``invalid_grant``; 503 (the
``token_error_rate`` fault). Every answer is counted in ``shop.token_requests``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from werkzeug.wrappers import Request, Response

from tests.fakeshopify.scopes import normalize_scopes
from tests.fakeshopify.tokens import GrantError

if TYPE_CHECKING:
    from tests.fakeshopify.server import FakeShopify
    from tests.fakeshopify.store import FakeShop

EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
OFFLINE_TOKEN_TYPE = "urn:shopify:params:oauth:token-type:offline-access-token"
_GRANT_NAMES = {
    "client_credentials": "client_credentials",
    "refresh_token": "refresh_token",
    EXCHANGE_GRANT: "token_exchange",
    "authorization_code": "authorization_code",
    "": "authorization_code",
}
UNAVAILABLE = {"error": "temporarily_unavailable",
               "error_description": "The service is temporarily unavailable."}  # fmt: skip


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    from tests.fakeshopify.server import json_response

    return json_response(body, status, headers)


def _params(request: Request) -> dict[str, str] | None:
    """The request's parameters as strings (None: a body that is not an object)."""
    params = {key: str(value) for key, value in request.args.items()}
    if request.mimetype == "application/json":
        try:
            body = json.loads(request.get_data(cache=True) or b"{}")
        except ValueError:
            return None
        if not isinstance(body, dict):
            return None
        params.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()})
    else:
        params.update({key: str(value) for key, value in request.form.items()})
    return params


def _require(params: dict[str, str], *names: str) -> None:
    missing = [name for name in names if not params.get(name)]
    if missing:
        raise GrantError(400, "invalid_request", f"Missing parameter(s): {', '.join(missing)}.")


def _expiring(params: dict[str, str]) -> bool:
    return params.get("expiring", "").strip().lower() in ("1", "true")


def _grant(shop: FakeShop, grant: str, params: dict[str, str]) -> dict[str, Any]:
    if grant == "client_credentials":
        return shop.grant_client_credentials()
    if grant == "refresh_token":
        _require(params, "refresh_token")
        return shop.grant_refresh(params["refresh_token"])
    if grant == "token_exchange":
        _require(params, "subject_token", "subject_token_type")
        if (
            params["subject_token_type"] != OFFLINE_TOKEN_TYPE
            or params.get("requested_token_type", OFFLINE_TOKEN_TYPE) != OFFLINE_TOKEN_TYPE
        ):
            raise GrantError(400, "invalid_request", "Unsupported subject or requested token type.")
        if not _expiring(params):
            raise GrantError(400, "invalid_request", "expiring=1 is required to migrate a token.")
        return shop.grant_exchange(params["subject_token"])
    _require(params, "code")
    return shop.grant_code(params["code"], _expiring(params))


def access_token(fake: FakeShopify, request: Request, shop: FakeShop) -> Response:
    if request.method != "POST":
        return _json({"errors": "Method Not Allowed"}, 405)
    if shop.config.latency_seconds > 0:
        time.sleep(shop.config.latency_seconds)
    params = _params(request)
    grant = "invalid"
    if params is not None:
        grant = _GRANT_NAMES.get(params.get("grant_type", ""), "invalid")
    if shop.roll_token_error():
        shop.record_token_request(grant, 503, "temporarily_unavailable")
        return _json(UNAVAILABLE, 503, {"Retry-After": "1"})
    try:
        if params is None:
            raise GrantError(400, "invalid_request", "The request body is not valid.")
        if grant == "invalid":
            raise GrantError(400, "unsupported_grant_type",
                             f"Unsupported grant_type {params.get('grant_type')!r}.")  # fmt: skip
        _require(params, "client_id", "client_secret")
        if params["client_id"] != fake.client_id or not hmac.compare_digest(
            params["client_secret"].encode(), shop.client_secret.encode()
        ):
            raise GrantError(401, "invalid_client", "Client authentication failed.")
        answer = _grant(shop, grant, params)
    except GrantError as error:
        shop.record_token_request(grant, error.status, error.error)
        return _json(error.body(), error.status)
    shop.record_token_request(grant, 200)
    return _json(answer, 200, {"Cache-Control": "no-store"})


def signature(secret: str, params: dict[str, str]) -> str:
    """Shopify's OAuth ``hmac``: hex HMAC-SHA256 over the other parameters, sorted by key,
    joined as ``k=v&k=v`` (values not URL-encoded)."""
    message = "&".join(f"{key}={params[key]}" for key in sorted(params) if key != "hmac")
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def host_param(shop: FakeShop) -> str:
    """``host``: base64 (standard, padded) of ``admin.shopify.com/store/<name>``."""
    return base64.b64encode(f"admin.shopify.com/store/{shop.name}".encode()).decode()


def authorize(fake: FakeShopify, request: Request, shop: FakeShop) -> Response:
    """302 to ``redirect_uri`` with ``code, hmac, host, shop, state, timestamp``."""
    if request.method not in ("GET", "HEAD"):
        return _json({"errors": "Method Not Allowed"}, 405)
    args = request.args
    if args.get("client_id") != fake.client_id:
        return _json({"errors": "Invalid client_id: the app is unknown."}, 400)
    redirect_uri = args.get("redirect_uri", "")
    if urlsplit(redirect_uri).scheme not in ("http", "https"):
        return _json({"errors": "The redirect_uri is missing or not a valid URL."}, 400)
    scopes = normalize_scopes(args.get("scope", ""))
    params = {"code": shop.issue_code(scopes), "host": host_param(shop),
              "shop": shop.shop_domain, "timestamp": str(int(time.time()))}  # fmt: skip
    if "state" in args:
        params["state"] = args["state"]
    params["hmac"] = signature(shop.client_secret, params)
    location = redirect_uri + ("&" if "?" in redirect_uri else "?") + urlencode(params)
    return Response("", status=302, headers={"Location": location})
