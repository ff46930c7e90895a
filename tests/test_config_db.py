"""config_db: settings, validation, secrets, repository and the /api/config routes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pymongo import MongoClient

from app import create_app
from config_db.errors import SettingsError, ValidationFailed
from config_db.models import parse_client_config
from config_db.secrets import TokenCipher, mask_secret
from tests.conftest import ADMIN_TOKEN, HEADERS, STOREFRONT_TOKEN, make_settings, seed_payload

SYSTEM_DATABASES = {"admin", "local", "config"}


def post_config(client: Any, payload: Any) -> Any:
    return client.post("/api/config/sync", json=payload, headers=HEADERS)


# --- settings -------------------------------------------------------------------------------


def test_given_production_without_keys_when_starting_then_it_refuses_naming_them() -> None:
    settings = make_settings(env="production", api_key=None, secret_key=None)
    with pytest.raises(SettingsError, match="SHOPSYNC_API_KEY and SHOPSYNC_SECRET_KEY"):
        create_app(settings)


def test_settings_read_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONGODB_URI", "mongodb://db.example:27017")
    monkeypatch.setenv("SHOPSYNC_DB_PREFIX", "t_")
    monkeypatch.setenv("SHOPIFY_API_VERSION", "2026-10")
    from config_db.settings import Settings

    settings = Settings()
    assert settings.mongodb_uri == "mongodb://db.example:27017"
    assert settings.db_prefix == "t_"
    assert settings.shopify_api_version == "2026-10"
    assert settings.redis_url == "redis://127.0.0.1:6379/0"


# --- validation -----------------------------------------------------------------------------


def test_seed_payload_is_valid_and_shop_domain_is_derived() -> None:
    config = parse_client_config(seed_payload(), env="development", db_prefix="")
    assert config.resolved_shop_domain() == "mystore.myshopify.com"


def test_loopback_http_is_allowed_in_development_with_explicit_shop_domain() -> None:
    payload = seed_payload(
        apiBaseUrl="http://127.0.0.1:8800/shops/a",
        adminApiBaseUrl="http://localhost:8800/shops/a/",
        shopDomain="MyStore.myshopify.com",
    )
    config = parse_client_config(payload, env="development", db_prefix="")
    assert config.resolved_shop_domain() == "mystore.myshopify.com"
    assert config.graphql_base == "http://localhost:8800/shops/a"


def test_loopback_http_is_refused_in_production() -> None:
    payload = seed_payload(adminApiBaseUrl="http://127.0.0.1:8800")
    with pytest.raises(ValidationFailed) as caught:
        parse_client_config(payload, env="production", db_prefix="")
    assert caught.value.field == "adminApiBaseUrl"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"apiBaseUrl": "https://shop.example.com"}, "shopDomain"),
        ({"apiBaseUrl": None}, "shopDomain"),
        ({"shopDomain": "other.myshopify.com"}, "shopDomain"),
        ({"shopDomain": "not a domain"}, "shopDomain"),
        ({"adminApiBaseUrl": "ftp://mystore.myshopify.com"}, "adminApiBaseUrl"),
        ({"adminApiBaseUrl": "https://user:pw@mystore.myshopify.com"}, "adminApiBaseUrl"),
        ({"adminShopToken": 12345}, "adminShopToken"),
        ({"adminShopToken": " padded "}, "adminShopToken"),
        ({"clientName": ["x"]}, "clientName"),
        ({"clientKey": "Local"}, "clientKey"),
        ({"clientKey": "appconfig"}, "clientKey"),
    ],
)
def test_invalid_fields_are_named(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_client_config(seed_payload(**overrides), env="development", db_prefix="")
    assert caught.value.field == field


def test_prefix_counts_towards_reserved_names() -> None:
    with pytest.raises(ValidationFailed):
        parse_client_config(seed_payload("fig"), env="development", db_prefix="con")


def test_validation_messages_never_echo_a_token() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_client_config(
            seed_payload(adminShopToken=ADMIN_TOKEN + " "), env="development", db_prefix=""
        )
    assert ADMIN_TOKEN not in str(caught.value)


# --- secrets --------------------------------------------------------------------------------


def test_tokens_round_trip_through_encryption_and_mask_keeps_only_prefix_and_tail() -> None:
    cipher = TokenCipher("any string at all")
    sealed = cipher.encrypt(ADMIN_TOKEN)
    assert ADMIN_TOKEN not in sealed
    assert cipher.decrypt(sealed) == ADMIN_TOKEN
    assert mask_secret(ADMIN_TOKEN) == "shpat_…9f2c"
    assert mask_secret("short") == "…"


def test_a_different_secret_key_cannot_decrypt() -> None:
    sealed = TokenCipher("one").encrypt(ADMIN_TOKEN)
    with pytest.raises(Exception, match="cannot be decrypted") as caught:
        TokenCipher("two").decrypt(sealed)
    assert sealed not in str(caught.value)


# --- routes on mongomock + StubBroker -------------------------------------------------------


def test_post_config_creates_client_shop_database_and_job(
    client: Any, mock_mongo: Any, stub_broker: Any
) -> None:
    answer = post_config(client, seed_payload())
    assert answer.status_code == 202
    body = answer.get_json()
    assert body["clientKey"] == "mystore" and body["database"] == "mystore"
    stored = mock_mongo.appconfig.clients.find_one({"_id": "mystore"})
    assert stored["shopDomain"] == "mystore.myshopify.com" and stored["status"] == "active"
    assert stored["adminShopToken"] != ADMIN_TOKEN
    shop = mock_mongo.appconfig.shops.find_one({"_id": "mystore.myshopify.com"})
    assert shop["clientKey"] == "mystore" and shop["accessToken"] != ADMIN_TOKEN
    job = mock_mongo.mystore["_syncjobs"].find_one({"_id": body["syncJobId"]})
    assert job["status"] == "queued" and job["mode"] == "full"
    assert stub_broker.queues["sync"].qsize() == 1


def test_reposting_updates_without_duplicating(client: Any, mock_mongo: Any) -> None:
    assert post_config(client, seed_payload()).status_code == 202
    again = post_config(client, seed_payload(clientName="Renamed", storefrontToken=None))
    assert again.status_code == 202 and again.get_json()["created"] is False
    assert mock_mongo.appconfig.clients.count_documents({}) == 1
    assert mock_mongo.appconfig.shops.count_documents({}) == 1
    stored = mock_mongo.appconfig.clients.find_one({"_id": "mystore"})
    assert stored["clientName"] == "Renamed" and "storefrontToken" not in stored


def test_shop_domain_owned_by_another_client_conflicts(client: Any, mock_mongo: Any) -> None:
    post_config(client, seed_payload())
    answer = post_config(
        client, seed_payload("other", shopDomain="mystore.myshopify.com", apiBaseUrl=None)
    )
    assert answer.status_code == 409 and answer.get_json()["error"]["field"] == "shopDomain"
    assert mock_mongo.appconfig.clients.count_documents({}) == 1


def test_client_reads_mask_every_secret(client: Any) -> None:
    post_config(client, seed_payload(webhookSecret="whsec_0123456789abcdef"))
    listed = client.get("/api/config/clients", headers=HEADERS)
    one = client.get("/api/config/clients/mystore", headers=HEADERS)
    for answer in (listed, one):
        text = answer.get_data(as_text=True)
        assert ADMIN_TOKEN not in text and STOREFRONT_TOKEN not in text
        assert "whsec_0123456789abcdef" not in text
    assert one.get_json()["adminShopToken"] == "shpat_…9f2c"


def test_patch_changes_fields_and_revalidates(client: Any) -> None:
    post_config(client, seed_payload())
    answer = client.patch(
        "/api/config/clients/mystore", json={"clientName": "New"}, headers=HEADERS
    )
    assert answer.status_code == 200 and answer.get_json()["clientName"] == "New"
    bad = client.patch(
        "/api/config/clients/mystore",
        json={"adminApiBaseUrl": "http://evil.example"},
        headers=HEADERS,
    )
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "adminApiBaseUrl"
    renamed = client.patch("/api/config/clients/mystore", json={"clientKey": "x"}, headers=HEADERS)
    assert renamed.status_code == 400 and renamed.get_json()["error"]["field"] == "clientKey"


def test_patch_status_and_unknown_client(client: Any) -> None:
    post_config(client, seed_payload())
    answer = client.patch(
        "/api/config/clients/mystore", json={"status": "disabled"}, headers=HEADERS
    )
    assert answer.get_json()["status"] == "disabled"
    kept = client.patch("/api/config/clients/mystore", json={"appName": "A"}, headers=HEADERS)
    assert kept.get_json()["status"] == "disabled"
    missing = client.patch("/api/config/clients/nobody", json={}, headers=HEADERS)
    assert missing.status_code == 404


def test_delete_disables_and_purge_drops_the_database(client: Any, mock_mongo: Any) -> None:
    post_config(client, seed_payload())
    assert client.delete("/api/config/clients/mystore", headers=HEADERS).status_code == 200
    assert mock_mongo.appconfig.clients.find_one({"_id": "mystore"})["status"] == "disabled"
    assert "mystore" in mock_mongo.list_database_names()
    purged = client.delete("/api/config/clients/mystore?purge=true", headers=HEADERS)
    assert purged.get_json()["purged"] is True
    assert "mystore" not in mock_mongo.list_database_names()


# --- bad input over the real MongoDB-protocol server ----------------------------------------

BAD_INPUTS = [
    ("admin", seed_payload("admin"), 400, "clientKey"),
    ("config", seed_payload("config"), 400, "clientKey"),
    (
        "dotdot",
        seed_payload("../x", apiBaseUrl=None, shopDomain="x.myshopify.com"),
        400,
        "clientKey",
    ),
    ("dot", seed_payload("a.b", apiBaseUrl=None, shopDomain="ab.myshopify.com"), 400, "clientKey"),
    (
        "space",
        seed_payload("a b", apiBaseUrl=None, shopDomain="ab.myshopify.com"),
        400,
        "clientKey",
    ),
    (
        "dollar",
        seed_payload("$where", apiBaseUrl=None, shopDomain="w.myshopify.com"),
        400,
        "clientKey",
    ),
    ("too-long", seed_payload("k" * 49), 400, "clientKey"),
    (
        "empty-key",
        seed_payload("", apiBaseUrl=None, shopDomain="e.myshopify.com"),
        400,
        "clientKey",
    ),
    (
        "http-admin",
        seed_payload(adminApiBaseUrl="http://mystore.myshopify.com"),
        400,
        "adminApiBaseUrl",
    ),
    ("missing-token", seed_payload(adminShopToken=None), 400, "adminShopToken"),
    ("unknown-field", seed_payload(planName="gold"), 400, "planName"),
    ("not-an-object", ["mystore"], 400, "body"),
]


def _written(mongo: MongoClient[dict[str, Any]]) -> tuple[int, int, set[str]]:
    appconfig = mongo.appconfig
    databases = set(mongo.list_database_names()) - SYSTEM_DATABASES - {"appconfig"}
    return (appconfig.clients.count_documents({}), appconfig.shops.count_documents({}), databases)


@pytest.mark.real
@pytest.mark.parametrize(
    ("name", "payload", "status", "field"), BAD_INPUTS, ids=[case[0] for case in BAD_INPUTS]
)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(
    real_client: Any,
    real_mongo: MongoClient[dict[str, Any]],
    name: str,
    payload: Any,
    status: int,
    field: str,
) -> None:
    answer = post_config(real_client, payload)
    assert answer.status_code == status
    assert answer.get_json()["error"]["field"] == field
    assert _written(real_mongo) == (0, 0, set())


@pytest.mark.real
def test_case_variant_of_existing_key_conflicts_and_writes_nothing(
    real_client: Any, real_mongo: MongoClient[dict[str, Any]]
) -> None:
    assert post_config(real_client, seed_payload("mystore")).status_code == 202
    before = _written(real_mongo)
    answer = post_config(
        real_client, seed_payload("MyStore", apiBaseUrl=None, shopDomain="other.myshopify.com")
    )
    assert answer.status_code == 409 and answer.get_json()["error"]["field"] == "clientKey"
    assert _written(real_mongo) == before == (1, 1, {"mystore"})


@pytest.mark.real
@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (b"{not json", 400, "body"),
        (b"", 400, "body"),
        (b"\xff\xfe", 400, "body"),
        (json.dumps(seed_payload(padding="x" * (2 * 1024 * 1024))).encode(), 413, "body"),
    ],
)
def test_malformed_and_oversized_bodies(
    real_client: Any,
    real_mongo: MongoClient[dict[str, Any]],
    body: bytes,
    status: int,
    field: str | None,
) -> None:
    answer = real_client.post(
        "/api/config/sync", data=body, headers=HEADERS, content_type="application/json"
    )
    assert answer.status_code == status
    assert answer.get_json()["error"].get("field") == field
    assert _written(real_mongo) == (0, 0, set())


@pytest.mark.real
def test_two_clients_racing_for_one_shop_never_both_win(
    real_mongo: MongoClient[dict[str, Any]], mongo_uri: str
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from config_db.errors import Conflict
    from config_db.mongo import MongoConnection
    from config_db.repository import build_repository

    settings = make_settings(mongodb_uri=mongo_uri)
    repository = build_repository(settings, MongoConnection(settings))
    repository.ensure_indexes()

    def save(key: str, shop: str) -> bool:
        config = parse_client_config(
            seed_payload(key, apiBaseUrl=None, shopDomain=shop), env="development", db_prefix=""
        )
        try:
            repository.save_client(config)
        except Conflict:
            return False
        return True

    for round_number in range(5):
        shop = f"race{round_number}.myshopify.com"
        with ThreadPoolExecutor(2) as pool:
            wins = list(pool.map(save, [f"a{round_number}", f"b{round_number}"], [shop, shop]))
        assert wins.count(True) == 1
        owners = real_mongo.appconfig.clients.count_documents({"shopDomain": shop})
        assert owners == 1


def test_in_production_the_admin_base_must_be_the_shop_itself() -> None:
    payload = seed_payload(adminApiBaseUrl="https://proxy.example.com")
    with pytest.raises(ValidationFailed) as caught:
        parse_client_config(payload, env="production", db_prefix="")
    assert caught.value.field == "adminApiBaseUrl"
    assert parse_client_config(seed_payload(), env="production", db_prefix="").clientKey
