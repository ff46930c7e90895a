"""Control API rate limits: per API key, failed authentication per client IP, on real Redis."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import redis
from pydantic import ValidationError

from config_db.settings import Settings
from tests import servers
from tests.conftest import API_KEY, HEADERS, TINY_LIMIT, make_settings, service_env

WRONG = {"X-API-Key": "not-the-key"}
OTHER_KEY = "a-second-deployments-key-0123456789"
CLIENT = {"REMOTE_ADDR": "203.0.113.7"}
INSTALL = {"shopify_client_id": "limits-client-id", "public_url": "http://127.0.0.1:8000"}


def _statuses(send: Any, times: int) -> list[int]:
    return [send().status_code for _ in range(times)]


def _rate_limited(answer: Any) -> str:
    """The 429's message, after checking its shape and Retry-After."""
    assert answer.status_code == 429, answer.get_data(as_text=True)
    error = answer.get_json()["error"]
    assert set(error) == {"code", "message"} and error["code"] == "rate_limited"
    assert 1 <= int(answer.headers["Retry-After"]) <= 60
    message: str = error["message"]
    return message


# --- per API key -------------------------------------------------------------------------------


def test_reads_past_the_limit_get_429_in_the_error_shape_with_retry_after(limited_app: Any) -> None:
    client = limited_app().test_client()
    # Given three reads with the key, GET and HEAD alike
    assert _statuses(lambda: client.get("/api/config/clients", headers=HEADERS), 2) == [200] * 2
    assert client.head("/api/config/clients", headers=HEADERS).status_code == 200
    # When a fourth read comes within the minute, Then it is refused with 429 and Retry-After
    message = _rate_limited(client.get("/api/config/clients/mystore", headers=HEADERS))
    assert "reads" in message and "3 per 1 minute" in message


def test_writes_have_their_own_limit(limited_app: Any) -> None:
    client = limited_app().test_client()

    def write() -> Any:
        return client.delete("/api/config/clients/nobody", headers=HEADERS)

    # Given three writes (404s: the limit counts requests, not successes)
    assert _statuses(write, 3) == [404] * 3
    # Then the fourth is refused, while reads still have their whole allowance
    assert "writes" in _rate_limited(write())
    assert _statuses(lambda: client.get("/api/config/clients", headers=HEADERS), 3) == [200] * 3


def test_two_keys_count_apart_and_redis_never_holds_a_key(
    limited_app: Any, limits_url: str
) -> None:
    # Given two deployments with different keys on the same Redis
    first = limited_app().test_client()
    second = limited_app(api_key=OTHER_KEY).test_client()
    # When the first key spends its reads
    assert _statuses(lambda: first.get("/api/config/clients", headers=HEADERS), 4)[-1] == 429
    # Then the second key still reads
    other = {"X-API-Key": OTHER_KEY}
    assert _statuses(lambda: second.get("/api/config/clients", headers=other), 3) == [200] * 3
    # And Redis holds the two buckets under a hash, never the keys themselves
    keys = [key.decode() for key in redis.Redis.from_url(limits_url).keys("*LIMITER*")]
    assert len([key for key in keys if "/read/" in key]) == 2
    assert not [key for key in keys if API_KEY in key or OTHER_KEY in key]


# --- failed authentication per client IP -------------------------------------------------------


def test_failures_from_one_address_lock_out_its_unauthenticated_attempts_only(
    limited_app: Any,
) -> None:
    client = limited_app(**INSTALL).test_client()
    # Given three failed attempts from one address, each of a different kind: a wrong key,
    # no key on a path that does not exist, a forged install callback
    assert client.get("/api/config/clients", headers=WRONG, environ_base=CLIENT).status_code == 401
    assert client.post("/api/nowhere", environ_base=CLIENT).status_code == 401
    forged = "/auth/callback?code=c&hmac=00&shop=a.myshopify.com&state=s&timestamp=1"
    assert client.get(forged, environ_base=CLIENT).status_code == 401
    # Then every further attempt without the key from that address is refused at once
    assert "failed authentications" in _rate_limited(
        client.get("/api/config/clients", headers=WRONG, environ_base=CLIENT)
    )
    assert client.get("/api/anything", environ_base=CLIENT).status_code == 429
    assert client.get("/auth/install?shop=a.myshopify.com", environ_base=CLIENT).status_code == 429
    # While the valid key from the same address still passes, and other addresses are untouched
    answer = client.get("/api/config/clients", headers=HEADERS, environ_base=CLIENT)
    assert answer.status_code == 200
    elsewhere = {"REMOTE_ADDR": "203.0.113.8"}
    answer = client.get("/api/config/clients", headers=WRONG, environ_base=elsewhere)
    assert answer.status_code == 401


def test_the_install_flow_counts_only_when_its_checks_fail(limited_app: Any) -> None:
    client = limited_app(**INSTALL).test_client()

    def install(shop: str) -> Any:
        return client.get(f"/auth/install?shop={shop}", environ_base=CLIENT)

    # Given installs that pass their checks: they never count
    assert _statuses(lambda: install("good.myshopify.com"), 5) == [302] * 5
    # When three fail theirs (a bad shop domain), Then the address is refused after them
    assert _statuses(lambda: install("not_a_shop"), 3) == [400] * 3
    assert install("good.myshopify.com").status_code == 429


def test_exempt_routes_are_never_limited_and_never_count(limited_app: Any, limits_url: str) -> None:
    one = "1/minute"
    client = limited_app(rate_limit_read=one, rate_limit_auth_failures=one).test_client()
    webhook = {"X-Shopify-Topic": "products/update", "X-Shopify-Hmac-Sha256": "forged"}
    # Given many requests to the routes that are never limited, unsigned webhooks among them
    for _ in range(5):
        assert client.get("/health").status_code == 200
        assert client.get("/health/ready").status_code != 429
        assert client.get("/api/openapi.json").status_code == 200
        assert client.get("/metrics").status_code != 429
        answer = client.post("/webhooks/shopify", json={"id": 1}, headers=webhook)
        assert answer.status_code in (400, 401)
    # Then no counter exists, and this address has its whole failure allowance left
    assert not redis.Redis.from_url(limits_url).keys("*LIMITER*")
    assert client.get("/api/config/clients", headers=WRONG).status_code == 401


@pytest.mark.parametrize("hops,expected_bucket", [(0, "10.0.0.1"), (1, "198.51.100.9")])
def test_only_the_trusted_proxies_entry_names_the_client(
    limited_app: Any, limits_url: str, hops: int, expected_bucket: str
) -> None:
    client = limited_app(trusted_proxies=hops).test_client()

    def attempt(spoofed: str) -> Any:
        # The client writes the first entry; a proxy appends the address it saw.
        forwarded = {"X-Forwarded-For": f"{spoofed}, 198.51.100.9", **WRONG}
        return client.get("/api/config/clients", headers=forwarded,
                          environ_base={"REMOTE_ADDR": "10.0.0.1"})  # fmt: skip

    # Given failures whose client-written X-Forwarded-For entry changes every time
    assert [attempt(f"192.0.2.{n}").status_code for n in range(3)] == [401] * 3
    # Then they all counted for one address: the next is refused
    assert attempt("192.0.2.99").status_code == 429
    keys = [key.decode() for key in redis.Redis.from_url(limits_url).keys("*auth-failures*")]
    assert len(keys) == 1 and f"/{expected_bucket}/" in keys[0]


# --- shared by every process -------------------------------------------------------------------


def test_two_app_instances_share_one_allowance(limited_app: Any) -> None:
    # Given two apps on the same Redis, as two gunicorn workers or two web instances are
    first, second = limited_app().test_client(), limited_app().test_client()

    def read(client: Any) -> int:
        return int(client.get("/api/config/clients", headers=HEADERS).status_code)

    # When reads alternate between them, Then the fourth is refused whichever serves it
    assert [read(first), read(second), read(first), read(second), read(first)] == [
        200, 200, 200, 429, 429]  # fmt: skip


@contextmanager
def _paused(process: psutil.Process) -> Iterator[None]:
    """SIGSTOP a gunicorn worker: the other one accepts every connection meanwhile."""
    os.kill(process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(process.pid, signal.SIGCONT)


@pytest.mark.real
def test_gunicorn_workers_share_one_allowance(
    log_dir: Path, mongo_uri: str, limits_url: str
) -> None:
    env = service_env(mongo_uri, limits_url, SHOPSYNC_RATE_LIMIT_READ=TINY_LIMIT)
    web = servers.gunicorn(log_dir, env, name="limits-web", workers=2, threads=2).start()
    try:
        assert web.process is not None
        master = psutil.Process(web.process.pid)
        servers.wait_until(lambda: len(master.children()) == 2, 30, "two gunicorn workers")
        first, second = master.children()
        url = f"http://127.0.0.1:{web.port}/api/config/clients"

        def read() -> int:
            return httpx.get(url, headers=HEADERS, timeout=20).status_code  # a new connection

        # Given two reads served by the first worker alone
        with _paused(second):
            statuses = [read(), read()]
        # When the second worker alone serves the next two, Then it knows of the first two
        with _paused(first):
            statuses += [read(), read()]
        assert statuses == [200, 200, 200, 429], web.log()[-2000:]
    finally:
        web.stop()


# --- settings ----------------------------------------------------------------------------------


def test_defaults_are_those_of_the_interface() -> None:
    defaults = {name: field.default for name, field in Settings.model_fields.items()}
    assert defaults["rate_limit_read"] == "1200/minute"
    assert defaults["rate_limit_write"] == "120/minute"
    assert defaults["rate_limit_auth_failures"] == "20/minute"
    assert (make_settings().proxy_hops, make_settings(env="production").proxy_hops) == (0, 1)
    assert make_settings(env="production", trusted_proxies=0).proxy_hops == 0


@pytest.mark.parametrize("value", ["lots", "", "0/minute", "5/fortnight"])
def test_a_bad_limit_is_a_settings_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("SHOPSYNC_RATE_LIMIT_WRITE", value)
    with pytest.raises(ValidationError, match="SHOPSYNC_RATE_LIMIT_WRITE"):
        Settings()


def test_several_limits_in_one_value_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPSYNC_RATE_LIMIT_READ", "10/second;1000/hour")
    assert Settings().rate_limit_read == "10/second;1000/hour"
