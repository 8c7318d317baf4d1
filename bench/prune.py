"""Retention's prune throughput (issue 8): `python -m bench.prune [--rows N] [--rounds R]`

Each round, for a plain table and then for one partitioned by day (the two alternated),
loads N rows accepted 40-44 days ago and N/4 from the last hour into the bench database
(COPY), ANALYZEs, then times `messaging.retention.prune_messages()` with
MSGBUFFER_RETENTION_DAYS=30 in this process: the same code `manage.py prune_messages` and
the housekeeping job run (plain: chunked DELETEs, each with its lock_timeout; partitioned:
DROP of the expired partitions). It checks that exactly the N old rows went, and prints
rows/s per round and the medians. Target: >= 50,000 rows/s. Uses BENCH_MSGBUFFER_DB and
BENCH_MSGBUFFER_REDIS_DB (environment.py); leaves the table plain and empty.
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


def table_shape(unit: str) -> None:
    """MSGBUFFER_RETENTION_DAYS=30, and the messages table in `unit`'s shape ("" plain, "day",
    "month"), converted as `manage.py convert_messages_table` does (after env.django_setup())."""
    from django.conf import settings
    from django.db import connection

    from messaging import partitions
    from messaging.conf import msgbuffer_settings
    from messaging.models import Message

    settings.MSGBUFFER = {**settings.MSGBUFFER, "RETENTION_DAYS": 30, "PARTITION_BY": unit}
    msgbuffer_settings.cache_clear()
    with connection.schema_editor() as editor:
        partitions.convert(unit, editor, Message)


def load(conn, *, old: int, recent: int) -> None:
    """COPY `old` rows 40 days old and `recent` rows from the last hour (one second apart)."""
    now = datetime.now(UTC)
    conn.execute("TRUNCATE messaging_message")
    columns = "(message_id, user_id, channel_id, content, created_at, inserted_at)"
    with conn.cursor().copy(f"COPY messaging_message {columns} FROM STDIN") as copy:
        for n in range(old):
            age = timedelta(days=40, seconds=n * 4 * 86400 // max(old, 1))  # spread over 4 days: 5 day partitions
            copy.write_row((uuid.uuid4(), n % 1000, n % 50, CONTENT, now - age, now))
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

    from messaging.conf import msgbuffer_settings
    from messaging.retention import prune_messages

    chunk = msgbuffer_settings().PRUNE_CHUNK_ROWS
    recent = args.rows // 4
    rates = {"plain (DELETE in chunks)": [], "partitioned by day (DROP)": []}
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"| round | table | old rows | recent rows | removed | seconds | rows/s (chunks of {chunk:,}) |")
    print("|---|---|---|---|---|---|---|")
    with psycopg.connect(env.dsn(env.MSGBUFFER_DB), autocommit=True) as conn:
        try:
            for round_ in range(1, args.rounds + 1):
                for table, unit in zip(rates, ("", "day")):
                    table_shape("")
                    load(conn, old=args.rows, recent=recent)
                    table_shape(unit)  # partitions from the oldest row's day on
                    conn.execute("ANALYZE messaging_message")
                    started = time.perf_counter()
                    outcome = prune_messages()
                    seconds = time.perf_counter() - started
                    left = conn.execute("SELECT count(*) FROM messaging_message").fetchone()[0]
                    if outcome.removed != args.rows or left != recent:
                        raise SystemExit(f"round {round_}, {table}: removed {outcome.removed}, {left} rows left, not {recent}")
                    rates[table].append(outcome.removed / seconds)
                    print(
                        f"| {round_} | {table} | {args.rows:,} | {recent:,} | {outcome.removed:,} | {seconds:.3f} "
                        f"| {rates[table][-1]:,.0f} |"
                    )
        finally:
            table_shape("")
            conn.execute("TRUNCATE messaging_message")
    for table, values in rates.items():
        print(f"median, {table}: {statistics.median(values):,.0f} rows/s")
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
