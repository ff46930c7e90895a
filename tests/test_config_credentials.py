"""The three credential forms of a client config: validation, encryption, masking."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from config_db.errors import ValidationFailed
from config_db.models import parse_client_config
from tests.conftest import ADMIN_TOKEN, HEADERS, LogCapture, make_settings, seed_payload

CLIENT_ID = "0123456789abcdef0123456789abcdef"
CLIENT_SECRET = "shpss_client_secret_0123456789abcdef"
REFRESH_TOKEN = "shprt_refresh_token_0123456789abcdef"
EXPIRES = "2026-12-01T13:00:00Z"
SECRETS = (ADMIN_TOKEN, CLIENT_SECRET, REFRESH_TOKEN)


def client_credentials_payload(**overrides: Any) -> dict[str, Any]:
    values = {"adminShopToken": None, "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET,
              **overrides}  # fmt: skip
    return seed_payload(**values)


def expiring_payload(**overrides: Any) -> dict[str, Any]:
    values = {"refreshToken": REFRESH_TOKEN, "tokenExpiresAt": EXPIRES, "clientId": CLIENT_ID,
              "clientSecret": CLIENT_SECRET, **overrides}  # fmt: skip
    return seed_payload(**values)


def parse(payload: dict[str, Any], *, app_credentials: bool = False) -> Any:
    return parse_client_config(
        payload, env="development", db_prefix="", app_credentials=app_credentials
    )


def test_each_form_is_recognised() -> None:
    assert parse(seed_payload()).auth_mode() == "static"
    assert parse(client_credentials_payload()).auth_mode() == "client_credentials"
    assert parse(expiring_payload()).auth_mode() == "expiring"
    # the static form may carry the app's credentials (webhook HMAC, a later migration)
    with_app = seed_payload(clientId=CLIENT_ID, clientSecret=CLIENT_SECRET)
    assert parse(with_app).auth_mode() == "static"
    # an expiring token may rely on SHOPIFY_CLIENT_ID/SECRET instead of its own
    env_app = expiring_payload(clientId=None, clientSecret=None)
    assert parse(env_app, app_credentials=True).auth_mode() == "expiring"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (seed_payload(adminShopToken=None), "adminShopToken"),
        (client_credentials_payload(clientSecret=None), "clientSecret"),
        (client_credentials_payload(clientId=None), "clientId"),
        (client_credentials_payload(refreshToken=REFRESH_TOKEN), "adminShopToken"),
        (expiring_payload(tokenExpiresAt=None), "tokenExpiresAt"),
        (expiring_payload(refreshToken=None), "refreshToken"),
        (expiring_payload(clientId=None, clientSecret=None), "clientId"),
        (expiring_payload(tokenExpiresAt="tomorrow"), "tokenExpiresAt"),
        (expiring_payload(tokenExpiresAt="2026-12-01T13:00:00"), "tokenExpiresAt"),
        (expiring_payload(tokenExpiresAt="9999-12-31T23:59:59-01:00"), "tokenExpiresAt"),
        (expiring_payload(refreshToken=" padded "), "refreshToken"),
        (client_credentials_payload(clientSecret=123), "clientSecret"),
    ],
)
def test_a_mixed_or_incomplete_form_is_a_400_naming_the_field(
    payload: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse(payload)
    assert caught.value.field == field
    for secret in SECRETS:
        assert secret not in str(caught.value)


def test_every_secret_is_encrypted_at_rest_and_masked(client: Any, mock_mongo: Any) -> None:
    answer = client.post("/api/config/sync", json=expiring_payload(), headers=HEADERS)
    assert answer.status_code == 202, answer.get_json()
    stored = mock_mongo.appconfig.clients.find_one({"_id": "mystore"})
    for name, secret in (("adminShopToken", ADMIN_TOKEN), ("clientSecret", CLIENT_SECRET),
                         ("refreshToken", REFRESH_TOKEN)):  # fmt: skip
        assert stored[name] != secret and secret not in str(stored)
    assert stored["auth"]["mode"] == "expiring"
    assert stored["auth"]["expiresAt"].isoformat().startswith("2026-12-01T13:00:00")
    shown = client.get("/api/config/clients/mystore", headers=HEADERS).get_json()
    assert shown["clientSecret"] == "shpss_…cdef" and shown["refreshToken"] == "shprt_…cdef"
    assert shown["auth"]["mode"] == "expiring" and shown["clientId"] == CLIENT_ID


def test_client_credentials_config_is_saved_without_a_token(client: Any, mock_mongo: Any) -> None:
    answer = client.post("/api/config/sync", json=client_credentials_payload(), headers=HEADERS)
    assert answer.status_code == 202, answer.get_json()
    stored = mock_mongo.appconfig.clients.find_one({"_id": "mystore"})
    assert "adminShopToken" not in stored and stored["auth"]["mode"] == "client_credentials"
    # Given the token shopsync was issued
    repository = client.application.extensions["shopsync"].repository
    repository.store_tokens("mystore", "shpca_issued_token_0123456789", None,
                            mode="client_credentials")  # fmt: skip
    # When another field is patched
    patched = client.patch("/api/config/clients/mystore", json={"appName": "A"}, headers=HEADERS)
    # Then the form and the issued token are kept (the token is not part of the config)
    assert patched.status_code == 200 and patched.get_json()["auth"]["mode"] == "client_credentials"
    stored = repository.get_client("mystore")
    assert repository.secret(stored, "adminShopToken") == "shpca_issued_token_0123456789"
    # And new app credentials drop it, so the next call asks for a token with them
    client.patch("/api/config/clients/mystore", json={"clientSecret": CLIENT_SECRET + "x"},
                 headers=HEADERS)  # fmt: skip
    assert "adminShopToken" not in repository.get_client("mystore")


def test_no_secret_of_any_form_in_answers_or_logs(
    client: Any, caplog: pytest.LogCaptureFixture, log_capture: LogCapture
) -> None:
    caplog.set_level(logging.DEBUG)
    answers = [
        client.post("/api/config/sync", json=expiring_payload(), headers=HEADERS),
        client.post("/api/config/sync", json=expiring_payload(clientSecret=CLIENT_SECRET + "\n"),
                    headers=HEADERS),  # fmt: skip
        client.post("/api/config/sync", json=client_credentials_payload(refreshToken=REFRESH_TOKEN),
                    headers=HEADERS),  # fmt: skip
        client.get("/api/config/clients", headers=HEADERS),
        client.patch("/api/config/clients/mystore", json={"appName": "x"}, headers=HEADERS),
    ]
    assert [a.status_code for a in answers] == [202, 400, 400, 200, 200]
    text = "\n".join(a.get_data(as_text=True) for a in answers) + caplog.text
    text += log_capture.text()  # the lines as the processes write them (text and json)
    for secret in SECRETS:
        assert secret not in text


def test_patching_credentials_brings_a_needs_auth_client_back(
    client: Any, mock_mongo: Any, stub_broker: Any
) -> None:
    # Given a client Shopify refused
    client.post("/api/config/sync", json=seed_payload(), headers=HEADERS)
    mock_mongo.appconfig.clients.update_one(
        {"_id": "mystore"}, {"$set": {"status": "needs_auth", "statusReason": "refused"}}
    )
    stub_broker.flush_all()
    # When a field other than the credentials is patched, it stays needs_auth
    kept = client.patch("/api/config/clients/mystore", json={"appName": "A"}, headers=HEADERS)
    assert kept.get_json()["status"] == "needs_auth"
    # When new credentials are patched
    answer = client.patch(
        "/api/config/clients/mystore",
        json={"adminShopToken": None, "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET},
        headers=HEADERS,
    )
    # Then it is active again, in the new form, and a sync is enqueued (full: none ran yet)
    body = answer.get_json()
    assert answer.status_code == 200 and body["status"] == "active", body
    assert body["auth"]["mode"] == "client_credentials" and body["syncMode"] == "full"
    assert stub_broker.queues["sync"].qsize() == 1


def test_app_credentials_from_the_environment() -> None:
    settings = make_settings(shopify_client_id="app-id")
    assert settings.app_credentials() == ("app-id", "app-client-secret")
    assert make_settings().app_credentials() is None
