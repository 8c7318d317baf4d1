"""Throughput history: what each second and each minute looked like, kept in Redis so it
survives reloads and web restarts.

ack.lua writes it, in the script that already settles every batch: no command per message
and no round trip of its own. Each bucket holds the messages persisted and accepted in it,
the batches settled, the queue length when its last batch settled, and the worst batch p95
latency among them. Accepted is read from ingest's own counter (msgbuffer:metrics:accepted)
as each batch settles, so ingest does no extra work; the cost of that honesty is that the
messages accepted while no batch settles (no worker, or every worker stopped) are counted
in the bucket of the next batch that does.

Two rings of fixed size, one hash each (keys.py): a slot is `bucket start // resolution mod
slots`, and a slot from an older lap is overwritten, not added to. Memory is bounded by the
slot counts (bench/history_memory.py measures it), with no TTL or trimming to run.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import keys
from .connection import sync_client, text
from .scripts import script


@dataclass(frozen=True, slots=True)
class Ring:
    key: str
    resolution_s: int
    slots: int


SECONDS = Ring(keys.HISTORY_SECONDS, 1, 3600)  # the last hour, one bucket a second
MINUTES = Ring(keys.HISTORY_MINUTES, 60, 7 * 24 * 60)  # the last 7 days, one a minute

# The ranges GET /stats/history serves: (ring, buckets).
RANGES = {"1m": (SECONDS, 60), "1h": (SECONDS, 3600), "24h": (MINUTES, 24 * 60), "7d": (MINUTES, 7 * 24 * 60)}


@dataclass(frozen=True, slots=True)
class Bucket:
    start: int  # unix seconds
    persisted: int
    accepted: int
    batches: int
    queue_length: int
    p95_latency_ms: float


@dataclass(frozen=True, slots=True)
class History:
    resolution_s: int
    start: int  # the first bucket's start (unix seconds); buckets with no batch are absent
    end: int  # the end of the current bucket
    now: int  # Redis's clock when read: the current bucket holds now - (end - resolution) + 1 s so far
    buckets: list[Bucket]


def batch_p95(latencies_ms: list[float]) -> float:
    """A batch's p95 latency, nearest rank (as messaging/stats.py ranks the dashboard's)."""
    if not latencies_ms:
        return 0.0
    ordered = sorted(latencies_ms)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _bucket(value: bytes) -> Bucket:
    start, persisted, batches, queue, p95, accepted = text(value).split()
    return Bucket(int(start), int(persisted), int(accepted), int(batches), int(queue), float(p95))


def read_history(range_name: str) -> History:
    """The buckets of one of RANGES, oldest first: one command (history.lua)."""
    ring, count = RANGES[range_name]
    now, values = script(sync_client(), "history")(keys=[ring.key], args=[ring.resolution_s, ring.slots, count])
    now = int(now)
    end = now - now % ring.resolution_s + ring.resolution_s
    start = end - count * ring.resolution_s
    buckets = [_bucket(value) for value in values if value]
    # A slot still holding an older lap of the ring is not part of this range.
    return History(ring.resolution_s, start, end, now, [b for b in buckets if b.start >= start])
