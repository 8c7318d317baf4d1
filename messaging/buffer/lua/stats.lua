-- Everything the stats snapshot needs, in one command: a web process runs this once per
-- tick for all of its dashboards.
-- KEYS: pending, total_messages, total_batches, current_rps, in_flight, leases,
--       dead_letters, latency_ms, last_batch, workers, flush_paused, batches_by_cause
-- Returns {queue_length, {total, batches, rps, in_flight}, batches_in_flight, dead_letters,
--          latencies, last_batch (flat hash), live_workers, oldest_payload or false, paused,
--          {full, timer, recovered} batches}
local now = redis.call('TIME')
return {
  redis.call('LLEN', KEYS[1]),
  redis.call('MGET', KEYS[2], KEYS[3], KEYS[4], KEYS[5]),
  redis.call('ZCARD', KEYS[6]),
  redis.call('LLEN', KEYS[7]),
  redis.call('LRANGE', KEYS[8], 0, -1),
  redis.call('HGETALL', KEYS[9]),
  redis.call('ZCOUNT', KEYS[10], now[1], '+inf'),
  redis.call('LINDEX', KEYS[1], -1),
  redis.call('EXISTS', KEYS[11]),
  redis.call('HMGET', KEYS[12], 'full', 'timer', 'recovered'),
}
