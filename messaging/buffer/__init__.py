"""The Redis buffer between ingestion and PostgreSQL: the one public face of the package.

Every other module imports `messaging.buffer` and nothing below it. The package owns every
Redis key msgbuffer uses and every operation on them; nothing else builds a key string or
talks to Redis about the buffer. By concern:

  connection.py      clients (sync per process, async per event loop; Sentinel)
  keys.py            the key names, with a table of what each holds
  message_format.py  the queued message's JSON fields (written by ingest, read by flush jobs)
  scripts.py         the one loader of lua/*.lua, one script per state change
  queue.py           push, claim, ack, requeue
  coordination.py    flush-job requests, activity, pause and worker heartbeats
  readings.py        the stats reading, /metrics counters, the events channel
  histograms.py      the /metrics histograms' buckets and what one batch adds
  history.py         throughput history (written by ack.lua), read for GET /stats/history
  dead_letters.py    dead letters, and the demo's reset
  housekeeping.py    retention's progress, for /metrics
"""

from .connection import async_client, close_async_client, reset_clients, sync_client
from .coordination import (
    flush_job_alive,
    flush_job_may_finish,
    flush_job_started,
    flush_pause,
    flush_paused,
    flush_resume,
    flush_work_unattended,
    mark_flush_job_requested,
    next_lease_deadline,
    oldest_accepted_at,
    wait_for_work,
    worker_gone,
    worker_heartbeat,
)
from .dead_letters import (
    PAYLOAD as DEAD_LETTER_PAYLOAD,
)
from .dead_letters import (
    dead_letter_discard,
    dead_letter_list,
    dead_letter_overflow,
    dead_letter_overflow_settle,
    dead_letter_requeue,
    payloads_requeue,
    reset,
)
from .histograms import BATCH_SIZE_BUCKETS, LATENCY_MS_BUCKETS
from .history import RANGES as HISTORY_RANGES
from .history import Bucket, History, read_history
from .housekeeping import (
    RetentionProgress,
    read_retention_progress,
    retention_finished,
    retention_removed,
    retention_started,
)
from .keys import (
    ACCEPTED_TOTAL,
    BATCHES_BY_CAUSE,
    CLAIM_PREFIX,
    CURRENT_RPS,
    DEAD_LETTER_OVERFLOW,
    DEAD_LETTERS,
    EVENTS,
    FLUSH_ACTIVE,
    FLUSH_PAUSED,
    FLUSH_QUEUED,
    IDEMPOTENCY_PREFIX,
    IN_FLIGHT,
    LATENCY_MS,
    LEASES,
    PENDING,
    QUEUED_IDS,
    RATE_PREFIX,
    RECOVERED_WAITING,
    REJECTED_TOTAL,
    RETENTION_RUNNING,
    TOTAL_BATCHES,
    TOTAL_MESSAGES,
    WAKEUP,
    WORKERS,
)
from .message_format import QueuedMessage, accepted_at, queued_payload
from .queue import Claim, FlushPaused, PushResult, ack, claim, new_batch_id, push, push_async, push_raw, release, requeue_expired
from .readings import (
    BATCH_CAUSES,
    BufferState,
    MetricCounters,
    RedisMemory,
    count_flush_error,
    count_rejected_async,
    events_subscription,
    is_queued,
    read_metric_counters,
    read_redis_memory,
    read_state,
    read_state_async,
)

__all__ = [
    # connection
    "async_client",
    "close_async_client",
    "reset_clients",
    "sync_client",
    # keys
    "ACCEPTED_TOTAL",
    "BATCHES_BY_CAUSE",
    "CLAIM_PREFIX",
    "CURRENT_RPS",
    "DEAD_LETTER_OVERFLOW",
    "DEAD_LETTERS",
    "EVENTS",
    "FLUSH_ACTIVE",
    "FLUSH_PAUSED",
    "FLUSH_QUEUED",
    "IDEMPOTENCY_PREFIX",
    "IN_FLIGHT",
    "LATENCY_MS",
    "LEASES",
    "PENDING",
    "QUEUED_IDS",
    "RATE_PREFIX",
    "RECOVERED_WAITING",
    "REJECTED_TOTAL",
    "RETENTION_RUNNING",
    "TOTAL_BATCHES",
    "TOTAL_MESSAGES",
    "WAKEUP",
    "WORKERS",
    # the queued-message format
    "QueuedMessage",
    "accepted_at",
    "queued_payload",
    # queue
    "Claim",
    "FlushPaused",
    "PushResult",
    "ack",
    "claim",
    "new_batch_id",
    "push",
    "push_async",
    "push_raw",
    "release",
    "requeue_expired",
    # flush-job coordination
    "flush_job_alive",
    "flush_job_may_finish",
    "flush_job_started",
    "flush_pause",
    "flush_paused",
    "flush_resume",
    "flush_work_unattended",
    "mark_flush_job_requested",
    "next_lease_deadline",
    "oldest_accepted_at",
    "wait_for_work",
    "worker_gone",
    "worker_heartbeat",
    # readings
    "BATCH_CAUSES",
    "BufferState",
    "MetricCounters",
    "RedisMemory",
    "count_flush_error",
    "count_rejected_async",
    "events_subscription",
    "is_queued",
    "read_metric_counters",
    "read_redis_memory",
    "read_state",
    "read_state_async",
    # history
    "Bucket",
    "HISTORY_RANGES",
    "History",
    "read_history",
    # histograms
    "BATCH_SIZE_BUCKETS",
    "LATENCY_MS_BUCKETS",
    # retention's progress
    "RetentionProgress",
    "read_retention_progress",
    "retention_finished",
    "retention_removed",
    "retention_started",
    # dead letters and reset
    "DEAD_LETTER_PAYLOAD",
    "dead_letter_discard",
    "dead_letter_list",
    "dead_letter_overflow",
    "dead_letter_overflow_settle",
    "dead_letter_requeue",
    "payloads_requeue",
    "reset",
]
