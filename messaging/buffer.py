"""The Redis buffer between ingestion and PostgreSQL.

This module owns every Redis key msgbuffer uses and every operation on them: push,
claim, ack, requeue (recover), dead letters, counters and the raw statistics read.
Nothing else builds a key string or talks to Redis about the buffer.

Keys (the first four keep the original design's names so its redis-cli checks work):

  pending_messages            list, payload JSON; LPUSH by ingest, oldest at the right
  total_messages              int, rows committed (moved only after commit, once each)
  total_batches               int, batches committed
  current_rps                 persisted messages/s over the last RPS_WINDOW s (expires idle)
  msgbuffer:queued_ids        hash message_id -> 1 while a message waits or is claimed
  msgbuffer:leases            zset batch_id -> lease deadline (ms); a claimed batch
  msgbuffer:claim:<batch_id>  list, the payloads of one claimed batch, oldest first
  msgbuffer:in_flight         int, messages claimed and not yet settled
  msgbuffer:dead_letters      list of JSON {id, payload, reason, failed_at, batch_id}
  msgbuffer:idem:<key>        the first answer to an Idempotency-Key (24 h)
  msgbuffer:flush:queued      set while a flush job waits in RQ (so ingest asks once)
  msgbuffer:flush:active      refreshed while a flush job runs
  msgbuffer:wakeup            token list; a lingering flush job blocks on it
  msgbuffer:persisted_per_second  hash unix second -> messages (for current_rps)
  msgbuffer:latency_ms        list, recent accepted->committed latencies (ms)
  msgbuffer:last_batch        hash batch_id, size, completed_at
  msgbuffer:workers           zset worker name -> heartbeat deadline (s)
  msgbuffer:rate:<key>:<s>    messages one API key sent in one second (rate limit)
  msgbuffer:metrics:accepted  int, messages ever accepted (for /metrics)
  msgbuffer:metrics:rejected  hash reason -> requests refused (for /metrics)
  msgbuffer:metrics:dead_lettered  int, messages ever dead-lettered
  msgbuffer:metrics:flush_errors   hash kind -> flush attempts that failed
  msgbuffer:metrics:batch_size     hash bucket/sum/count -> committed batch sizes
  msgbuffer:metrics:latency_ms     hash bucket/sum/count -> accepted->committed latency
  msgbuffer:events:<db>       pub/sub channel of batch_persisted events (JSON)

Delivery is at-least-once: a claim carries a lease; a worker that dies leaves its lease
to expire, and `requeue_expired` puts the batch back. Rows are exactly-once because the
insert ignores conflicts on the unique message_id; counters are exactly-once because
only the holder of a live lease may settle it (ack.lua).
"""
from __future__ import annotations

import asyncio
import json
import time
import uuid
import weakref
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cache
from pathlib import Path

import redis
import redis.asyncio as aioredis
import redis.asyncio.sentinel
import redis.sentinel
from django.conf import settings

from .conf import msgbuffer_settings

PENDING = "pending_messages"
TOTAL_MESSAGES = "total_messages"
TOTAL_BATCHES = "total_batches"
CURRENT_RPS = "current_rps"
QUEUED_IDS = "msgbuffer:queued_ids"
LEASES = "msgbuffer:leases"
CLAIM_PREFIX = "msgbuffer:claim:"
IN_FLIGHT = "msgbuffer:in_flight"
DEAD_LETTERS = "msgbuffer:dead_letters"
IDEMPOTENCY_PREFIX = "msgbuffer:idem:"
FLUSH_QUEUED = "msgbuffer:flush:queued"
FLUSH_ACTIVE = "msgbuffer:flush:active"
WAKEUP = "msgbuffer:wakeup"
PERSISTED_PER_SECOND = "msgbuffer:persisted_per_second"
LATENCY_MS = "msgbuffer:latency_ms"
LAST_BATCH = "msgbuffer:last_batch"
WORKERS = "msgbuffer:workers"
RATE_PREFIX = "msgbuffer:rate:"
ACCEPTED_TOTAL = "msgbuffer:metrics:accepted"
REJECTED_TOTAL = "msgbuffer:metrics:rejected"
DEAD_LETTERED_TOTAL = "msgbuffer:metrics:dead_lettered"
FLUSH_ERRORS_TOTAL = "msgbuffer:metrics:flush_errors"
BATCH_SIZE_HISTOGRAM = "msgbuffer:metrics:batch_size"
LATENCY_HISTOGRAM = "msgbuffer:metrics:latency_ms"

# How long "a flush job has been asked for" holds before ingest may ask again: covers a
# web process that died between asking and enqueueing.
FLUSH_QUEUED_TTL_MS = 10_000
# How long a running flush job counts as active after its last sign of life.
FLUSH_ACTIVE_TTL_MS = 3_000

_LUA_DIR = Path(__file__).with_name("lua")
ALL_KEYS_PATTERNS = ("msgbuffer:*",)
ORIGINAL_KEYS = (PENDING, TOTAL_MESSAGES, TOTAL_BATCHES, CURRENT_RPS)


@cache
def _lua(name: str) -> str:
    return (_LUA_DIR / f"{name}.lua").read_text()


# ---------------------------------------------------------------------------
# Connections: one pool per process for sync code, one per event loop for async code
# ---------------------------------------------------------------------------
def _sentinel_master(sentinel_class, **client_options):
    """A client for the master the sentinels name now (settings.REDIS_SENTINEL); it asks
    again after a failover."""
    conf = settings.REDIS_SENTINEL
    sentinel = sentinel_class(conf["sentinels"], sentinel_kwargs=conf["sentinel_kwargs"], **conf["connection_kwargs"])
    return sentinel.master_for(conf["master_name"], **client_options)


@cache
def sync_client() -> redis.Redis:
    options = {"health_check_interval": 30, "socket_timeout": 10}
    if getattr(settings, "REDIS_SENTINEL", None):
        return _sentinel_master(redis.sentinel.Sentinel, **options)
    return redis.Redis.from_url(settings.REDIS_URL, **options)


_async_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis]" = weakref.WeakKeyDictionary()


def async_client() -> aioredis.Redis:
    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        options = {"max_connections": 256, "socket_timeout": 10}
        if getattr(settings, "REDIS_SENTINEL", None):
            client = _sentinel_master(aioredis.sentinel.Sentinel, **options)
        else:
            client = aioredis.Redis.from_url(settings.REDIS_URL, **options)
        _async_clients[loop] = client
    return client


async def close_async_client() -> None:
    """Close the running event loop's connection pool (a loop that is about to end)."""
    client = _async_clients.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.aclose()


def reset_clients() -> None:
    """Forget cached connections (tests point REDIS_URL elsewhere)."""
    sync_client.cache_clear()
    _async_clients.clear()


# ---------------------------------------------------------------------------
# Push (ingest)
# ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PushResult:
    accepted: bool
    queue_full: bool
    rate_limited: bool
    queue_length: int
    need_flush_job: bool
    replayed_response: bytes | None


def _push_args(entries, idempotency_key, response, rate_key):
    conf = msgbuffer_settings()
    rate_limit = conf.RATE_LIMIT if rate_key is not None else 0
    keys = [
        PENDING, QUEUED_IDS, IDEMPOTENCY_PREFIX + (idempotency_key or ""), FLUSH_QUEUED, FLUSH_ACTIVE, WAKEUP,
        f"{RATE_PREFIX}{rate_key}:{int(time.time())}", ACCEPTED_TOTAL,
    ]
    args = [conf.MAX_QUEUE, conf.BATCH_SIZE, FLUSH_QUEUED_TTL_MS, conf.IDEMPOTENCY_TTL, response if idempotency_key else b"", rate_limit]
    for message_id, payload in entries:
        args.append(message_id)
        args.append(payload)
    return keys, args


def _push_result(raw) -> PushResult:
    code, length, need_job, previous = raw
    return PushResult(
        accepted=code == 0,
        queue_full=code == 1,
        rate_limited=code == 3,
        queue_length=int(length),
        need_flush_job=bool(need_job),
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
    keys, args = _push_args(entries, idempotency_key, response, rate_key)
    client = async_client()
    return _push_result(await _script(client, "push")(keys=keys, args=args))


def push(
    entries: list[tuple[str, bytes]], *, idempotency_key: str | None = None, response: bytes = b"", rate_key: str | None = None
) -> PushResult:
    keys, args = _push_args(entries, idempotency_key, response, rate_key)
    return _push_result(_script(sync_client(), "push")(keys=keys, args=args))


_scripts: "weakref.WeakKeyDictionary[object, dict]" = weakref.WeakKeyDictionary()


def _script(client, name: str):
    per_client = _scripts.setdefault(client, {})
    script = per_client.get(name)
    if script is None:
        script = per_client[name] = client.register_script(_lua(name))
    return script


# ---------------------------------------------------------------------------
# Claim, ack, requeue (flush jobs)
# ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Claim:
    batch_id: str
    payloads: list[bytes]  # oldest first
    messages_left: int


def new_batch_id() -> str:
    return uuid.uuid4().hex


def claim(*, full_only: bool) -> Claim | None:
    """Claim the oldest messages (at most BATCH_SIZE) under a lease.

    With full_only, claims only when a whole batch waits; otherwise any waiting message.
    """
    conf = msgbuffer_settings()
    batch_id = new_batch_id()
    raw = _script(sync_client(), "claim")(
        keys=[PENDING, LEASES, CLAIM_PREFIX + batch_id, IN_FLIGHT],
        args=[conf.BATCH_SIZE, conf.BATCH_SIZE if full_only else 1, int(conf.CLAIM_LEASE * 1000), batch_id],
    )
    if len(raw) == 1:
        return None
    return Claim(batch_id=batch_id, payloads=raw[1:], messages_left=int(raw[0]))


def ack(
    batch_id: str,
    *,
    stored: int,
    message_ids: list[str],
    latencies_ms: list[float],
    dead_letters: list[tuple[bytes, str]],
    batch_size_histogram: dict[str, float] | None = None,
    latency_histogram: dict[str, float] | None = None,
) -> bool:
    """Settle a committed batch; returns False if its lease was lost (see ack.lua).

    The histograms are {field: increment} for the /metrics histograms (metrics.py).
    """
    batch_size_histogram = batch_size_histogram or {}
    latency_histogram = latency_histogram or {}
    conf = msgbuffer_settings()
    failed_at = _utc_iso()
    dead = [
        json.dumps(
            {"id": uuid.uuid4().hex, "payload": _text(payload), "reason": reason, "failed_at": failed_at, "batch_id": batch_id}
        )
        for payload, reason in dead_letters
    ]
    args = [
        batch_id, stored, conf.RPS_WINDOW, conf.LATENCY_SAMPLES, failed_at,
        len(message_ids), len(latencies_ms), len(dead), len(batch_size_histogram), len(latency_histogram),
    ]
    args += message_ids
    args += [f"{latency:.3f}" for latency in latencies_ms]
    args += dead
    for histogram in (batch_size_histogram, latency_histogram):
        for field, increment in histogram.items():
            args += [field, repr(float(increment))]
    keys = [
        LEASES, CLAIM_PREFIX + batch_id, QUEUED_IDS, TOTAL_MESSAGES, TOTAL_BATCHES, CURRENT_RPS,
        LAST_BATCH, LATENCY_MS, DEAD_LETTERS, IN_FLIGHT, PERSISTED_PER_SECOND,
        BATCH_SIZE_HISTOGRAM, LATENCY_HISTOGRAM, DEAD_LETTERED_TOTAL,
    ]
    return bool(_script(sync_client(), "ack")(keys=keys, args=args))


def release(batch_id: str) -> int:
    """Give one claimed batch back to the queue (its flush failed); returns messages."""
    return _requeue(batch_id)[1]


def requeue_expired(limit: int = 100) -> tuple[int, int]:
    """Put back every batch whose lease expired (its worker died); (batches, messages)."""
    return _requeue("", limit)


def _requeue(batch_id: str, limit: int = 1) -> tuple[int, int]:
    batches, messages = _script(sync_client(), "requeue")(keys=[LEASES, PENDING, IN_FLIGHT], args=[CLAIM_PREFIX, batch_id, limit])
    return int(batches), int(messages)


# ---------------------------------------------------------------------------
# Flush-job coordination
# ---------------------------------------------------------------------------
def flush_job_started() -> None:
    """A flush job began: ingest may ask for the next one; this one counts as active."""
    pipe = sync_client().pipeline(transaction=False)
    pipe.delete(FLUSH_QUEUED)
    pipe.set(FLUSH_ACTIVE, "1", px=FLUSH_ACTIVE_TTL_MS)
    pipe.execute()


def flush_job_alive() -> None:
    sync_client().set(FLUSH_ACTIVE, "1", px=FLUSH_ACTIVE_TTL_MS)


def flush_job_may_finish() -> bool:
    """True (and no longer active) when nothing waits and nothing is claimed."""
    return bool(_script(sync_client(), "finish")(keys=[PENDING, LEASES, FLUSH_ACTIVE], args=[]))


def flush_work_unattended() -> bool:
    """True when messages wait or are claimed but no flush job is active."""
    pipe = sync_client().pipeline(transaction=False)
    pipe.exists(FLUSH_ACTIVE)
    pipe.llen(PENDING)
    pipe.zcard(LEASES)
    active, waiting, claimed = pipe.execute()
    return not active and bool(waiting or claimed)


def flush_job_request() -> bool:
    """Ask for a flush job unless one is already waiting in RQ; True if we should enqueue."""
    return bool(sync_client().set(FLUSH_QUEUED, "1", px=FLUSH_QUEUED_TTL_MS, nx=True))


def wait_for_work(timeout: float) -> None:
    """Block until ingest signals a full batch, or `timeout` seconds pass."""
    if timeout <= 0:
        return
    sync_client().blpop([WAKEUP], timeout=max(timeout, 0.01))


def oldest_accepted_at() -> datetime | None:
    """Acceptance time of the oldest waiting message (None when the queue is empty)."""
    raw = sync_client().lindex(PENDING, -1)
    if raw is None:
        return None
    try:
        return datetime.fromisoformat(json.loads(raw)["created_at"])
    except (ValueError, KeyError, TypeError):
        # Unreadable (poison): long overdue, so a partial claim takes it to the dead letters
        # now, whatever clock the caller compares with.
        return datetime.fromtimestamp(0, timezone.utc)


def next_lease_deadline() -> float | None:
    """Unix time at which the earliest claim lease expires, or None."""
    first = sync_client().zrange(LEASES, 0, 0, withscores=True)
    return first[0][1] / 1000 if first else None


def worker_heartbeat(name: str, ttl: float) -> None:
    client = sync_client()
    now = time.time()
    pipe = client.pipeline(transaction=False)
    pipe.zadd(WORKERS, {name: now + ttl})
    pipe.zremrangebyscore(WORKERS, "-inf", now)
    pipe.execute()


def worker_gone(name: str) -> None:
    sync_client().zrem(WORKERS, name)


# ---------------------------------------------------------------------------
# Lookups and statistics
# ---------------------------------------------------------------------------
def is_queued(message_id: str) -> bool:
    return bool(sync_client().hexists(QUEUED_IDS, message_id))


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


_STATE_KEYS = [PENDING, TOTAL_MESSAGES, TOTAL_BATCHES, CURRENT_RPS, IN_FLIGHT, LEASES, DEAD_LETTERS, LATENCY_MS, LAST_BATCH, WORKERS]


def _state_from(results) -> BufferState:
    length, (total, batches, rps, in_flight), leases, dead, latencies, last_batch, workers, oldest = results
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
        last_batch={_text(k): _text(v) for k, v in zip(pairs, pairs)},
        workers=int(workers),
        oldest_payload=oldest or None,
    )


def read_state() -> BufferState:
    """The raw figures for the stats snapshot: one command (stats.lua)."""
    return _state_from(_script(sync_client(), "stats")(keys=_STATE_KEYS, args=[]))


async def read_state_async() -> BufferState:
    return _state_from(await _script(async_client(), "stats")(keys=_STATE_KEYS, args=[]))


# ---------------------------------------------------------------------------
# Dead letters
# ---------------------------------------------------------------------------
def dead_letter_list(limit: int = 500) -> list[dict]:
    return [json.loads(raw) for raw in sync_client().lrange(DEAD_LETTERS, 0, limit - 1)]


def _dead_letter_take(dead_letter_ids: set[str], *, requeue: bool) -> int:
    """Remove the named dead letters (and requeue their payloads) atomically; how many."""
    client = sync_client()
    chosen = [raw for raw in client.lrange(DEAD_LETTERS, 0, -1) if json.loads(raw).get("id") in dead_letter_ids]
    if not chosen:
        return 0
    return int(_script(client, "dead_letter_take")(keys=[DEAD_LETTERS, PENDING, QUEUED_IDS], args=["1" if requeue else "0", *chosen]))


def dead_letter_requeue(dead_letter_ids: set[str]) -> int:
    """Put dead letters back on the queue (as the oldest messages); returns how many."""
    return _dead_letter_take(dead_letter_ids, requeue=True)


def dead_letter_discard(dead_letter_ids: set[str]) -> int:
    return _dead_letter_take(dead_letter_ids, requeue=False)


def count_flush_error(kind: str) -> None:
    """Count a failed flush attempt by kind (for /metrics); never fails the flush."""
    try:
        sync_client().hincrby(FLUSH_ERRORS_TOTAL, kind, 1)
    except redis.RedisError:
        pass


@dataclass(frozen=True, slots=True)
class MetricCounters:
    accepted: int
    rejected: dict[str, int]
    dead_lettered: int
    flush_errors: dict[str, int]
    batch_size_histogram: dict[str, float]
    latency_histogram: dict[str, float]


def read_metric_counters() -> MetricCounters:
    pipe = sync_client().pipeline(transaction=False)
    pipe.get(ACCEPTED_TOTAL)
    pipe.hgetall(REJECTED_TOTAL)
    pipe.get(DEAD_LETTERED_TOTAL)
    pipe.hgetall(FLUSH_ERRORS_TOTAL)
    pipe.hgetall(BATCH_SIZE_HISTOGRAM)
    pipe.hgetall(LATENCY_HISTOGRAM)
    accepted, rejected, dead, errors, sizes, latencies = pipe.execute()
    return MetricCounters(
        accepted=int(accepted or 0),
        rejected={_text(k): int(v) for k, v in rejected.items()},
        dead_lettered=int(dead or 0),
        flush_errors={_text(k): int(v) for k, v in errors.items()},
        batch_size_histogram={_text(k): float(v) for k, v in sizes.items()},
        latency_histogram={_text(k): float(v) for k, v in latencies.items()},
    )


async def count_rejected_async(reason: str) -> None:
    """Count a refused ingest request by reason (for /metrics); never fails the request."""
    try:
        await async_client().hincrby(REJECTED_TOTAL, reason, 1)
    except redis.RedisError:
        pass


def push_raw(payload: bytes | str) -> None:
    """Push a payload exactly as given, bypassing validation: for tests and benchmarks."""
    sync_client().lpush(PENDING, payload)


def reset() -> None:
    """Delete every key msgbuffer owns (the demo's DELETE /reset)."""
    client = sync_client()
    keys = list(ORIGINAL_KEYS)
    for pattern in ALL_KEYS_PATTERNS:
        keys.extend(client.scan_iter(match=pattern, count=1000))
    # The channel layer keeps its own keys under msgbuffer:asgi; leave them to it.
    keys = [key for key in keys if not _text(key).startswith("msgbuffer:asgi")]
    for start in range(0, len(keys), 500):
        client.delete(*keys[start : start + 500])


def _text(value) -> str:
    return value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else str(value)


def _utc_iso() -> str:
    return datetime.now(timezone.utc).isoformat()
