"""Real local services for tests: SecantusDB, Redis, gunicorn and Dramatiq workers."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
START_TIMEOUT_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    check: Callable[[], bool], timeout: float, what: str, interval: float = 0.05
) -> None:
    """Poll `check` until true; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(interval)


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class Service:
    """A child process with its log file; stopped with its whole process group."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        log_dir: Path,
        env: dict[str, str] | None = None,
        port: int | None = None,
    ) -> None:
        self.name, self.argv, self.port = name, argv, port
        self.log_path = log_dir / f"{name}.log"
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, ready: Callable[[], bool] | None = None) -> Service:
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.process = subprocess.Popen(
            self.argv, stdout=log, stderr=log, env=self.env, cwd=ROOT, start_new_session=True
        )
        check = ready or (lambda: self.port is not None and port_open(self.port))
        try:
            wait_until(lambda: self._alive() and check(), START_TIMEOUT_SECONDS, self.name)
        except TimeoutError:
            raise RuntimeError(f"{self.name} did not start:\n{self.log()[-3000:]}") from None
        return self

    def _alive(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited:\n{self.log()[-3000:]}")
        return True

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def signal(self, sig: int) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, sig)

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is None:
            return
        self.signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.process.wait(5)
        self.process = None


def secantus(log_dir: Path, storage: str = ":memory:") -> Service:
    port = free_port()
    binary = shutil.which("secantusd-py") or str(BIN / "secantusd-py")
    return Service(
        "secantus",
        [binary, "--host", "127.0.0.1", "--port", str(port), "--storage-path", storage],
        log_dir,
        port=port,
    )


def redis_server(log_dir: Path) -> Service:
    port = free_port()
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed: run scripts/bootstrap.sh")
    return Service(
        "redis",
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        log_dir,
        port=port,
    )


def gunicorn(
    log_dir: Path,
    env: dict[str, str],
    workers: int = 2,
    name: str = "web",
    port: int | None = None,
    threads: int = 4,
    access_log: bool = False,
) -> Service:
    port = port or free_port()
    extra = ["--access-logfile", "-"] if access_log else []
    return Service(
        name,
        [
            str(BIN / "gunicorn"),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            *extra,
            "app:create_app()",
        ],
        log_dir,
        env=env,
        port=port,
    )


def dramatiq_worker(
    log_dir: Path,
    env: dict[str, str],
    *,
    processes: int = 1,
    threads: int = 4,
    name: str = "worker",
    modules: tuple[str, ...] = ("sync.tasks", "webhooks.tasks"),
) -> Service:
    return Service(
        name,
        [
            sys.executable,
            "-m",
            "sync.worker",  # the Procfile's worker: dramatiq's CLI with our logging
            *modules,
            "--processes",
            str(processes),
            "--threads",
            str(threads),
            "--worker-shutdown-timeout",
            "5000",
        ],
        log_dir,
        env=env,
    )


def clock(log_dir: Path, env: dict[str, str], name: str = "clock") -> Service:
    """The scheduler process (`python -m sync.scheduler`)."""
    return Service(name, [sys.executable, "-m", "sync.scheduler"], log_dir, env=env)
