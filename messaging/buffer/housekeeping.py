"""Retention's progress in Redis, so that /metrics shows it cluster-wide: whichever worker
or `manage.py prune_messages` removes rows, any web process reports it. Counting never
fails the prune: a Redis error loses a figure, not the work."""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis

from . import keys
from .connection import sync_client, text

# "A prune is running" expires unless each chunk renews it: a prune that was killed stops
# showing as running on its own.
RUNNING_TTL_S = 60


def _execute(pipe) -> None:
    try:
        pipe.execute()
    except redis.RedisError:
        pass


def retention_started() -> None:
    pipe = sync_client().pipeline(transaction=False)
    pipe.hset(keys.RETENTION, mapping={"run_removed": 0, "run_started_at": time.time()})
    pipe.set(keys.RETENTION_RUNNING, "1", ex=RUNNING_TTL_S)
    _execute(pipe)


def retention_removed(rows: int) -> None:
    """One chunk committed: `rows` more removed."""
    pipe = sync_client().pipeline(transaction=False)
    pipe.hincrby(keys.RETENTION, "removed_total", rows)
    pipe.hincrby(keys.RETENTION, "run_removed", rows)
    pipe.set(keys.RETENTION_RUNNING, "1", ex=RUNNING_TTL_S)
    _execute(pipe)


def retention_finished() -> None:
    pipe = sync_client().pipeline(transaction=False)
    pipe.hset(keys.RETENTION, "run_finished_at", time.time())
    pipe.delete(keys.RETENTION_RUNNING)
    _execute(pipe)


@dataclass(frozen=True, slots=True)
class RetentionProgress:
    removed_total: int  # rows retention ever removed
    run_removed: int  # rows the running (or the last) prune removed
    running: bool
    last_finished_at: float  # unix time; 0: never


def read_retention_progress() -> RetentionProgress:
    pipe = sync_client().pipeline(transaction=False)
    pipe.hgetall(keys.RETENTION)
    pipe.exists(keys.RETENTION_RUNNING)
    stored, running = pipe.execute()
    stored = {text(k): text(v) for k, v in stored.items()}
    return RetentionProgress(
        removed_total=int(stored.get("removed_total", 0)),
        run_removed=int(stored.get("run_removed", 0)),
        running=bool(running),
        last_finished_at=float(stored.get("run_finished_at", 0)),
    )
