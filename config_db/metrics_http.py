"""GET /metrics and the control API's request metrics.

Under gunicorn every worker records into the multiprocess folder its master chose
(gunicorn.conf.py), and a scrape, whichever worker answers it, reads all of them. Without
that folder (in-process tests, `flask run`) the process's own registry is served.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from typing import Any

from flask import Flask, Response, request
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from config_db import metrics
from config_db.metrics_dir import ENV
from config_db.openapi import Answer, operation

PATH = "/metrics"
STARTED = "shopsync.started"  # WSGI environ key: when Flask began the request
UNMATCHED = "unmatched"  # the route label of requests no URL rule matched (404, 405)
ATTEMPTS = 3  # reads of the multiprocess folder per scrape (see exposition)
OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    PATH: {
        "get": operation(
            "Prometheus metrics of the web process (no API key)",
            {200: Answer(text=("text/plain",), description="Prometheus text 0.0.4 "
                         "(OpenMetrics if asked for)")},
            public=True,
        )
    }
}


class _ProcessRegistry:
    """The process's default registry as one collector (single-process mode)."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def exposition(collectors: Sequence[Collector], accept: str = "") -> tuple[bytes, str]:
    """Every metric of the web process, plus `collectors` computed now, and the content type.

    The format is the one Prometheus asks for in `Accept` (text 0.0.4 unless it asks for
    OpenMetrics or a later text version), as prometheus_client's own endpoints negotiate it.
    """
    encode, content_type = choose_encoder(accept)
    registry = CollectorRegistry(auto_describe=False)
    folder = os.environ.get(ENV)
    if folder:
        MultiProcessCollector(registry, path=folder)
    else:
        registry.register(_ProcessRegistry())
    for collector in collectors:
        registry.register(collector)
    for _ in range(ATTEMPTS - 1):
        try:
            return encode(registry), content_type
        except FileNotFoundError:
            continue  # a file listed, then removed (a master emptying at start): read again
    return encode(registry), content_type


def _start_timer() -> None:
    request.environ[STARTED] = time.perf_counter()


def _record(response: Response) -> Response:
    """Count the answer under its URL rule (never the raw path: it holds ids)."""
    rule = request.url_rule
    route = rule.rule if rule is not None else UNMATCHED
    method = metrics.method_label(request.method)
    metrics.HTTP_REQUESTS.labels(route, method, str(response.status_code)).inc()
    started = request.environ.get(STARTED)
    if isinstance(started, float):
        metrics.HTTP_LATENCY.labels(route, method).observe(time.perf_counter() - started)
    return response


def install(app: Flask, collectors: Sequence[Collector] = ()) -> None:
    """Time and count every request, and serve GET /metrics (no API key)."""
    # First of the before-request hooks: a request another hook refuses is still timed.
    app.before_request_funcs.setdefault(None, []).insert(0, _start_timer)
    app.after_request(_record)

    def scrape() -> Response:
        """The Prometheus text exposition of every worker of this web process."""
        body, content_type = exposition(collectors, request.headers.get("Accept", ""))
        return Response(body, content_type=content_type)

    app.add_url_rule(PATH, "metrics", scrape, methods=["GET"])
