"""`python -m bench.ingest_instructions [TREE ...]`: CPU instructions one POST /messages
costs the web process, counted by valgrind (cachegrind, no cache simulation).

Times on these shared two-core machines swing by 30 % with the neighbours' load; an
instruction count does not (±1 %), so it is the figure for "did this change make ingest
dearer", tree against tree. The request runs in-process, through msgbuffer_site.asgi's
application (edge, body deadline, validation, one push.lua round trip to Redis), 20 at
a time on uvloop, without the web server; the count is the difference between a run of
N_SMALL and one of N_LARGE requests, divided by the difference, so start-up and imports
fall out.

Each TREE (default: this checkout) is a msgbuffer checkout run with this checkout's
.venv (`git worktree add --detach DIR REV`). Needs valgrind (apt-get install valgrind)
and the machine's Redis; each run takes about a minute.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

N_SMALL, N_LARGE = 200, 1200
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")

DRIVER = r"""
import asyncio, os, sys
sys.path.insert(0, os.getcwd())
import uvloop
from msgbuffer_site.asgi import application

BODY = b'{"user_id": 42, "channel_id": 7, "content": "benchmark message content, roughly fifty characters"}'
SCOPE = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1", "method": "POST",
         "scheme": "http", "path": "/messages", "raw_path": b"/messages", "query_string": b"", "root_path": "",
         "headers": [(b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json"),
                     (b"content-length", str(len(BODY)).encode())],
         "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000), "state": {}}

async def one():
    statuses = []
    async def receive():
        return {"type": "http.request", "body": BODY, "more_body": False}
    async def send(message):
        if message["type"] == "http.response.start":
            statuses.append(message["status"])
    await application(dict(SCOPE), receive, send)
    assert statuses == [202], statuses

async def main(n):
    for _ in range(n // 20):
        await asyncio.gather(*(one() for _ in range(20)))

uvloop.run(main(int(sys.argv[1])))
"""

ENVIRONMENT = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "bench-only-secret-key-that-is-long-enough-for-production-use-0123456789",
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
    "DJANGO_SECURE_SSL_REDIRECT": "0",
    "MSGBUFFER_API_KEYS_REQUIRED": "0",
    "MSGBUFFER_RATE_LIMIT": "0",
    "MSGBUFFER_MAX_QUEUE": "20000000",
    "LOG_LEVEL": "WARNING",
    "DATABASE_URL": "sqlite:///:memory:",  # ingest never touches the database
    "REDIS_URL": REDIS_URL,
    "PYTHONWARNINGS": "ignore",
}


def instructions(tree: Path, requests: int) -> int:
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    done = subprocess.run(
        ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]
        + [sys.executable, "-c", DRIVER, str(requests)],
        cwd=tree,
        env={**os.environ, **ENVIRONMENT},
        capture_output=True,
        text=True,
    )
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"{tree}: the driver failed:\n{done.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def main() -> None:
    if shutil.which("valgrind") is None:
        raise SystemExit("needs valgrind: apt-get install valgrind")
    trees = [Path(arg).resolve() for arg in sys.argv[1:]] or [Path.cwd()]
    for tree in trees:
        per_request = (instructions(tree, N_LARGE) - instructions(tree, N_SMALL)) / (N_LARGE - N_SMALL)
        print(f"{tree}: {per_request:,.0f} instructions per POST /messages")


if __name__ == "__main__":
    main()
