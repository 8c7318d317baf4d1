"""`python -m bench.history_cost`: what throughput history (messaging/buffer/history.py)
costs, both figures issue 11 asks for.

1. Redis memory for 7 days. Both rings filled in every slot (3,600 seconds, 10,080
   minutes) with values as wide as a busy system writes them (ack.lua's format: t,
   persisted, batches, queue length, p95, accepted), then MEMORY USAGE of each ring and
   INFO used_memory before and after. A full ring is the most it can ever hold: a slot is
   overwritten each lap, never added.
2. What Redis spends settling a batch of 50 (claim.lua + ack.lua) with history on and
   off, from INFO commandstats of a private redis-server, alternated in rounds of 200
   batches: the cost itself, which the drain figure hides in its noise on a busy machine.
3. The flush rate with history on and off: bench's drain figure (100k payloads queued,
   then one worker; rows/s from the first commit to the last), MSGBUFFER_HISTORY
   alternated off, on, off, on... in one run (`--pairs N`, default 2), so both sides share
   the machine's load. The load average is printed with the figures.

Runs on BENCH_MSGBUFFER_DB (created and migrated if missing) and Redis db
BENCH_MSGBUFFER_REDIS_DB, which it FLUSHES: point both at your own.

  python -m bench.history_cost [--pairs N] [--only memory|ack|drain]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

import psycopg

from . import environment as env
from .figures import Context, Options, drain
from .systems import Msgbuffer

# Busy-system widths: 20k msg/s stored, 400 batches/s, a million waiting, p95 in the
# thousands of ms. Wider figures than a real run makes, so the memory is an upper bound.
SECOND_VALUE = "{t} 20000 400 1000000 12345.6 20000"
MINUTE_VALUE = "{t} 1200000 24000 1000000 12345.6 1200000"


def _load() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def memory() -> dict:
    env.django_setup()
    from messaging.buffer import HISTORY_RANGES, read_history, sync_client

    seconds_ring, minutes_ring = HISTORY_RANGES["1h"][0], HISTORY_RANGES["7d"][0]
    client = sync_client()
    client.flushdb()
    before = client.info("memory")["used_memory"]
    now = int(client.time()[0])
    for ring, value in ((seconds_ring, SECOND_VALUE), (minutes_ring, MINUTE_VALUE)):
        last = now - now % ring.resolution_s
        pipe = client.pipeline(transaction=False)
        for i in range(ring.slots):
            t = last - i * ring.resolution_s
            pipe.hset(ring.key, (t // ring.resolution_s) % ring.slots, value.format(t=t))
        pipe.execute()
    after = client.info("memory")["used_memory"]
    seconds = client.memory_usage(seconds_ring.key, samples=0)
    minutes = client.memory_usage(minutes_ring.key, samples=0)
    read = {name: len(read_history(name).buckets) for name in HISTORY_RANGES}
    client.flushdb()
    return {
        "slots": (seconds_ring.slots, minutes_ring.slots),
        "seconds_ring_kib": seconds / 1024,
        "minutes_ring_kib": minutes / 1024,
        "total_kib": (seconds + minutes) / 1024,
        "used_memory_delta_kib": (after - before) / 1024,
        "points_read": read,
    }


def ack_cost(rounds: int = 10, batches: int = 200) -> dict:
    """Redis's own time in the flush's scripts per batch (claim.lua + ack.lua), from INFO
    commandstats of a private redis-server (the shared one counts everyone's scripts):
    the client's clock on a loaded machine swings by more than the difference."""
    env.django_setup()
    import tempfile
    import uuid
    from datetime import UTC, datetime

    from django.conf import settings
    from django.test import override_settings

    from messaging import buffer
    from messaging.schemas import MessageIn
    from msgbuffer_site import embedded_redis

    message = MessageIn(user_id=42, channel_id=7, content="history cost")
    per_batch: dict[str, list[float]] = {"off": [], "on": []}
    with tempfile.TemporaryDirectory() as data_dir:
        server, url = embedded_redis.start(Path(data_dir), appendonly=False)
        try:
            with override_settings(REDIS_URL=url):
                buffer.reset_clients()
                client = buffer.sync_client()
                for _ in range(rounds):
                    for side in ("off", "on"):
                        with override_settings(MSGBUFFER={**settings.MSGBUFFER, "HISTORY": side == "on"}):
                            client.config_resetstat()
                            for _ in range(batches):
                                now = datetime.now(UTC).isoformat()
                                ids = [str(uuid.uuid4()) for _ in range(50)]
                                client.lpush(buffer.PENDING, *[buffer.queued_payload(message, i, now) for i in ids])
                                claim = buffer.claim(full_only=True)
                                latencies = [10.0] * 50
                                buffer.ack(claim.batch_id, stored=50, message_ids=ids, latencies_ms=latencies, dead_letters=[])
                            stats = client.info("commandstats")["cmdstat_evalsha"]
                            per_batch[side].append(stats["usec"] / batches)
        finally:
            buffer.reset_clients()
            server.terminate()
            server.wait(10)
    off, on = statistics.median(per_batch["off"]), statistics.median(per_batch["on"])
    rounds_text = ", ".join(f"{a:.0f}/{b:.0f}" for a, b in zip(per_batch["off"], per_batch["on"]))
    print(f"ack rounds, Redis µs per batch (off/on): {rounds_text}", flush=True)
    return {"redis_us_per_batch_off": off, "redis_us_per_batch_on": on, "history_us_per_batch": on - off}


def _ensure_database() -> None:
    env.LOG_DIR.mkdir(parents=True, exist_ok=True)
    with psycopg.connect(env.dsn("postgres"), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (env.MSGBUFFER_DB,)).fetchone():
            conn.execute(f'CREATE DATABASE "{env.MSGBUFFER_DB}"')
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=env.ROOT, env=env.msgbuffer_env(), check=True)


def drain_pairs(pairs: int) -> dict:
    _ensure_database()
    rates: dict[str, list[float]] = {"off": [], "on": []}
    for n in range(pairs):
        for side in ("off", "on"):
            system = Msgbuffer(MSGBUFFER_HISTORY="1" if side == "on" else "0")
            result = drain(system, Options(pairs=1), Context())
            rates[side].append(result["rows_s"])
            print(
                f"pair {n + 1} history {side:3}: {result['rows_s']:,.0f} rows/s (raw {result['raw_rows_s']:,.0f}, "
                f"worker RSS {result['worker_rss_mib']:.1f} MiB), load {_load()}",
                flush=True,
            )
    on, off = statistics.median(rates["on"]), statistics.median(rates["off"])
    return {"median_off_rows_s": off, "median_on_rows_s": on, "on_vs_off": on / off}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--only", choices=("memory", "ack", "drain"))
    args = parser.parse_args()
    print(f"Redis db {env.MSGBUFFER_REDIS_DB}, database {env.MSGBUFFER_DB}; load at start {_load()}", flush=True)
    if args.only in (None, "memory"):
        for name, value in memory().items():
            print(f"memory {name}: {value if not isinstance(value, float) else f'{value:,.1f}'}", flush=True)
    if args.only in (None, "ack"):
        for name, value in ack_cost().items():
            print(f"ack {name}: {value if not isinstance(value, float) else f'{value:,.1f}'}", flush=True)
    if args.only in (None, "drain"):
        for name, value in drain_pairs(args.pairs).items():
            print(f"drain {name}: {value:,.3f}", flush=True)
    print(f"load at end {_load()}")


if __name__ == "__main__":
    main()
