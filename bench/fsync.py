"""Ingest with Redis's `appendfsync always` against `everysec`: `python -m bench.fsync [--rounds N]`

One private redis-server (the binary `make run` uses, append-only file on, its files in a
fresh directory under var/, on the machine's disk), one web process (the Procfile's web
line: granian) on 127.0.0.1:19400 with the bench's production-like environment, no worker
(ingest only: messages wait in Redis). Each round runs `wrk -t2 -c<C> -d8s` POST /messages
once per setting and concurrency, the two settings alternated and their order swapped each
round (CONFIG SET appendfsync between runs, checked with CONFIG GET). Prints req/s and
p99 per run, then each setting's median and the ratio. Each round also times one client's
back-to-back LPUSHes straight to Redis for 2 s per setting: with `always` every write
waits for its own fsync there (no other client's write to share it with), the worst case.
About 85 s for the default 2 rounds.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import redis

from msgbuffer_site import embedded_redis

from . import environment as env
from .loadgen import wrk_post

PORT = 19400
SECONDS = 8
CONCURRENCY = (64, 8)
SETTINGS = ("everysec", "always")


def web(redis_url: str) -> subprocess.Popen:
    line = next(line for line in (env.ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))
    program, *args = line.split(":", 1)[1].replace("${PORT:-8000}", str(PORT)).replace("0.0.0.0", "127.0.0.1").split()
    argv = [sys.executable, "-m", program, *args]
    environ = env.msgbuffer_env(REDIS_URL=redis_url)
    environ.pop("DATABASE_URL")  # ingest needs no database: SQLite in var/ keeps Django content
    env.LOG_DIR.mkdir(parents=True, exist_ok=True)
    log = open(env.LOG_DIR / "fsync-web.log", "w")
    process = subprocess.Popen(argv, env=environ, cwd=env.ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{PORT}/health", timeout=1).status_code in (200, 503):
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"the web process did not answer; see {env.LOG_DIR / 'fsync-web.log'}")


def lone_client_writes(client: redis.Redis, seconds: float = 2.0) -> tuple[float, float]:
    """(writes per second, p99 ms) of one client LPUSHing back to back."""
    latencies = []
    stop = time.perf_counter() + seconds
    while (start := time.perf_counter()) < stop:
        client.lpush("bench:fsync", b"x" * 200)
        latencies.append((time.perf_counter() - start) * 1000)
    client.delete("bench:fsync")
    return len(latencies) / seconds, statistics.quantiles(latencies, n=100)[98]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    rounds = parser.parse_args().rounds
    (env.ROOT / "var").mkdir(exist_ok=True)
    data_dir = tempfile.mkdtemp(prefix="bench-fsync-", dir=env.ROOT / "var")
    redis_process, url = embedded_redis.start(Path(data_dir), appendonly=True)
    client = redis.Redis.from_url(url)
    server = web(url)
    results: dict[tuple[str, int], list[dict]] = {}
    try:
        for n in range(rounds):
            for setting in SETTINGS if n % 2 == 0 else reversed(SETTINGS):
                client.config_set("appendfsync", setting)
                assert client.config_get("appendfsync")["appendfsync"] == setting
                lone = lone_client_writes(client)
                results.setdefault((setting, 1), []).append({"rps": lone[0], "p99_ms": lone[1]})
                print(f"round {n + 1} appendfsync {setting:8} one Redis client: {lone[0]:8,.0f} LPUSH/s, p99 {lone[1]:6.2f} ms")
                for connections in CONCURRENCY:
                    client.delete("pending_messages", "msgbuffer:queued_ids")
                    result = wrk_post(f"http://127.0.0.1:{PORT}/messages", seconds=SECONDS, connections=connections)
                    results.setdefault((setting, connections), []).append(result)
                    print(
                        f"round {n + 1} appendfsync {setting:8} -c{connections:<3}: {result['rps']:8,.0f} req/s, "
                        f"p99 {result['p99_ms']:6.1f} ms, non-2xx {int(result['non2xx'])}",
                        flush=True,
                    )
    finally:
        server.terminate()
        server.wait(10)
        client.close()
        embedded_redis.stop(redis_process)
        shutil.rmtree(data_dir, ignore_errors=True)
    print("\nmedians (req/s, p99 ms):")
    for connections in (*CONCURRENCY, 1):
        medians = {
            s: (
                statistics.median(r["rps"] for r in results[s, connections]),
                statistics.median(r["p99_ms"] for r in results[s, connections]),
            )
            for s in SETTINGS
        }
        (every_rps, every_p99), (always_rps, always_p99) = medians["everysec"], medians["always"]
        print(
            f"  {'one Redis client' if connections == 1 else f'POST /messages -c{connections}'}: everysec {every_rps:,.0f}, {every_p99:.1f}; always {always_rps:,.0f}, {always_p99:.1f}; "
            f"always/everysec {always_rps / every_rps:.2f}x req/s"
        )


if __name__ == "__main__":
    main()
