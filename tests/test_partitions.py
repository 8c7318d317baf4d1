"""Time partitions (issue 8): with MSGBUFFER_PARTITION_BY=day the messages table is
range-partitioned on created_at, messages flush into today's partition, the reads, admin
and the flush's idempotent insert work unchanged, and retention drops whole partitions.
Migration 0004 applies the setting both ways and is a no-op on SQLite."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection
from django.test import Client, override_settings

from messaging import partitions
from messaging.models import Message
from messaging.retention import prune_messages
from tests.delivery import IngestClient, start_worker
from tests.support import wait_for
from tests.test_retention import store

pytestmark = pytest.mark.django_db(transaction=True)  # the worker subprocess must see committed rows

postgres_only = pytest.mark.skipif(
    "postgresql" not in settings.DATABASES["default"]["ENGINE"],
    reason="declarative partitioning is PostgreSQL's; on SQLite the table stays plain (see the migration test)",
)


def partitioning(**values):
    return override_settings(MSGBUFFER={**settings.MSGBUFFER, **values})


def convert(unit: str) -> str:
    with connection.schema_editor() as editor:
        return partitions.convert(unit, editor, Message)


def partition_names() -> set[str]:
    with connection.cursor() as cursor:
        return {p.name for p in partitions.range_partitions(cursor)}


def shape() -> tuple[bool, set[str]]:
    with connection.cursor() as cursor:
        return partitions.is_partitioned(cursor), {p.name for p in partitions.range_partitions(cursor)}


def where_stored(rows: str = "") -> dict[str, str]:
    """message_id -> the partition its row is in."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT message_id::text, tableoid::regclass::text FROM messaging_message {rows}")
        return dict(cursor.fetchall())


@pytest.fixture
def by_day():
    """The tests' messages table partitioned by day for one test, then plain again."""
    with partitioning(PARTITION_BY="day"):
        try:
            yield convert
        finally:
            convert("")


def days_from_now(days: int) -> str:
    return partitions.partition_for(partitions.period_start(datetime.now(UTC) + timedelta(days=days), "day"), "day").name


@postgres_only
def test_partitioned_by_day__today_and_ahead_exist__messages_flush_into_today__reads_work(by_day, processes, clean_redis):
    by_day("day")
    partitioned, names = shape()
    assert partitioned
    assert {days_from_now(n) for n in range(partitions.AHEAD["day"] + 1)} <= names

    start_worker(processes, clean_redis)
    ingest = IngestClient()
    try:
        ingest.post_bulk(120)
        wait_for(lambda: Message.objects.count() == 120, timeout=15, message="the posted messages to be stored")
        newest = ingest._run(ingest.http.get("/messages", params={"limit": 50}))
        oldest_seen = newest.json()[-1]["message_id"]
        older = ingest._run(ingest.http.get("/messages", params={"limit": 50, "before": oldest_seen}))
        one = ingest._run(ingest.http.get(f"/messages/{ingest.accepted[0]}"))
    finally:
        ingest.close()

    stored = Message.objects.values_list("message_id", "created_at")
    assert where_stored() == {
        str(message_id): partitions.partition_for(partitions.period_start(created_at, "day"), "day").name
        for message_id, created_at in stored
    }
    assert newest.status_code == 200 and len(newest.json()) == 50
    assert [row["created_at"] for row in newest.json()] == sorted((row["created_at"] for row in newest.json()), reverse=True)
    assert older.status_code == 200 and len(older.json()) == 50
    assert not {row["message_id"] for row in newest.json()} & {row["message_id"] for row in older.json()}
    assert one.status_code == 200 and one.json()["status"] == "persisted"


@postgres_only
def test_partitioned__replayed_batch__inserts_nothing_twice(by_day):
    by_day("day")
    now = datetime.now(UTC)
    batch = [
        Message(message_id=uuid.uuid4(), user_id=1, channel_id=1, content=f"m{n}", created_at=now, inserted_at=now)
        for n in range(5)
    ]
    Message.objects.bulk_create(batch, ignore_conflicts=True)

    Message.objects.bulk_create(batch, ignore_conflicts=True)  # as flush.py does for a requeued batch

    assert Message.objects.count() == 5


@postgres_only
def test_partitioned__admin_changelist_and_search(by_day):
    store(30, age=timedelta(hours=1), content="admin row")
    by_day("day")
    admin = Client()
    admin.force_login(User.objects.create_superuser("root", "root@example.com", "pw-not-used"))

    listed = admin.get("/admin/messaging/message/")
    searched = admin.get("/admin/messaging/message/", {"q": "admin row 7"})
    message = Message.objects.first()
    change = admin.get(f"/admin/messaging/message/{message.pk}/change/")

    assert listed.status_code == 200 and b"admin row" in listed.content
    assert searched.status_code == 200 and b"admin row 7" in searched.content
    assert change.status_code == 200 and message.content.encode() in change.content


@postgres_only
def test_partitioned__prune__drops_whole_partitions_older_than_the_retention(by_day):
    store(500, age=timedelta(days=40))
    store(50, age=timedelta(days=2), content="recent")
    by_day("day")
    before = partition_names()
    cutoff = datetime.now(UTC) - timedelta(days=30)

    with partitioning(PARTITION_BY="day", RETENTION_DAYS=30):
        outcome = prune_messages()

    assert (outcome.removed, outcome.finished) == (500, True)
    assert Message.objects.filter(content__startswith="recent").count() == 50
    assert Message.objects.count() == 50
    gone = before - partition_names()
    assert gone and all(partitions._from_name(name).end <= cutoff for name in gone)
    assert all(partitions._from_name(name).end > cutoff for name in partition_names())


@postgres_only
def test_partitioned__create_ahead__moves_rows_the_default_partition_caught(by_day):
    by_day("day")
    store(3, age=timedelta(days=-20), content="from the future")  # no partition yet: the default one holds them
    assert set(where_stored().values()) == {partitions.DEFAULT_PARTITION}

    created = partitions.create_ahead(now=datetime.now(UTC) + timedelta(days=20))

    assert days_from_now(20) in created
    assert set(where_stored().values()) == {days_from_now(20)}
    assert Message.objects.filter(content__startswith="from the future").count() == 3


@postgres_only
def test_convert_command__day_to_month__refused_with_the_way_round(by_day):
    by_day("day")

    with partitioning(PARTITION_BY="month"), pytest.raises(Exception, match="convert it to a plain table first"):
        call_command("convert_messages_table")

    assert shape()[0]


def test_migration_0004__both_ways__keeps_rows_and_is_a_no_op_on_sqlite():
    store(10, age=timedelta(days=3))
    try:
        with partitioning(PARTITION_BY="day"):
            call_command("migrate", "messaging", "0003", verbosity=0)
            call_command("migrate", "messaging", verbosity=0)
            assert shape()[0] == (connection.vendor == "postgresql")
            assert Message.objects.count() == 10
            call_command("migrate", "messaging", "0003", verbosity=0)
            assert shape() == (False, set())
            assert Message.objects.count() == 10
    finally:
        call_command("migrate", "messaging", verbosity=0)  # unset: plain, as every other test expects
    assert shape() == (False, set())
    store(1, age=timedelta(0))  # the id sequence carried on
    assert Message.objects.count() == 11


@postgres_only
def test_partitioned__prune_meets_a_reader_on_an_old_partition__gives_up_and_leaves_it(by_day):
    import time

    import psycopg

    from tests.support import database_url

    store(20, age=timedelta(days=40))
    by_day("day")
    oldest = min(partition_names())

    with psycopg.connect(database_url()) as reader, reader.transaction():
        reader.execute(f"SELECT count(*) FROM {oldest}")  # ACCESS SHARE until the reader's transaction ends
        started = time.monotonic()
        with partitioning(PARTITION_BY="day", RETENTION_DAYS=30, PRUNE_LOCK_TIMEOUT_MS=50):
            outcome = prune_messages()
        took = time.monotonic() - started

    assert (outcome.removed, outcome.finished) == (0, False)
    assert took < 3
    assert oldest in partition_names()
    with partitioning(PARTITION_BY="day", RETENTION_DAYS=30):
        assert prune_messages().removed == 20  # the next run, the reader gone


def test_message_ids__uuid7_in_order__their_window_holds_created_at():
    from messaging.message_ids import created_at_window, new_message_ids

    now = datetime.now(UTC)
    ids = new_message_ids(1000, now)

    assert ids == sorted(ids) and len(set(ids)) == 1000
    assert {uuid.UUID(i).version for i in ids} == {7}
    low, high = created_at_window(uuid.UUID(ids[0]))
    assert low <= now <= high
    assert created_at_window(uuid.uuid4()) is None  # ids from before: looked up without a window


@postgres_only
@pytest.mark.parametrize("minutes_past_midnight", [None, 30], ids=["now", "just-after-midnight"])
def test_partitioned__lookup_by_id__reads_one_partition(by_day, minutes_past_midnight):
    from messaging.message_ids import created_at_window, new_message_ids, with_message_id

    by_day("day")
    now = datetime.now(UTC)
    if minutes_past_midnight is not None:
        now = now.replace(hour=0, minute=minutes_past_midnight)
    message_id = new_message_ids(1, now)[0]
    Message.objects.create(message_id=message_id, user_id=1, channel_id=1, content="x", created_at=now, inserted_at=now)

    plan = str(with_message_id(Message.objects.all(), uuid.UUID(message_id)).explain())

    assert with_message_id(Message.objects.all(), uuid.UUID(message_id)).get().content == "x"
    scanned = set(re.findall(r" on (messaging_message_\w+)", plan))
    # The window is an hour either side, so within an hour of midnight it reaches into
    # yesterday, whose partition the conversion did not create: that part of the window
    # lives in the default partition, which is then rightly scanned too.
    existing = partition_names()
    holding = {
        partitions.partition_for(partitions.period_start(t, "day"), "day").name for t in created_at_window(uuid.UUID(message_id))
    }
    assert scanned and scanned <= {name if name in existing else partitions.DEFAULT_PARTITION for name in holding}, plan
