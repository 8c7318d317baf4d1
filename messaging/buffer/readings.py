"""What the stats snapshot, /metrics and the dashboards read from Redis, and the counters
the edges and flush jobs add to (never failing the request or flush that counts)."""

from __future__ import annotations

from dataclasses import dataclass

import redis

from . import keys
from .connection import async_client, bounded, sync_client, text
from .scripts import script


@dataclass(frozen=True, slots=True)
class BufferState:
    """Everything the stats snapshot needs from Redis, read in one round trip."""

    queue_length: int
    total_messages: int
    total_batches: int
    current_rps: float
    in_flight: int
    batches_in_flight: int
    dead_letters: int
    latencies_ms: list[float]
    last_batch: dict
    workers: int
    oldest_payload: bytes | None
    paused: bool  # an operator paused the flush (POST /flush/pause)
    batches_by_cause: dict[str, int]  # BATCH_CAUSES -> batches committed


_STATE_KEYS = [
    keys.PENDING,
    keys.TOTAL_MESSAGES,
    keys.TOTAL_BATCHES,
    keys.CURRENT_RPS,
    keys.IN_FLIGHT,
    keys.LEASES,
    keys.DEAD_LETTERS,
    keys.LATENCY_MS,
    keys.LAST_BATCH,
    keys.WORKERS,
    keys.FLUSH_PAUSED,
    keys.BATCHES_BY_CAUSE,
]

# Why a committed batch was flushed when it was (claim.lua decides, ack.lua counts).
BATCH_CAUSES = ("full", "timer", "recovered")


def _state_from(results) -> BufferState:
    length, (total, batches, rps, in_flight), leases, dead, latencies, last_batch, workers, oldest, paused, by_cause = results
    pairs = iter(last_batch)  # HGETALL comes out of a script as a flat list
    return BufferState(
        queue_length=int(length),
        total_messages=int(total or 0),
        total_batches=int(batches or 0),
        current_rps=float(rps or 0.0),
        in_flight=max(int(in_flight or 0), 0),
        batches_in_flight=int(leases),
        dead_letters=int(dead),
        latencies_ms=[float(value) for value in latencies],
        last_batch={text(k): text(v) for k, v in zip(pairs, pairs)},
        workers=int(workers),
        oldest_payload=oldest or None,
        paused=bool(paused),
        batches_by_cause={cause: int(count or 0) for cause, count in zip(BATCH_CAUSES, by_cause, strict=True)},
    )


def read_state() -> BufferState:
    """The raw figures for the stats snapshot: one command (stats.lua)."""
    return _state_from(script(sync_client(), "stats")(keys=_STATE_KEYS, args=[]))


async def read_state_async() -> BufferState:
    async with bounded():
        return _state_from(await script(async_client(), "stats")(keys=_STATE_KEYS, args=[]))


def is_queued(message_id: str) -> bool:
    return bool(sync_client().hexists(keys.QUEUED_IDS, message_id))


@dataclass(frozen=True, slots=True)
class MetricCounters:
    accepted: int
    rejected: dict[str, int]
    dead_lettered: int
    dead_lettered_by_reason: dict[str, int]
    dead_letters_moved: int  # to PostgreSQL, past MAX_DEAD_LETTERS
    flush_errors: dict[str, int]
    batch_size_histogram: dict[str, float]
    latency_histogram: dict[str, float]


def read_metric_counters() -> MetricCounters:
    pipe = sync_client().pipeline(transaction=False)
    pipe.get(keys.ACCEPTED_TOTAL)
    pipe.hgetall(keys.REJECTED_TOTAL)
    pipe.get(keys.DEAD_LETTERED_TOTAL)
    pipe.hgetall(keys.FLUSH_ERRORS_TOTAL)
    pipe.hgetall(keys.BATCH_SIZE_HISTOGRAM)
    pipe.hgetall(keys.LATENCY_HISTOGRAM)
    pipe.hgetall(keys.DEAD_LETTERED_BY_REASON)
    pipe.get(keys.DEAD_LETTERS_MOVED_TOTAL)
    accepted, rejected, dead, errors, sizes, latencies, by_reason, moved = pipe.execute()
    return MetricCounters(
        accepted=int(accepted or 0),
        rejected={text(k): int(v) for k, v in rejected.items()},
        dead_lettered=int(dead or 0),
        dead_lettered_by_reason={text(k): int(v) for k, v in by_reason.items()},
        dead_letters_moved=int(moved or 0),
        flush_errors={text(k): int(v) for k, v in errors.items()},
        batch_size_histogram={text(k): float(v) for k, v in sizes.items()},
        latency_histogram={text(k): float(v) for k, v in latencies.items()},
    )


@dataclass(frozen=True, slots=True)
class RedisMemory:
    used: int  # bytes
    maxmemory: int  # bytes; 0: no limit set

    @property
    def used_fraction(self) -> float | None:
        return self.used / self.maxmemory if self.maxmemory else None


def read_redis_memory() -> RedisMemory:
    """Redis's own memory figures (INFO memory): what /metrics and /health report."""
    used, maxmemory = script(sync_client(), "memory")(keys=[], args=[])
    return RedisMemory(used=int(used), maxmemory=int(maxmemory))


def count_flush_error(kind: str) -> None:
    """Count a failed flush attempt by kind (for /metrics); never fails the flush."""
    try:
        sync_client().hincrby(keys.FLUSH_ERRORS_TOTAL, kind, 1)
    except redis.RedisError:
        pass


async def count_rejected_async(reason: str) -> None:
    """Count a refused ingest request by reason (for /metrics); never fails the request."""
    try:
        async with bounded():
            await async_client().hincrby(keys.REJECTED_TOTAL, reason, 1)
    except (redis.RedisError, TimeoutError):
        pass


def events_subscription():
    """An async pub/sub object for the events channel keys.EVENTS, where ack.lua publishes
    batch_persisted (caller subscribes and closes it)."""
    return async_client().pubsub(ignore_subscribe_messages=True)
