"""Write-side services: accepting messages onto the buffer, simulating traffic, resetting.

Views and the ASGI ingest path call these; they never touch Redis or the ORM themselves.
"""
from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
import redis

from . import buffer, jobs
from .schemas import MessageIn

log = logging.getLogger(__name__)


class QueueFull(Exception):
    """The queue holds MAX_QUEUE messages: nothing was accepted."""


class QueueUnavailable(Exception):
    """Redis could not be reached: nothing was accepted."""


class RateLimited(Exception):
    """The API key has sent its RATE_LIMIT messages this second: nothing was accepted."""


@dataclass(frozen=True, slots=True)
class Accepted:
    body: bytes  # the JSON answer; replayed as is for a repeated Idempotency-Key
    replayed: bool = False


def _payload(message: MessageIn, message_id: str, accepted_at: str) -> bytes:
    return orjson.dumps(
        {
            "message_id": message_id,
            "user_id": message.user_id,
            "channel_id": message.channel_id,
            "content": message.content,
            "created_at": accepted_at,
        }
    )


async def messages_accept(
    messages: list[MessageIn], *, bulk: bool, idempotency_key: str | None = None, api_key_id: int | None = None,
    staff_user_id: int | None = None,
) -> Accepted:
    """Queue messages atomically (all or none) and answer as SPEC §4 says.

    An Idempotency-Key is scoped to the endpoint and the API key, so two clients cannot
    replay each other's answers. The rate limit applies to the API key when one is given,
    else to the staff user (POST /simulate from the dashboard), else to nobody.
    Raises QueueFull, RateLimited or QueueUnavailable; in each case nothing was queued.
    """
    accepted_at = datetime.now(UTC).isoformat()
    ids = [str(uuid.uuid4()) for _ in messages]
    entries = [(message_id, _payload(message, message_id, accepted_at)) for message, message_id in zip(messages, ids, strict=True)]
    if bulk:
        body = orjson.dumps({"accepted": len(ids), "message_ids": ids})
    else:
        body = orjson.dumps({"message_id": ids[0], "status": "queued", "queued_at": accepted_at})
    try:
        result = await buffer.push_async(
            entries,
            idempotency_key=f"{api_key_id or '-'}:{'bulk' if bulk else 'one'}:{idempotency_key}" if idempotency_key else None,
            response=body,
            rate_key=_rate_key(api_key_id, staff_user_id),
        )
    except (redis.RedisError, OSError) as exc:  # unreachable, out of memory, a read-only replica...
        raise QueueUnavailable(str(exc)) from exc
    if result.replayed_response is not None:
        return Accepted(body=result.replayed_response, replayed=True)
    if result.queue_full:
        raise QueueFull()
    if result.rate_limited:
        raise RateLimited()
    if result.need_flush_job:
        await _enqueue_flush_job()
    return Accepted(body=body)


def _rate_key(api_key_id: int | None, staff_user_id: int | None) -> str | None:
    if api_key_id is not None:
        return str(api_key_id)
    return f"staff-{staff_user_id}" if staff_user_id is not None else None  # never a key's id


def accepted_ids(accepted: Accepted) -> list[str]:
    answer = orjson.loads(accepted.body)
    return answer["message_ids"] if "message_ids" in answer else [answer["message_id"]]


async def _enqueue_flush_job() -> None:
    # Rare (once per flush job), and RQ's client is synchronous: run it off the event loop.
    try:
        await asyncio.to_thread(jobs.enqueue_flush_job)
    except Exception:  # the message is safe in Redis; a later push asks again
        log.exception("could not enqueue a flush job; the next accepted message will ask again")


def buffer_reset() -> dict:
    """Demo only: delete every stored message and every buffer key."""
    from .models import Message

    # Redis first: if it is unreachable, the rows stay too (nothing half-reset).
    state = buffer.read_state()
    buffer.reset()
    deleted = Message.objects.all()._raw_delete(Message.objects.db)  # one DELETE statement, no per-row signals
    return {"deleted_rows": deleted, "dropped_queued": state.queue_length, "dropped_dead_letters": state.dead_letters}
