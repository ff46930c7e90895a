"""Fixtures: settings, mongomock and StubBroker for unit tests; real services for the rest."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import mongomock
import pytest
import redis
from dramatiq import Worker
from dramatiq.brokers.stub import StubBroker
from pymongo import MongoClient

from sync.broker import install_broker

# Unit tests use a StubBroker; it must be installed before any actor module is imported.
STUB_BROKER = install_broker(StubBroker())

from app import create_app  # noqa: E402
from config_db.logs import LogFormat, build_formatter  # noqa: E402
from config_db.settings import Settings  # noqa: E402
from tests import servers  # noqa: E402
from tests.fakeshopify import FakeShopify  # noqa: E402

API_KEY = "test-api-key-0123456789"
SECRET_KEY = "test-secret-key"
ADMIN_TOKEN = "shpat_0123456789abcdef0123456789ab9f2c"
STOREFRONT_TOKEN = "sfat_storefront_secret_token_7777"
WEBHOOK_SECRET = "whsec_shop_specific_secret_5555"
HEADERS = {"X-API-Key": API_KEY}


def seed_payload(client_key: str = "mystore", **overrides: Any) -> dict[str, Any]:
    """The customer's example payload with loopback Shopify URLs."""
    payload: dict[str, Any] = {
        "clientKey": client_key,
        "clientName": "My Store",
        "environment": "production",
        "apiBaseUrl": f"https://{client_key.lower()}.myshopify.com",
        "adminApiBaseUrl": f"https://{client_key.lower()}.myshopify.com",
        "appName": "MyStore App",
        "bundleId": "com.mystore.app",
        "packageName": "com.mystore.app",
        "storefrontToken": STOREFRONT_TOKEN,
        "adminShopToken": ADMIN_TOKEN,
    }
    payload.update(overrides)
    return {key: value for key, value in payload.items() if value is not None}


@pytest.fixture(scope="session")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("service-logs")


@pytest.fixture(scope="session")
def mongo_server(log_dir: Path) -> Iterator[servers.Service]:
    service = servers.secantus(log_dir).start()
    yield service
    service.stop()


@pytest.fixture(scope="session")
def redis_service(log_dir: Path) -> Iterator[servers.Service]:
    service = servers.redis_server(log_dir).start()
    yield service
    service.stop()


@pytest.fixture(scope="session")
def mongo_uri(mongo_server: servers.Service) -> str:
    return f"mongodb://127.0.0.1:{mongo_server.port}"


@pytest.fixture(scope="session")
def redis_url(redis_service: servers.Service) -> str:
    return f"redis://127.0.0.1:{redis_service.port}/0"


@pytest.fixture
def real_mongo(mongo_uri: str) -> Iterator[MongoClient[dict[str, Any]]]:
    """A client to the real SecantusDB server, emptied before each test."""
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri, tz_aware=True)
    for name in client.list_database_names():
        if name == "appconfig":
            # Emptied, not dropped: running web processes created its indexes once.
            for collection in client.appconfig.list_collection_names():
                client.appconfig[collection].delete_many({})
        elif name not in ("admin", "local", "config"):
            client.drop_database(name)
    yield client
    client.close()


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "mongodb_uri": "mongodb://127.0.0.1:1",
        "redis_url": "redis://127.0.0.1:1/0",
        "api_key": API_KEY,
        "secret_key": SECRET_KEY,
        "env": "development",
        "shopify_client_secret": "app-client-secret",
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings() -> Settings:
    return make_settings()


@pytest.fixture
def stub_broker() -> Iterator[StubBroker]:
    STUB_BROKER.flush_all()
    yield STUB_BROKER
    STUB_BROKER.flush_all()


@pytest.fixture
def stub_worker(stub_broker: StubBroker) -> Iterator[Worker]:
    worker = Worker(stub_broker, worker_timeout=100)
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def mock_mongo() -> mongomock.MongoClient:
    return mongomock.MongoClient(tz_aware=True)


@pytest.fixture
def app(settings: Settings, mock_mongo: mongomock.MongoClient, stub_broker: StubBroker) -> Any:
    """The control API on mongomock and the StubBroker."""
    return create_app(settings, mongo_client=mock_mongo)


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def real_app(
    mongo_uri: str, real_mongo: MongoClient[dict[str, Any]], stub_broker: StubBroker
) -> Iterator[Any]:
    """The control API in-process on the real SecantusDB server (broker still stubbed)."""
    app = create_app(make_settings(mongodb_uri=mongo_uri))
    yield app
    close_app(app)


@pytest.fixture
def real_client(real_app: Any) -> Any:
    return real_app.test_client()


class _CaptureHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A subclass, so configure_logging (create_app) keeps it as it keeps pytest's."""


@dataclass
class LogCapture:
    """Every line logged during a test, rendered in one of shopsync's formats."""

    format: str
    buffer: StringIO = field(default_factory=StringIO)

    def lines(self) -> list[str]:
        return [line for line in self.buffer.getvalue().splitlines() if line.strip()]

    def records(self) -> list[dict[str, Any]]:
        """The JSON objects (json format); fails on a line that is not one."""
        return [json.loads(line) for line in self.lines()]

    def text(self) -> str:
        """The raw lines, plus in json every value decoded: an escaped secret is found too."""
        raw = self.buffer.getvalue()
        if self.format != "json":
            return raw
        return raw + "\n".join(str(value) for r in self.records() for value in r.values())


@contextmanager
def capture_logs(log_format: LogFormat) -> Iterator[LogCapture]:
    """Every line logged in the block (any logger, DEBUG and up), rendered in `log_format`."""
    capture = LogCapture(log_format)
    handler = _CaptureHandler(capture.buffer)
    handler.setFormatter(build_formatter(log_format))
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield capture
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


@pytest.fixture(params=["text", "json"])
def log_capture(request: pytest.FixtureRequest) -> Iterator[LogCapture]:
    """The test's log lines in each format in turn (the test runs once per format)."""
    with capture_logs(request.param) as capture:
        yield capture


def close_app(app: Any) -> None:
    """Close an app's MongoClient now: closing it at exit, once servers are gone, is slow."""
    app.extensions["shopsync"].mongo.close()


# The rate-limit tests' own Redis database (the other tests use 0-8) and their tiny limit.
LIMITS_DB = 12
TINY_LIMIT = "3/minute"


@pytest.fixture
def limits_url(redis_url: str) -> Iterator[str]:
    """The test Redis in the rate limits' own database, emptied before and after."""
    url = redis_url.rsplit("/", 1)[0] + f"/{LIMITS_DB}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


@pytest.fixture
def limited_app(limits_url: str, stub_broker: StubBroker) -> Iterator[Callable[..., Any]]:
    """Makes apps on mongomock and the limits' Redis, every limit TINY_LIMIT unless overridden."""
    apps: list[Any] = []

    def make(**overrides: Any) -> Any:
        values = {"redis_url": limits_url, "rate_limit_read": TINY_LIMIT,
                  "rate_limit_write": TINY_LIMIT, "rate_limit_auth_failures": TINY_LIMIT,
                  **overrides}  # fmt: skip
        mongo = mongomock.MongoClient(tz_aware=True)
        app = create_app(make_settings(**values), mongo_client=mongo)
        apps.append(app)
        return app

    yield make
    for app in apps:
        close_app(app)


def service_env(mongo_uri: str, redis_url: str, **extra: str) -> dict[str, str]:
    """Environment for a real web or worker process."""
    env = {
        "MONGODB_URI": mongo_uri,
        "REDIS_URL": redis_url,
        "SHOPSYNC_API_KEY": API_KEY,
        "SHOPSYNC_SECRET_KEY": SECRET_KEY,
        "SHOPSYNC_ENV": "development",
        "SHOPIFY_CLIENT_SECRET": "app-client-secret",
        "SHOPSYNC_WORKER_HEARTBEAT_TIMEOUT_SECONDS": "5",
        # Not the machine's default folder: other test runs and `make run` use that one.
        "SHOPSYNC_METRICS_DIR": str(Path(tempfile.gettempdir()) / f"shopsync-tests-{os.getpid()}"),
        "SHOPSYNC_METRICS_PORT": "0",
        "SHOPSYNC_CLOCK_METRICS_PORT": "0",
    }
    env.update(extra)
    return env


# The slowest files (measured: seconds on this 2-core machine), run first so that the two
# xdist workers of `make test` finish together (longest first); the rest keep their order.
SLOWEST_FILES = (
    "test_sync_bulk_e2e.py",  # ~210 s
    "test_auth_e2e.py",  # ~200 s
    "test_api_properties.py",  # ~125 s
    "test_sync_e2e.py",  # ~115 s
    "test_webhooks_e2e.py",  # ~75 s
    "test_sync_memberships_e2e.py",
    "test_metrics_e2e.py",
    "test_stores_archive_e2e.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slowest files first (a stable sort: tests within a file keep their order)."""
    rank = {name: position for position, name in enumerate(SLOWEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOWEST_FILES)))


@pytest.fixture(scope="session")
def fake() -> Iterator[FakeShopify]:
    """The fake Shopify Admin API over real HTTP on a free loopback port."""
    # Deliveries are signed with the app secret the test services are configured with.
    server = FakeShopify(client_secret="app-client-secret")
    server.serve()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def own_fake() -> Iterator[FakeShopify]:
    """A fake Shopify of the module's own, with default secrets (the fake's own tests)."""
    server = FakeShopify()
    server.serve(host="127.0.0.1", port=0)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    """A plain HTTP client for talking to a fake Shopify directly."""
    with httpx.Client(timeout=10) as client:
        yield client


# --- webhook hostility fixtures ----------------------------------------------------------------
# Shared by test_webhooks_hostile.py and test_webhooks_group_commit.py. tests.hostile_deliveries
# imports tests.test_webhooks, which imports this module: the fixtures import it when they run.

pytest.register_assert_rewrite("tests.hostile_deliveries")

if TYPE_CHECKING:
    from tests.hostile_deliveries import Shop


@pytest.fixture(scope="module")
def configured_shop() -> Shop:
    """Configured once for the module: a config POST costs ~0.5 s, a delivery milliseconds."""
    from tests.hostile_deliveries import Shop

    mongo: mongomock.MongoClient = mongomock.MongoClient(tz_aware=True)
    app = create_app(make_settings(), mongo_client=mongo)
    client = app.test_client()
    assert client.post("/api/config/sync", json=seed_payload(), headers=HEADERS).status_code == 202
    # No Redis in these tests: each try of the duplicate hint would wait on its retries (~0.2 s)
    app.extensions["shopsync.webhooks"].intake._seen = None  # noqa: SLF001
    return Shop(client, mongo, STUB_BROKER, app)


@pytest.fixture
def shop(configured_shop: Shop, stub_broker: Any) -> Shop:
    """`mystore` with an empty event log (stub_broker empties the queues)."""
    configured_shop.mongo.mystore.webhookevents.delete_many({})
    return configured_shop


@pytest.fixture
def real_shop(
    real_client: Any, real_mongo: MongoClient[dict[str, Any]], stub_broker: Any, real_app: Any
) -> Shop:
    """The app on the real SecantusDB with the store `mystore` configured."""
    from tests.hostile_deliveries import Shop

    answer = real_client.post("/api/config/sync", json=seed_payload(), headers=HEADERS)
    assert answer.status_code == 202
    return Shop(real_client, real_mongo, stub_broker, real_app)
