"""In-process, on SecantusDB, real Redis and the fake over HTTP: ACCESS_DENIED in the middle
of a run, token migration, and the install callback's checks."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
import redis as redis_lib

from config_db.models import parse_client_config
from sync.orchestration.jobs import JobStore
from sync.orchestration.launcher import SyncLauncher
from sync.orchestration.runner import run_resource
from sync.orchestration.state import SyncState
from tests.conftest import make_settings, seed_payload
from tests.fakeshopify import FakeShopify, generate_store, oauth_signature

pytestmark = pytest.mark.real
APP_ID, APP_SECRET = "fake-client-id", "app-client-secret"


@pytest.fixture
def services(mongo_uri: str, redis_url: str, real_mongo: Any, fake: FakeShopify) -> Iterator[Any]:
    from config_db.mongo import MongoConnection
    from sync.runtime import build_services

    redis_lib.Redis.from_url(redis_url).flushdb()
    settings = make_settings(
        mongodb_uri=mongo_uri, redis_url=redis_url, shopify_client_id=APP_ID,
        shopify_client_secret=APP_SECRET, public_url="http://127.0.0.1:9",
        shopify_admin_url=f"{fake.url}/shops/{{shop}}",
    )  # fmt: skip
    built = build_services(settings, MongoConnection(settings))
    yield built
    built.mongo.close()


def _client(services: Any, fake: FakeShopify, name: str, **credentials: Any) -> Any:
    shop = fake.add_shop(name, data=generate_store(seed=2, products=3))
    shop.configure(bucket_max=2000, restore_rate=5000, webhooks_enabled=False)
    payload = seed_payload(name, apiBaseUrl=shop.admin_base_url,
                           adminApiBaseUrl=shop.admin_base_url, shopDomain=shop.shop_domain,
                           **{"adminShopToken": shop.token, **credentials})  # fmt: skip
    services.repository.save_client(
        parse_client_config(payload, env="development", db_prefix="", app_credentials=True)
    )
    services.databases.ensure(name)
    return shop


def test_access_denied_mid_run_skips_the_resource_naming_the_scope(
    services: Any, fake: FakeShopify
) -> None:
    # Given a job whose start saw every scope, and a scope withdrawn since
    shop = _client(services, fake, "midrun")
    launcher = SyncLauncher(services.databases, lambda k, j: None, services.coordinator)
    job_id = launcher.start("midrun", "full", trigger="test").job["_id"]
    shop.set_scopes(["read_products", "read_content", "read_files", "read_discounts"])
    # When the themes resource runs
    run_resource(services, "midrun", job_id, "themedatas")
    # Then it is skipped naming the scope: never "completed" with nothing seen
    progress = JobStore(services.databases.get("midrun")).get(job_id)["resources"]["themedatas"]
    assert progress["status"] == "skipped" and "read_themes" in progress["error"], progress
    assert "ACCESS_DENIED" in progress["error"] and progress["seen"] == 0
    # and the store's freshness leaves it out until a pass completes again
    state = SyncState(services.databases.get("midrun"))
    assert "read_themes" in state.get("themedatas")["skippedFor"]
    shop.set_scopes(["read_products", "read_content", "read_files", "read_discounts",
                     "read_themes"])  # fmt: skip
    job_id = launcher.start("midrun", "full", trigger="test").job["_id"]
    run_resource(services, "midrun", job_id, "themedatas")
    assert "skippedFor" not in state.get("themedatas")


def test_migration_exchanges_a_static_token_once(services: Any, fake: FakeShopify) -> None:
    from sync.auth.authorize import migrate_to_expiring

    # Given a store on a non-expiring token of a public app
    shop = _client(services, fake, "migrating")
    old_token = shop.token
    # When it is migrated, twice
    first = migrate_to_expiring(services, "migrating")
    second = migrate_to_expiring(services, "migrating")
    # Then it is on an expiring token that works, the old one is refused, and nothing leaks
    assert first["migrated"] is True and second["migrated"] is False
    assert first["expiresAt"] and first["expiresAt"] == second["expiresAt"]
    client = services.repository.get_client("migrating")
    assert client["auth"]["mode"] == "expiring" and client["tokenExpiresAt"]
    token = services.tokens.current("migrating")
    assert token != old_token and shop.token_valid(token) and not shop.token_valid(old_token)
    assert old_token not in str(first) and token not in str(first)
    assert [r["grant"] for r in shop.token_requests] == ["token_exchange"]


def _callback(services: Any, fake: FakeShopify, domain: str) -> dict[str, str]:
    from sync.auth.install import authorize_url

    with httpx.Client(timeout=10) as http:
        approved = http.get(authorize_url(services, domain))
    assert approved.status_code == 302, approved.text
    return dict(parse_qsl(urlsplit(approved.headers["location"]).query))


def test_the_callback_checks_hmac_shop_timestamp_and_state_before_writing(
    services: Any, fake: FakeShopify, real_mongo: Any
) -> None:
    from config_db.errors import Unauthorized, ValidationFailed
    from sync.auth.install import InstallRefused, authorize_url, complete_install

    shop = fake.add_shop("oauthshop", data=generate_store(seed=2, products=1))
    params = _callback(services, fake, shop.shop_domain)
    other_state = dict(parse_qsl(urlsplit(authorize_url(services, "elsewhere.myshopify.com"))
                                 .query))["state"]  # fmt: skip

    def signed(**changes: str) -> dict[str, str]:
        values = {k: v for k, v in {**params, **changes}.items() if k != "hmac"}
        return {**values, "hmac": oauth_signature(APP_SECRET, values)}

    # Given callbacks that each fail one check
    refused = [
        ({**params, "hmac": "0" * 64}, Unauthorized),
        ({**params, "shop": "elsewhere.myshopify.com"}, Unauthorized),  # not what was signed
        (signed(shop="not a shop"), ValidationFailed),
        (signed(timestamp=str(int(time.time()) - 7200)), ValidationFailed),
        (signed(state="never-issued"), InstallRefused),
        (signed(state=other_state), InstallRefused),  # issued for another shop
    ]
    for bad, error in refused:
        with pytest.raises(error):
            complete_install(services, bad)
    # Then nothing was written and no code was exchanged
    assert real_mongo.appconfig.clients.find_one({"_id": "oauthshop"}) is None
    assert shop.token_requests == []
    # And the real redirect succeeds once; its replay is refused
    installed = complete_install(services, params)
    assert installed.client_key == "oauthshop"
    client = services.repository.get_client("oauthshop")
    assert client["auth"]["mode"] == "expiring" and client["status"] == "active"
    with pytest.raises(InstallRefused):
        complete_install(services, params)
