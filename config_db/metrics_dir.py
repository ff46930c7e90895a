"""Prometheus multiprocess folders: one per process type under SHOPSYNC_METRICS_DIR.

prometheus_client picks single- or multi-process mode when it is first imported, from
PROMETHEUS_MULTIPROC_DIR; so this module never imports it at the top, and a process points
it at its folder before anything records a metric. Web and worker each get their own
subfolder, so when both run on one machine (`make run`) neither empties the other's files.
A folder that cannot be made leaves the process in single-process mode (logged), never down.
"""

from __future__ import annotations

import fcntl
import logging
import os
import tempfile
from pathlib import Path

from config_db.settings import Settings

log = logging.getLogger(__name__)
ENV = "PROMETHEUS_MULTIPROC_DIR"
WEB = "web"
WORKER = "worker"
DEFAULT_BASE = "shopsync-metrics"  # under the system's temporary folder
RUN_MARKER = ".run"
LOCK_FILE = ".lock"


def folder_for(settings: Settings, role: str) -> Path:
    """`SHOPSYNC_METRICS_DIR/<role>` (default base: <tmp>/shopsync-metrics)."""
    base = Path(settings.metrics_dir or Path(tempfile.gettempdir()) / DEFAULT_BASE)
    return base / role


def use_folder(settings: Settings, role: str) -> Path | None:
    """Create the role's folder and make this process (and its children) record into it."""
    folder = folder_for(settings, role)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        log.warning("metrics folder %s unusable (%s): single-process metrics", folder, error)
        return None
    os.environ[ENV] = str(folder)
    return folder


def empty(folder: Path) -> None:
    """Remove the metric files of earlier runs; the folder stays (live writers may hold it)."""
    for path in folder.glob("*.db"):
        path.unlink(missing_ok=True)


def empty_once(folder: Path, run_id: str) -> bool:
    """Empty `folder` unless a process of run `run_id` already did; True when emptied.

    The worker processes of one `dramatiq` command start side by side: only the first may
    empty the folder, or it would delete what its siblings have recorded meanwhile.
    """
    with open(folder / LOCK_FILE, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        marker = folder / RUN_MARKER
        if marker.exists() and marker.read_text() == run_id:
            return False
        empty(folder)
        marker.write_text(run_id)
        return True


def parent_run_id() -> str:
    """This process's parent, by pid and start time (a pid alone is reused: PID 1 in Docker)."""
    parent = os.getppid()
    try:
        stat = Path(f"/proc/{parent}/stat").read_text()
        started = stat.rsplit(")", 1)[1].split()[19]  # field 22, starttime (proc(5))
    except (OSError, IndexError):
        started = ""
    return f"{parent}:{started}"


def process_dead(folder: Path | None, pid: int) -> None:
    """Drop a finished process's live gauges (gunicorn's child_exit)."""
    if folder is None:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, str(folder))
