-- Give claimed messages back to the queue, as the oldest (they are flushed next).
-- KEYS: leases, pending, in_flight, recovered_waiting
-- ARGV: claim_key_prefix, batch_id ('' = every batch whose lease has expired), limit
-- Returns {batches, messages}. A lease that was already settled is left alone. Messages put
-- back after a lease expired are counted in recovered_waiting, so that claim.lua can tell
-- the batches that take them again (cause 'recovered'); a batch given back by its own
-- worker (a failed flush) is not a recovery.
local ids
if ARGV[2] ~= '' then
  ids = {ARGV[2]}
else
  local now = redis.call('TIME')
  local now_ms = tonumber(now[1]) * 1000 + tonumber(now[2]) / 1000
  ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms, 'LIMIT', 0, tonumber(ARGV[3]))
end
local batches, messages = 0, 0
-- ids come earliest lease first, i.e. oldest batch first. Each batch is pushed onto the
-- right (the oldest end), so go newest batch first: the oldest batch ends up rightmost
-- and the original order is restored.
for n = #ids, 1, -1 do
  local batch_id = ids[n]
  if redis.call('ZREM', KEYS[1], batch_id) == 1 then
    local claim = ARGV[1] .. batch_id
    local items = redis.call('LRANGE', claim, 0, -1)
    -- items are oldest first; pushing them in reverse leaves the oldest rightmost.
    for i = #items, 1, -1 do redis.call('RPUSH', KEYS[2], items[i]) end
    redis.call('DEL', claim)
    redis.call('DECRBY', KEYS[3], #items)
    batches = batches + 1
    messages = messages + #items
  end
end
if ARGV[2] == '' and messages > 0 then redis.call('INCRBY', KEYS[4], messages) end
return {batches, messages}
