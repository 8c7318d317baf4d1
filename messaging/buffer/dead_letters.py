"""Dead letters (messages a flush job could not store, parked with the reason) and the
demo's reset of every key.

A dead letter is JSON {id, payload, reason, failed_at, batch_id}; `payload` is the queued
message exactly as it was claimed (message_format.py), so requeueing it puts back what
ingest wrote. Redis holds at most MAX_DEAD_LETTERS of them (ack.lua moves the oldest past
the cap to the overflow list); messaging/dead_letters.py moves the overflow to PostgreSQL
with `dead_letter_overflow` and then `dead_letter_overflow_settle`, in that order, so an
entry is in Redis, in PostgreSQL or (after a crash between the two) briefly in both, never
in neither.
"""

from __future__ import annotations

import json
import uuid

from . import keys
from .connection import sync_client, text
from .message_format import MESSAGE_ID
from .scripts import script

PAYLOAD = "payload"  # the dead letter's field holding the queued message


def dead_letter_records(batch_id: str, dead_letters: list[tuple[bytes, str]], failed_at: str) -> list[str]:
    """The dead-letter list entries for (payload, reason) pairs of one batch."""
    return [
        json.dumps(
            {"id": uuid.uuid4().hex, PAYLOAD: text(payload), "reason": reason, "failed_at": failed_at, "batch_id": batch_id}
        )
        for payload, reason in dead_letters
    ]


def dead_letter_list(limit: int = 500) -> list[dict]:
    return [json.loads(raw) for raw in sync_client().lrange(keys.DEAD_LETTERS, 0, limit - 1)]


def dead_letter_overflow(limit: int = 500) -> list[bytes]:
    """The oldest raw entries waiting to move to PostgreSQL (they stay until settled)."""
    return sync_client().lrange(keys.DEAD_LETTER_OVERFLOW, -limit, -1)


def dead_letter_overflow_settle(entries: list[bytes]) -> None:
    """Drop overflow entries that PostgreSQL now holds (committed), and count them."""
    pipe = sync_client().pipeline(transaction=True)
    for entry in entries:
        pipe.lrem(keys.DEAD_LETTER_OVERFLOW, -1, entry)  # from the tail, where they are
    pipe.incrby(keys.DEAD_LETTERS_MOVED_TOTAL, len(entries))
    pipe.execute()


def payloads_requeue(payloads: list[str]) -> int:
    """Queue dead-letter payloads kept outside Redis again, as the oldest messages."""
    if not payloads:
        return 0
    return int(script(sync_client(), "payloads_requeue")(keys=[keys.PENDING, keys.QUEUED_IDS], args=[MESSAGE_ID, *payloads]))


def _dead_letter_take(dead_letter_ids: set[str], *, requeue: bool) -> int:
    """Remove the named dead letters (and requeue their payloads) atomically; how many."""
    client = sync_client()
    chosen = [raw for raw in client.lrange(keys.DEAD_LETTERS, 0, -1) if json.loads(raw).get("id") in dead_letter_ids]
    if not chosen:
        return 0
    return int(
        script(client, "dead_letter_take")(
            keys=[keys.DEAD_LETTERS, keys.PENDING, keys.QUEUED_IDS],
            args=["1" if requeue else "0", PAYLOAD, MESSAGE_ID, *chosen],
        )
    )


def dead_letter_requeue(dead_letter_ids: set[str]) -> int:
    """Put dead letters back on the queue (as the oldest messages); returns how many."""
    return _dead_letter_take(dead_letter_ids, requeue=True)


def dead_letter_discard(dead_letter_ids: set[str]) -> int:
    return _dead_letter_take(dead_letter_ids, requeue=False)


def reset() -> None:
    """Delete every key msgbuffer owns (the demo's DELETE /reset), but an operator's pause:
    emptying the buffer is no reason for the flush to start again behind their back."""
    client = sync_client()
    found = list(keys.ORIGINAL_KEYS)
    for pattern in keys.ALL_KEYS_PATTERNS:
        found.extend(client.scan_iter(match=pattern, count=1000))
    found = [key for key in found if text(key) != keys.FLUSH_PAUSED]
    for start in range(0, len(found), 500):
        client.delete(*found[start : start + 500])
