"""The one place the Dramatiq broker is built and installed.

Import this (and call `get_broker()`) before any module that declares actors:
Dramatiq binds an actor to the broker that is current when it is declared.
"""

from __future__ import annotations

import threading

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import CurrentMessage

from config_db.settings import Settings, get_settings

NAMESPACE = "shopsync"
# Dramatiq counts in milliseconds; our settings count in seconds.
MS_PER_SECOND = 1000

_broker: dramatiq.Broker | None = None
_lock = threading.Lock()


def redis_client(settings: Settings) -> redis.Redis:
    """A Redis client with connect and read timeouts, so a dead Redis fails fast."""
    return redis.Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=settings.redis_timeout_seconds,
        socket_timeout=max(settings.redis_timeout_seconds, 10.0),
        health_check_interval=30,
    )


def build_broker(settings: Settings) -> RedisBroker:
    """RedisBroker on REDIS_URL in the `shopsync` namespace."""
    broker = RedisBroker(
        url=settings.redis_url,
        namespace=NAMESPACE,
        client=redis_client(settings),
        heartbeat_timeout=int(settings.worker_heartbeat_timeout_seconds * MS_PER_SECOND),
        maintenance_chance=settings.broker_maintenance_chance,
    )
    broker.add_middleware(CurrentMessage())
    return broker


def install_broker(broker: dramatiq.Broker) -> dramatiq.Broker:
    """Make `broker` the process's broker (tests install a StubBroker this way)."""
    global _broker
    if not any(isinstance(m, CurrentMessage) for m in broker.middleware):
        broker.add_middleware(CurrentMessage())
    with _lock:
        _broker = broker
        dramatiq.set_broker(broker)
    return broker


def get_broker(settings: Settings | None = None) -> dramatiq.Broker:
    """The installed broker, building the RedisBroker from settings on first use."""
    global _broker
    with _lock:
        if _broker is None:
            settings = settings or get_settings()
            _broker = build_broker(settings)
            dramatiq.set_broker(_broker)
        return _broker
