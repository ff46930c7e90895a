"""sync.auth: the token source against the fake's real token endpoint, and the Shopify client.

appconfig is mongomock (no bulk writes here); Redis and the fake Shopify are real.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import mongomock
import pytest
import redis

from config_db.models import parse_client_config
from config_db.repository import ConfigRepository
from config_db.secrets import TokenCipher
from sync.auth.oauth import TokenEndpoint
from sync.auth.tokens import TokenSource
from sync.errors import ShopifyAuthError
from sync.shopify.client import CallStats, ShopifyClient, StoreCredentials, graphql_url
from sync.shopify.throttle import LocalThrottle
from tests.conftest import make_settings, seed_payload
from tests.fakeshopify import FakeShopify, generate_store

APP_ID, APP_SECRET = "fake-client-id", "app-client-secret"
SHOP_QUERY = "query { shop { name } }"


class Rig:
    """A token source over mongomock appconfig, real Redis and the fake's token endpoint."""

    def __init__(self, redis_url: str, fake: FakeShopify, **settings: Any) -> None:
        self.fake = fake
        self.settings = make_settings(redis_url=redis_url, **settings)
        self.redis = redis.Redis.from_url(redis_url)
        self.repository = ConfigRepository(
            mongomock.MongoClient(tz_aware=True).appconfig, TokenCipher("k")
        )
        self.http = httpx.Client(timeout=5)
        self.source = TokenSource(self.settings, self.repository, self.redis,
                                  TokenEndpoint(self.http, sleep=lambda s: None))  # fmt: skip

    def add(self, name: str, **credentials: Any) -> Any:
        shop = self.fake.shops.get(name) or self.fake.add_shop(
            name, data=generate_store(seed=3, products=2)
        )
        payload = seed_payload(name, apiBaseUrl=shop.admin_base_url,
                               adminApiBaseUrl=shop.admin_base_url,
                               shopDomain=shop.shop_domain, **credentials)  # fmt: skip
        config = parse_client_config(payload, env="development", db_prefix="")
        self.repository.save_client(config)
        shop.clear_token_requests()
        return shop

    def store(self, name: str) -> StoreCredentials:
        client = self.repository.get_client(name)
        url = graphql_url(client["adminApiBaseUrl"], "2026-07")
        return StoreCredentials(name, client["shopDomain"], url,
                                tokens=self.source.for_store(name))  # fmt: skip

    def stored_secret(self, name: str, field: str) -> str | None:
        return self.repository.secret(self.repository.get_client(name), field)


@pytest.fixture
def rig(redis_url: str, fake: FakeShopify) -> Iterator[Rig]:
    built = Rig(redis_url, fake)
    built.redis.flushdb()
    yield built
    built.http.close()


def cc(**extra: Any) -> dict[str, Any]:
    return {"adminShopToken": None, "clientId": APP_ID, "clientSecret": APP_SECRET, **extra}


def expiring(pair: dict[str, Any]) -> dict[str, Any]:
    expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + pair["expires_in"]))
    return {"adminShopToken": pair["access_token"], "refreshToken": pair["refresh_token"],
            "tokenExpiresAt": expires, "clientId": APP_ID, "clientSecret": APP_SECRET}  # fmt: skip


def test_client_credentials_are_granted_once_for_many_threads(rig: Rig) -> None:
    # Given a client-credentials store with no token yet
    shop = rig.add("ccone", **cc())
    # When eight threads ask for its token at once
    with ThreadPoolExecutor(8) as pool:
        tokens = set(pool.map(lambda _: rig.source.current("ccone"), range(8)))
    # Then one grant was asked for, all share its token, stored encrypted, and it works
    assert len(tokens) == 1 and len(shop.token_requests) == 1
    token = tokens.pop()
    client = rig.repository.get_client("ccone")
    assert client["adminShopToken"] != token
    assert rig.stored_secret("ccone", "adminShopToken") == token
    assert client["auth"]["mode"] == "client_credentials" and client["auth"]["expiresAt"]
    assert shop.token_valid(token)


def test_a_token_is_refreshed_once_its_lifetime_share_has_passed(
    redis_url: str, fake: FakeShopify
) -> None:
    # Given tokens that live 2 s, refreshed at half their lifetime
    rig = Rig(redis_url, fake, token_refresh_fraction=0.5)
    shop = rig.add("ccshort", **cc())
    shop.configure(client_credentials_lifetime_seconds=2)
    first = rig.source.current("ccshort")
    assert rig.source.current("ccshort") == first  # cached, no request
    # When the share has passed
    time.sleep(1.1)
    # Then the next call gets a new token before the old one expired
    second = rig.source.current("ccshort")
    assert second != first and len(shop.token_requests) == 2
    client = ShopifyClient(rig.http, LocalThrottle())
    assert client.query(rig.store("ccshort"), SHOP_QUERY, cost=1, stats=CallStats())["shop"]


def test_a_rotated_refresh_token_is_saved_and_a_crash_before_saving_loses_nothing(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an expiring offline token
    shop = rig.add("expone")
    pair = shop.issue_expiring_pair()
    rig.add("expone", **expiring(pair))
    # When the process dies between the refresh and the save
    real_store = rig.repository.store_tokens
    monkeypatch.setattr(rig.repository, "store_tokens", _raise_once(real_store))
    with pytest.raises(RuntimeError):
        rig.source.renew("expone", pair["access_token"])
    # Then the next refresh still works with the refresh token we kept
    renewed = rig.source.renew("expone", pair["access_token"])
    assert renewed != pair["access_token"] and shop.token_valid(renewed)
    # And the new pair is what appconfig holds (the old refresh token is gone)
    assert rig.stored_secret("expone", "adminShopToken") == renewed
    assert rig.stored_secret("expone", "refreshToken") not in (None, pair["refresh_token"])
    assert [r["status"] for r in shop.token_requests] == [200, 200]


def _raise_once(real: Any) -> Any:
    calls = {"n": 0}

    def store_tokens(*args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("killed before the save")
        real(*args, **kwargs)

    return store_tokens


def test_a_revoked_refresh_token_means_needs_auth_after_one_request(rig: Rig) -> None:
    # Given an expiring token whose refresh token Shopify revoked
    shop = rig.add("exprevoked")
    pair = shop.issue_expiring_pair()
    rig.add("exprevoked", **expiring(pair))
    shop.revoke_tokens()
    # When twelve threads are refused at once and ask for a new token
    errors: list[BaseException] = []

    def renew() -> None:
        try:
            rig.source.renew("exprevoked", pair["access_token"])
        except ShopifyAuthError as error:
            errors.append(error)

    threads = [threading.Thread(target=renew) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then every one fails, with one token request in all, and the client needs_auth
    assert len(errors) == 12 and len(shop.token_requests) == 1
    client = rig.repository.get_client("exprevoked")
    assert client["status"] == "needs_auth" and "invalid_grant" in client["statusReason"]
    assert pair["refresh_token"] not in client["statusReason"]
    # And later calls make no request at all
    with pytest.raises(ShopifyAuthError):
        rig.source.current("exprevoked")
    assert len(shop.token_requests) == 1


def test_a_refused_static_token_is_never_refreshed(rig: Rig) -> None:
    shop = rig.add("staticone", adminShopToken="shpat_static_token_000000000000")
    with pytest.raises(ShopifyAuthError, match="update adminShopToken"):
        rig.source.renew("staticone", "shpat_static_token_000000000000")
    assert shop.token_requests == []


def test_someone_elses_refresh_is_reused_not_repeated(rig: Rig) -> None:
    shop = rig.add("ccreuse", **cc())
    first = rig.source.current("ccreuse")
    other = TokenSource(rig.settings, rig.repository, rig.redis, TokenEndpoint(rig.http))
    second = other.renew("ccreuse", first)  # another process refreshed after a 401
    # This process is refused with its old token: it reads the new one, asking nothing
    assert rig.source.renew("ccreuse", first) == second
    assert len(shop.token_requests) == 2


def test_a_patched_token_reaches_a_worker_within_the_cache_time(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sync.auth import tokens

    monkeypatch.setattr(tokens, "CACHE_SECONDS", 0.2)
    rig.add("staticnew", adminShopToken="shpat_first_token_0000000000000")
    assert rig.source.current("staticnew") == "shpat_first_token_0000000000000"
    rig.add("staticnew", adminShopToken="shpat_second_token_000000000000")  # saved elsewhere
    time.sleep(0.25)
    assert rig.source.current("staticnew") == "shpat_second_token_000000000000"


def test_only_invalid_grant_or_invalid_client_counts_as_refused() -> None:
    from sync.auth.oauth import AppCredentials, TokenRefused
    from sync.errors import ShopifyUnavailable

    answers = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        answers["n"] += 1
        if "proxy" in str(request.url):
            return httpx.Response(403, text="<html>Forbidden by proxy</html>")
        return httpx.Response(400, json={"error": "invalid_grant", "error_description": "x"})

    endpoint = TokenEndpoint(httpx.Client(transport=httpx.MockTransport(handler)),
                             sleep=lambda s: None)  # fmt: skip
    app = AppCredentials(APP_ID, APP_SECRET)
    with pytest.raises(ShopifyUnavailable):
        endpoint.client_credentials("http://proxy.example", app)
    assert answers["n"] == 4  # retried: not proof the credentials are bad
    with pytest.raises(TokenRefused, match="invalid_grant") as refused:
        endpoint.refresh("http://shop.example", app, "shprt_secret_refresh_token")
    assert answers["n"] == 5 and "shprt_secret" not in str(refused.value)


def test_a_token_answers_scope_counts_only_until_the_installation_was_read(rig: Rig) -> None:
    from sync.auth.scopes import record_scopes

    shop = rig.add("ccscopes", **cc())
    first = rig.source.current("ccscopes")
    assert rig.repository.get_client("ccscopes")["auth"]["scopes"] == shop.granted_scopes
    # Once currentAppInstallation was read, a refresh's `scope` no longer overwrites it
    record_scopes(rig.repository, "ccscopes", ["read_products"])
    rig.source.renew("ccscopes", first)
    assert rig.repository.get_client("ccscopes")["auth"]["scopes"] == ["read_products"]
