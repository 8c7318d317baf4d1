"""Ingest latency of a legitimate client while key guessers attack (issue 9).

    python -m bench.bad_keys [--tree DIR] [--attackers 50] [--seconds 20] [--unsigned-key-live] [--env NAME=VALUE ...]

Starts one web process as the Procfile does (uvicorn, DEBUG off, API keys required) from
`--tree` (default: this checkout; point it at an export of an older commit for a "before"
figure), issues a key with that tree's `manage.py apikey create` (and, with
`--unsigned-key-live`, one of the shape issued before signing), then for `--seconds`:
`--attackers` closed-loop clients POST /messages with random well-formed keys, each from
its own loopback address (127.0.1.n), while one client from 127.0.0.2 posts 10 messages/s
with the valid key. Prints the legitimate client's latency (median, p99, max), the
attackers' answers by status, and the PostgreSQL transactions the run cost. No worker
runs: what is measured is the web tier. Database BENCH_MSGBUFFER_DB (created and migrated
if missing), Redis db BENCH_MSGBUFFER_REDIS_DB (flushed).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import multiprocessing
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import redis

from . import environment as env

PORT = 18250
VALID = {"user_id": 1, "channel_id": 1, "content": "legitimate"}


def _random_key(n: int) -> str:
    if n % 2:
        return "mb_" + secrets.token_urlsafe(32)  # the unsigned shape, as issued before issue 9
    return f"mbk_{secrets.token_urlsafe(32)}.{secrets.token_urlsafe(32)}"  # signed shape, wrong tag


def _transactions(database: str) -> int:
    with psycopg.connect(env.dsn(database), autocommit=True) as conn:
        return conn.execute("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s", [database]).fetchone()[
            0
        ]


def _ensure_database(name: str) -> None:
    with psycopg.connect(env.dsn("postgres"), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


async def _attacker(n: int, base: str, stop: float, statuses: collections.Counter) -> None:
    transport = httpx.AsyncHTTPTransport(local_address=f"127.0.1.{n + 1}")
    async with httpx.AsyncClient(base_url=base, transport=transport, timeout=30) as client:
        while time.monotonic() < stop:
            try:
                response = await client.post("/messages", json=VALID, headers={"Authorization": f"Bearer {_random_key(n)}"})
                statuses[response.status_code] += 1
            except httpx.HTTPError:
                statuses["error"] += 1


async def _legitimate(base: str, key: str, stop: float, latencies: list, statuses: collections.Counter) -> None:
    transport = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
    async with httpx.AsyncClient(base_url=base, transport=transport, timeout=30) as client:
        next_at = time.monotonic()
        while next_at < stop:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            started = time.monotonic()
            response = await client.post("/messages", json=VALID, headers={"Authorization": f"Bearer {key}"})
            latencies.append((time.monotonic() - started) * 1000)
            statuses[response.status_code] += 1
            next_at += 0.1


def _legitimate_process(base: str, key: str, stop_in: float, results) -> None:
    """The legitimate client in a process of its own: in the attackers' event loop its
    latencies would include their work, which grows as the server answers them faster."""
    latencies, statuses = [], collections.Counter()
    asyncio.run(_legitimate(base, key, time.monotonic() + 2, [], collections.Counter()))  # connections and caches warm
    asyncio.run(_legitimate(base, key, time.monotonic() + stop_in, latencies, statuses))
    results.put((latencies, dict(statuses)))


async def _attackers(base: str, attackers: int, seconds: float) -> dict:
    statuses = collections.Counter()
    stop = time.monotonic() + seconds
    await asyncio.gather(*(_attacker(n, base, stop, statuses) for n in range(attackers)))
    return dict(statuses)


def _attack(base: str, key: str, attackers: int, seconds: float) -> dict:
    results = multiprocessing.Queue()
    legit = multiprocessing.Process(target=_legitimate_process, args=(base, key, seconds + 2, results))
    legit.start()
    attack = asyncio.run(_attackers(base, attackers, seconds + 4))  # covers the client's warm-up and its whole run
    latencies, statuses = results.get(timeout=60)
    legit.join(30)
    latencies.sort()
    return {
        "legit_median_ms": statistics.median(latencies),
        "legit_p99_ms": latencies[int(len(latencies) * 0.99) - 1],
        "legit_max_ms": latencies[-1],
        "legit_statuses": statuses,
        "attack_statuses": attack,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, default=env.ROOT)
    parser.add_argument("--attackers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--unsigned-key-live", action="store_true", help="also issue a key as before signing (mb_, no tag)")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the web process")
    args = parser.parse_args()

    _ensure_database(env.MSGBUFFER_DB)
    environ = env.msgbuffer_env(MSGBUFFER_API_KEYS_REQUIRED="1", **dict(item.split("=", 1) for item in args.env))
    redis.Redis.from_url(environ["REDIS_URL"]).flushdb()
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], cwd=args.tree, env=environ, check=True, timeout=120)
    with psycopg.connect(env.dsn(env.MSGBUFFER_DB), autocommit=True) as conn:
        conn.execute("DELETE FROM messaging_apikey")  # only the keys of this run: no unsigned one left by a "before" run
    if args.unsigned_key_live:
        raw = "mb_" + secrets.token_urlsafe(32)
        subprocess.run(
            [
                *manage,
                "shell",
                "-c",
                "from messaging import api_keys; from messaging.models import ApiKey; "
                f"ApiKey.objects.create(name='old', prefix={raw[:10]!r}, digest=api_keys.digest_of({raw!r}))",
            ],
            cwd=args.tree,
            env=environ,
            check=True,
            timeout=60,
        )
    key = subprocess.run(
        [*manage, "apikey", "create", "bench"], cwd=args.tree, env=environ, check=True, timeout=60, capture_output=True, text=True
    ).stdout.strip()
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "msgbuffer_site.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(PORT),
        "--no-access-log",
        "--lifespan",
        "off",
        "--ws-per-message-deflate",
        "false",
    ]
    web = subprocess.Popen(
        argv, cwd=args.tree, env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        base = f"http://127.0.0.1:{PORT}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code in (200, 503):
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or web.poll() is not None:
                raise SystemExit("the web process did not start")
            time.sleep(0.1)
        before = _transactions(env.MSGBUFFER_DB)
        result = _attack(base, key, args.attackers, args.seconds)
    finally:
        web.terminate()
        web.wait(30)
    time.sleep(1)  # let the web's sessions end and report their counts
    result["pg_transactions"] = _transactions(env.MSGBUFFER_DB) - before
    print(" ".join(f"{name}={value:.1f}" if isinstance(value, float) else f"{name}={value}" for name, value in result.items()))


if __name__ == "__main__":
    main()
