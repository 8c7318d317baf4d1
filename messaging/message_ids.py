"""Message ids: time-ordered UUIDs (version 7, RFC 9562), made at ingest from the same
instant as the message's created_at.

The first 48 bits are that instant in Unix milliseconds, so ids made later sort later:
the unique index on message_id grows at its right edge instead of taking inserts all over
(a random UUID4 dirties a random leaf page per row once the index outgrows memory), and an
id says where to look. `created_at_window` turns an id back into a range of created_at,
which lets PostgreSQL skip every partition but one (or two) when a message is looked up by
id on a partitioned table (partitions.py), and costs nothing on a plain one.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# How far the window reaches either side of the id's millisecond: ingest makes both from
# one instant, so this only allows for ids made by something else with its own clock.
WINDOW = timedelta(hours=1)


def _milliseconds(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def new_message_ids(count: int, accepted_at: datetime) -> list[str]:
    """`count` UUIDv7 for messages accepted at `accepted_at`, in order (rand_a counts up
    within a request, so a bulk's ids keep its order)."""
    stamp = (_milliseconds(accepted_at) & (1 << 48) - 1) << 80 | 7 << 76
    random = os.urandom(8 * count)
    ids = []
    for n in range(count):
        rand_b = int.from_bytes(random[8 * n : 8 * n + 8]) & (1 << 62) - 1
        digits = f"{stamp | (n & 0xFFF) << 64 | 2 << 62 | rand_b:032x}"  # str(uuid.UUID(...)) costs twice as much
        ids.append(f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}")
    return ids


def created_at_window(message_id: uuid.UUID) -> tuple[datetime, datetime] | None:
    """The created_at range a message with this id was accepted in; None for an id that is
    not a UUIDv7 (ids made before msgbuffer made version 7 ones)."""
    if message_id.version != 7:
        return None
    moment = _EPOCH + timedelta(milliseconds=message_id.int >> 80)
    return moment - WINDOW, moment + WINDOW


def with_message_id(rows, message_id: uuid.UUID):
    """`rows` (a Message queryset) narrowed to that id, and to the created_at it implies."""
    rows = rows.filter(message_id=message_id)
    window = created_at_window(message_id)
    return rows.filter(created_at__range=window) if window else rows
