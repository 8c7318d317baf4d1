"""Where the flush's time goes, one 50-row batch at a time: `python -m bench.insert_paths`

In one process, against the bench database, each variant inserts N batches of 50 rows in
one transaction each (as flush.py does) and reports rows/s:

  bulk_create as flush.py does it (ignore_conflicts; inserted_at from db_default), DEBUG on and off
  bulk_create with inserted_at given (no per-row DatabaseDefault expression to resolve)
  the same INSERT ... ON CONFLICT DO NOTHING, its SQL built once, through Django's cursor
  the same SQL through psycopg with server-side binding, prepared once
  psycopg executemany of 50-row transactions (the issue's raw baseline)

The worker's own figure (bench drain) adds the Redis claim/ack and decoding on top.
"""

import statistics
import time
import uuid
from datetime import UTC, datetime

from . import environment as env
from .systems import CONTENT


def main() -> None:
    env.prepare(peer=False)
    env.django_setup()
    import psycopg
    from django.conf import settings
    from django.db import connection, transaction

    from messaging.models import Message

    batches, rounds = 150, 5
    now = datetime.now(UTC)

    def objects(with_inserted_at=False):
        extra = {"inserted_at": now} if with_inserted_at else {}
        return [
            Message(message_id=uuid.uuid4(), user_id=42, channel_id=7, content=CONTENT, created_at=now, **extra)
            for _ in range(50)
        ]

    def truncate():
        with connection.cursor() as cur:
            cur.execute("TRUNCATE messaging_message")

    def timed(one_batch):
        truncate()
        started = time.perf_counter()
        for _ in range(batches):
            one_batch()
        return batches * 50 / (time.perf_counter() - started)

    def bulk(with_inserted_at=False):
        def run():
            rows = objects(with_inserted_at)
            with transaction.atomic():
                Message.objects.bulk_create(rows, ignore_conflicts=True)

        return run

    columns = "(message_id, user_id, channel_id, content, created_at, inserted_at)"
    cached_sql = (
        f"INSERT INTO messaging_message {columns} VALUES "
        + ", ".join(["(%s, %s, %s, %s, %s, now())"] * 50)
        + " ON CONFLICT (message_id) DO NOTHING"
    )

    def cached():
        params = []
        for _ in range(50):
            params += [uuid.uuid4(), 42, 7, CONTENT, now]
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(cached_sql, params)

    raw_conn = psycopg.connect(env.dsn(env.MSGBUFFER_DB))
    raw_sql = "INSERT INTO messaging_message (message_id, user_id, channel_id, content, created_at) VALUES (%s, %s, %s, %s, %s)"

    def raw():
        with raw_conn.transaction(), raw_conn.cursor() as cur:
            cur.executemany(raw_sql, [(uuid.uuid4(), 42, 7, CONTENT, now) for _ in range(50)])

    def cached_prepared():
        params = []
        for _ in range(50):
            params += [uuid.uuid4(), 42, 7, CONTENT, now]
        with raw_conn.transaction(), raw_conn.cursor() as cur:
            cur.execute(cached_sql, params, prepare=True)

    def debug(value, run):
        def wrapped():
            settings.DEBUG = value
            run()

        return wrapped

    variants = {
        "bulk_create as flush.py, DEBUG on (as the bench runs it)": debug(True, bulk()),
        "bulk_create as flush.py, DEBUG off": debug(False, bulk()),
        "bulk_create with inserted_at given, DEBUG off": debug(False, bulk(with_inserted_at=True)),
        "cached multi-row INSERT .. ON CONFLICT via Django cursor, DEBUG off": debug(False, cached),
        "the same cached INSERT via psycopg, server-side binding, prepared": cached_prepared,
        "psycopg executemany (raw baseline)": raw,
    }
    # The machine is shared and drifts: interleave the variants, several rounds, medians.
    rates = {name: [] for name in variants}
    for _ in range(rounds):
        for name, run in variants.items():
            rates[name].append(timed(run))
    print("| 50-row transactions, one process | rows/s, median (rounds) |")
    print("|---|---|")
    for name, values in rates.items():
        print(f"| {name} | {statistics.median(values):,.0f} ({', '.join(f'{v:,.0f}' for v in values)}) |")
    truncate()
    raw_conn.close()


if __name__ == "__main__":
    main()
