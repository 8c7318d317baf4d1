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

from . import buffer
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
