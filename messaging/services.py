"""Write-side services: accepting messages onto the buffer, simulating traffic, pausing and
resuming the flush, resetting.

Views and the ASGI ingest path call these; they never touch Redis or the ORM themselves.
An outage comes out of here as outages.QueueUnavailable or DatabaseUnavailable (named
here too: services.QueueUnavailable), never as a driver's error.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from . import buffer, jobs, outages, simulate
from .conf import msgbuffer_settings
from .message_ids import new_message_ids
from .outages import DatabaseUnavailable, QueueUnavailable
from .schemas import MessageIn

__all__ = [
    "Accepted",
    "DatabaseUnavailable",
    "QueueFull",
    "QueueUnavailable",
    "RateLimited",
    "accepted_ids",
    "buffer_reset",
    "flush_pause",
    "flush_resume",
    "messages_accept",
    "traffic_simulate",
]

log = logging.getLogger(__name__)


class QueueFull(Exception):
    """The queue holds MAX_QUEUE messages: nothing (more) was accepted."""

    def __init__(self, accepted: int = 0):
        super().__init__()
        self.accepted = accepted  # messages queued before (traffic_simulate's earlier chunks)


class RateLimited(Exception):
    """The API key has sent its RATE_LIMIT messages this second: nothing (more) was accepted."""

    def __init__(self, accepted: int = 0):
        super().__init__()
        self.accepted = accepted


@dataclass(frozen=True, slots=True)
class Accepted:
    body: bytes  # the JSON answer; replayed as is for a repeated Idempotency-Key
    replayed: bool = False


async def messages_accept(
    messages: list[MessageIn],
    *,
    bulk: bool,
    idempotency_key: str | None = None,
    api_key_id: int | None = None,
    staff_user_id: int | None = None,
) -> Accepted:
    """Queue messages atomically (all or none) and answer as SPEC §4 says.

    An Idempotency-Key is scoped to the endpoint and the API key, so two clients cannot
    replay each other's answers. The rate limit applies to the API key when one is given,
    else to the staff user (POST /simulate from the dashboard), else to nobody.
    Raises QueueFull, RateLimited or QueueUnavailable; in each case nothing was queued.
    """
    now = datetime.now(UTC)
    accepted_at = now.isoformat()
    ids = new_message_ids(len(messages), now)  # time-ordered, from the instant created_at records
    entries = [
        (message_id, buffer.queued_payload(message, message_id, accepted_at))
        for message, message_id in zip(messages, ids, strict=True)
    ]
    if bulk:
        body = orjson.dumps({"accepted": len(ids), "message_ids": ids})
    else:
        body = orjson.dumps({"message_id": ids[0], "status": "queued", "queued_at": accepted_at})
    with outages.translated():  # push.lua refuses before its first write: nothing queued
        result = await buffer.push_async(
            entries,
            idempotency_key=f"{api_key_id or '-'}:{'bulk' if bulk else 'one'}:{idempotency_key}" if idempotency_key else None,
            response=body,
            rate_key=_rate_key(api_key_id, staff_user_id),
        )
    if result.replayed_response is not None:
        return Accepted(body=result.replayed_response, replayed=True)
    if result.queue_full:
        raise QueueFull()
    if result.rate_limited:
        raise RateLimited()
    if result.flush_job_requested:
        await _enqueue_requested_flush_job()
    return Accepted(body=body)


def _rate_key(api_key_id: int | None, staff_user_id: int | None) -> str | None:
    if api_key_id is not None:
        return str(api_key_id)
    return f"staff-{staff_user_id}" if staff_user_id is not None else None  # never a key's id


def accepted_ids(accepted: Accepted) -> list[str]:
    answer = orjson.loads(accepted.body)
    return answer["message_ids"] if "message_ids" in answer else [answer["message_id"]]


async def _enqueue_requested_flush_job() -> None:
    # Rare (once per flush job), and RQ's client is synchronous: run it off the event loop.
    try:
        await asyncio.to_thread(jobs.enqueue_requested_flush_job)
    except Exception:  # the message is safe in Redis; a later push asks again
        log.exception("could not enqueue a flush job; the next accepted message will ask again")


async def traffic_simulate(count: int, *, api_key_id: int | None, staff_user_id: int | None) -> list[str]:
    """Queue `count` realistic chat messages (POST /simulate) in bulk-sized chunks, each
    all or none; returns their ids. Raises RateLimited, QueueFull or QueueUnavailable with
    `accepted`, the messages the earlier chunks queued."""
    message_ids: list[str] = []
    chunk = msgbuffer_settings().MAX_BULK_ITEMS
    messages = simulate.chat_messages(count)
    try:
        for start in range(0, count, chunk):
            accepted = await messages_accept(
                messages[start : start + chunk], bulk=True, api_key_id=api_key_id, staff_user_id=staff_user_id
            )
            message_ids += accepted_ids(accepted)
    except (RateLimited, QueueFull) as exc:
        raise type(exc)(accepted=len(message_ids)) from exc
    except QueueUnavailable as exc:
        raise QueueUnavailable(
            str(exc), kind=exc.kind, consequence=f"{len(message_ids)} of {count} were queued", accepted=len(message_ids)
        ) from exc
    return message_ids


@outages.translated(consequence="Redis was not reset")
def buffer_reset() -> dict:
    """Demo only: delete every stored message, every dead letter and every buffer key."""
    from .models import DeadLetterOverflow, Message

    # Redis first: if it is unreachable, the rows stay too (nothing half-reset).
    state = buffer.read_state()
    buffer.reset()
    deleted = Message.objects.all()._raw_delete(Message.objects.db)  # one DELETE statement, no per-row signals
    kept = DeadLetterOverflow.objects.all()._raw_delete(DeadLetterOverflow.objects.db)  # past the cap (dead_letters.py)
    return {"deleted_rows": deleted, "dropped_queued": state.queue_length, "dropped_dead_letters": state.dead_letters + kept}


@outages.translated(consequence="the flush was not paused")
def flush_pause() -> dict:
    """POST /flush/pause: claim nothing more; ingest goes on accepting up to MAX_QUEUE.
    Batches already claimed are stored and acked by the jobs that hold them."""
    changed = buffer.flush_pause()
    log.warning("flush paused by an operator" if changed else "flush pause asked again: already paused")
    return {"paused": True, "changed": changed}


@outages.translated(consequence="the flush may not have resumed; retry")
def flush_resume() -> dict:
    """POST /flush/resume: claim again, and request a flush job for what waits (the paused
    jobs ended and push.lua asked for none meanwhile: without one nothing would move until
    an idle worker's next look, IDLE_CHECK_EVERY seconds)."""
    changed = buffer.flush_resume()
    requested = jobs.request_flush_job_if_unattended()
    log.warning("flush resumed by an operator" if changed else "flush resume asked while not paused")
    return {"paused": False, "changed": changed, "flush_job_requested": requested}
