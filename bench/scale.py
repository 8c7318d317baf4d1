"""Scale figures (issue 8): `python -m bench.scale [--rows 10000000] [--samples 200]`

For a plain table and then one partitioned by day (partitions.convert, as
`manage.py convert_messages_table` does), against the bench database:

  drain     one worker draining --drain queued messages into the empty table, then into the
            loaded one (the Procfile's worker; rate from the first to the last batch)
  load      --rows rows COPYed, spread over the last 31 days, UUIDv7 ids from their
            created_at (as ingest makes them), 1,000 channels and 100,000 users; ANALYZE
  reads     GET /messages?limit=50 (newest first), the same with before=<a random stored
            id>, GET /messages/<a random stored id>: --samples each, one keep-alive
            connection, one at a time, against the Procfile's web line with the read cache
            off (every request reaches PostgreSQL); p50 and p99
  admin     the changelist's first page, a search by content that every row matches and
            one that none does (a full scan: no trigram index), a search by message id:
            Django's test client in this process (a staff session; what the view and the
            database cost, without HTTP), 10 each, p50 and max
  prune     MSGBUFFER_RETENTION_DAYS=30: the rows of the oldest day go (DELETE in chunks, or
            DROP of a partition); rows/s, and the VACUUM that follows a DELETE
  --trigram before the prune, a pg_trgm GIN index on content: its build, the drain against
            the loaded table without it, and admin's content searches with it

Targets: admin <= 300 ms, API reads p99 <= 20 ms, the drain into the loaded table within
10 % of the empty one, prune >= 50,000 rows/s. A 10-million-row run loads for minutes:
run it on a quiet machine. Uses BENCH_MSGBUFFER_DB and BENCH_MSGBUFFER_REDIS_DB; the web
process listens on BENCH_SCALE_PORT (19210). Leaves the table plain and empty.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

import httpx
import psycopg

from . import environment as env
from .prune import ensure_database, table_shape
from .systems import CONTENT, Msgbuffer, wait_until

DAYS = 31


class ScaleMsgbuffer(Msgbuffer):
    port = int(os.environ.get("BENCH_SCALE_PORT", "19210"))


def load(conn, rows: int) -> None:
    from messaging.message_ids import new_message_ids

    now = datetime.now(UTC)
    span = DAYS * 86400
    columns = "(message_id, user_id, channel_id, content, created_at, inserted_at)"
    with conn.cursor().copy(f"COPY messaging_message {columns} FROM STDIN") as copy:
        for n in range(rows):
            created_at = now - timedelta(seconds=span * (rows - n) / rows)  # oldest first, as they would arrive
            message_id = new_message_ids(1, created_at)[0]
            copy.write_row((message_id, n % 100_000, n % 1000, f"{CONTENT} {n}", created_at, created_at))
    conn.execute("ANALYZE messaging_message")


def drain(system: ScaleMsgbuffer, count: int) -> float:
    system.redis.flushdb()
    before = system.rows()
    system.queue_raw(count)
    system.start_worker(wait=False)
    wait_until(lambda: system.persisted_counter() > 0, timeout=60, what="the first batch", interval=0.005)
    first_at, first = time.perf_counter(), system.persisted_counter()
    wait_until(lambda: system.persisted_counter() >= count, timeout=600, what=f"{count} rows", interval=0.005)
    rate = (count - first) / (time.perf_counter() - first_at)
    system.stop_all()
    assert system.rows() == before + count
    return rate


def percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def api_reads(system: ScaleMsgbuffer, ids: list[str], samples: int) -> dict[str, tuple[float, float]]:
    routes = {
        "GET /messages?limit=50": lambda _: "/messages?limit=50",
        "GET /messages?limit=50&before=<id>": lambda n: f"/messages?limit=50&before={ids[n % len(ids)]}",
        "GET /messages/<id>": lambda n: f"/messages/{ids[n % len(ids)]}",
    }
    out = {}
    with httpx.Client(base_url=system.url, timeout=30) as client:
        for name, path in routes.items():
            timings = []
            for n in range(samples):
                started = time.perf_counter()
                response = client.get(path(n))
                timings.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, (path(n), response.status_code, response.text[:200])
            out[name] = percentiles(timings)
    return out


def admin_pages(ids: list[str], only: str = "") -> dict[str, tuple[float, float]]:
    from django.contrib.auth.models import User
    from django.test import Client

    staff, _ = User.objects.update_or_create(username="bench-scale", defaults={"is_staff": True, "is_superuser": True})
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(staff)
    pages = {
        "admin changelist, first page": {},
        "admin search by content (every row matches)": {"q": "message content, roughly"},
        "admin search by content (no row matches)": {"q": "words no message holds"},
        "admin search by message id": {"q": ids[0]},
    }
    out = {}
    for name, query in pages.items():
        if only not in name:
            continue
        timings = []
        for _ in range(10):
            started = time.perf_counter()
            response = client.get("/admin/messaging/message/", query)
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (name, response.status_code)
        out[name] = (statistics.median(timings), max(timings))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--samples", type=int, default=200, help="requests per API read figure")
    parser.add_argument("--drain", type=int, default=100_000, help="messages per drain figure")
    parser.add_argument("--shapes", default="plain,partitioned", help="the table shapes to measure, comma-separated")
    parser.add_argument(
        "--trigram",
        action="store_true",
        help="then add a pg_trgm GIN index on content: its build time, the drain and admin with it",
    )
    args = parser.parse_args()

    ensure_database()
    env.django_setup()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Django's LOGGING would print every request

    from messaging.retention import prune_messages

    system = ScaleMsgbuffer(MSGBUFFER_READ_CACHE_SECONDS="0", MSGBUFFER_MAX_QUEUE="20000000")
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}; {args.rows:,} rows")
    print("| figure | plain table | partitioned by day | target |")
    print("|---|---|---|---|")
    results: dict[str, dict[str, str]] = {}

    def note(figure: str, table: str, value: str) -> None:
        results.setdefault(figure, {})[table] = value

    conn = psycopg.connect(env.dsn(env.MSGBUFFER_DB), autocommit=True)
    try:
        shapes = args.shapes.split(",")
        for table, unit in (shape for shape in (("plain", ""), ("partitioned", "day")) if shape[0] in shapes):
            table_shape("")
            conn.execute("TRUNCATE messaging_message")
            table_shape(unit)
            empty = drain(system, args.drain)
            conn.execute("TRUNCATE messaging_message")
            started = time.perf_counter()
            load(conn, args.rows)
            note("load (COPY + ANALYZE)", table, f"{time.perf_counter() - started:.0f} s")
            loaded = drain(system, args.drain)
            note("drain, rows/s: empty table / loaded", table, f"{empty:,.0f} / {loaded:,.0f} ({loaded / empty - 1:+.0%})")
            ids = [
                str(row[0]) for row in conn.execute("SELECT message_id FROM messaging_message TABLESAMPLE SYSTEM (1) LIMIT 1000")
            ]
            random.shuffle(ids)
            system.start_web()
            for figure, (p50, p99) in api_reads(system, ids, args.samples).items():
                note(f"{figure}, p50 / p99 ms", table, f"{p50:.1f} / {p99:.1f}")
            system.stop_all()
            for figure, (p50, top) in admin_pages(ids).items():
                note(f"{figure}, p50 / max ms", table, f"{p50:.0f} / {top:.0f}")
            if args.trigram:
                started = time.perf_counter()
                conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
                conn.execute("CREATE INDEX bench_content_trgm ON messaging_message USING gin (content gin_trgm_ops)")
                note("trigram index: build", table, f"{time.perf_counter() - started:.0f} s")
                with_index = drain(system, args.drain)
                note(
                    "trigram index: drain, rows/s, against the loaded table without",
                    table,
                    f"{with_index:,.0f} ({with_index / loaded - 1:+.0%})",
                )
                for figure, (p50, top) in admin_pages(ids, only="content").items():
                    note(f"trigram index: {figure}, p50 / max ms", table, f"{p50:.0f} / {top:.0f}")
                conn.execute("DROP INDEX bench_content_trgm")
            outcome = prune_messages()
            note("prune, rows removed at rows/s", table, f"{outcome.removed:,} at {outcome.removed / outcome.seconds:,.0f}")
            if outcome.vacuum_seconds is not None:
                note("VACUUM after the prune, s", table, f"{outcome.vacuum_seconds:.1f}")
    finally:
        system.stop_all()
        table_shape("")
        conn.execute("TRUNCATE messaging_message")
        conn.close()
    targets = {"drain": "within 10 %", "GET": "p99 <= 20", "admin": "<= 300", "prune": ">= 50,000"}
    for figure, values in results.items():
        target = next((t for prefix, t in targets.items() if figure.startswith(prefix)), "")
        print(f"| {figure} | {values.get('plain', '')} | {values.get('partitioned', '')} | {target} |")
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
