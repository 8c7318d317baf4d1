"""Time partitions of the messages table on PostgreSQL (MSGBUFFER_PARTITION_BY=day|month).

The partitioned table keeps the plain table's columns, names and indexes; what differs is
in SQL only. PostgreSQL requires every unique constraint of a partitioned table to hold
the partition key, so the primary key is (id, created_at) and the unique constraint that
keeps replays out is (message_id, created_at). Django keeps `id` as the model's primary key
(a sequence still makes it unique) and `message_id` as unique=True: the model, admin, the
reads and the flush are the same code on either shape. The flush's
`bulk_create(ignore_conflicts=True)` is `INSERT ... ON CONFLICT DO NOTHING`, which a replayed
batch meets on (message_id, created_at): created_at is fixed at ingest and travels in the
queued payload (buffer/message_format.py), so a replay lands on the same row. A
CompositePrimaryKey would say the same to Django, but would change the model, admin URLs
and every `pk` for SQLite and plain PostgreSQL as well; this shape is the table's business.

Partitions are named messaging_message_pYYYYMMDD (day) or _pYYYYMM (month), one range of
created_at in UTC each, plus messaging_message_default: a message whose partition does not
exist (the housekeeping job stopped for longer than AHEAD, a dead letter requeued after
its partition was dropped) is stored there rather than refused. Housekeeping creates
partitions AHEAD periods ahead and drops the partitions wholly older than the retention
(retention.py): no DELETE, no bloat. Every statement that takes a lock on the parent runs
with a short lock_timeout and gives up rather than queue the flush's INSERTs behind it.

The table's shape is what the database says, not the setting: `convert` (migration 0004,
`manage.py convert_messages_table`) turns one shape into the other by copying every row;
the check in apps.py reports a setting that disagrees with the table.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import OperationalError, connection, transaction

from .conf import msgbuffer_settings

log = logging.getLogger(__name__)

TABLE = "messaging_message"
DEFAULT_PARTITION = f"{TABLE}_default"
AHEAD = {"day": 7, "month": 2}  # periods created ahead of the current one
_NAME = re.compile(rf"^{TABLE}_p(\d{{8}}|\d{{6}})$")


@dataclass(frozen=True, slots=True)
class Partition:
    name: str
    start: datetime
    end: datetime  # exclusive


def period_start(moment: datetime, unit: str) -> datetime:
    moment = moment.astimezone(UTC)
    if unit == "day":
        return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def next_period(start: datetime, unit: str) -> datetime:
    if unit == "day":
        return start + timedelta(days=1)
    return datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=UTC)


def partition_for(start: datetime, unit: str) -> Partition:
    suffix = start.strftime("%Y%m%d" if unit == "day" else "%Y%m")
    return Partition(f"{TABLE}_p{suffix}", start, next_period(start, unit))


def _from_name(name: str) -> Partition | None:
    match = _NAME.match(name)
    if not match:
        return None
    digits = match.group(1)
    unit = "day" if len(digits) == 8 else "month"
    start = datetime.strptime(digits, "%Y%m%d" if unit == "day" else "%Y%m").replace(tzinfo=UTC)
    return partition_for(start, unit)


def is_partitioned(cursor) -> bool:
    if connection.vendor != "postgresql":
        return False
    cursor.execute("SELECT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(%s))", [TABLE])
    return cursor.fetchone()[0]


def range_partitions(cursor) -> list[Partition]:
    """The table's range partitions, oldest first (those msgbuffer named; not the default)."""
    if connection.vendor != "postgresql":
        return []
    cursor.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(%s)",
        [TABLE],
    )
    found = (_from_name(name) for (name,) in cursor.fetchall())
    return sorted((p for p in found if p), key=lambda p: p.start)


def unit_of(cursor) -> str:
    """day or month: as the existing partitions are cut, else as the setting says."""
    existing = range_partitions(cursor)
    if existing:
        return "day" if existing[-1].end - existing[-1].start <= timedelta(days=1) else "month"
    return msgbuffer_settings().PARTITION_BY or "day"


def _lock_timeout(cursor) -> None:
    cursor.execute(f"SET LOCAL lock_timeout = '{int(msgbuffer_settings().PRUNE_LOCK_TIMEOUT_MS)}ms'")


def _create(cursor, partition: Partition) -> None:
    """Create one partition. Rows of its range already in the default partition (it had
    none when they came) move into it in the same transaction: PostgreSQL refuses a new
    partition whose rows the default partition holds."""
    bounds = [partition.start, partition.end]
    cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {DEFAULT_PARTITION} WHERE created_at >= %s AND created_at < %s)", bounds)
    strays = cursor.fetchone()[0]
    if strays:
        cursor.execute(f"CREATE TEMPORARY TABLE strays (LIKE {TABLE}) ON COMMIT DROP")
        cursor.execute(
            f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} WHERE created_at >= %s AND created_at < %s RETURNING *) "
            "INSERT INTO strays SELECT * FROM moved",
            bounds,
        )
    cursor.execute(f"CREATE TABLE {partition.name} PARTITION OF {TABLE} FOR VALUES FROM (%s) TO (%s)", bounds)
    if strays:
        cursor.execute(f"INSERT INTO {TABLE} SELECT * FROM strays")
        cursor.execute("DROP TABLE strays")


def create_ahead(now: datetime | None = None) -> list[str]:
    """Create the current period's partition and AHEAD more; the names created."""
    created = []
    with connection.cursor() as cursor:
        if not is_partitioned(cursor):
            return created
        unit = unit_of(cursor)
        have = {p.name for p in range_partitions(cursor)}
        start = period_start(now or datetime.now(UTC), unit)
        for _ in range(AHEAD[unit] + 1):
            partition = partition_for(start, unit)
            start = partition.end
            if partition.name in have:
                continue
            try:
                with transaction.atomic():
                    _lock_timeout(cursor)
                    _create(cursor, partition)
            except OperationalError as exc:  # a lock not granted in time: the next run tries again
                log.warning("partition %s not created: %s", partition.name, exc, extra={"partition": partition.name})
                break
            created.append(partition.name)
    if created:
        log.info("created partitions %s", ", ".join(created), extra={"partitions": created})
    return created


def drop_expired(cutoff: datetime) -> tuple[int, list[str], bool]:
    """Drop the partitions whose every row is older than `cutoff`; (rows they held, their
    names, False if one was locked and left for the next run)."""
    removed, dropped = 0, []
    with connection.cursor() as cursor:
        for partition in range_partitions(cursor):
            if partition.end > cutoff:
                break
            cursor.execute(f"SELECT count(*) FROM {partition.name}")  # for /metrics; a scan of a partition that is going
            rows = cursor.fetchone()[0]
            try:
                with transaction.atomic():
                    _lock_timeout(cursor)
                    cursor.execute(f"DROP TABLE {partition.name}")
            except OperationalError as exc:
                log.warning("partition %s not dropped: %s", partition.name, exc, extra={"partition": partition.name})
                return removed, dropped, False
            removed += rows
            dropped.append(partition.name)
    return removed, dropped, True


# --- converting one shape into the other (migration 0004, manage.py convert_messages_table)

OLD = f"{TABLE}_old"
MAX_BACKFILL_PERIODS = 1000  # older rows than this many periods go to the default partition


def _set_aside(cursor) -> list[str]:
    """Rename the table, its indexes and its id sequence out of the way (suffix _old), so
    the new table takes the names Django knows; the definitions of its plain indexes (not
    those of constraints), for the new table to have them too."""
    cursor.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid), c.conname IS NOT NULL "
        "FROM pg_index i LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid WHERE i.indrelid = %s::regclass",
        [TABLE],
    )
    indexes = cursor.fetchall()
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [TABLE])
    sequence = cursor.fetchone()[0]
    cursor.execute(f"ALTER TABLE {TABLE} RENAME TO {OLD}")
    for name, _, _ in indexes:
        cursor.execute(f"ALTER INDEX {name} RENAME TO {name}_old")
    if sequence:
        cursor.execute(f"ALTER SEQUENCE {sequence} RENAME TO {TABLE}_id_seq_old")
    return [definition for _, definition, of_constraint in indexes if not of_constraint]


def _create_partitioned(cursor, unit: str, index_definitions: list[str], now: datetime) -> None:
    cursor.execute(
        f"CREATE TABLE {TABLE} (LIKE {OLD} INCLUDING DEFAULTS, "
        f"CONSTRAINT {TABLE}_pkey PRIMARY KEY (id, created_at), "
        f"CONSTRAINT {TABLE}_message_id_created_at_key UNIQUE (message_id, created_at)) "
        "PARTITION BY RANGE (created_at)"
    )
    # An identity column cannot be a partitioned table's before PostgreSQL 17: a sequence
    # it owns (pg_get_serial_sequence finds it, as Django's sequence resets need).
    cursor.execute(f"CREATE SEQUENCE {TABLE}_id_seq OWNED BY {TABLE}.id")
    cursor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN id SET DEFAULT nextval('{TABLE}_id_seq')")
    cursor.execute(f"CREATE TABLE {DEFAULT_PARTITION} PARTITION OF {TABLE} DEFAULT")
    cursor.execute(f"SELECT min(created_at) FROM {OLD}")
    oldest = cursor.fetchone()[0] or now
    start = period_start(now, unit)
    for _ in range(MAX_BACKFILL_PERIODS):
        if start <= oldest:
            break
        start = period_start(start - timedelta(seconds=1), unit)
    end = partition_for(period_start(now, unit), unit)
    for _ in range(AHEAD[unit]):
        end = partition_for(end.end, unit)
    while start < end.end:
        partition = partition_for(start, unit)
        cursor.execute(
            f"CREATE TABLE {partition.name} PARTITION OF {TABLE} FOR VALUES FROM (%s) TO (%s)", [partition.start, partition.end]
        )
        start = partition.end
    for definition in index_definitions:  # on the parent: PostgreSQL builds one per partition
        cursor.execute(definition)


def convert(unit: str, schema_editor, model, *, now: datetime | None = None) -> str:
    """Make the messages table partitioned by `unit` ("day", "month") or plain (""),
    copying every row under an exclusive lock (the flush waits; ingest queues in Redis).
    What it did, in words."""
    if schema_editor.connection.vendor != "postgresql":
        return "the database is not PostgreSQL: the table stays as it is"
    columns = ", ".join(field.column for field in model._meta.concrete_fields)
    with transaction.atomic(using=schema_editor.connection.alias), schema_editor.connection.cursor() as cursor:
        partitioned = is_partitioned(cursor)
        if partitioned and unit and unit != unit_of(cursor):
            raise ValueError(f"the table is partitioned by {unit_of(cursor)}: convert it to a plain table first")
        if partitioned == bool(unit):
            return "the table already has that shape: nothing to do"
        cursor.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
        index_definitions = _set_aside(cursor)
        if unit:
            _create_partitioned(cursor, unit, index_definitions, now or datetime.now(UTC))
        else:
            schema_editor.create_model(model)  # as migrations 0001 made it; its indexes follow at the editor's end
        cursor.execute(f"INSERT INTO {TABLE} ({columns}) SELECT {columns} FROM {OLD}")
        copied = cursor.rowcount
        cursor.execute(f"SELECT setval(pg_get_serial_sequence(%s, 'id'), COALESCE(max(id), 0) + 1, false) FROM {OLD}", [TABLE])
        cursor.execute(f"DROP TABLE {OLD}")
    return f"{copied} rows copied into a {'table partitioned by ' + unit if unit else 'plain table'}"
