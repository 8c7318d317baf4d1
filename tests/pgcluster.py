"""A private PostgreSQL cluster that a test may stop and start at will (the machine's own
server is shared, so no test may take it down).

The cluster lives in a temporary directory, listens on 127.0.0.1 on a free port (its
unix socket in the same directory), and is deleted afterwards. initdb refuses to run as
root, so as root every server command runs as the `postgres` user.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg

from msgbuffer_site.embedded_redis import free_port
from tests.support import ROOT, child_env

PG_BIN = Path(os.environ.get("MSGBUFFER_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
SERVER_USER = "postgres"
DATABASE = "msgbuffer"


def missing_reason() -> str | None:
    """Why a private cluster cannot be run here, or None."""
    for tool in ("initdb", "pg_ctl", "postgres"):
        if not (PG_BIN / tool).exists():
            return f"PostgreSQL server binaries not found ({PG_BIN / tool}); set MSGBUFFER_TEST_PG_BIN"
    if os.geteuid() == 0 and not shutil.which("runuser"):
        return "running as root without `runuser`: initdb refuses root"
    return None


class PgCluster:
    def __init__(self):
        self.base = Path(tempfile.mkdtemp(prefix="msgbuffer-pg-"))
        self.data = self.base / "data"
        self.port = free_port()
        self.running = False
        if os.geteuid() == 0:
            shutil.chown(self.base, SERVER_USER, SERVER_USER)
        # fsync off: these tests stop the server cleanly; they are not about disk crashes.
        self._as_server_user(
            PG_BIN / "initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"
        )

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{DATABASE}"

    def _as_server_user(self, *argv) -> None:
        prefix = ["runuser", "-u", SERVER_USER, "--"] if os.geteuid() == 0 else []
        result = subprocess.run(prefix + [str(arg) for arg in argv], capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}\n{self.server_log()}")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        self._as_server_user(
            PG_BIN / "pg_ctl", "-D", self.data, "-l", self.base / "server.log", "-w", "-t", "60", "-o", options, "start"
        )
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        self._as_server_user(PG_BIN / "pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "60", "stop")
        self.running = False

    def create_and_migrate(self) -> None:
        """Create the msgbuffer database and run `manage.py migrate` against it."""
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {DATABASE}")
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=child_env(DATABASE_URL=self.url),
            check=True,
            timeout=120,
        )

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.url.replace("postgres://", "postgresql://"), autocommit=True)

    def server_log(self) -> str:
        log = self.base / "server.log"
        return log.read_text(errors="replace")[-3000:] if log.exists() else ""

    def destroy(self) -> None:
        try:
            if self.running:
                self.stop("immediate")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)
