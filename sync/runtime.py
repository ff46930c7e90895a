"""The services a worker process uses, built once per process."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import httpx
import redis

from config_db.mongo import MongoConnection, shared_connection
from config_db.repository import ConfigRepository, build_repository
from config_db.settings import Settings, get_settings
from stores.databases import StoreDatabases
from sync.auth.oauth import TokenEndpoint
from sync.auth.tokens import TokenSource
from sync.broker import redis_client
from sync.orchestration.coordination import Coordinator
from sync.shopify.breaker import CircuitBreaker
from sync.shopify.client import ShopifyClient, build_http_client
from sync.shopify.throttle import RedisThrottle
from sync.storage.downloads import Downloader


@dataclass(frozen=True)
class SyncServices:
    """Settings, appconfig, store databases, Shopify client and Redis coordination."""

    settings: Settings
    mongo: MongoConnection
    repository: ConfigRepository
    databases: StoreDatabases
    redis: redis.Redis
    http: httpx.Client
    shopify: ShopifyClient
    coordinator: Coordinator
    downloader: Downloader
    tokens: TokenSource
    token_endpoint: TokenEndpoint
    breaker: CircuitBreaker


def build_services(
    settings: Settings, mongo: MongoConnection, *, patient: bool = False
) -> SyncServices:
    """Everything plain sync functions need, on one Redis client and one httpx client.

    `patient`: Redis commands wait out an outage (workers and clock, not the web).
    """
    client = redis_client(settings, patient=patient)
    http = build_http_client(settings)
    repository = build_repository(settings, mongo)
    endpoint = TokenEndpoint(http)
    breaker = CircuitBreaker(
        client, settings, lambda key, state: repository.note_client(key, {"breaker": state})
    )
    return SyncServices(
        settings=settings,
        mongo=mongo,
        repository=repository,
        databases=StoreDatabases(mongo.client, settings.db_prefix),
        redis=client,
        http=http,
        shopify=ShopifyClient(
            http,
            RedisThrottle(client),
            max_attempts=settings.shopify_max_attempts,
            backoff_cap_seconds=settings.backoff_cap_seconds,
            breaker=breaker,
        ),
        coordinator=Coordinator(client, settings.sync_lease_seconds, settings.store_concurrency),
        downloader=Downloader(http, settings),
        tokens=TokenSource(settings, repository, client, endpoint),
        token_endpoint=endpoint,
        breaker=breaker,
    )


@lru_cache(maxsize=1)
def worker_services() -> SyncServices:
    """The worker process's services on its settings and shared MongoClient."""
    settings = get_settings()
    return build_services(settings, shared_connection(settings), patient=True)
