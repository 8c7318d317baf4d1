"""The two systems under test, behind one interface: start and stop a web process and a
worker, reset to an empty state, queue messages straight into Redis in the system's own
payload format, and read what was stored.

Each system owns its Redis database and PostgreSQL database (environment.py), so a reset
(FLUSHDB + TRUNCATE) never touches anybody else's data.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime

import orjson
import psycopg
import redis

from . import environment as env

CONTENT = "benchmark message content, roughly fifty characters"  # as post_message.lua


def wait_until(condition, *, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
            if value:
                return value
        except Exception:  # a server still starting
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Process:
    """A child in its own process group, logging to LOG_DIR; stop() always reaps it."""

    def __init__(self, name: str, argv: list[str], environ: dict, cwd=env.ROOT):
        self.name = name
        env.LOG_DIR.mkdir(parents=True, exist_ok=True)  # a script may start a child before anything else made it
        self.log_path = env.LOG_DIR / f"{name}-{int(time.time() * 1000)}.log"
        self._log = open(self.log_path, "wb")
        self.popen = subprocess.Popen(
            argv, cwd=cwd, env=environ, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.alive():
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(30)

    def stop(self, grace: float = 10.0) -> None:
        if self.alive():
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(30)
        self._log.close()

    count_children = False  # the web process: granian serves from a child, which may start a parser process

    def rss_mib(self) -> float:
        """RSS of the process, with its descendants' where count_children is set."""
        import psutil

        process = psutil.Process(self.popen.pid)
        members = [process] + (process.children(recursive=True) if self.count_children else [])
        total = 0
        for member in members:
            try:
                total += member.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total / (1 << 20)


def http_up(port: int, path: str) -> bool:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", path)
        return conn.getresponse().status > 0  # any answer: the server is up
    finally:
        conn.close()


class System:
    name: str
    port: int
    table: str
    database: str
    redis_db: int
    accepted_status: int

    def __init__(self):
        self.redis = redis.Redis(host=env.REDIS_HOST, port=env.REDIS_PORT, db=self.redis_db)
        self.processes: list[Process] = []

    # -- processes -------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/stats"

    def _spawn(self, name, argv, environ) -> Process:
        process = Process(f"{self.name}-{name}", argv, environ)
        self.processes.append(process)
        return process

    def start_web(self) -> Process:
        if not env.port_free(self.port):
            raise RuntimeError(f"port {self.port} is taken; stop whatever listens there")
        process = self._spawn("web", self.web_argv(), self.environ())
        process.count_children = True
        wait_until(lambda: http_up(self.port, "/health"), timeout=30, what=f"{self.name} web on {self.port}")
        return process

    def start_worker(self, *, wait: bool = True) -> Process:
        process = self._spawn("worker", self.worker_argv(), self.environ())
        if wait:
            self.wait_worker_ready(process)
        return process

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop_all()

    # -- state -----------------------------------------------------------------------
    def reset(self) -> None:
        """Empty Redis db and table (call with no process running)."""
        self.redis.flushdb()
        with psycopg.connect(env.dsn(self.database), autocommit=True) as conn:
            if self.table_exists(conn):
                conn.execute(f"TRUNCATE {self.table}")

    def table_exists(self, conn) -> bool:
        return conn.execute("SELECT to_regclass(%s)", (self.table,)).fetchone()[0] is not None

    def rows(self) -> int:
        with psycopg.connect(env.dsn(self.database), autocommit=True) as conn:
            if not self.table_exists(conn):
                return 0
            return conn.execute(f"SELECT count(*) FROM {self.table}").fetchone()[0]

    def persisted_counter(self) -> int:
        return int(self.redis.get("total_messages") or 0)

    def batches_counter(self) -> int:
        return int(self.redis.get("total_batches") or 0)

    def queue_length(self) -> int:
        return self.redis.llen("pending_messages")

    def latency_ms_from_rows(self, since: datetime | None = None) -> dict:
        """accepted -> committed per row (inserted_at is now() of the inserting transaction)."""
        where = "WHERE created_at >= %s" if since else ""
        sql = f"""
            SELECT count(*),
                   percentile_cont(0.50) WITHIN GROUP (ORDER BY ms),
                   percentile_cont(0.99) WITHIN GROUP (ORDER BY ms),
                   max(ms)
            FROM (SELECT extract(epoch FROM inserted_at - created_at) * 1000 AS ms FROM {self.table} {where}) t"""
        with psycopg.connect(env.dsn(self.database), autocommit=True) as conn:
            n, p50, p99, top = conn.execute(sql, (since,) if since else ()).fetchone()
        return {"rows": n, "p50_ms": p50, "p99_ms": p99, "max_ms": top}

    def row_latency_by_content(self, content: str) -> float | None:
        with psycopg.connect(env.dsn(self.database), autocommit=True) as conn:
            if not self.table_exists(conn):
                return None
            row = conn.execute(
                f"SELECT extract(epoch FROM inserted_at - created_at) * 1000 FROM {self.table} WHERE content = %s", (content,)
            ).fetchone()
        return float(row[0]) if row else None

    def queue_raw(self, count: int, *, chunk: int = 5000) -> None:
        """Queue `count` messages straight into Redis, pipelined, in the system's payload format."""
        now = datetime.now(UTC).isoformat()
        pipe = self.redis.pipeline(transaction=False)
        for start in range(0, count, chunk):
            n = min(chunk, count - start)
            pipe.lpush("pending_messages", *[self.payload(now) for _ in range(n)])
            pipe.execute()


BRIEF_WEB_ARGS = ["msgbuffer_site.asgi:application", "--no-access-log", "--lifespan", "off"]
BRIEF_WORKER_ARGS = ["manage.py", "rqworker"]


def _procfile_words(process: str) -> list[str] | None:
    import shlex

    try:
        line = next(entry for entry in (env.ROOT / "Procfile").read_text().splitlines() if entry.startswith(f"{process}:"))
    except (OSError, StopIteration):
        return None
    return shlex.split(line.split(":", 1)[1])


def procfile_program(process: str, fallback: str) -> str:
    """The program of the Procfile's line (granian, python)."""
    words = _procfile_words(process)
    return words[0] if words else fallback


def procfile_args(process: str, fallback: list[str]) -> list[str]:
    """The arguments of the Procfile's `web:` (after `granian`, without --host/--port) or
    `worker:` line (after `python`): the bench runs msgbuffer as it ships."""
    words = _procfile_words(process)
    if words is None:
        return fallback
    words = words[1:]  # drop the program (granian / python)
    out, skip = [], False
    for word in words:
        if skip:
            skip = False
        elif word in ("--host", "--port"):
            skip = True
        elif not word.startswith(("--host=", "--port=")):
            out.append(word)
    return out or fallback


class Msgbuffer(System):
    name = "msgbuffer"
    port = env.MSGBUFFER_PORT
    table = "messaging_message"
    database = env.MSGBUFFER_DB
    redis_db = env.MSGBUFFER_REDIS_DB
    accepted_status = 202

    def __init__(self, **env_overrides: str):
        self.env_overrides = env_overrides
        env.django_setup()
        super().__init__()

    def environ(self) -> dict:
        return env.msgbuffer_env(**self.env_overrides)

    def web_argv(self) -> list[str]:
        return [
            str(env.VENV_BIN / procfile_program("web", "uvicorn")),
            *procfile_args("web", BRIEF_WEB_ARGS),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]

    def worker_argv(self) -> list[str]:
        return [sys.executable, *procfile_args("worker", BRIEF_WORKER_ARGS)]

    def wait_worker_ready(self, process: Process) -> None:
        from messaging.buffer import WORKERS

        wait_until(lambda: not process.alive() or self.redis.zcard(WORKERS) > 0, timeout=30, what="msgbuffer worker")
        if not process.alive():
            raise RuntimeError(f"msgbuffer worker died; see {process.log_path}")

    @staticmethod
    def payload(accepted_at: str) -> bytes:
        from messaging import buffer
        from messaging.schemas import MessageIn

        # The format ingest queues (messaging/buffer/message_format.py).
        return buffer.queued_payload(MessageIn(user_id=42, channel_id=7, content=CONTENT), str(uuid.uuid4()), accepted_at)


class Peer(System):
    name = "peer"
    port = env.PEER_PORT
    table = "messages"
    database = env.PEER_DB
    redis_db = env.PEER_REDIS_DB
    accepted_status = 201

    def environ(self) -> dict:
        return env.peer_env()

    def web_argv(self) -> list[str]:
        return [
            str(env.PEER_VENV / "bin" / "uvicorn"),
            "--app-dir",
            str(env.PEER_DIR),
            "api:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--no-access-log",
        ]

    def worker_argv(self) -> list[str]:
        return [str(env.PEER_VENV / "bin" / "python"), str(env.PEER_DIR / "worker.py")]

    def wait_worker_ready(self, process: Process) -> None:
        # The peer's worker creates its table, then blocks on BRPOP: a blocked client is its sign of life.
        def ready():
            if not process.alive():
                return True
            return any(
                client.get("cmd") == "brpop" for client in self.redis.client_list() if int(client.get("db", -1)) == self.redis_db
            )

        wait_until(ready, timeout=30, what="peer worker")
        if not process.alive():
            raise RuntimeError(f"peer worker died; see {process.log_path}")

    @staticmethod
    def payload(accepted_at: str) -> bytes:
        # The format the peer's api.py queues.
        return orjson.dumps(
            {"tracking_id": uuid.uuid4().hex[:8], "user_id": 42, "channel_id": 7, "content": CONTENT, "created_at": accepted_at}
        )
