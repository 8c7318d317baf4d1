"""One statistics snapshot, many renderers: the /ws/stats tick, /queue/status, /health and
/metrics all render what `stats_snapshot` (or its async twin) returns."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime

from . import buffer
from .conf import msgbuffer_settings


def _percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def _oldest_age(payload: bytes | None, now: datetime) -> float:
    accepted = buffer.accepted_at(payload) if payload is not None else None
    try:
        return max((now - accepted).total_seconds(), 0.0) if accepted is not None else 0.0
    except TypeError:  # a naive time (not ingest's): no age to tell
        return 0.0


def snapshot_from(state: buffer.BufferState) -> dict:
    conf = msgbuffer_settings()
    now = datetime.now(UTC)
    latencies = sorted(state.latencies_ms)
    progress = state.queue_length % conf.BATCH_SIZE
    return {
        "total_messages": state.total_messages,
        "current_rps": round(state.current_rps, 2),
        "messages_per_second": round(state.current_rps, 2),
        # queue_depth: accepted and not yet stored (waiting + claimed by a worker)
        "queue_depth": state.queue_length + state.in_flight,
        "queue_length": state.queue_length,
        "total_batches": state.total_batches,
        "batches_by_cause": state.batches_by_cause,  # full, timer, recovered: they add up to total_batches
        "avg_batch_size": round(state.total_messages / state.total_batches, 2) if state.total_batches else 0.0,
        "batch_threshold": conf.BATCH_SIZE,
        "batch_progress": progress,
        "batch_progress_percent": round(100.0 * progress / conf.BATCH_SIZE, 1),
        "batches_ready": state.queue_length // conf.BATCH_SIZE,
        "in_flight": state.in_flight,
        "batches_in_flight": state.batches_in_flight,
        "dead_letters": state.dead_letters,
        "avg_latency_ms": round(statistics.fmean(latencies), 2) if latencies else 0.0,
        "p50_latency_ms": round(_percentile(latencies, 0.50), 2),
        "p95_latency_ms": round(_percentile(latencies, 0.95), 2),
        "p99_latency_ms": round(_percentile(latencies, 0.99), 2),
        "oldest_message_age_s": round(_oldest_age(state.oldest_payload, now), 3),
        "last_batch": {
            "batch_id": state.last_batch.get("batch_id"),
            "size": int(state.last_batch["size"]) if "size" in state.last_batch else None,
            "completed_at": state.last_batch.get("completed_at"),
        },
        "workers": state.workers,
        "paused": state.paused,
        "timestamp": now.isoformat().replace("+00:00", "Z"),
    }


def stats_snapshot() -> dict:
    return snapshot_from(buffer.read_state())


async def stats_snapshot_async() -> dict:
    return snapshot_from(await buffer.read_state_async())


def redis_memory_report(memory: buffer.RedisMemory) -> dict:
    """/health's view of Redis memory: degraded from REDIS_MEMORY_DEGRADED of maxmemory
    (never without a maxmemory: then Redis grows until the machine says no)."""
    fraction = memory.used_fraction
    return {
        "used_bytes": memory.used,
        "maxmemory_bytes": memory.maxmemory,
        "used_percent": round(100 * fraction, 1) if fraction is not None else None,
        "degraded": fraction is not None and fraction >= msgbuffer_settings().REDIS_MEMORY_DEGRADED,
    }
