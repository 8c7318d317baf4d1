"""Retention's prune throughput (issue 8): `python -m bench.prune [--rows N] [--rounds R]`

Each round loads N rows accepted 40 days ago and N/4 from the last hour into the bench
database (COPY), ANALYZEs, then times `messaging.retention.prune_messages()` with
MSGBUFFER_RETENTION_DAYS=30 in this process: the same code `manage.py prune_messages` and
the housekeeping job run (chunked DELETEs, each with its lock_timeout). It checks that
exactly the N old rows went, and prints rows/s per round and their median. Target:
>= 50,000 rows/s. Uses BENCH_MSGBUFFER_DB and BENCH_MSGBUFFER_REDIS_DB (environment.py).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

from . import environment as env
from .systems import CONTENT


def ensure_database() -> None:
    import psycopg

    with psycopg.connect(env.dsn("postgres"), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [env.MSGBUFFER_DB]).fetchone():
            conn.execute(f'CREATE DATABASE "{env.MSGBUFFER_DB}"')
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=env.ROOT, env=env.msgbuffer_env(), check=True)


def load(conn, *, old: int, recent: int) -> None:
    """COPY `old` rows 40 days old and `recent` rows from the last hour (one second apart)."""
    now = datetime.now(UTC)
    conn.execute("TRUNCATE messaging_message")
    columns = "(message_id, user_id, channel_id, content, created_at, inserted_at)"
    with conn.cursor().copy(f"COPY messaging_message {columns} FROM STDIN") as copy:
        for n in range(old):
            copy.write_row((uuid.uuid4(), n % 1000, n % 50, CONTENT, now - timedelta(days=40, seconds=n), now))
        for n in range(recent):
            copy.write_row((uuid.uuid4(), n % 1000, n % 50, CONTENT, now - timedelta(seconds=n % 3600), now))
    conn.execute("ANALYZE messaging_message")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="old rows per round (default %(default)s)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    ensure_database()
    env.django_setup()
    import psycopg
    from django.conf import settings

    from messaging.conf import msgbuffer_settings
    from messaging.retention import prune_messages

    settings.MSGBUFFER = {**settings.MSGBUFFER, "RETENTION_DAYS": 30}
    msgbuffer_settings.cache_clear()
    chunk = msgbuffer_settings().PRUNE_CHUNK_ROWS
    recent = args.rows // 4
    rates = []
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"| round | old rows | recent rows | removed | seconds | rows/s (chunks of {chunk:,}) |")
    print("|---|---|---|---|---|---|")
    with psycopg.connect(env.dsn(env.MSGBUFFER_DB), autocommit=True) as conn:
        for round_ in range(1, args.rounds + 1):
            load(conn, old=args.rows, recent=recent)
            started = time.perf_counter()
            outcome = prune_messages()
            seconds = time.perf_counter() - started
            left = conn.execute("SELECT count(*) FROM messaging_message").fetchone()[0]
            if outcome.removed != args.rows or left != recent:
                raise SystemExit(f"round {round_}: removed {outcome.removed}, {left} rows left (expected {recent})")
            rates.append(outcome.removed / seconds)
            print(f"| {round_} | {args.rows:,} | {recent:,} | {outcome.removed:,} | {seconds:.2f} | {rates[-1]:,.0f} |")
        conn.execute("TRUNCATE messaging_message")
    print(f"median: {statistics.median(rates):,.0f} rows/s; load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
