"""Start or stop the local MongoDB-protocol server (SecantusDB) and Redis for `make run`.

Only starts what is missing: when MONGODB_URI / REDIS_URL are set, or something already
answers on the default port, nothing is started for it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / ".local"
MONGO_PORT = 27017
REDIS_PORT = 6379
START_TIMEOUT_SECONDS = 20.0


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def wait_for_port(port: int, name: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not port_open(port):
        if time.monotonic() > deadline:
            sys.exit(f"{name} did not start on port {port}; see {STATE}/{name}.log")
        time.sleep(0.2)


def spawn(name: str, argv: list[str]) -> None:
    STATE.mkdir(exist_ok=True)
    log = open(STATE / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
    process = subprocess.Popen(argv, stdout=log, stderr=log, start_new_session=True)
    (STATE / f"{name}.pid").write_text(str(process.pid))


def shown(url: str) -> str:
    """A service URL without its credentials, fit to print."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        return url.replace(parts.netloc, f"***@{parts.hostname}:{parts.port or ''}".rstrip(":"))
    return url


def start_mongo() -> None:
    if os.environ.get("MONGODB_URI") or port_open(MONGO_PORT):
        print(f"mongodb: using {shown(os.environ.get('MONGODB_URI') or f'127.0.0.1:{MONGO_PORT}')}")
        return
    binary = shutil.which("secantusd-py") or str(Path(sys.executable).parent / "secantusd-py")
    (STATE / "mongo").mkdir(parents=True, exist_ok=True)
    spawn(
        "mongo",
        [
            binary,
            "--host",
            "127.0.0.1",
            "--port",
            str(MONGO_PORT),
            "--storage-path",
            str(STATE / "mongo"),
        ],
    )
    wait_for_port(MONGO_PORT, "mongo")
    print(f"mongodb: started SecantusDB on 127.0.0.1:{MONGO_PORT} (data in .local/mongo)")


def start_redis() -> None:
    if os.environ.get("REDIS_URL") or port_open(REDIS_PORT):
        print(f"redis: using {shown(os.environ.get('REDIS_URL') or f'127.0.0.1:{REDIS_PORT}')}")
        return
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed: run scripts/bootstrap.sh")
    spawn(
        "redis",
        [
            binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(REDIS_PORT),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
    )
    wait_for_port(REDIS_PORT, "redis")
    print(f"redis: started redis-server on 127.0.0.1:{REDIS_PORT}")


def stop() -> None:
    for pid_file in STATE.glob("*.pid"):
        try:
            os.killpg(int(pid_file.read_text()), signal.SIGTERM)
            print(f"stopped {pid_file.stem}")
        except (ProcessLookupError, ValueError):
            pass
        pid_file.unlink()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["start", "stop"])
    if parser.parse_args().command == "start":
        start_mongo()
        start_redis()
    else:
        stop()


if __name__ == "__main__":
    main()
