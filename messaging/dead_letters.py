"""Dead letters in both of their homes: Redis holds the newest MSGBUFFER_MAX_DEAD_LETTERS
(next to the queue, so poison can be parked even while PostgreSQL is sick), PostgreSQL
(DeadLetterOverflow) keeps the ones pushed past that cap, for good.

Why PostgreSQL and not "count and log": a dead letter is an accepted message (it got its
202), and the promise is that none is lost; a log line is not something admin can requeue.
PostgreSQL keeps them on disk, outside the memory the queue needs.

The move is at-least-once and idempotent: copy the overflow entries into the table
(ignoring an entry_id already there), commit, then drop them from Redis. A crash between
the two leaves an entry in both for a moment; the next move skips it in the table and
drops it from Redis.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from django.db import DatabaseError, transaction
from django.db.models import Count

from . import buffer
from .conf import msgbuffer_settings
from .models import REASON_CHARS, DeadLetterOverflow

log = logging.getLogger(__name__)

MOVE_CHUNK = 500  # overflow entries per transaction


def reason_key(reason) -> str:
    """A reason as kept, filtered and counted: a PostgreSQL text cannot hold NUL, and the
    column holds REASON_CHARS."""
    return str(reason).replace("\x00", "\ufffd")[:REASON_CHARS]


def _failed_at(entry: dict) -> datetime:
    try:
        when = datetime.fromisoformat(entry["failed_at"])
        return when if when.utcoffset() is not None else when.replace(tzinfo=UTC)
    except (KeyError, TypeError, ValueError):
        return datetime.now(UTC)


def _overflow_row(raw: bytes) -> DeadLetterOverflow:
    text = raw.decode("utf-8", "backslashreplace")
    entry = json.loads(text)
    return DeadLetterOverflow(
        entry_id=str(entry["id"]), reason=reason_key(entry.get("reason", "")), failed_at=_failed_at(entry), entry=text
    )


def move_overflow() -> int:
    """Move every dead letter past Redis's cap into PostgreSQL; how many moved.

    Flush jobs call it after a batch that dead-lettered and in their housekeeping. With
    the database away it moves nothing and says so; the entries wait in Redis.
    """
    moved = 0
    while raws := buffer.dead_letter_overflow(MOVE_CHUNK):
        try:
            with transaction.atomic():
                DeadLetterOverflow.objects.bulk_create([_overflow_row(raw) for raw in raws], ignore_conflicts=True)
        except DatabaseError as exc:
            log.warning("dead letters past the cap wait in Redis: the database refused them (%s)", exc)
            return moved
        buffer.dead_letter_overflow_settle(raws)
        moved += len(raws)
    if moved:
        log.info("moved %d dead letter(s) past MSGBUFFER_MAX_DEAD_LETTERS to the database", moved, extra={"moved": moved})
    return moved


# ---------------------------------------------------------------------------
# Both homes as one list (admin): newest first, Redis's then the database's
# ---------------------------------------------------------------------------
REDIS, DATABASE = "redis", "database"  # an entry's `home`
TAKE_CHUNK = 500  # entries per requeue/discard step (one Lua call, one transaction)


def _redis_entries(reason: str | None) -> list[dict]:
    # The whole list: it holds at most MAX_DEAD_LETTERS (the cap is what makes this cheap).
    entries = buffer.dead_letter_list(limit=msgbuffer_settings().MAX_DEAD_LETTERS + TAKE_CHUNK)
    chosen = [e | {"home": REDIS} for e in entries if reason is None or reason_key(e.get("reason", "")) == reason]
    return chosen


def _database_rows(reason: str | None):
    rows = DeadLetterOverflow.objects.all()
    return rows.filter(reason=reason) if reason is not None else rows


def _from_row(row: DeadLetterOverflow) -> dict:
    return json.loads(row.entry) | {"home": DATABASE}


def dead_letters_list(reason: str | None = None, limit: int = 500) -> list[dict]:
    """Dead letters (with `reason`, if given), newest first, at most `limit`."""
    found = _redis_entries(reason)[:limit]
    if len(found) < limit:
        found += [_from_row(row) for row in _database_rows(reason)[: limit - len(found)]]
    return found


def reason_counts() -> dict[str, dict[str, int]]:
    """{reason: {"redis": n, "database": n}} over every dead letter, most frequent first."""
    counts: dict[str, dict[str, int]] = {}
    for entry in _redis_entries(None):
        home = counts.setdefault(reason_key(entry.get("reason", "")), {REDIS: 0, DATABASE: 0})
        home[REDIS] += 1
    for row in DeadLetterOverflow.objects.order_by().values("reason").annotate(n=Count("id")):
        counts.setdefault(row["reason"], {REDIS: 0, DATABASE: 0})[DATABASE] = row["n"]
    return dict(sorted(counts.items(), key=lambda item: (-sum(item[1].values()), item[0])))


def _take_database(rows, *, requeue: bool) -> int:
    """Requeue or discard the rows, TAKE_CHUNK per transaction.

    Per entry it is all or nothing: the payload is queued, then the row deleted, in the
    row's transaction, so a failure to queue leaves the row. Should the commit itself fail
    after the payload was queued, the row stays and a later requeue queues it again: the
    unique message_id stores it once all the same.
    """
    taken = 0
    while True:
        with transaction.atomic():
            chunk = list(rows.select_for_update(skip_locked=True)[:TAKE_CHUNK])
            if not chunk:
                return taken
            if requeue:
                buffer.payloads_requeue([json.loads(row.entry)[buffer.DEAD_LETTER_PAYLOAD] for row in chunk])
            taken += DeadLetterOverflow.objects.filter(pk__in=[row.pk for row in chunk]).delete()[0]


def _take_redis(ids: list[str], *, requeue: bool) -> int:
    take = buffer.dead_letter_requeue if requeue else buffer.dead_letter_discard
    return sum(take(set(ids[start : start + TAKE_CHUNK])) for start in range(0, len(ids), TAKE_CHUNK))


def dead_letters_take(ids: set[str], *, requeue: bool) -> int:
    """Requeue (as the oldest messages) or discard the named dead letters, wherever each
    is; how many. Each entry is taken atomically, as dead_letter_take.lua does in Redis."""
    if not ids:
        return 0
    in_redis = [entry["id"] for entry in _redis_entries(None) if entry.get("id") in ids]
    taken = _take_redis(in_redis, requeue=requeue)
    return taken + _take_database(DeadLetterOverflow.objects.filter(entry_id__in=ids - set(in_redis)), requeue=requeue)


def dead_letters_take_matching(reason: str | None, *, requeue: bool) -> int:
    """Requeue or discard every dead letter with `reason` (None: every one); how many."""
    taken = _take_redis([entry["id"] for entry in _redis_entries(reason)], requeue=requeue)
    return taken + _take_database(_database_rows(reason).order_by("id"), requeue=requeue)


def dead_letters_export(reason: str | None = None):
    """Every matching dead letter as JSON lines (bytes), newest first: Redis's, then the
    database's, read in chunks so an export of millions holds little memory."""
    for entry in _redis_entries(reason):
        yield json.dumps(entry).encode() + b"\n"
    for row in _database_rows(reason).iterator(chunk_size=TAKE_CHUNK):
        yield json.dumps(_from_row(row)).encode() + b"\n"
