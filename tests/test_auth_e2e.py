"""Store authorization over the real path: gunicorn, a Dramatiq worker, Redis, SecantusDB and
the fake Shopify's token endpoint, authorize page and GraphQL API over HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
from pymongo import MongoClient

from tests.exact_copy import assert_exact_copy, check_products
from tests.fakeshopify import FakeShopify, generate_store
from tests.harness import Stack, start_stack
from tests.servers import wait_until

pytestmark = pytest.mark.real
APP_ID, APP_SECRET = "fake-client-id", "app-client-secret"


@pytest.fixture(scope="module")
def stack(log_dir: Path, mongo_uri: str, redis_url: str, fake: FakeShopify) -> Iterator[Stack]:
    stack = start_stack(
        "auth", log_dir, mongo_uri, redis_url.rsplit("/", 1)[0] + "/5", threads=8,
        SHOPIFY_CLIENT_ID=APP_ID,
        SHOPSYNC_SHOPIFY_ADMIN_URL=f"{fake.url}/shops/{{shop}}",
        SHOPSYNC_BREAKER_FAILURES="5",
        SHOPSYNC_BREAKER_COOLDOWN_SECONDS="4",
        SHOPSYNC_BREAKER_MAX_COOLDOWN_SECONDS="8",
        # Tokens must expire during a sync: these syncs last through pages held back by a small
        # point budget (a bulk export would end in seconds). The bulk path's own calls share
        # the same token source.
        SHOPSYNC_SYNC_PATH="paged",
        # JSON logs: the token secrets are looked for in that format (stack.logs() decodes it).
        SHOPSYNC_LOG_FORMAT="json",
    )  # fmt: skip
    yield stack
    stack.stop()


def _shop(fake: FakeShopify, name: str, **shape: Any) -> Any:
    shop = fake.add_shop(name, data=generate_store(seed=len(name), **{"products": 20, **shape}))
    shop.configure(bucket_max=2000, restore_rate=5000, webhooks_enabled=False)
    return shop


def _post(stack: Stack, shop: Any, **credentials: Any) -> dict[str, Any]:
    payload = {"clientKey": shop.name, "apiBaseUrl": shop.admin_base_url,
               "adminApiBaseUrl": shop.admin_base_url, "shopDomain": shop.shop_domain,
               **credentials}  # fmt: skip
    with stack.http() as http:
        answer = http.post("/api/config/sync", json=payload)
    assert answer.status_code == 202, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _client(stack: Stack, key: str) -> dict[str, Any]:
    with stack.http() as http:
        found: dict[str, Any] = http.get(f"/api/config/clients/{key}").json()
    return found


def _expiring(pair: dict[str, Any]) -> dict[str, Any]:
    expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + pair["expires_in"]))
    return {"adminShopToken": pair["access_token"], "refreshToken": pair["refresh_token"],
            "tokenExpiresAt": expires}  # fmt: skip


def _secrets_absent(stack: Stack, *secrets: str) -> None:
    text = stack.logs()
    for secret in secrets:
        assert secret not in text


def test_client_credentials_keep_a_long_sync_going_through_many_token_lifetimes(
    fake: FakeShopify, stack: Stack, real_mongo: MongoClient[dict[str, Any]]
) -> None:
    # Given a Dev Dashboard app's store whose tokens live 15 s, and a sync of over a minute
    shop = _shop(fake, "ccsync", products=80)
    shop.configure(client_credentials_lifetime_seconds=15, bucket_max=400, restore_rate=40)
    # When it is added with only clientId and clientSecret
    answer = _post(stack, shop, clientId=APP_ID, clientSecret=APP_SECRET)
    job = stack.wait_job("ccsync", answer["syncJobId"], timeout=300)
    print(f"client-credentials sync took {job['durationSeconds']} s")
    # Then the copy is exact, the sync outlived several tokens, and the store stays active
    assert job["status"] == "completed", job
    assert job["durationSeconds"] > 60, job["durationSeconds"]
    assert_exact_copy(real_mongo["ccsync"], shop)
    grants = [r for r in shop.token_requests if r["grant"] == "client_credentials"]
    assert len(grants) >= 4 and all(r["status"] == 200 for r in grants), grants
    client = _client(stack, "ccsync")
    assert client["status"] == "active" and client["auth"]["mode"] == "client_credentials"
    assert "read_products" in client["auth"]["scopes"] and client["auth"]["missingScopes"] == []
    # And the logs say "token refreshed" and nothing worse about tokens
    logs = stack.logs()
    assert "ccsync: token refreshed" in logs and "needs_auth" not in logs
    _secrets_absent(stack, APP_SECRET)


def test_an_expiring_token_rotates_through_a_sync_and_a_webhook_after_expiry(
    fake: FakeShopify, stack: Stack, real_mongo: MongoClient[dict[str, Any]]
) -> None:
    # Given a public app's expiring offline token that lives 6 s (app credentials from env)
    shop = _shop(fake, "expsync", products=30)
    shop.configure(access_token_lifetime_seconds=6, bucket_max=300, restore_rate=120,
                   webhooks_enabled=True)  # fmt: skip
    pair = shop.issue_expiring_pair()
    answer = _post(stack, shop, **_expiring(pair))
    job = stack.wait_job("expsync", answer["syncJobId"], timeout=240)
    assert job["status"] == "completed", job
    print(f"expiring-token sync took {job['durationSeconds']} s")
    assert_exact_copy(real_mongo["expsync"], shop)
    refreshes = [r for r in shop.token_requests if r["grant"] == "refresh_token"]
    assert len(refreshes) >= 2 and all(r["status"] == 200 for r in refreshes), refreshes
    # When the current token has expired and the merchant edits a product
    time.sleep(7)
    product = shop.snapshot("products")[0]
    shop.update("products", product["id"], {"title": "Edited after expiry"})
    # Then the webhook is applied with a refreshed token
    store_db = real_mongo["expsync"]
    wait_until(lambda: store_db.webhookevents.count_documents({"status": "applied"}) >= 1
               and store_db.webhookevents.count_documents({"status": "queued"}) == 0,
               60, "webhook applied")  # fmt: skip
    assert {e["status"] for e in store_db.webhookevents.find()} == {"applied"}
    assert store_db.products.find_one({"_id": product["id"]})["title"] == "Edited after expiry"
    assert _client(stack, "expsync")["status"] == "active"
    _secrets_absent(stack, pair["access_token"], pair["refresh_token"])


def test_a_revoked_refresh_token_needs_auth_quickly_and_patched_credentials_bring_it_back(
    fake: FakeShopify, stack: Stack, real_mongo: MongoClient[dict[str, Any]]
) -> None:
    # Given a synced store on an expiring token
    shop = _shop(fake, "revokedapp")
    answer = _post(stack, shop, **_expiring(shop.issue_expiring_pair()))
    assert stack.wait_job("revokedapp", answer["syncJobId"])["status"] == "completed"
    # When the merchant revokes the app's tokens and a sync starts
    shop.revoke_tokens()
    shop.clear_token_requests()
    job_id = stack.start_sync("revokedapp", "full")
    job = stack.wait_job("revokedapp", job_id, timeout=60)
    # Then the job fails clearly, the client needs_auth, after a handful of token requests
    assert job["status"] == "failed" and "invalid_grant" in job["error"], job
    client = _client(stack, "revokedapp")
    assert client["status"] == "needs_auth" and "invalid_grant" in client["statusReason"]
    assert 1 <= len(shop.token_requests) <= 3, shop.token_requests
    # When new credentials are PATCHed
    with stack.http() as http:
        patched = http.patch("/api/config/clients/revokedapp", json=_expiring(
            shop.issue_expiring_pair())).json()  # fmt: skip
    # Then it is active again and its sync completes
    assert patched["status"] == "active" and patched["syncJobId"], patched
    assert stack.wait_job("revokedapp", patched["syncJobId"])["status"] == "completed"
    check_products(real_mongo["revokedapp"], shop)


def _authorize(stack: Stack, shop_domain: str) -> str:
    """Follow /auth/install to the fake's authorize page; returns the callback URL."""
    with httpx.Client(timeout=10) as http:
        install = http.get(f"{stack.url}/auth/install", params={"shop": shop_domain})
        assert install.status_code == 302, install.text
        approved = http.get(install.headers["location"])
        assert approved.status_code == 302, approved.text
    return str(approved.headers["location"])


def test_the_app_install_flow_creates_a_synced_client_and_refuses_forgeries(
    fake: FakeShopify, stack: Stack, real_mongo: MongoClient[dict[str, Any]]
) -> None:
    shop = _shop(fake, "installed")
    shop.configure(webhooks_enabled=True)
    before = real_mongo.appconfig.clients.count_documents({})
    # Given a forged callback (the hmac of other values) and one for a state never issued
    good = _authorize(stack, shop.shop_domain)
    params = dict(parse_qsl(urlsplit(good).query))
    forged = {**params, "shop": "other.myshopify.com"}
    with httpx.Client(base_url=stack.url, timeout=30) as http:
        assert http.get("/auth/callback", params=forged).status_code == 401
        # When the merchant's real redirect arrives
        answer = http.get(good)
        # And the same redirect is replayed
        replayed = http.get(good)
    # Then the client exists, on an expiring token, with webhooks and a full sync
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["clientKey"] == "installed" and body["shopDomain"] == shop.shop_domain
    assert replayed.status_code == 400 and replayed.json()["error"]["field"] == "state"
    assert real_mongo.appconfig.clients.count_documents({}) == before + 1
    client = _client(stack, "installed")
    assert client["status"] == "active" and client["auth"]["mode"] == "expiring"
    assert shop.subscriptions, "webhooks registered"
    assert stack.wait_job("installed", body["syncJobId"])["status"] == "completed"
    check_products(real_mongo["installed"], shop)
    # And a re-install after uninstalling reactivates the same client with new tokens
    with stack.http() as http:
        http.delete("/api/config/clients/installed")
    again = httpx.get(_authorize(stack, shop.shop_domain), timeout=30)
    assert again.status_code == 200 and again.json()["clientKey"] == "installed", again.text
    assert _client(stack, "installed")["status"] == "active"
    assert real_mongo.appconfig.clients.count_documents({}) == before + 1
    # And an HTML page when a browser asks
    page = httpx.get(_authorize(stack, shop.shop_domain), headers={"Accept": "text/html"})
    assert page.status_code == 200 and "installed" in page.text and "<h1>" in page.text


def test_a_tampered_callback_writes_nothing(
    fake: FakeShopify, stack: Stack, real_mongo: MongoClient[dict[str, Any]]
) -> None:
    shop = _shop(fake, "tampered")
    good = _authorize(stack, shop.shop_domain)
    params = dict(parse_qsl(urlsplit(good).query))
    with httpx.Client(base_url=stack.url, timeout=30) as http:
        flipped = {**params, "hmac": params["hmac"][:-1] + ("0" if params["hmac"][-1] != "0"
                                                            else "1")}  # fmt: skip
        assert http.get("/auth/callback", params=flipped).status_code == 401
        unknown = {**params, "state": "never-issued"}
        assert http.get("/auth/callback", params=unknown).status_code == 401  # hmac first
        missing = http.get("/auth/callback?" + urlencode({"shop": shop.shop_domain}))
        assert missing.status_code == 401
    assert real_mongo.appconfig.clients.find_one({"_id": "tampered"}) is None
    assert shop.token_requests == []


def test_a_shop_without_read_themes_completes_with_themes_skipped(
    fake: FakeShopify, stack: Stack, real_mongo: MongoClient[dict[str, Any]]
) -> None:
    shop = _shop(fake, "nothemes")
    shop.set_scopes(["read_products", "read_content", "read_files", "read_discounts"])
    answer = _post(stack, shop, adminShopToken=shop.token)
    job = stack.wait_job("nothemes", answer["syncJobId"])
    assert job["status"] == "completed", job
    themes = job["resources"]["themedatas"]
    assert themes["status"] == "skipped" and "read_themes" in themes["error"]
    assert all(r["status"] == "completed" for n, r in job["resources"].items() if n != "themedatas")
    assert _client(stack, "nothemes")["auth"]["missingScopes"] == ["read_themes"]
    assert answer["auth"]["missingScopes"] == ["read_themes"]
    check_products(real_mongo["nothemes"], shop)


def test_a_store_answering_5xx_trips_its_breaker_while_another_syncs_at_full_speed(
    fake: FakeShopify, stack: Stack, real_mongo: MongoClient[dict[str, Any]]
) -> None:
    # Given a store whose every answer is a 5xx, and a healthy store
    broken, healthy = _shop(fake, "broken"), _shop(fake, "healthy", products=40)
    broken.configure(error_rate=1.0)
    broken_job = _post(stack, broken, adminShopToken=broken.token)["syncJobId"]
    started = time.monotonic()
    healthy_job = _post(stack, healthy, adminShopToken=healthy.token)["syncJobId"]
    # Then the healthy store completes as usual
    assert stack.wait_job("healthy", healthy_job, timeout=90)["status"] == "completed"
    healthy_seconds = time.monotonic() - started
    assert_exact_copy(real_mongo["healthy"], healthy)
    # And the broken store's breaker is open, visible on its client and in its job
    client = _client(stack, "broken")
    assert client["breaker"]["state"] == "open" and client["breaker"]["reopenAt"], client
    job = stack.job("broken", broken_job)
    assert job["status"] == "running", job
    assert any("circuit breaker" in str(r.get("error")) for r in job["resources"].values()), job
    # And it was spared the retry storm: far fewer requests than 7 resources x 12 attempts
    assert broken.stats["requests"] < 40, broken.stats["requests"]
    # When the store recovers, its job completes after the cool-down
    broken.configure(error_rate=0.0)
    assert stack.wait_job("broken", broken_job, timeout=90)["status"] == "completed"
    assert_exact_copy(real_mongo["broken"], broken)
    assert _client(stack, "broken")["breaker"]["state"] == "closed"
    assert healthy_seconds < 60, healthy_seconds
