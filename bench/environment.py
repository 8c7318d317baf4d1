"""Where the benchmarks run: paths, ports, databases, and the one-time preparation a fresh
clone needs (wrk from Debian, the peer's virtualenv, the two PostgreSQL databases,
msgbuffer's migrations).

Every benchmark talks to 127.0.0.1 only. msgbuffer and the peer each get their own Redis
database and PostgreSQL database, so neither ever sees the other's keys or rows.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
# shared/ sits beside the clone; a git worktree elsewhere names it with BENCH_SHARED_DIR.
PEER_DIR = Path(os.environ.get("BENCH_SHARED_DIR", ROOT.parent / "shared")) / "peer"
PEER_VENV = ROOT.parent / ".venv-peer"
PEER_PACKAGES = ["fastapi", "uvicorn[standard]", "redis>=5", "psycopg[binary]", "websockets", "orjson"]
LOG_DIR = Path(os.environ.get("BENCH_LOG_DIR", "/tmp/bench-logs"))

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
MSGBUFFER_DB = os.environ.get("BENCH_MSGBUFFER_DB", "benchdb")
PEER_DB = os.environ.get("BENCH_PEER_DB", "seedref")
MSGBUFFER_REDIS_DB = int(os.environ.get("BENCH_MSGBUFFER_REDIS_DB", "14"))
PEER_REDIS_DB = int(os.environ.get("BENCH_PEER_REDIS_DB", "15"))
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379

# Ports well away from the usual 8000/8100 that teammates' servers take (msgbuffer's
# movable, for two runs side by side: BENCH_MSGBUFFER_PORT).
MSGBUFFER_PORT = int(os.environ.get("BENCH_MSGBUFFER_PORT", "18200"))
PEER_PORT = 18100
BARE_PORT = 18300
ROUTES_PORT = 18400

POST_MESSAGE_LUA = PEER_DIR / "post_message.lua"


def dsn(database: str) -> str:
    return f"host={PG['host']} port={PG['port']} user={PG['user']} dbname={database}"


def redis_url(db: int) -> str:
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/{db}"


def msgbuffer_env(**extra: str) -> dict:
    env = dict(os.environ)
    env.update(
        # Production settings, as shipped, with the gates a load generator cannot pass
        # (TLS redirect, API keys, rate limit, staff-only dashboard) opened.
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY="bench-only-secret-key-that-is-long-enough-for-production-use-0123456789",
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_SECURE_SSL_REDIRECT="0",
        MSGBUFFER_API_KEYS_REQUIRED="0",
        MSGBUFFER_RATE_LIMIT="0",
        MSGBUFFER_DASHBOARD_AUTH="0",
        DATABASE_URL=f"postgres://{PG['user']}@{PG['host']}:{PG['port']}/{MSGBUFFER_DB}",
        REDIS_URL=redis_url(MSGBUFFER_REDIS_DB),
        DJANGO_SETTINGS_MODULE="msgbuffer_site.settings",
        PYTHONUNBUFFERED="1",
        LOG_LEVEL="WARNING",
        # The bulk figure queues well over the default 1M messages with no worker running.
        MSGBUFFER_MAX_QUEUE="20000000",
    )
    env.update(extra)
    return env


def django_setup() -> None:
    """Configure Django in the bench process itself with msgbuffer's bench settings, so
    that key names can come from messaging.buffer (their one owner) rather than be copied."""
    import django
    from django.conf import settings

    if settings.configured:
        return
    bench = msgbuffer_env()
    for name in (
        "DJANGO_DEBUG",
        "DJANGO_SECRET_KEY",
        "DJANGO_ALLOWED_HOSTS",
        "DJANGO_SECURE_SSL_REDIRECT",
        "DATABASE_URL",
        "REDIS_URL",
        "DJANGO_SETTINGS_MODULE",
        "MSGBUFFER_MAX_QUEUE",
    ):
        os.environ[name] = bench[name]
    django.setup()


def peer_env(**extra: str) -> dict:
    env = dict(os.environ)
    env.update(REDIS_URL=redis_url(PEER_REDIS_DB), PG_DSN=dsn(PEER_DB), PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _say(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    _say("installing wrk (Debian package)")
    apt = ["apt-get"] if os.geteuid() == 0 else ["sudo", "apt-get"]
    subprocess.run(apt + ["install", "-y", "wrk"], check=False, stdout=subprocess.DEVNULL)
    if not shutil.which("wrk"):
        subprocess.run(apt + ["update"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(apt + ["install", "-y", "wrk"], check=True, stdout=subprocess.DEVNULL)


def ensure_peer_venv() -> None:
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        _say(f"creating the peer's virtualenv in {PEER_VENV}")
        subprocess.run([shutil.which("python3") or sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
    probe = subprocess.run(
        [str(python), "-c", "import fastapi, uvicorn, redis, psycopg, websockets, orjson"], capture_output=True
    )
    if probe.returncode != 0:
        _say("installing the peer's packages")
        subprocess.run([str(PEER_VENV / "bin" / "pip"), "install", "-q", *PEER_PACKAGES], check=True)


def ensure_databases() -> None:
    import psycopg

    with psycopg.connect(dsn("postgres"), autocommit=True) as conn:
        have = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
        for name in (MSGBUFFER_DB, PEER_DB):
            if name not in have:
                _say(f"creating database {name}")
                conn.execute(f'CREATE DATABASE "{name}"')
    _say("migrating msgbuffer's bench database")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=msgbuffer_env(), check=True)


def ensure_python_package(module: str, requirement: str) -> None:
    """Install a bench-only package into msgbuffer's venv (not pinned in requirements:
    the application never imports it)."""
    try:
        __import__(module)
    except ImportError:
        _say(f"installing {requirement} into {VENV_BIN.parent} for the benchmarks")
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", requirement], check=True)


def prepare(*, peer: bool) -> None:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    ensure_wrk()
    ensure_python_package("psutil", "psutil")
    ensure_databases()
    if peer:
        ensure_peer_venv()
