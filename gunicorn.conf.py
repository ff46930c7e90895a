"""Gunicorn reads this file from the working directory by itself, so the Procfile stays short."""

from __future__ import annotations

from typing import Any

from config_db import metrics_dir
from config_db.settings import Settings

logger_class = "config_db.access_log.RedactingLogger"

# Every web worker records metrics into one folder that GET /metrics reads whole. Chosen
# here, in the master, before any worker (or --preload) imports prometheus_client.
_metrics_folder = metrics_dir.use_folder(Settings(), metrics_dir.WEB)


def on_starting(server: Any) -> None:
    """Once per master start (not on reload): forget the files of the previous run."""
    if _metrics_folder is not None:
        metrics_dir.empty(_metrics_folder)


def child_exit(server: Any, worker: Any) -> None:
    """A worker ended: its live gauges must not count any more."""
    metrics_dir.process_dead(_metrics_folder, worker.pid)
