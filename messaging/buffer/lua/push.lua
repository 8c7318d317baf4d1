-- Accept messages onto the queue, all or none, in one round trip.
-- KEYS: pending, queued_ids, idempotency, flush_queued, flush_active, wakeup,
--       rate (this API key's counter for this second), accepted_total, flush_paused
-- ARGV: max_queue, batch_size, flag_ttl_ms, idempotency_ttl_s, response, rate_limit
--       (messages per second; 0: none), (message_id, payload)...
-- Returns {code, queue_length, flush_job_requested, replayed_response}; code 0 accepted,
-- 1 queue full, 2 idempotent replay, 3 over the key's rate limit.
local use_idempotency = ARGV[5] ~= ''
if use_idempotency then
  local previous = redis.call('GET', KEYS[3])
  if previous then return {2, redis.call('LLEN', KEYS[1]), 0, previous} end
end
local count = (#ARGV - 6) / 2
local rate_limit = tonumber(ARGV[6])
if rate_limit > 0 and tonumber(redis.call('GET', KEYS[7]) or '0') + count > rate_limit then
  return {3, redis.call('LLEN', KEYS[1]), 0, ''}
end
local length = redis.call('LLEN', KEYS[1])
if length + count > tonumber(ARGV[1]) then return {1, length, 0, ''} end

local payloads, ids = {}, {}
for i = 1, count do
  ids[#ids + 1] = ARGV[5 + 2 * i]
  ids[#ids + 1] = '1'
  payloads[i] = ARGV[6 + 2 * i]
end
-- unpack() is bounded by Lua's C stack; bulk requests stay well below it (1000 items).
length = redis.call('LPUSH', KEYS[1], unpack(payloads))
redis.call('HSET', KEYS[2], unpack(ids))
if use_idempotency then redis.call('SET', KEYS[3], ARGV[5], 'EX', ARGV[4]) end
if rate_limit > 0 and redis.call('INCRBY', KEYS[7], count) == count then
  redis.call('PEXPIRE', KEYS[7], 2000)  -- a one-second window; gone soon after it closes
end
redis.call('INCRBY', KEYS[8], count)

local batch_size = tonumber(ARGV[2])
if length >= batch_size and redis.call('LLEN', KEYS[6]) == 0 then
  redis.call('LPUSH', KEYS[6], '1')  -- wake a flush job lingering over a partial batch
end
local job_requested = 0
-- While the flush is paused no job is asked for: it would claim nothing (resume asks).
if redis.call('EXISTS', KEYS[9]) == 0 and redis.call('EXISTS', KEYS[4]) == 0 and (redis.call('EXISTS', KEYS[5]) == 0 or length >= batch_size) then
  redis.call('SET', KEYS[4], '1', 'PX', ARGV[3])
  job_requested = 1
end
return {0, length, job_requested, ''}
