"""`python -m bench.deadlines`: what a deadline costs the hot path, on uvloop, best of 5,
µs per use:

- an await with no deadline (the floor);
- asyncio.timeout (a loop timer armed and cancelled per use; what the body read used);
- messaging.deadlines.within (a dict entry; one sweep per loop);
- one EVALSHA to the machine's Redis by the async client, with redis-py's socket_timeout
  (asyncio.wait_for around the send, asyncio.timeout around the read) and without it,
  inside `within` (what messaging/buffer/connection.py does).

Run it on a quiet machine and compare the lines with each other, not across runs.
"""

from __future__ import annotations

import asyncio
import os
import time

import redis.asyncio as aioredis
import uvloop

from messaging import deadlines

USES = 20_000
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")


async def _ready():
    return None


async def _bare():
    await _ready()


async def _asyncio_timeout():
    async with asyncio.timeout(10):
        await _ready()


async def _within():
    async with deadlines.within(10):
        await _ready()


async def _best(use, uses: int = USES) -> float:
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(uses):
            await use()
        best = min(best, (time.perf_counter() - started) / uses * 1e6)
    return best


async def main() -> None:
    print(f"{'an await with no deadline':55s} {await _best(_bare):7.2f} µs")
    print(f"{'asyncio.timeout':55s} {await _best(_asyncio_timeout):7.2f} µs")
    print(f"{'deadlines.within':55s} {await _best(_within):7.2f} µs")
    with_timeout = aioredis.Redis.from_url(REDIS_URL, socket_timeout=10)
    without = aioredis.Redis.from_url(REDIS_URL, socket_timeout=None)
    script = "return 1"
    sha = await with_timeout.script_load(script)

    async def timed_by_redis_py():
        await with_timeout.evalsha(sha, 0)

    async def timed_by_within():
        async with deadlines.within(10):
            await without.evalsha(sha, 0)

    print(f"{'EVALSHA, socket_timeout=10 (redis-py times it)':55s} {await _best(timed_by_redis_py, 5000):7.2f} µs")
    print(f"{'EVALSHA, socket_timeout=None inside deadlines.within':55s} {await _best(timed_by_within, 5000):7.2f} µs")
    await with_timeout.aclose()
    await without.aclose()


if __name__ == "__main__":
    uvloop.run(main())
