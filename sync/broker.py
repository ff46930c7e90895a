"""The one place the Dramatiq broker is built and installed.

Import this (and call `get_broker()`) before any module that declares actors:
Dramatiq binds an actor to the broker that is current when it is declared.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from dataclasses import dataclass
from types import FrameType

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import current_millis
from dramatiq.middleware import CurrentMessage, Middleware
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from config_db.logs import configure_logging
from config_db.settings import Settings, get_settings
from sync import worker_metrics
from sync.message_logs import MessageLogContext

NAMESPACE = "shopsync"
# Dramatiq counts in milliseconds; our settings count in seconds.
MS_PER_SECOND = 1000

_broker: dramatiq.Broker | None = None
_lock = threading.Lock()


RETRY_BACKOFF_CAP_SECONDS = 2.0  # between attempts while Redis is away
RETRY_BACKOFF_BASE_SECONDS = 0.1


def redis_client(settings: Settings, *, patient: bool = False) -> redis.Redis:
    """A Redis client with connect and read timeouts.

    `patient` (workers, clock): each command is retried with backoff for about
    SHOPSYNC_REDIS_OUTAGE_SECONDS, so a Redis restart is waited out in place (throttle,
    leases, claims, enqueueing a continuation, acks) instead of failing a message whose
    retry could not be enqueued either. The web process fails fast and says so.
    """
    attempts = 1
    if patient:
        attempts = math.ceil(settings.redis_outage_seconds / RETRY_BACKOFF_CAP_SECONDS) + 5
    return redis.Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=settings.redis_timeout_seconds,
        socket_timeout=max(settings.redis_timeout_seconds, 10.0),
        health_check_interval=30,
        retry=Retry(
            ExponentialBackoff(cap=RETRY_BACKOFF_CAP_SECONDS, base=RETRY_BACKOFF_BASE_SECONDS),
            attempts,
        ),
    )


class ShutdownNotice(Middleware):
    """Sets `stopping` when the worker begins to shut down (SIGTERM).

    A running slice sees it at its next page, checkpoints and hands over its continuation
    well inside the shutdown timeout, instead of being cut off mid-slice.
    """

    stopping = threading.Event()

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self.stopping.clear()
        if threading.current_thread() is threading.main_thread():
            _absorb_echoed_sigterm()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self.stopping.set()


# Heroku, honcho and `docker stop` signal every process of the group: a worker process gets
# SIGTERM from them and again from the dramatiq main process, and Dramatiq reads a second
# SIGTERM as "kill now" (dramatiq/cli.py worker_process.termhandler), which cut every slice
# off mid-page. A second SIGTERM within this window is the same request, told twice.
ECHO_WINDOW_SECONDS = 2.0


def _absorb_echoed_sigterm() -> None:
    previous = signal.getsignal(signal.SIGTERM)
    if not callable(previous):
        return
    first: list[float] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        now = time.monotonic()
        if first and now - first[0] < ECHO_WINDOW_SECONDS:
            return
        first[:] = [now]
        previous(signum, frame)

    signal.signal(signal.SIGTERM, handler)


def build_broker(settings: Settings, *, patient: bool = True) -> RedisBroker:
    """RedisBroker on REDIS_URL in the `shopsync` namespace."""
    broker = RedisBroker(
        url=settings.redis_url,
        namespace=NAMESPACE,
        client=redis_client(settings, patient=patient),
        heartbeat_timeout=int(settings.worker_heartbeat_timeout_seconds * MS_PER_SECOND),
        maintenance_chance=settings.broker_maintenance_chance,
    )
    broker.add_middleware(CurrentMessage())
    broker.add_middleware(ShutdownNotice())
    MessageLogContext.install(broker)
    # Only in the `dramatiq` command's worker processes; before any actor module records.
    worker_metrics.install(broker, settings)
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


def get_broker(settings: Settings | None = None, *, patient: bool = True) -> dramatiq.Broker:
    """The installed broker, building the RedisBroker from settings on first use.

    Workers and the clock wait out Redis outages; the web process passes `patient=False`.
    """
    global _broker
    with _lock:
        if _broker is None:
            # In a worker process this is the first of our code to run (Dramatiq's CLI imports
            # the actor modules, which build the broker): logging is set up before anything
            # logs, and replaces the handler the CLI installed.
            configure_logging(settings)
            settings = settings or get_settings()
            _broker = build_broker(settings, patient=patient)
            dramatiq.set_broker(_broker)
        return _broker


# --- what only the Redis broker can tell: used by the clock's maintenance and watchdog ------


def requeue_dead_workers(broker: dramatiq.Broker) -> int:
    """Run Dramatiq's maintenance now on every queue a dead worker still holds messages of.

    Dramatiq does it on a random 1 in 1,000 of its commands, so a killed worker's messages
    came back minutes after its heartbeat timeout; the clock calls this on every tick.
    Returns the number of queues maintained.
    """
    if not isinstance(broker, RedisBroker):
        return 0
    client, namespace = broker.client, broker.namespace
    cutoff = current_millis() - broker.heartbeat_timeout
    queues: set[str] = set()
    dead: list[bytes] = client.zrangebyscore(f"{namespace}:__heartbeats__", 0, cutoff)  # type: ignore[assignment]
    for worker in dead:
        prefix = f"{namespace}:__acks__.{_text(worker)}."
        queues.update(_text(key)[len(prefix) :] for key in client.scan_iter(f"{prefix}*"))
    dispatch = broker.scripts["dispatch"]
    for queue in sorted(queues):
        # An unknown command does nothing but the maintenance it is asked for ("1").
        args = ["maintain", current_millis(), queue, broker.broker_id, broker.heartbeat_timeout,
                broker.dead_message_ttl, 1, 1000]  # fmt: skip
        dispatch(keys=[namespace], args=args)
    return len(queues)


@dataclass(frozen=True)
class QueuedMessage:
    """Where a message stands in Redis: `waiting` in its queue's list, or held by a worker."""

    delayed: bool
    waiting: bool
    eta_ms: int | None


def queued_messages(broker: dramatiq.Broker, queue_name: str) -> dict[str, QueuedMessage]:
    """Every message of `queue_name` and its delay queue that Redis still has, by message id."""
    if not isinstance(broker, RedisBroker):
        return {}
    found: dict[str, QueuedMessage] = {}
    # The delay queue first: a due message moved to its queue is found there (same id).
    for name, delayed in ((f"{queue_name}.DQ", True), (queue_name, False)):
        key = f"{broker.namespace}:{name}"
        listed: list[bytes] = broker.client.lrange(key, 0, -1)  # type: ignore[assignment]
        waiting = {_text(item) for item in listed}
        stored: dict[bytes, bytes] = broker.client.hgetall(f"{key}.msgs")  # type: ignore[assignment]
        for redis_id, data in stored.items():
            message = dramatiq.Message.decode(bytes(data))
            eta = message.options.get("eta")
            found[message.message_id] = QueuedMessage(
                delayed, _text(redis_id) in waiting, int(eta) if eta is not None else None
            )
    return found


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
