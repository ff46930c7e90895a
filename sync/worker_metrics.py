"""The worker processes' metrics: Dramatiq's Prometheus middleware, on our folder and port.

Dramatiq 2.x no longer adds its Prometheus middleware by itself (reference.md). It records
Dramatiq's own metrics into a multiprocess folder, and one extra process of the `dramatiq`
command serves that folder over HTTP. Our metrics (config_db.metrics) go into the same
folder, so one endpoint on SHOPSYNC_METRICS_PORT shows both.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import Any

import dramatiq

from config_db import metrics_dir
from config_db.settings import Settings

log = logging.getLogger(__name__)
# As Dramatiq's own exposition server: Prometheus scrapes workers from another host.
METRICS_HOST = "0.0.0.0"  # noqa: S104


def started_by_dramatiq() -> bool:
    """True in a worker process of the `dramatiq` command.

    The web, the clock and in-process test workers build the same broker, but must neither
    touch the worker folder nor serve a port; only the command loads `dramatiq.cli`.
    """
    return "dramatiq.cli" in sys.modules


def install(broker: dramatiq.Broker, settings: Settings) -> bool:
    """In a `dramatiq` worker process: choose and empty the folder, add the middleware.

    Runs while the broker is built, before any actor module imports prometheus_client
    (which picks its mode on import). Returns whether the middleware was added.
    """
    if settings.metrics_port == 0 or not started_by_dramatiq():
        return False
    folder = metrics_dir.use_folder(settings, metrics_dir.WORKER)
    if folder is None:
        return False
    # The worker processes of one command share a parent: the first of them empties.
    metrics_dir.empty_once(folder, metrics_dir.parent_run_id())
    # Dramatiq's module reads its folder from this variable when first imported (just below).
    os.environ["dramatiq_prom_db"] = str(folder)
    broker.add_middleware(_middleware())
    return True


def _middleware() -> dramatiq.Middleware:
    from dramatiq.middleware.prometheus import Prometheus

    class WorkerPrometheus(Prometheus):
        """Dramatiq's middleware, its exposition process replaced by `serve` (our port)."""

        @property
        def forks(self) -> list[Callable[[], Any]]:
            return [serve]

    middleware: dramatiq.Middleware = WorkerPrometheus()
    return middleware


def serve() -> int:
    """The `dramatiq` command's extra process: serve the worker folder until stopped.

    Forked from the command's main process, which never imported our code: it reads the
    settings itself. A busy port is logged and ends only this process, not the workers.
    """
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    settings = Settings()
    folder = metrics_dir.folder_for(settings, metrics_dir.WORKER)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(folder))
    try:
        _, thread = start_http_server(settings.metrics_port, METRICS_HOST, registry)
    except OSError as error:
        log.error("worker metrics not served on port %s: %s", settings.metrics_port, error)
        return 1
    log.info("worker metrics on port %s", settings.metrics_port)
    thread.join()
    return 0
