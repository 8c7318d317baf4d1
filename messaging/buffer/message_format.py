"""The queued-message format: the JSON object a message is while it waits in Redis, is
claimed, or sits in a dead letter's payload. Nothing outside this module names its fields.

Ingest writes it (`queued_payload`), a flush job reads it (`QueuedMessage`), the stats and
the partial-flush timer read its acceptance time (`accepted_at`), and dead_letter_take.lua
reads its id: the script is given MESSAGE_ID as an argument (dead_letters.py), so it
names no field itself.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import orjson

from ..schemas import MessageIn

MESSAGE_ID = "message_id"
CREATED_AT = "created_at"  # when ingest accepted it (ISO 8601, UTC)


class QueuedMessage(MessageIn):
    """A message as it waits in Redis: what the client sent plus what ingestion added."""

    message_id: UUID
    created_at: datetime


def queued_payload(message: MessageIn, message_id: str, accepted_at: str) -> bytes:
    """The payload ingest queues. A dict built here, not model_dump: this is the hot path,
    and tests/test_buffer.py holds its keys to QueuedMessage's fields."""
    return orjson.dumps(
        {
            MESSAGE_ID: message_id,
            "user_id": message.user_id,
            "channel_id": message.channel_id,
            "content": message.content,
            CREATED_AT: accepted_at,
        }
    )


def accepted_at(payload: bytes) -> datetime | None:
    """When the queued message was accepted; None when the payload cannot say (poison).
    The time is as written: naive if whatever queued it wrote a naive one."""
    try:
        return datetime.fromisoformat(orjson.loads(payload)[CREATED_AT])
    except (ValueError, KeyError, TypeError):
        return None
