-- Claim the oldest messages for one batch under a lease.
-- KEYS: pending, leases, claim (this batch's list), in_flight, flush_paused, flush_active
-- ARGV: batch_size, min_needed, lease_ms, batch_id
-- Claims only when at least min_needed messages wait (batch_size for a full batch, 1 when
-- the oldest message is due), so racing workers never split a full batch into scraps.
-- While the flush is paused it claims nothing and ends the caller's flush job (drops the
-- active flag in the same step, so a resume that follows always finds no job and asks for one).
-- Returns {messages_left, paused (0/1), payload...} (oldest first); no payloads when nothing was claimed.
local length = redis.call('LLEN', KEYS[1])
if redis.call('EXISTS', KEYS[5]) == 1 then
  redis.call('DEL', KEYS[6])
  return {length, 1}
end
if length == 0 or length < tonumber(ARGV[2]) then return {length, 0} end
local items = redis.call('RPOP', KEYS[1], ARGV[1])
local now = redis.call('TIME')
-- Microsecond resolution: two claims in the same millisecond keep their order in the
-- leases zset, which requeue.lua relies on to put expired batches back oldest-first.
local now_ms = tonumber(now[1]) * 1000 + tonumber(now[2]) / 1000
redis.call('RPUSH', KEYS[3], unpack(items))
redis.call('ZADD', KEYS[2], now_ms + tonumber(ARGV[3]), ARGV[4])
redis.call('INCRBY', KEYS[4], #items)
local result = {length - #items, 0}
for i = 1, #items do result[i + 2] = items[i] end
return result
