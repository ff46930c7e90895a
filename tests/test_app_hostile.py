"""Hostile and malformed requests to the control API: always a 4xx in the JSON error shape."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from config_db.access_log import REDACTED, redact_query
from config_db.jsonsafe import MAX_JSON_DEPTH, json_depth_exceeds, parse_json
from tests import servers
from tests.conftest import API_KEY, HEADERS, seed_payload, service_env

JSON_WRITES = [
    ("post", "/api/config/sync"),
    ("patch", "/api/config/clients/mystore"),
    ("post", "/api/stores/mystore/sync"),
]


def _error(answer: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert answer.status_code == status, answer.get_data(as_text=True)[:300]
    error: dict[str, Any] = answer.get_json()["error"]
    assert error["code"] and error["message"]
    if field is not None:
        assert error.get("field") == field
    return error


def _clients(app: Any) -> list[dict[str, Any]]:
    return list(app.extensions["shopsync"].repository.list_clients(None))


# --- JSON depth and text BSON cannot hold ----------------------------------------------------


def test_depth_is_measured_without_parsing_and_ignores_brackets_in_strings() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    assert json_depth_exceeds(deep)
    assert not json_depth_exceeds(b'{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\"[[[[[[[[["}', 4)
    assert json_depth_exceeds(b'{"a": [[[[1]]]]}', 4)
    assert not json_depth_exceeds(b'{"a": [[[1]]]}', 4)


@pytest.fixture
def seeded(app: Any, client: Any) -> list[dict[str, Any]]:
    """A saved client `mystore`; returns the stored clients to compare with afterwards."""
    assert client.post("/api/config/sync", json=seed_payload(), headers=HEADERS).status_code == 202
    return _clients(app)


@pytest.mark.parametrize("method,path", JSON_WRITES)
@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 5_000, 200_000])
def test_deep_json_is_refused_on_every_json_write(
    app: Any, client: Any, seeded: list[dict[str, Any]], method: str, path: str, depth: int
) -> None:
    # Given a body nested far past the limit (200,000 would overflow any recursive parser)
    body = '{"clientName": ' + "[" * depth + "]" * depth + "}"
    # When it is sent as JSON, Then it is a 400 naming the body, and nothing is written
    send = getattr(client, method)
    answer = send(path, data=body, headers=HEADERS, content_type="application/json")
    _error(answer, 400, "body")
    assert _clients(app) == seeded


@pytest.mark.parametrize(
    "body,field",
    [
        ('{"clientKey": "a\\ud800b"}', "body.clientKey"),
        ('{"clientName": ["\\udfff"]}', "body.clientName[0]"),
        ('{"\\ud800": 1}', "body"),
    ],
)
def test_lone_surrogates_are_refused_naming_the_field(
    app: Any, client: Any, body: str, field: str
) -> None:
    answer = client.post(
        "/api/config/sync", data=body, headers=HEADERS, content_type="application/json"
    )
    _error(answer, 400, field)
    assert _clients(app) == []


def test_json_in_utf16_is_refused_before_the_depth_scan(app: Any, client: Any) -> None:
    body = '{"clientKey": "mystore"}'.encode("utf-16")
    answer = client.post(
        "/api/config/sync", data=body, headers=HEADERS, content_type="application/json"
    )
    _error(answer, 400, "body")


def test_parse_json_gives_back_ordinary_json() -> None:
    assert parse_json(b'{"a": [1, {"b": "\\u00e9\\ud83d\\ude00"}]}') == {"a": [1, {"b": "é😀"}]}


@pytest.mark.parametrize(
    "payload_change",
    [
        {"clientKey": "my\x00store"},
        {"$where": "1"},
        {"a.b": "1"},
        {"": "1"},
        {"key\x00": "1"},
        {"clientKey": {"$ne": None}},
        {"clientName": {"$gt": ""}},
    ],
)
def test_keys_and_values_mongodb_would_misread_are_refused(
    app: Any, client: Any, payload_change: dict[str, Any]
) -> None:
    payload = {**seed_payload(), **payload_change}
    answer = client.post("/api/config/sync", json=payload, headers=HEADERS)
    _error(answer, 400)
    assert _clients(app) == []


def test_patch_with_operator_keys_changes_nothing(
    app: Any, client: Any, seeded: list[dict[str, Any]]
) -> None:
    for change in ({"$set": {"status": "active"}}, {"clientName": {"$unset": 1}}, {"a.b": 1}):
        answer = client.patch("/api/config/clients/mystore", json=change, headers=HEADERS)
        _error(answer, 400)
    assert _clients(app) == seeded


# --- Content-Type ----------------------------------------------------------------------------


@pytest.mark.parametrize("method,path", JSON_WRITES)
@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_writes_with_a_body_that_is_not_json_get_415(
    app: Any, client: Any, method: str, path: str, content_type: str
) -> None:
    answer = getattr(client, method)(
        path, data='{"mode": "full"}', headers=HEADERS, content_type=content_type
    )
    _error(answer, 415, "Content-Type")
    assert _clients(app) == []


def test_a_write_without_a_body_needs_no_content_type(client: Any) -> None:
    client.post("/api/config/sync", json=seed_payload(), headers=HEADERS)
    assert client.post("/api/stores/mystore/sync", headers=HEADERS).status_code == 202
    charset = "application/json; charset=utf-8"
    answer = client.post(
        "/api/stores/mystore/sync", data="{}", headers=HEADERS, content_type=charset
    )
    assert answer.status_code == 202


def test_415_comes_after_the_api_key_check(client: Any) -> None:
    answer = client.post("/api/config/sync", data="x", content_type="text/plain")
    _error(answer, 401)


# --- the API key only in headers ---------------------------------------------------------------


@pytest.mark.parametrize("query", ["api_key", "apiKey", "key", "token", "access_token"])
def test_the_api_key_in_a_query_string_is_not_accepted(client: Any, query: str) -> None:
    _error(client.get(f"/api/config/clients?{query}={API_KEY}"), 401)


# --- over real gunicorn: chunked bodies, access log --------------------------------------------


@pytest.fixture(scope="module")
def web(log_dir: Path, mongo_uri: str, redis_url: str) -> Iterator[servers.Service]:
    env = service_env(
        mongo_uri,
        redis_url.rsplit("/", 1)[0] + "/5",
        SHOPSYNC_MAX_BODY_BYTES="4096",
        SHOPSYNC_WEBHOOK_MAX_BODY_BYTES="4096",
    )
    service = servers.gunicorn(log_dir, env, name="hostile-web", workers=1, access_log=True)
    service.start()
    yield service
    service.stop()


def _chunked(port: int, path: str, body: bytes, chunk: int = 1000) -> tuple[int, bytes]:
    """POST `body` with Transfer-Encoding: chunked (no Content-Length) over a raw socket."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {API_KEY}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode()
    parts = [
        b"%x\r\n%s\r\n" % (len(body[i : i + chunk]), body[i : i + chunk])
        for i in range(0, len(body), chunk)
    ]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head + b"".join(parts) + b"0\r\n\r\n")
        answer = b""
        while data := sock.recv(65536):
            answer += data
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


@pytest.mark.parametrize("path", ["/api/config/sync", "/webhooks/shopify"])
def test_chunked_bodies_over_the_limit_get_413(web: servers.Service, path: str) -> None:
    # Given a body of 20 KB against a 4 KB limit, sent chunked with no Content-Length
    body = b'{"clientKey": "' + b"x" * 20_000 + b'"}'
    # When it is posted, Then the answer is 413 in the JSON error shape (not a cut-short 400/401)
    assert web.port is not None
    status, answer = _chunked(web.port, path, body)
    assert status == 413, answer[:300]
    assert b'"request_entity_too_large"' in answer


def test_chunked_bodies_under_the_limit_are_read_whole(
    web: servers.Service, real_mongo: MongoClient[dict[str, Any]]
) -> None:
    # A chunked config with an invalid clientKey: the answer names clientKey, so the body
    # arrived whole and parsed (a cut body would be "not valid JSON").
    body = (
        b'{"clientKey": "bad key!", "adminApiBaseUrl": "http://127.0.0.1:1", "pad": "'
        + b"p" * 2000
        + b'"}'
    )
    assert web.port is not None
    status, answer = _chunked(web.port, "/api/config/sync", body, chunk=300)
    assert status == 400, answer[:300]
    assert b"not valid JSON" not in answer


def test_access_log_hides_query_secrets_and_basic_auth_users(web: servers.Service) -> None:
    # Given requests with secrets where a careless client would put them
    assert web.port is not None
    url = f"http://127.0.0.1:{web.port}"
    import httpx

    with httpx.Client(base_url=url) as http:
        http.get(f"/api/config/clients?limit=7&api_key={API_KEY}&access_token=shpat_leak1")
        http.get("/api/config/clients?code=oauth-code-leak2", auth=("alice-basic-user", "pw-leak3"))
        http.get("/health?x_shopify_hmac=leak4&shop=a.myshopify.com")
        http.get("/health?a=1;token=leak5", headers={"Referer": "http://x/cb?code=leak6&b=2"})
    # Then the access log shows the requests, their harmless parameters, and no secret
    servers.wait_until(lambda: web.log().count('"GET /') >= 4, 10, "access log lines")
    log = web.log()
    for secret in (API_KEY, "shpat_leak1", "oauth-code-leak2", "alice-basic-user", "leak4",
                   "leak5", "leak6"):  # fmt: skip
        assert secret not in log
    assert "limit=7" in log and "shop=a.myshopify.com" in log and REDACTED in log


def test_redact_query_keeps_harmless_parameters() -> None:
    assert redact_query("limit=5&cursor=abc") == "limit=5&cursor=abc"
    assert (
        redact_query("X-API-KEY=1&hmac=2&state=s") == "X-API-KEY=[redacted]&hmac=[redacted]&state=s"
    )
