"""Flush-job coordination in Redis: whether a flush job has been requested or is active,
what a draining job waits on, and which workers are alive.

"Requesting" a flush job has two halves: marking it requested here (the flush:queued
flag, so that many askers enqueue one job), then enqueueing it on RQ (messaging/jobs.py).
push.lua marks it itself when a push needs a job.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from . import keys
from .connection import sync_client
from .message_format import accepted_at
from .scripts import script

# How long "a flush job has been requested" holds before it may be requested again:
# covers a web process that died between marking and enqueueing.
FLUSH_QUEUED_TTL_MS = 10_000
# How long a running flush job counts as active after its last sign of life.
FLUSH_ACTIVE_TTL_MS = 3_000


def mark_flush_job_requested() -> bool:
    """Mark a flush job requested unless one already is; True if the caller must enqueue it."""
    return bool(sync_client().set(keys.FLUSH_QUEUED, "1", px=FLUSH_QUEUED_TTL_MS, nx=True))


def flush_job_started() -> None:
    """A flush job began: the next one may be requested; this one counts as active."""
    pipe = sync_client().pipeline(transaction=False)
    pipe.delete(keys.FLUSH_QUEUED)
    pipe.set(keys.FLUSH_ACTIVE, "1", px=FLUSH_ACTIVE_TTL_MS)
    pipe.execute()


def flush_job_alive() -> None:
    sync_client().set(keys.FLUSH_ACTIVE, "1", px=FLUSH_ACTIVE_TTL_MS)


def flush_job_may_finish() -> bool:
    """True (and no longer active) when nothing waits and nothing is claimed."""
    return bool(script(sync_client(), "finish")(keys=[keys.PENDING, keys.LEASES, keys.FLUSH_ACTIVE], args=[]))


def flush_work_unattended() -> bool:
    """True when messages wait or are claimed but no flush job is active, and the flush is
    not paused (a job would claim nothing: idle workers must not keep asking for one)."""
    pipe = sync_client().pipeline(transaction=False)
    pipe.exists(keys.FLUSH_ACTIVE)
    pipe.llen(keys.PENDING)
    pipe.zcard(keys.LEASES)
    pipe.exists(keys.FLUSH_PAUSED)
    active, waiting, claimed, paused = pipe.execute()
    return not active and not paused and bool(waiting or claimed)


# Pausing is a flag that claim.lua checks, not RQ's suspension (`rqsuspend`, the
# rq:suspended key): that one is a single key for every worker on the connection, so it
# would stop every job on every queue, and a worker checks it only between jobs, so a
# running drain would go on claiming for up to FLUSH_JOB_BUDGET seconds. The flag stops
# exactly the claims, atomically: a claim either ran before the pause (it finishes and is
# acked) or it claims nothing.
def flush_pause() -> bool:
    """Pause the flush: no batch is claimed until flush_resume. True if it was running."""
    return bool(sync_client().set(keys.FLUSH_PAUSED, "1", nx=True))


def flush_resume() -> bool:
    """Let the flush claim again (the caller requests a flush job). True if it was paused."""
    return bool(sync_client().delete(keys.FLUSH_PAUSED))


def flush_paused() -> bool:
    return bool(sync_client().exists(keys.FLUSH_PAUSED))


def wait_for_work(timeout: float) -> None:
    """Block until ingest signals a full batch, or `timeout` seconds pass."""
    if timeout <= 0:
        return
    sync_client().blpop([keys.WAKEUP], timeout=max(timeout, 0.01))


def oldest_accepted_at() -> datetime | None:
    """Acceptance time of the oldest waiting message (None when the queue is empty)."""
    raw = sync_client().lindex(keys.PENDING, -1)
    if raw is None:
        return None
    # Unreadable (poison): long overdue, so a partial claim takes it to the dead letters
    # now, whatever clock the caller compares with.
    return accepted_at(raw) or datetime.fromtimestamp(0, UTC)


def next_lease_deadline() -> float | None:
    """Unix time at which the earliest claim lease expires, or None."""
    first = sync_client().zrange(keys.LEASES, 0, 0, withscores=True)
    return first[0][1] / 1000 if first else None


def worker_heartbeat(name: str, ttl: float) -> None:
    now = time.time()
    pipe = sync_client().pipeline(transaction=False)
    pipe.zadd(keys.WORKERS, {name: now + ttl})
    pipe.zremrangebyscore(keys.WORKERS, "-inf", now)
    pipe.execute()


def worker_gone(name: str) -> None:
    sync_client().zrem(keys.WORKERS, name)
