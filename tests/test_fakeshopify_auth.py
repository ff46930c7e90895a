"""The fake Shopify's token endpoint, OAuth redirect and access scopes, over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from tests.fakeshopify import DEFAULT_SCOPES, FakeShop, FakeShopify, generate_store

VERSION = "2026-07"
SECRET, CLIENT_ID = "fake-client-secret", "fake-client-id"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
OFFLINE = "urn:shopify:params:oauth:token-type:offline-access-token"
PAIR_KEYS = {"access_token", "scope", "expires_in", "refresh_token", "refresh_token_expires_in"}
_names = (f"auth{n}" for n in itertools.count(1))


@pytest.fixture(scope="module")
def fake(own_fake: FakeShopify) -> FakeShopify:
    """This module's own fake (default secrets), not the suite's signed one."""
    return own_fake


@pytest.fixture
def shop(fake: FakeShopify) -> FakeShop:
    name = next(_names)
    return fake.add_shop(name, token=f"shpat_{name}", data=generate_store(seed=2, products=3))


def grant(http: httpx.Client, shop: FakeShop, **params: str) -> httpx.Response:
    """A form-encoded token request (``grant_json`` sends JSON)."""
    params = {"client_id": CLIENT_ID, "client_secret": SECRET, **params}
    return http.post(f"{shop.admin_base_url}/admin/oauth/access_token", data=params)


def grant_json(http: httpx.Client, shop: FakeShop, **params: str) -> httpx.Response:
    params = {"client_id": CLIENT_ID, "client_secret": SECRET, **params}
    return http.post(f"{shop.admin_base_url}/admin/oauth/access_token", json=params)


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return dict(response.json())


def error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]


def refresh(http: httpx.Client, shop: FakeShop, token: str) -> httpx.Response:
    return grant(http, shop, grant_type="refresh_token", refresh_token=token)


def exchange(http: httpx.Client, shop: FakeShop, subject: str, **extra: str) -> httpx.Response:
    params = {"grant_type": EXCHANGE, "subject_token": subject, "subject_token_type": OFFLINE,
              "requested_token_type": OFFLINE, "expiring": "1", **extra}  # fmt: skip
    return grant(http, shop, **params)


def query(http: httpx.Client, shop: FakeShop, token: str | None, q: str = "{ shop { id } }"
          ) -> httpx.Response:  # fmt: skip
    return http.post(f"{shop.admin_base_url}/admin/api/{VERSION}/graphql.json", json={"query": q},
                     headers={"X-Shopify-Access-Token": token or ""})  # fmt: skip


def works(http: httpx.Client, shop: FakeShop, token: str | None) -> bool:
    status = query(http, shop, token).status_code
    assert status in (200, 401)
    return bool(status == 200)


def authorize(http: httpx.Client, shop: FakeShop, **params: str) -> httpx.Response:
    params = {"client_id": CLIENT_ID, "scope": "read_products", "state": "nonce-1",
              "redirect_uri": "https://app.example/auth/callback", **params}  # fmt: skip
    return http.get(f"{shop.admin_base_url}/admin/oauth/authorize", params=params)


def redirect_params(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    return dict(parse_qsl(urlsplit(response.headers["Location"]).query))


# ---------------------------------------------------------------- grants
def test_client_credentials(http: httpx.Client, shop: FakeShop) -> None:
    first = ok(grant(http, shop, grant_type="client_credentials"))
    assert set(first) == {"access_token", "scope", "expires_in"}
    assert first["expires_in"] == 86399 and first["scope"] == ",".join(DEFAULT_SCOPES)
    second = ok(grant_json(http, shop, grant_type="client_credentials"))
    assert second["access_token"] != first["access_token"]
    assert works(http, shop, first["access_token"]) and works(http, shop, second["access_token"])
    assert works(http, shop, shop.token) and not works(http, shop, "shpat_unknown")


def test_token_endpoint_errors(http: httpx.Client, shop: FakeShop) -> None:
    assert error(grant(http, shop, grant_type="client_credentials", client_secret="no")) == (
        401, "invalid_client")  # fmt: skip
    assert error(grant(http, shop, grant_type="client_credentials", client_id="no")) == (
        401, "invalid_client")  # fmt: skip
    assert error(grant(http, shop, grant_type="password")) == (400, "unsupported_grant_type")
    assert error(grant(http, shop, grant_type="client_credentials", client_secret="")) == (
        400, "invalid_request")  # fmt: skip
    assert error(grant(http, shop, grant_type="refresh_token")) == (400, "invalid_request")
    assert error(refresh(http, shop, "shprt_nope")) == (400, "invalid_grant")
    bad = http.post(f"{shop.admin_base_url}/admin/oauth/access_token", content=b"[1",
                    headers={"Content-Type": "application/json"})  # fmt: skip
    assert error(bad) == (400, "invalid_request")
    assert "error_description" in bad.json()
    assert http.get(f"{shop.admin_base_url}/admin/oauth/access_token").status_code == 405
    grants = [(r["grant"], r["status"]) for r in shop.token_requests]
    assert grants == [("client_credentials", 401), ("client_credentials", 401), ("invalid", 400),
                      ("client_credentials", 400), ("refresh_token", 400),
                      ("refresh_token", 400), ("invalid", 400)]  # fmt: skip
    shop.clear_token_requests()
    assert shop.token_requests == []


def test_shop_secret_and_host_route(http: httpx.Client, fake: FakeShopify) -> None:
    shop = fake.add_shop("secretive", data=generate_store(seed=2, products=1), client_secret="s9")
    assert error(grant(http, shop, grant_type="client_credentials")) == (401, "invalid_client")
    params = {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": "s9"}
    answer = http.post(f"{fake.url}/admin/oauth/access_token", data=params,
                       headers={"Host": "secretive.myshopify.com"})  # fmt: skip
    assert works(http, shop, ok(answer)["access_token"])


def test_refresh_rotation_and_grace(http: httpx.Client, shop: FakeShop) -> None:
    pair0 = shop.issue_expiring_pair()
    assert set(pair0) == PAIR_KEYS and pair0["expires_in"] == 3600
    assert pair0["refresh_token_expires_in"] == 7776000
    pair1 = ok(refresh(http, shop, pair0["refresh_token"]))
    assert set(pair1) == PAIR_KEYS and pair1["refresh_token"] != pair0["refresh_token"]
    assert not works(http, shop, pair0["access_token"])  # one active expiring token
    # the client "crashed" before saving pair1: the old refresh token still works
    pair2 = ok(refresh(http, shop, pair0["refresh_token"]))
    assert not works(http, shop, pair1["access_token"])
    assert works(http, shop, pair2["access_token"])  # first use of pair2: pair0 goes
    assert error(refresh(http, shop, pair0["refresh_token"])) == (400, "invalid_grant")
    assert error(refresh(http, shop, pair1["refresh_token"])) == (400, "invalid_grant")
    pair3 = ok(refresh(http, shop, pair2["refresh_token"]))
    pair4 = ok(refresh(http, shop, pair3["refresh_token"]))  # using pair3 retires pair2
    assert error(refresh(http, shop, pair2["refresh_token"])) == (400, "invalid_grant")
    assert works(http, shop, pair4["access_token"]) and works(http, shop, shop.token)


def test_one_active_expiring_token(http: httpx.Client, shop: FakeShop) -> None:
    credentials = ok(grant(http, shop, grant_type="client_credentials"))["access_token"]
    first = shop.issue_expiring_pair()
    assert works(http, shop, first["access_token"])
    second = shop.issue_expiring_pair()
    assert not works(http, shop, first["access_token"])
    assert works(http, shop, second["access_token"]) and works(http, shop, credentials)


def test_token_exchange(http: httpx.Client, shop: FakeShop) -> None:
    static = shop.token
    assert static is not None and works(http, shop, static)
    assert error(exchange(http, shop, static, expiring="0")) == (400, "invalid_request")
    assert error(exchange(http, shop, static, subject_token_type="x")) == (400, "invalid_request")
    assert error(exchange(http, shop, "shpat_other")) == (400, "invalid_grant")
    pair = ok(exchange(http, shop, static))
    assert set(pair) == PAIR_KEYS and not works(http, shop, static)
    assert not shop.static_token_active()
    again = ok(exchange(http, shop, static))  # idempotent
    assert (again["access_token"], again["refresh_token"]) == (
        pair["access_token"], pair["refresh_token"])  # fmt: skip
    assert works(http, shop, pair["access_token"])
    start = time.monotonic()
    shop.clock = lambda: start + 8 * 86400  # the mapping is forgotten after 7 days
    assert error(exchange(http, shop, static)) == (400, "invalid_grant")
    grants = {r["grant"] for r in shop.token_requests}
    assert grants == {"token_exchange"}


def test_expiry(http: httpx.Client, shop: FakeShop) -> None:
    shop.configure(access_token_lifetime_seconds=1, client_credentials_lifetime_seconds=1,
                   refresh_token_lifetime_seconds=1)  # fmt: skip
    pair = shop.issue_expiring_pair()
    assert pair["expires_in"] == 1 and pair["refresh_token_expires_in"] == 1
    credentials = ok(grant(http, shop, grant_type="client_credentials"))
    assert credentials["expires_in"] == 1
    assert works(http, shop, pair["access_token"])
    assert works(http, shop, credentials["access_token"])
    time.sleep(1.1)
    assert not works(http, shop, pair["access_token"])
    assert not works(http, shop, credentials["access_token"])
    assert error(refresh(http, shop, pair["refresh_token"])) == (400, "invalid_grant")


def test_revoke_tokens(http: httpx.Client, shop: FakeShop) -> None:
    pair = shop.issue_expiring_pair()
    credentials = ok(grant(http, shop, grant_type="client_credentials"))["access_token"]
    shop.revoke_tokens()
    assert error(refresh(http, shop, pair["refresh_token"])) == (400, "invalid_grant")
    assert not works(http, shop, pair["access_token"]) and not works(http, shop, credentials)
    assert works(http, shop, shop.token)
    shop.uninstall()
    assert error(grant(http, shop, grant_type="client_credentials")) == (400, "invalid_grant")
    shop.reinstall()
    shop.token = None
    assert not works(http, shop, "shpat_" + shop.name) and not works(http, shop, None)


def test_token_faults(http: httpx.Client, shop: FakeShop) -> None:
    shop.configure(token_error_rate=1.0)
    answer = grant(http, shop, grant_type="client_credentials")
    assert answer.status_code == 503 and answer.json()["error"] == "temporarily_unavailable"
    shop.configure(token_error_rate=0)
    ok(grant(http, shop, grant_type="client_credentials"))
    assert [(r["grant"], r["status"]) for r in shop.token_requests] == [
        ("client_credentials", 503), ("client_credentials", 200)]  # fmt: skip
    assert all(isinstance(r["time"], float) for r in shop.token_requests)


# ---------------------------------------------------------------- OAuth redirect
def test_authorize_redirect_and_codes(http: httpx.Client, shop: FakeShop) -> None:
    params = redirect_params(authorize(http, shop, scope="read_products,read_themes"))
    assert set(params) == {"code", "hmac", "host", "shop", "state", "timestamp"}
    assert params["shop"] == shop.shop_domain and params["state"] == "nonce-1"
    assert abs(int(params["timestamp"]) - time.time()) < 5
    assert base64.b64decode(params["host"]).decode() == f"admin.shopify.com/store/{shop.name}"
    message = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "hmac")
    expected = hmac.new(SECRET.encode(), message.encode(), hashlib.sha256).hexdigest()
    assert hmac.compare_digest(params["hmac"], expected)
    pair = ok(grant(http, shop, code=params["code"], expiring="1"))
    assert set(pair) == PAIR_KEYS and pair["scope"] == "read_products,read_themes"
    assert shop.granted_scopes == ["read_products", "read_themes"]
    assert error(grant(http, shop, code=params["code"], expiring="1")) == (400, "invalid_grant")
    assert works(http, shop, pair["access_token"])
    # without expiring=1: a new static token
    code = redirect_params(authorize(http, shop, scope=""))["code"]
    old = shop.token
    static = ok(grant(http, shop, grant_type="authorization_code", code=code))
    assert set(static) == {"access_token", "scope"} and shop.token == static["access_token"]
    assert works(http, shop, static["access_token"]) and not works(http, shop, old)
    assert authorize(http, shop, client_id="wrong").status_code == 400
    code = redirect_params(authorize(http, shop))["code"]
    start = time.monotonic()
    shop.clock = lambda: start + 601  # codes last 10 minutes
    assert error(grant(http, shop, code=code)) == (400, "invalid_grant")


# ---------------------------------------------------------------- scopes
def test_access_denied_shape(http: httpx.Client, shop: FakeShop) -> None:
    shop.set_scopes(["read_products", "read_content"])
    body = query(http, shop, shop.token, "{ themes(first: 1) { nodes { id } } shop { id } "
                 "products(first: 1) { nodes { id } } }").json()  # fmt: skip
    assert body["data"]["themes"] is None
    assert body["data"]["shop"]["id"] and len(body["data"]["products"]["nodes"]) == 1
    [denied] = body["errors"]
    message = "Access denied for themes field. Required access: `read_themes` access scope."
    assert denied["message"] == message
    assert denied["path"] == ["themes"] and denied["locations"] == [{"line": 1, "column": 3}]
    assert denied["extensions"] == {"code": "ACCESS_DENIED",
                                    "documentation": "https://shopify.dev/api/usage/access-scopes",
                                    "requiredAccess": "`read_themes` access scope."}  # fmt: skip
    for field in ("files(first: 1)", "discountNodes(first: 1)", "discountNodesCount"):
        answer = query(http, shop, shop.token, f"{{ {field} {{ __typename }} }}").json()
        assert answer["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"
    shop.set_scopes(["write_themes"])  # write implies read
    assert "errors" not in query(http, shop, shop.token, "{ themes(first: 1) { nodes { id } } }"
                                 ).json()  # fmt: skip


def test_current_app_installation(http: httpx.Client, shop: FakeShop) -> None:
    q = "{ currentAppInstallation { id accessScopes { handle description } } }"
    installation = query(http, shop, shop.token, q).json()["data"]["currentAppInstallation"]
    assert [s["handle"] for s in installation["accessScopes"]] == list(DEFAULT_SCOPES)
    assert installation["id"].startswith("gid://shopify/AppInstallation/")
    shop.set_scopes("read_products, read_files")
    assert ok(grant(http, shop, grant_type="client_credentials"))["scope"] == (
        "read_products,read_files")  # fmt: skip
    installation = query(http, shop, shop.token, q).json()["data"]["currentAppInstallation"]
    assert [s["handle"] for s in installation["accessScopes"]] == ["read_products", "read_files"]


# ---------------------------------------------------------------- control API and CLI
def test_token_control_endpoints(http: httpx.Client, fake: FakeShopify) -> None:
    made = http.post(f"{fake.url}/_control/shops", json={"name": "ctlauth", "products": 1,
                     "scopes": ["read_products"], "access_token_lifetime_seconds": 15})  # fmt: skip
    assert made.status_code == 201 and made.json()["scopes"] == ["read_products"]
    shop, control = fake.shop("ctlauth"), f"{fake.url}/_control/shops/ctlauth"
    pair = http.post(f"{control}/issue_expiring_pair").json()
    assert set(pair) == PAIR_KEYS and pair["expires_in"] == 15
    assert http.post(f"{control}/scopes", json={"scopes": ["read_themes"]}).status_code == 200
    assert http.get(f"{control}/scopes").json() == {"scopes": ["read_themes"]}
    assert http.post(f"{control}/configure", json={"token_error_rate": 0.0}).status_code == 200
    assert http.post(f"{control}/revoke_tokens").status_code == 200
    assert error(refresh(http, shop, pair["refresh_token"])) == (400, "invalid_grant")
    [entry] = http.get(f"{control}/token_requests").json()
    assert entry["grant"] == "refresh_token" and entry["status"] == 400
    assert http.post(f"{control}/clear_token_requests").status_code == 200
    assert http.get(f"{control}/token_requests").json() == []


def test_cli_client_id_and_token_lifetime() -> None:
    root = Path(__file__).resolve().parent.parent
    command = [sys.executable, "-m", "tests.fakeshopify", "--port", "0", "--products", "1",
               "--client-id", "cli-id", "--token-lifetime", "15"]  # fmt: skip
    process = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        admin = process.stdout.readline().split()[1]
        params = {"grant_type": "client_credentials", "client_id": "cli-id",
                  "client_secret": SECRET}  # fmt: skip
        answer = httpx.post(f"{admin}/admin/oauth/access_token", data=params, timeout=10)
        assert answer.status_code == 200 and answer.json()["expires_in"] == 15
    finally:
        process.terminate()
        process.wait(timeout=10)
