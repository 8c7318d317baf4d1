"""msgbuffer_site/launch.py (`make run`): as on a fresh machine (no DATABASE_URL, no
REDIS_URL) it migrates SQLite, starts an embedded Redis, web and worker, prints the
dashboard URL once the web answers, and leaves nothing running after Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from msgbuffer_site.embedded_redis import free_port
from tests.support import ROOT, wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds leftovers through /proc"),
]


class Launcher:
    """`python -m msgbuffer_site.launch` in its own process group, as a terminal runs it."""

    def __init__(self, var_dir: Path):
        self.var_dir = var_dir
        self.port = free_port()
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in {"DATABASE_URL", "REDIS_URL", "REDIS_HOST", "REDIS_PORT", "DJANGO_DEBUG", "DJANGO_SECRET_KEY"}
        }
        env.update(PORT=str(self.port), MSGBUFFER_VAR_DIR=str(var_dir), PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "msgbuffer_site.launch"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.output: list[str] = []
        threading.Thread(target=lambda: self.output.extend(self.process.stdout), daemon=True).start()

    def text(self) -> str:
        return "".join(self.output)

    def leftovers(self) -> list[str]:
        """Processes still running with this launcher's MSGBUFFER_VAR_DIR in their environment."""
        marker = f"MSGBUFFER_VAR_DIR={self.var_dir}\0".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if marker in (entry / "environ").read_bytes():
                    found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
            except OSError:  # gone meanwhile, or not ours to read
                continue
        return found

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@pytest.fixture
def launcher(tmp_path):
    running = Launcher(tmp_path / "var")
    yield running
    running.kill()


def test_launch__fresh_machine_then_ctrl_c__message_persisted_and_everything_stopped(launcher):
    wait_for(
        lambda: "dashboard at" in launcher.text(), timeout=90, message=f"the dashboard URL; output so far:\n{launcher.text()}"
    )
    base = re.search(r"dashboard at (http://\S+?)/\s", launcher.text()).group(1)
    assert base == f"http://127.0.0.1:{launcher.port}"
    assert "embedded Redis" in launcher.text() and (launcher.var_dir / "db.sqlite3").exists()

    reply = httpx.post(f"{base}/messages", json={"user_id": 42, "channel_id": 7, "content": "hello"}, timeout=5)
    assert reply.status_code == 202
    message_id = reply.json()["message_id"]
    wait_for(
        lambda: httpx.get(f"{base}/messages/{message_id}", timeout=2).json()["status"] == "persisted",
        timeout=10,
        message="the message persisted",
    )

    os.killpg(launcher.process.pid, signal.SIGINT)  # Ctrl-C reaches the terminal's whole foreground group

    assert launcher.process.wait(30) == 0
    wait_for(lambda: launcher.leftovers() == [], timeout=10, message="web, worker and Redis gone")
    assert (launcher.var_dir / "redis" / "appendonly.aof").exists()  # the embedded Redis kept an AOF


def test_launch__sigterm_to_the_launcher_alone__everything_stopped(launcher):
    wait_for(
        lambda: "dashboard at" in launcher.text(), timeout=90, message=f"the dashboard URL; output so far:\n{launcher.text()}"
    )
    assert launcher.leftovers()  # web, worker and Redis are running

    launcher.process.send_signal(signal.SIGTERM)  # a process manager, or `timeout`, stopping make run

    assert launcher.process.wait(30) == 0
    wait_for(lambda: launcher.leftovers() == [], timeout=10, message="web, worker and Redis gone")
