"""Helpers for tests that start real servers and workers: environment, process control,
and waiting on a condition with a deadline (never a fixed sleep)."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def wait_for(condition: Callable[[], object], *, timeout: float, interval: float = 0.05, message: str = "condition"):
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error = None
    while True:
        try:
            value = condition()
            if value:
                return value
        except Exception as exc:  # a server still starting, say
            last_error = exc
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {message}" + (f" (last error: {last_error!r})" if last_error else "")
            )
        time.sleep(interval)


def database_url() -> str:
    """The URL of the database the tests use (pytest-django's test database)."""
    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(s['NAME']).resolve()}"
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return f"postgres://{s['USER']}{password}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def child_env(**overrides: str) -> dict:
    """Environment for a web or worker subprocess that shares the tests' Redis and database."""
    env = dict(os.environ)
    env["DATABASE_URL"] = database_url()
    env["PYTHONUNBUFFERED"] = "1"
    env.update({key: str(value) for key, value in overrides.items()})
    return env


def procfile_web_argv(port: int) -> list[str]:
    """The Procfile's web line, limits and all, on 127.0.0.1:`port` with this venv's server:
    what the tests start is what production runs."""
    line = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))
    program, *args = shlex.split(line.split(":", 1)[1].replace("${PORT:-8000}", str(port)))
    args = ["127.0.0.1" if arg == "0.0.0.0" else arg for arg in args]
    return [sys.executable, "-m", program, *args]


class Processes:
    """Starts subprocesses in their own process groups and always stops them."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.running: list[subprocess.Popen] = []

    def start(self, name: str, argv: list[str], env: dict) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}-{len(self.running)}.log", "wb")
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        process.log_path = log.name
        self.running.append(process)
        return process

    def worker(self, **env) -> subprocess.Popen:
        return self.start("worker", [sys.executable, "manage.py", "rqworker", "--worker-ttl", "15"], child_env(**env))

    def web(self, port: int, **env) -> subprocess.Popen:
        process = self.start("web", procfile_web_argv(port), child_env(**env))
        wait_for(
            lambda: httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code in (200, 503),
            timeout=30,
            message=f"web server on port {port}",
        )
        return process

    @staticmethod
    def kill(process: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
        if process.poll() is None:
            os.killpg(process.pid, sig)
            process.wait(30)

    def stop_all(self) -> None:
        for process in self.running:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.running:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def log(self, process: subprocess.Popen) -> str:
        return Path(process.log_path).read_text(errors="replace")
