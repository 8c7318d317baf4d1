-- Claim the oldest messages for one batch under a lease, and say why the batch goes now.
-- KEYS: pending, leases, claim (this batch's list), in_flight, flush_paused, flush_active,
--       recovered_waiting
-- ARGV: batch_size, min_needed, lease_ms, batch_id
-- Claims only when at least min_needed messages wait (batch_size for a full batch, 1 when
-- the oldest message is due), so racing workers never split a full batch into scraps.
-- While the flush is paused it claims nothing and ends the caller's flush job (drops the
-- active flag in the same step, so a resume that follows always finds no job and asks for one).
-- Returns {messages_left, paused (0/1), cause, payload...} (oldest first); no payloads when
-- nothing was claimed. cause (counted by ack.lua once committed): 'recovered' when the
-- batch takes messages requeue.lua put back after a lease expired, else 'full' when it
-- holds batch_size messages, else 'timer' (its oldest message was due).
local length = redis.call('LLEN', KEYS[1])
if redis.call('EXISTS', KEYS[5]) == 1 then
  redis.call('DEL', KEYS[6])
  return {length, 1, ''}
end
if length == 0 or length < tonumber(ARGV[2]) then return {length, 0, ''} end
local items = redis.call('RPOP', KEYS[1], ARGV[1])
local now = redis.call('TIME')
-- Microsecond resolution: two claims in the same millisecond keep their order in the
-- leases zset, which requeue.lua relies on to put expired batches back oldest-first.
local now_ms = tonumber(now[1]) * 1000 + tonumber(now[2]) / 1000
redis.call('RPUSH', KEYS[3], unpack(items))
redis.call('ZADD', KEYS[2], now_ms + tonumber(ARGV[3]), ARGV[4])
redis.call('INCRBY', KEYS[4], #items)
local cause = 'timer'
if #items == tonumber(ARGV[1]) then cause = 'full' end
-- Recovered messages went back on the oldest end, so the next claims are the ones to take them.
local recovered = tonumber(redis.call('GET', KEYS[7]) or '0')
if recovered > 0 then
  cause = 'recovered'
  if recovered <= #items or length == #items then redis.call('DEL', KEYS[7]) else redis.call('DECRBY', KEYS[7], #items) end
end
local result = {length - #items, 0, cause}
for i = 1, #items do result[i + 3] = items[i] end
return result
