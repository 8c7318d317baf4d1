"""Every Redis key msgbuffer uses: nothing else in the code base spells a key.

Keys (the first four keep the original design's names so its redis-cli checks work):

  pending_messages            list, payload JSON; LPUSH by ingest, oldest at the right
  total_messages              int, rows committed (moved only after commit, once each)
  total_batches               int, batches committed
  current_rps                 persisted messages/s over the last RPS_WINDOW s (expires idle)
  msgbuffer:queued_ids        hash message_id -> 1 while a message waits or is claimed
  msgbuffer:leases            zset batch_id -> lease deadline (ms); a claimed batch
  msgbuffer:claim:<batch_id>  list, the payloads of one claimed batch, oldest first
  msgbuffer:in_flight         int, messages claimed and not yet settled
  msgbuffer:recovered_waiting int, messages put back after a lease expired, not yet claimed again
  msgbuffer:dead_letters      list of JSON {id, payload, reason, failed_at, batch_id}, newest
                              at the left, at most MAX_DEAD_LETTERS long
  msgbuffer:dead_letters:overflow  list, dead letters pushed past the cap, on their way to
                              PostgreSQL (messaging/dead_letters.py moves them; empty at rest)
  msgbuffer:idem:<key>        the first answer to an Idempotency-Key (IDEMPOTENCY_TTL)
  msgbuffer:flush:queued      set while a flush job waits in RQ (so ingest asks once)
  msgbuffer:flush:active      refreshed while a flush job runs
  msgbuffer:flush:paused      set while an operator has paused the flush (claim.lua claims nothing)
  msgbuffer:wakeup            token list; a lingering flush job blocks on it
  msgbuffer:persisted_per_second  hash unix second -> messages (for current_rps)
  msgbuffer:latency_ms        list, recent accepted->committed latencies (ms)
  msgbuffer:last_batch        hash batch_id, size, completed_at
  msgbuffer:workers           zset worker name -> heartbeat deadline (s)
  msgbuffer:rate:<key>:<s>    messages one API key sent in one second (rate limit)
  msgbuffer:metrics:accepted  int, messages ever accepted (for /metrics)
  msgbuffer:metrics:rejected  hash reason -> requests refused (for /metrics)
  msgbuffer:metrics:dead_lettered  int, messages ever dead-lettered
  msgbuffer:metrics:dead_lettered_by_reason  hash reason (first 120 chars; at most 100
                              reasons, then "other") -> messages ever dead-lettered
  msgbuffer:metrics:dead_letters_moved  int, dead letters ever moved to PostgreSQL
  msgbuffer:metrics:flush_errors   hash kind -> flush attempts that failed
  msgbuffer:metrics:batches_by_cause  hash full/timer/recovered -> batches committed
  msgbuffer:metrics:batch_size     hash bucket/sum/count -> committed batch sizes
  msgbuffer:metrics:latency_ms     hash bucket/sum/count -> accepted->committed latency
  msgbuffer:history:1s        hash slot -> "t persisted batches queue p95 accepted", a ring of
                              3600 one-second buckets (slot = t mod 3600): the last hour
  msgbuffer:history:1m        the same at one minute, 10,080 slots: the last 7 days
  msgbuffer:history:accepted_seen  int, msgbuffer:metrics:accepted when history last looked
  msgbuffer:events:<db>       pub/sub channel of batch_persisted events (JSON)
  msgbuffer:retention         hash removed_total, run_removed, run_started_at, run_finished_at
  msgbuffer:retention:running set while a prune runs (each chunk renews it)
"""

from __future__ import annotations

import redis
from django.conf import settings

PENDING = "pending_messages"
TOTAL_MESSAGES = "total_messages"
TOTAL_BATCHES = "total_batches"
CURRENT_RPS = "current_rps"
QUEUED_IDS = "msgbuffer:queued_ids"
LEASES = "msgbuffer:leases"
CLAIM_PREFIX = "msgbuffer:claim:"
IN_FLIGHT = "msgbuffer:in_flight"
RECOVERED_WAITING = "msgbuffer:recovered_waiting"
DEAD_LETTERS = "msgbuffer:dead_letters"
DEAD_LETTER_OVERFLOW = "msgbuffer:dead_letters:overflow"
IDEMPOTENCY_PREFIX = "msgbuffer:idem:"
FLUSH_QUEUED = "msgbuffer:flush:queued"
FLUSH_ACTIVE = "msgbuffer:flush:active"
FLUSH_PAUSED = "msgbuffer:flush:paused"
WAKEUP = "msgbuffer:wakeup"
PERSISTED_PER_SECOND = "msgbuffer:persisted_per_second"
LATENCY_MS = "msgbuffer:latency_ms"
LAST_BATCH = "msgbuffer:last_batch"
WORKERS = "msgbuffer:workers"
RATE_PREFIX = "msgbuffer:rate:"
ACCEPTED_TOTAL = "msgbuffer:metrics:accepted"
REJECTED_TOTAL = "msgbuffer:metrics:rejected"
DEAD_LETTERED_TOTAL = "msgbuffer:metrics:dead_lettered"
DEAD_LETTERED_BY_REASON = "msgbuffer:metrics:dead_lettered_by_reason"
DEAD_LETTERS_MOVED_TOTAL = "msgbuffer:metrics:dead_letters_moved"
FLUSH_ERRORS_TOTAL = "msgbuffer:metrics:flush_errors"
BATCHES_BY_CAUSE = "msgbuffer:metrics:batches_by_cause"
BATCH_SIZE_HISTOGRAM = "msgbuffer:metrics:batch_size"
LATENCY_HISTOGRAM = "msgbuffer:metrics:latency_ms"
HISTORY_SECONDS = "msgbuffer:history:1s"
HISTORY_MINUTES = "msgbuffer:history:1m"
HISTORY_ACCEPTED_SEEN = "msgbuffer:history:accepted_seen"
RETENTION = "msgbuffer:retention"
RETENTION_RUNNING = "msgbuffer:retention:running"
# Pub/sub channel of batch_persisted events for the dashboards. Channels are server-wide,
# not per database, so the name carries the database number: two msgbuffers sharing one
# Redis server on different databases (staging and production, parallel test runs) must
# not show each other's batches.
EVENTS = "msgbuffer:events:{}".format(redis.connection.parse_url(settings.REDIS_URL).get("db", 0))

ALL_KEYS_PATTERNS = ("msgbuffer:*",)
ORIGINAL_KEYS = (PENDING, TOTAL_MESSAGES, TOTAL_BATCHES, CURRENT_RPS)
