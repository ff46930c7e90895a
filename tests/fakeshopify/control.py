"""``/_control`` endpoints: drive a fake server running in another process (CLI, benchmarks).

- ``GET  /_control/shops`` -> ``[{"name", "shopDomain", "adminBaseUrl", "token", "scopes",
  ...}]``
- ``POST /_control/shops`` ``{"name", "token", "seed", "products", ...generate_store options,
  "client_secret"?, "scopes"?, ...ShopConfig options (e.g. "access_token_lifetime_seconds")}``
- ``GET  /_control/shops/<shop>/stats``; ``POST .../reset_stats``
- ``POST /_control/shops/<shop>/configure`` ``{bucket_max, restore_rate, ...}``
- ``GET  /_control/shops/<shop>/snapshot/<resource>``
- ``POST /_control/shops/<shop>/update`` ``{"resource", "id", "fields"}``
- ``POST /_control/shops/<shop>/create`` ``{"resource", "node"?}`` -> ``{"id"}``
- ``POST /_control/shops/<shop>/delete`` ``{"resource", "id"}``
- ``POST /_control/shops/<shop>/collection_members`` ``{"id", "productIds"}`` (the list as
  given, even for a rule-based collection; the collection's ``updatedAt`` and webhook as usual)
- ``POST /_control/shops/<shop>/product_tags`` ``{"id", "tags": [...]}`` and
  ``POST …/variant_prices`` ``{"id", "prices": {"<variant gid>": "12.00"}}`` or ``{"id",
  "price": "12.00"}`` (every variant): a product update (``updatedAt``, ``products/update``);
  rule-based collections take the product in or out silently (see :mod:`.membership`)
- ``POST /_control/shops/<shop>/add_codes`` / ``remove_codes`` ``{"id", "codes"}``
- ``POST /_control/shops/<shop>/theme_file`` ``{"id", "filename", "content" | "contentBase64"}``

Webhooks:

- ``GET  /_control/shops/<shop>/subscriptions``; ``POST .../subscribe`` ``{"topic", "uri",
  "format"?, "includeFields"?}`` -> ``{"id"}``; ``POST .../clear_subscriptions``
- ``GET  /_control/shops/<shop>/deliveries``; ``POST .../clear_deliveries``;
  ``POST .../wait_deliveries`` ``{"timeout"?}`` (408 on timeout)
- ``POST /_control/shops/<shop>/deliver`` ``{"topic", "payload"?, "gid"?, "uri"?, "event_id"?,
  "webhook_id"?, "triggered_at"?, "bad_hmac"?, "secret"?, "body"? (text) | "bodyBase64"?,
  "headers"?}`` -> ``{"status"}`` (502 when the request to the receiver failed)
- ``POST /_control/shops/<shop>/build_delivery`` (same body) -> ``{"url", "headers",
  "bodyBase64"}``
- ``POST /_control/shops/<shop>/uninstall``; ``POST .../reinstall`` ``{"token"?}``
- ``POST /_control/shops/<shop>/publish_theme`` ``{"id"}``

Tokens, OAuth and scopes (see :mod:`tests.fakeshopify.tokens`):

- ``POST /_control/shops/<shop>/revoke_tokens`` (every refresh, expiring and client-credentials
  token)
- ``GET  /_control/shops/<shop>/scopes`` -> ``{"scopes"}``; ``POST .../scopes`` ``{"scopes":
  [...]}`` (a list, or one comma-separated string)
- ``GET  /_control/shops/<shop>/token_requests`` -> ``[{"grant", "status", "error", "time"}]``;
  ``POST .../clear_token_requests``
- ``POST /_control/shops/<shop>/issue_expiring_pair`` -> the token endpoint's answer
  ``{"access_token", "scope", "expires_in", "refresh_token", "refresh_token_expires_in"}``

Bulk operations (see :mod:`tests.fakeshopify.bulkshop`):

- ``GET  /_control/shops/<shop>/bulk_operations`` -> ``shop.bulk_operations``;
  ``GET .../bulk_stats`` -> ``shop.bulk_stats``
- ``POST /_control/shops/<shop>/run_bulk`` ``{"query", "groupObjects"?, "version"?}`` -> ``{"id"}``
- ``POST .../fail_next_bulk`` ``{"error_code"?, "fraction"?}``; ``POST .../expire_next_bulk``
- ``POST .../cancel_bulk`` ``{"id"}``; ``POST .../wait_bulk`` ``{"id", "timeout"?}`` -> the
  operation (408 on timeout)
"""

from __future__ import annotations

import base64
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from tests.fakeshopify.data import generate_store
from tests.fakeshopify.limits import ShopConfig

if TYPE_CHECKING:
    from tests.fakeshopify.server import FakeShopify
    from tests.fakeshopify.store import FakeShop


def _describe(shop: FakeShop) -> dict[str, Any]:
    try:
        admin = shop.admin_base_url
    except RuntimeError:
        admin = None
    return {"name": shop.name, "shopDomain": shop.shop_domain, "adminBaseUrl": admin,
            "token": shop.token, "clientSecret": shop.client_secret,
            "installed": shop.installed, "staticTokenActive": shop.static_token_active(),
            "scopes": shop.granted_scopes}  # fmt: skip


_DELIVERY_OPTIONS = ("payload", "gid", "uri", "event_id", "webhook_id", "triggered_at",
                     "bad_hmac", "secret", "headers")  # fmt: skip


def _delivery_args(body: dict[str, Any]) -> dict[str, Any]:
    options = {key: body[key] for key in _DELIVERY_OPTIONS if key in body}
    if "bodyBase64" in body:
        options["body"] = base64.b64decode(body["bodyBase64"])
    elif isinstance(body.get("body"), str):
        options["body"] = body["body"].encode("utf-8")
    return options


def _webhook_action(shop: FakeShop, action: str, body: dict[str, Any]) -> Any:
    if action == "subscribe":
        gid = shop.subscribe(body["topic"], body["uri"], format=body.get("format", "JSON"),
                             include_fields=body.get("includeFields"))  # fmt: skip
        return {"id": gid}
    if action == "clear_subscriptions":
        shop.clear_subscriptions()
    elif action == "clear_deliveries":
        shop.clear_deliveries()
    elif action == "wait_deliveries":
        shop.wait_deliveries(float(body.get("timeout", 10.0)))
    elif action == "deliver":
        return {"status": shop.deliver(body["topic"], **_delivery_args(body))}
    elif action == "build_delivery":
        url, headers, raw = shop.build_delivery(body["topic"], **_delivery_args(body))
        return {"url": url, "headers": headers, "bodyBase64": base64.b64encode(raw).decode()}
    elif action == "uninstall":
        shop.uninstall()
    elif action == "reinstall":
        shop.reinstall(body.get("token"))
    elif action == "publish_theme":
        shop.publish_theme(body["id"])
    else:
        raise LookupError(action)
    return {"ok": True}


def _bulk_action(shop: FakeShop, action: str, body: dict[str, Any]) -> Any:
    if action == "run_bulk":
        return {"id": shop.run_bulk(body["query"], body.get("groupObjects"),
                                    body.get("version", "2026-07"))}  # fmt: skip
    if action == "wait_bulk":
        return shop.wait_bulk(body["id"], float(body.get("timeout", 10.0)))
    if action == "fail_next_bulk":
        shop.fail_next_bulk(body.get("error_code", "INTERNAL_SERVER_ERROR"),
                            float(body.get("fraction", 0.5)))  # fmt: skip
    elif action == "expire_next_bulk":
        shop.expire_next_bulk()
    elif action == "cancel_bulk":
        shop.cancel_bulk(body["id"])
    else:
        return _webhook_action(shop, action, body)
    return {"ok": True}


def _token_action(shop: FakeShop, action: str, body: dict[str, Any]) -> Any:
    if action == "revoke_tokens":
        shop.revoke_tokens()
    elif action == "scopes":
        shop.set_scopes(body["scopes"])
        return {"scopes": shop.granted_scopes}
    elif action == "clear_token_requests":
        shop.clear_token_requests()
    elif action == "issue_expiring_pair":
        return shop.issue_expiring_pair()
    else:
        return _bulk_action(shop, action, body)
    return {"ok": True}


def _add_shop(fake: FakeShopify, body: dict[str, Any]) -> FakeShop:
    config = {f.name for f in fields(ShopConfig)}
    skip = ("name", "token", "seed", "client_secret", "scopes")
    options = {k: v for k, v in body.items() if k not in skip and k not in config}
    data = generate_store(int(body.get("seed", 1)), **options)
    shop = fake.add_shop(body["name"], body.get("token"), data, body.get("client_secret"),
                         scopes=body.get("scopes"))  # fmt: skip
    shop.configure(**{k: v for k, v in body.items() if k in config})
    return shop


def _shop_action(shop: FakeShop, action: str, body: dict[str, Any]) -> Any:
    if action == "configure":
        shop.configure(**body)
        return {"ok": True}
    if action == "reset_stats":
        shop.reset_stats()
        return {"ok": True}
    if action == "update":
        shop.update(body["resource"], body["id"], body.get("fields") or {})
        return {"ok": True}
    if action == "create":
        return {"id": shop.create(body["resource"], body.get("node"))}
    if action == "delete":
        shop.delete(body["resource"], body["id"])
        return {"ok": True}
    if action == "collection_members":
        shop.set_collection_members(body["id"], body["productIds"])
        return {"ok": True}
    if action == "product_tags":
        shop.set_tags(body["id"], body["tags"])
        return {"ok": True}
    if action == "variant_prices":
        shop.set_variant_prices(body["id"], body["prices"] if "prices" in body else body["price"])
        return {"ok": True}
    if action == "add_codes":
        shop.add_codes(body["id"], body["codes"])
        return {"ok": True}
    if action == "remove_codes":
        shop.remove_codes(body["id"], body["codes"])
        return {"ok": True}
    if action == "theme_file":
        content: str | bytes = body.get("content", "")
        if "contentBase64" in body:
            content = base64.b64decode(body["contentBase64"])
        shop.put_theme_file(body["id"], body["filename"], content)
        return {"ok": True}
    return _token_action(shop, action, body)


def control(fake: FakeShopify, request: Request, parts: list[str]) -> Response:
    from tests.fakeshopify.server import json_response

    body = request.get_json(silent=True) or {}
    try:
        if parts == ["shops"]:
            if request.method == "POST":
                return json_response(_describe(_add_shop(fake, body)), 201)
            return json_response([_describe(shop) for shop in fake.shops.values()])
        if len(parts) < 3 or parts[0] != "shops" or parts[1] not in fake.shops:
            return json_response({"error": "not found"}, 404)
        shop = fake.shops[parts[1]]
        if parts[2] == "stats":
            return json_response(shop.stats)
        if parts[2] == "snapshot" and len(parts) == 4:
            return json_response(shop.snapshot(parts[3]))
        if request.method == "GET" and parts[2] in ("subscriptions", "deliveries",
                                                    "token_requests", "bulk_operations",
                                                    "bulk_stats"):  # fmt: skip
            return json_response(getattr(shop, parts[2]))
        if request.method == "GET" and parts[2] == "scopes":
            return json_response({"scopes": shop.granted_scopes})
        if request.method != "POST":
            return json_response({"error": "method not allowed"}, 405)
        return json_response(_shop_action(shop, parts[2], body))
    except TimeoutError as exc:
        return json_response({"error": str(exc)}, 408)
    except ConnectionError as exc:
        return json_response({"error": str(exc)}, 502)
    except LookupError as exc:
        return json_response({"error": f"not found: {exc}"}, 404)
    except (TypeError, ValueError) as exc:
        return json_response({"error": str(exc)}, 400)
