"""The web tier under real use (SPEC §9, issue 12): bounded database connections, reads
under concurrency, API keys that follow the database across a restart."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid

import httpx
import psycopg
import pytest

from tests.support import ROOT, child_env, wait_for

pytestmark = pytest.mark.slow

POOL_MAX = 4
APP_NAME = "msgbuffer-web-under-test"  # libpq reads PGAPPNAME: the web's connections are countable
READ_ROUTES = ["/messages?limit=20", f"/messages/{uuid.uuid4()}", "/health", "/queue/status", "/metrics", "/"]


def web_connections(url: str) -> int:
    with psycopg.connect(url.replace("postgres://", "postgresql://"), autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [APP_NAME]).fetchone()[0]


def apikey(url: str, *argv: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", "apikey", *argv],
        cwd=ROOT,
        env=child_env(DATABASE_URL=url),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


@pytest.fixture
def pooled_web(private_postgres, processes, web_port):
    processes.web(
        web_port,
        DATABASE_URL=private_postgres.url,
        DATABASE_POOL_MAX_SIZE=str(POOL_MAX),
        PGAPPNAME=APP_NAME,
        MSGBUFFER_DASHBOARD_AUTH="0",
    )
    return f"http://127.0.0.1:{web_port}"


def test_web__300_sequential_reads__connections_within_the_pool(private_postgres, pooled_web):
    with httpx.Client(base_url=pooled_web, timeout=10) as client:
        statuses = [client.get(READ_ROUTES[i % len(READ_ROUTES)]).status_code for i in range(300)]

    assert not [status for status in statuses if status >= 500]
    assert 1 <= web_connections(private_postgres.url) <= POOL_MAX


def test_web__32_concurrent_readers_for_8s__no_5xx_and_the_worker_still_stores(
    private_postgres, pooled_web, processes, clean_redis
):
    processes.worker(DATABASE_URL=private_postgres.url)
    failures, answered, stop = [], [], time.monotonic() + 8

    def reader(n: int) -> None:
        with httpx.Client(base_url=pooled_web, timeout=30) as client:
            while time.monotonic() < stop:
                status = client.get(READ_ROUTES[n % 4]).status_code
                answered.append(status)
                if status >= 500:
                    failures.append(status)

    threads = [threading.Thread(target=reader, args=(n,)) for n in range(32)]
    for thread in threads:
        thread.start()
    probe = httpx.post(f"{pooled_web}/messages", json={"user_id": 1, "channel_id": 1, "content": "probe"}, timeout=10)
    for thread in threads:
        thread.join()

    assert probe.status_code == 202 and answered and not failures
    assert web_connections(private_postgres.url) <= POOL_MAX
    probe_id = probe.json()["message_id"]
    wait_for(
        lambda: httpx.get(f"{pooled_web}/messages/{probe_id}", timeout=10).json()["status"] == "persisted",
        timeout=30,
        message="the probe message stored",
    )


def test_api_keys__database_restarted__new_key_accepted_and_revoked_key_refused(private_postgres, processes, web_port):
    processes.web(web_port, DATABASE_URL=private_postgres.url, MSGBUFFER_API_KEYS_REQUIRED="1")
    url = f"http://127.0.0.1:{web_port}/messages"
    body = {"user_id": 1, "channel_id": 1, "content": "hi"}

    def post(key: str) -> int:
        return httpx.post(url, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=10).status_code

    old = apikey(private_postgres.url, "create", "old")
    assert post(old) == 202  # now cached by the web process

    private_postgres.stop("fast")  # every pooled connection is now dead
    assert post(old) == 202  # the cached decision stands while the database is away
    assert post("mb_never-issued") == 401  # and an unknown key is refused, never a 500
    private_postgres.start()

    new = apikey(private_postgres.url, "create", "new")
    apikey(private_postgres.url, "revoke", "old")
    # Within the cache lifetime (10 s) and some margin.
    wait_for(lambda: post(new) == 202, timeout=15, interval=0.5, message="the key issued after the restart accepted")
    wait_for(lambda: post(old) == 401, timeout=15, interval=0.5, message="the key revoked after the restart refused")


def test_web__200_dashboard_tabs_for_20s__no_5xx_poll_p99_under_1s_two_ticks_a_second(private_postgres, processes, web_port):
    """Each tab as the page behaves: a /ws/stats socket, and /health + GET /messages every 2 s."""
    import asyncio

    import websockets

    processes.web(
        web_port,
        DATABASE_URL=private_postgres.url,
        DATABASE_POOL_MAX_SIZE=str(POOL_MAX),
        PGAPPNAME=APP_NAME,
        MSGBUFFER_DASHBOARD_AUTH="0",
        MSGBUFFER_READ_CACHE_SECONDS="0.5",
    )
    base, tabs, seconds = f"http://127.0.0.1:{web_port}", 200, 20
    latencies, failures = [], []

    async def run() -> list[int]:
        limits = httpx.Limits(max_connections=tabs)
        async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
            counts = []

            async def one(n):
                counted = {"n": 0}
                stop = time.monotonic() + seconds
                async with websockets.connect(f"ws://127.0.0.1:{web_port}/ws/stats", origin=base, open_timeout=30) as socket:

                    async def read_ticks():
                        async for frame in socket:
                            counted["n"] += '"stats_update"' in frame

                    reader = asyncio.ensure_future(read_ticks())
                    await asyncio.sleep(n * 2 / tabs)
                    while time.monotonic() < stop:
                        for path in ("/health", "/messages?limit=20"):
                            started = time.monotonic()
                            status = (await client.get(path)).status_code
                            latencies.append(time.monotonic() - started)
                            if status >= 500:
                                failures.append((path, status))
                        await asyncio.sleep(2)
                    reader.cancel()
                counts.append(counted["n"])

            await asyncio.gather(*(one(n) for n in range(tabs)))
            return counts

    counts = asyncio.run(run())

    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)]
    assert not failures and len(latencies) >= tabs * 2 * 5
    assert p99 < 1.0, f"poll p99 {p99 * 1000:.0f} ms"
    assert min(counts) >= 1.5 * seconds * 0.8, f"fewest ticks in {seconds} s: {min(counts)}"
    assert web_connections(private_postgres.url) <= POOL_MAX
