"""The queue: push (ingest), claim, ack and requeue (flush jobs).

Delivery is at-least-once: a claim carries a lease; a worker that dies leaves its lease
to expire, and `requeue_expired` puts the batch back. Rows are exactly-once because the
insert ignores conflicts on the unique message_id; counters are exactly-once because
only the holder of a live lease may settle it (ack.lua).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from ..conf import msgbuffer_settings
from . import keys
from .connection import async_client, bounded, sync_client
from .coordination import FLUSH_QUEUED_TTL_MS
from .dead_letters import dead_letter_records
from .histograms import BATCH_SIZE_BUCKETS, LATENCY_MS_BUCKETS, histogram_increments
from .history import batch_p95
from .scripts import script


# ---------------------------------------------------------------------------
# Push (ingest)
# ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PushResult:
    accepted: bool
    queue_full: bool
    rate_limited: bool
    queue_length: int
    flush_job_requested: bool  # push.lua marked a flush job requested: the caller enqueues it
    replayed_response: bytes | None


def _push_args(entries, idempotency_key, response, rate_key):
    conf = msgbuffer_settings()
    rate_limit = conf.RATE_LIMIT if rate_key is not None else 0
    push_keys = [
        keys.PENDING,
        keys.QUEUED_IDS,
        keys.IDEMPOTENCY_PREFIX + (idempotency_key or ""),
        keys.FLUSH_QUEUED,
        keys.FLUSH_ACTIVE,
        keys.WAKEUP,
        f"{keys.RATE_PREFIX}{rate_key}:{int(time.time())}",
        keys.ACCEPTED_TOTAL,
        keys.FLUSH_PAUSED,
    ]
    args = [
        conf.MAX_QUEUE,
        conf.BATCH_SIZE,
        FLUSH_QUEUED_TTL_MS,
        conf.IDEMPOTENCY_TTL,
        response if idempotency_key else b"",
        rate_limit,
    ]
    for message_id, payload in entries:
        args.append(message_id)
        args.append(payload)
    return push_keys, args


def _push_result(raw) -> PushResult:
    code, length, need_job, previous = raw
    return PushResult(
        accepted=code == 0,
        queue_full=code == 1,
        rate_limited=code == 3,
        queue_length=int(length),
        flush_job_requested=bool(need_job),
        replayed_response=previous if code == 2 else None,
    )


async def push_async(
    entries: list[tuple[str, bytes]], *, idempotency_key: str | None = None, response: bytes = b"", rate_key: str | None = None
) -> PushResult:
    """Queue (message_id, payload) pairs atomically: all or none, one round trip.

    With an idempotency key, `response` is stored as the key's first answer; a replay
    returns that answer instead and queues nothing. With a rate key (an API key's id),
    the push is refused whole when it would take that key past RATE_LIMIT this second.
    """
    push_keys, args = _push_args(entries, idempotency_key, response, rate_key)
    async with bounded():
        return _push_result(await script(async_client(), "push")(keys=push_keys, args=args))


def push(
    entries: list[tuple[str, bytes]], *, idempotency_key: str | None = None, response: bytes = b"", rate_key: str | None = None
) -> PushResult:
    push_keys, args = _push_args(entries, idempotency_key, response, rate_key)
    return _push_result(script(sync_client(), "push")(keys=push_keys, args=args))


def push_raw(payload: bytes | str) -> None:
    """Push a payload exactly as given, bypassing validation: for tests and benchmarks."""
    sync_client().lpush(keys.PENDING, payload)


# ---------------------------------------------------------------------------
# Claim, ack, requeue (flush jobs)
# ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Claim:
    batch_id: str
    payloads: list[bytes]  # oldest first
    messages_left: int
    cause: str = "timer"  # why it goes now (claim.lua): full, timer or recovered; ack counts it


class FlushPaused(Exception):
    """claim() refused: an operator paused the flush (POST /flush/pause). The flush job that
    asked must end; POST /flush/resume requests a new one."""


def new_batch_id() -> str:
    return uuid.uuid4().hex


def claim(*, full_only: bool) -> Claim | None:
    """Claim the oldest messages (at most BATCH_SIZE) under a lease.

    With full_only, claims only when a whole batch waits; otherwise any waiting message.
    Raises FlushPaused while the flush is paused (and the caller's job no longer counts as
    active: claim.lua dropped its flag).
    """
    conf = msgbuffer_settings()
    batch_id = new_batch_id()
    raw = script(sync_client(), "claim")(
        keys=[
            keys.PENDING,
            keys.LEASES,
            keys.CLAIM_PREFIX + batch_id,
            keys.IN_FLIGHT,
            keys.FLUSH_PAUSED,
            keys.FLUSH_ACTIVE,
            keys.RECOVERED_WAITING,
        ],
        args=[conf.BATCH_SIZE, conf.BATCH_SIZE if full_only else 1, int(conf.CLAIM_LEASE * 1000), batch_id],
    )
    if int(raw[1]):
        raise FlushPaused()
    if len(raw) == 3:
        return None
    return Claim(batch_id=batch_id, payloads=raw[3:], messages_left=int(raw[0]), cause=raw[2].decode())


def ack(
    batch_id: str,
    *,
    stored: int,
    message_ids: list[str],
    latencies_ms: list[float],
    dead_letters: list[tuple[bytes, str]],
    event: bytes | None = None,
    cause: str = "timer",
) -> bool:
    """Settle a committed batch; returns False if its lease was lost (see ack.lua).

    `latencies_ms` are the stored messages' (they feed the /metrics histograms too);
    `event` is published on the events channel if, and only if, the batch is settled;
    `cause` is the claim's (Claim.cause), counted with the batch.
    """
    conf = msgbuffer_settings()
    failed_at = datetime.now(UTC).isoformat()
    dead = dead_letter_records(batch_id, dead_letters, failed_at)
    batch_size_histogram = histogram_increments([stored] if stored else [], BATCH_SIZE_BUCKETS)
    latency_histogram = histogram_increments(latencies_ms, LATENCY_MS_BUCKETS)
    args = [
        batch_id,
        stored,
        conf.RPS_WINDOW,
        conf.LATENCY_SAMPLES,
        failed_at,
        len(message_ids),
        len(latencies_ms),
        len(dead),
        len(batch_size_histogram),
        len(latency_histogram),
        event or b"",
        cause,
        f"{batch_p95(latencies_ms):.1f}" if conf.HISTORY else "",
        conf.MAX_DEAD_LETTERS,
    ]
    args += message_ids
    args += [f"{latency:.3f}" for latency in latencies_ms]
    args += dead
    for histogram in (batch_size_histogram, latency_histogram):
        for field, increment in histogram.items():
            args += [field, repr(float(increment))]
    ack_keys = [
        keys.LEASES,
        keys.CLAIM_PREFIX + batch_id,
        keys.QUEUED_IDS,
        keys.TOTAL_MESSAGES,
        keys.TOTAL_BATCHES,
        keys.CURRENT_RPS,
        keys.LAST_BATCH,
        keys.LATENCY_MS,
        keys.DEAD_LETTERS,
        keys.IN_FLIGHT,
        keys.PERSISTED_PER_SECOND,
        keys.BATCH_SIZE_HISTOGRAM,
        keys.LATENCY_HISTOGRAM,
        keys.DEAD_LETTERED_TOTAL,
        keys.EVENTS,
        keys.BATCHES_BY_CAUSE,
        keys.HISTORY_SECONDS,
        keys.HISTORY_MINUTES,
        keys.HISTORY_ACCEPTED_SEEN,
        keys.ACCEPTED_TOTAL,
        keys.PENDING,
        keys.DEAD_LETTER_OVERFLOW,
        keys.DEAD_LETTERED_BY_REASON,
    ]
    return bool(script(sync_client(), "ack")(keys=ack_keys, args=args))


def release(batch_id: str) -> int:
    """Give one claimed batch back to the queue (its flush failed); returns messages."""
    return _requeue(batch_id)[1]


def requeue_expired(limit: int = 100) -> tuple[int, int]:
    """Put back every batch whose lease expired (its worker died); (batches, messages)."""
    return _requeue("", limit)


def _requeue(batch_id: str, limit: int = 1) -> tuple[int, int]:
    batches, messages = script(sync_client(), "requeue")(
        keys=[keys.LEASES, keys.PENDING, keys.IN_FLIGHT, keys.RECOVERED_WAITING], args=[keys.CLAIM_PREFIX, batch_id, limit]
    )
    return int(batches), int(messages)
