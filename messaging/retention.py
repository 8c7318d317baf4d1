"""Retention: stored messages older than MSGBUFFER_RETENTION_DAYS are removed (0: kept for
ever). `manage.py prune_messages` and the scheduled housekeeping job (jobs.py) call
`prune_messages`. A partitioned table (partitions.py) loses whole partitions instead;
what follows is about the DELETE of a plain table (and of the default partition).

The prune never makes the flush or ingest wait. Ingest never touches the database; the
flush only inserts new rows, and a DELETE of old rows takes the same table lock as an
INSERT (ROW EXCLUSIVE, which does not conflict with it) and row locks on rows nobody else
touches. Rows go in chunks of PRUNE_CHUNK_ROWS, oldest first along message_newest_idx
(created_at, id), each chunk in its own short transaction: nothing holds a lock or a
snapshot for the whole prune. Each chunk sets a short `lock_timeout`, so that a chunk that
meets a stronger lock (a migration, a VACUUM FULL) gives up rather than queue behind it,
and every INSERT with it.

A DELETE frees no space by itself: until a VACUUM passes, the next inserts go to new pages
and the table grows. A prune that caught up therefore VACUUMs the table it deleted from
(reclaim_space) rather than leave it to autovacuum, which by default waits for a fifth of
the table to be dead (autovacuum_vacuum_scale_factor 0.2): a daily prune of 30 days' rows
removes a thirtieth, so the table would carry days of dead rows, and where autovacuum is
off it would grow for ever (bench/README.md's soak).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import OperationalError, connection, transaction

from . import buffer, partitions
from .conf import msgbuffer_settings

log = logging.getLogger(__name__)

LOCK_RETRIES = 3  # a chunk that met a lock tries again this often, then the prune stops until its next run
PROGRESS_LOG_EVERY = 5.0  # seconds between two progress lines of a long prune


@dataclass(frozen=True, slots=True)
class PruneOutcome:
    cutoff: datetime | None  # rows accepted before this were removed; None: retention is off
    removed: int
    seconds: float
    finished: bool  # False: it stopped (budget, stop request, lock) with old rows left
    vacuum_seconds: float | None = None  # how long reclaim_space took; None: it did not run


def retention_cutoff(now: datetime | None = None) -> datetime | None:
    days = msgbuffer_settings().RETENTION_DAYS
    return (now or datetime.now(UTC)) - timedelta(days=days) if days else None


def _lock_not_available(exc: OperationalError) -> bool:
    return getattr(exc.__cause__, "sqlstate", None) == "55P03"  # lock_timeout expired


def _delete_chunk(table: str, cutoff: datetime, rows: int) -> int:
    """Remove up to `rows` of the oldest rows of `table` accepted before `cutoff`; how many
    went. On PostgreSQL `table` must be one heap (a plain table or one partition)."""
    quoted = connection.ops.quote_name(table)
    value = connection.ops.adapt_datetimefield_value(cutoff)
    oldest = f"FROM {quoted} WHERE created_at < %s ORDER BY created_at, id LIMIT %s"
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"SET LOCAL lock_timeout = '{int(msgbuffer_settings().PRUNE_LOCK_TIMEOUT_MS)}ms'")
            # By row address: a TID scan, ~3x the rows/s of `id IN (...)`, which probes the
            # primary key once per row (bench/prune.py). ctid names a row within one heap
            # only, hence one table, never a partitioned parent.
            cursor.execute(f"DELETE FROM {quoted} WHERE ctid = ANY(ARRAY(SELECT ctid {oldest}))", [value, rows])
        else:
            cursor.execute(f"DELETE FROM {quoted} WHERE id IN (SELECT id {oldest})", [value, rows])
        return cursor.rowcount


def delete_older_than(
    table: str, cutoff: datetime, *, budget: float | None = None, should_stop: Callable[[], bool] = lambda: False
) -> tuple[int, bool]:
    """DELETE rows of `table` accepted before `cutoff`, chunk by chunk; (rows removed, finished)."""
    chunk_rows = msgbuffer_settings().PRUNE_CHUNK_ROWS
    started = logged_at = time.monotonic()
    removed = lock_failures = 0
    while not should_stop() and (budget is None or time.monotonic() - started < budget):
        try:
            rows = _delete_chunk(table, cutoff, chunk_rows)
        except OperationalError as exc:
            if not _lock_not_available(exc):
                raise
            if lock_failures >= LOCK_RETRIES:
                log.warning("prune: %s stays locked; stopping until the next run", table)
                return removed, False
            lock_failures += 1
            log.warning("prune: %s is locked; trying again (%d/%d)", table, lock_failures, LOCK_RETRIES)
            time.sleep(0.1 * lock_failures)
            continue
        lock_failures = 0
        removed += rows
        buffer.retention_removed(rows)
        if rows < chunk_rows:
            return removed, True
        if time.monotonic() - logged_at >= PROGRESS_LOG_EVERY:
            logged_at = time.monotonic()
            log.info(
                "prune: %d rows removed so far (%.0f rows/s)",
                removed,
                removed / (logged_at - started),
                extra={"removed": removed, "table": table},
            )
    return removed, False


def reclaim_space(table: str) -> float | None:
    """VACUUM (ANALYZE) `table`, so that the space of the rows a prune deleted is reused by
    the next inserts; the seconds it took, or None where it cannot run. VACUUM takes a lock
    that INSERT and DELETE do not wait on (SHARE UPDATE EXCLUSIVE); SKIP_LOCKED passes over a
    table that another VACUUM (autovacuum, an operator's) is already on, rather than wait."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return None  # SQLite reuses freed pages itself; PostgreSQL runs VACUUM outside a transaction only
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (SKIP_LOCKED, ANALYZE) {connection.ops.quote_name(table)}")
    return time.monotonic() - started


def prune_messages(
    *, now: datetime | None = None, budget: float | None = None, should_stop: Callable[[], bool] = lambda: False
) -> PruneOutcome:
    """Remove the messages older than the retention; `budget` seconds at most (None: all)."""
    cutoff = retention_cutoff(now)
    if cutoff is None:
        return PruneOutcome(None, 0, 0.0, True)
    started = time.monotonic()
    buffer.retention_started()
    try:
        with connection.cursor() as cursor:
            partitioned = partitions.is_partitioned(cursor)
        if partitioned:
            # Whole partitions go; rows of the partition that holds the cutoff stay until all
            # of it is older. DELETE only what the default partition holds (strays).
            dropped_rows, dropped, all_dropped = partitions.drop_expired(cutoff)
            buffer.retention_removed(dropped_rows)
            if dropped:
                log.info("prune: dropped %s (%d rows)", ", ".join(dropped), dropped_rows, extra={"partitions": dropped})
            table = partitions.DEFAULT_PARTITION
            deleted, finished = delete_older_than(table, cutoff, budget=budget, should_stop=should_stop)
            removed, finished = deleted + dropped_rows, finished and all_dropped
        else:
            table = partitions.TABLE
            deleted, finished = delete_older_than(table, cutoff, budget=budget, should_stop=should_stop)
            removed = deleted
        seconds = time.monotonic() - started
        # Once caught up, not after every budget of a long prune: one VACUUM then covers it all.
        vacuum_seconds = reclaim_space(table) if deleted and finished else None
    finally:
        buffer.retention_finished()
    log.info(
        "prune: removed %d messages accepted before %s in %.1f s%s%s",
        removed,
        cutoff.isoformat(),
        seconds,
        "" if vacuum_seconds is None else f"; VACUUM {vacuum_seconds:.1f} s",
        "" if finished else "; older ones remain for the next run",
        extra={
            "removed": removed,
            "cutoff": cutoff.isoformat(),
            "seconds": round(seconds, 3),
            "vacuum_seconds": None if vacuum_seconds is None else round(vacuum_seconds, 3),
            "finished": finished,
        },
    )
    return PruneOutcome(cutoff, removed, seconds, finished, vacuum_seconds)
