-- Settle a committed batch: drop its claim and move every counter, atomically.
-- KEYS: leases, claim, queued_ids, total_messages, total_batches, current_rps, last_batch,
--       latency_ms, dead_letters, in_flight, persisted_per_second, batch_size_histogram,
--       latency_histogram, dead_lettered_total, events_channel, batches_by_cause,
--       history_seconds, history_minutes, history_accepted_seen, accepted_total, pending,
--       dead_letter_overflow, dead_lettered_by_reason
-- ARGV: batch_id, stored, rps_window_s, latency_cap, completed_at, n_ids, n_latencies,
--       n_dead, n_size_fields, n_latency_fields, event ('' for none), cause (claim.lua's:
--       full, timer or recovered), history ('' for off, else the batch's p95 latency in
--       ms), max_dead_letters, ids..., latencies...,
--       dead letters...,
--       (field, increment) pairs for the batch-size histogram, then for the latency one
-- Returns 1, or 0 when the lease was lost: the batch was recovered and requeued, and the
-- worker that flushes it again does the counting, so nothing is counted twice.
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('DECRBY', KEYS[10], redis.call('LLEN', KEYS[2]))
redis.call('DEL', KEYS[2])

local stored = tonumber(ARGV[2])
local n_ids, n_lat, n_dead = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local n_size_fields, n_latency_fields = tonumber(ARGV[9]), tonumber(ARGV[10])
local first = 15
if n_ids > 0 then redis.call('HDEL', KEYS[3], unpack(ARGV, first, first + n_ids - 1)) end
first = first + n_ids
if n_lat > 0 then
  redis.call('LPUSH', KEYS[8], unpack(ARGV, first, first + n_lat - 1))
  redis.call('LTRIM', KEYS[8], 0, tonumber(ARGV[4]) - 1)
end
first = first + n_lat
if n_dead > 0 then
  redis.call('LPUSH', KEYS[9], unpack(ARGV, first, first + n_dead - 1))
  redis.call('INCRBY', KEYS[14], n_dead)
  for i = first, first + n_dead - 1 do
    -- Per reason for /metrics, bounded: a label is at most 120 characters, at most 100 of them.
    local reason = string.sub(tostring(cjson.decode(ARGV[i])['reason']), 1, 120)
    if redis.call('HEXISTS', KEYS[23], reason) == 0 and redis.call('HLEN', KEYS[23]) >= 100 then reason = 'other' end
    redis.call('HINCRBY', KEYS[23], reason, 1)
  end
  -- The cap: the oldest past it go to the overflow list, which a flush job empties into
  -- PostgreSQL (messaging/dead_letters.py). In chunks: unpack() is bounded by Lua's C stack.
  local excess = redis.call('LLEN', KEYS[9]) - tonumber(ARGV[14])
  while excess > 0 do
    local moved = redis.call('RPOP', KEYS[9], math.min(excess, 1000))
    redis.call('LPUSH', KEYS[22], unpack(moved))
    excess = excess - #moved
  end
end
first = first + n_dead
-- Prometheus histograms (buckets chosen in messaging/buffer/histograms.py), cluster-wide.
for i = 0, n_size_fields - 1 do
  redis.call('HINCRBYFLOAT', KEYS[12], ARGV[first + 2 * i], ARGV[first + 2 * i + 1])
end
first = first + 2 * n_size_fields
for i = 0, n_latency_fields - 1 do
  redis.call('HINCRBYFLOAT', KEYS[13], ARGV[first + 2 * i], ARGV[first + 2 * i + 1])
end

if stored > 0 then
  redis.call('INCRBY', KEYS[4], stored)
  redis.call('INCR', KEYS[5])
  redis.call('HINCRBY', KEYS[16], ARGV[12], 1)  -- with total_batches, so the causes add up to it
  redis.call('HSET', KEYS[7], 'batch_id', ARGV[1], 'size', stored, 'completed_at', ARGV[5])
  -- current_rps: persisted messages per second over the window, from per-second buckets
  -- that every worker adds to, so it stays right with several workers.
  local second = tonumber(redis.call('TIME')[1])
  local window = tonumber(ARGV[3])
  redis.call('HINCRBY', KEYS[11], second, stored)
  local total = 0
  for _, field in ipairs(redis.call('HKEYS', KEYS[11])) do
    local s = tonumber(field)
    if s <= second - window then
      redis.call('HDEL', KEYS[11], field)
    else
      total = total + tonumber(redis.call('HGET', KEYS[11], field))
    end
  end
  redis.call('SET', KEYS[6], string.format('%.2f', total / window), 'EX', window)
  if ARGV[13] ~= '' then
    -- Throughput history (messaging/buffer/history.py): this batch goes into the current
    -- second's and minute's buckets, with the messages accepted since history last
    -- looked (read from ingest's own counter, so ingest pays nothing) and the queue
    -- length now. Two fixed rings: memory is bounded by their slot counts, no TTL needed.
    local queue = redis.call('LLEN', KEYS[21])
    local accepted_now = tonumber(redis.call('GET', KEYS[20]) or '0')
    -- The first look (a new install, or history just switched on): count what this batch
    -- stored and what waits, not every message ever accepted in one bucket.
    local seen = tonumber(redis.call('GETSET', KEYS[19], accepted_now) or math.max(accepted_now - stored - queue, 0))
    local accepted = accepted_now - seen
    if accepted < 0 then accepted = accepted_now end  -- the counter was reset
    local p95 = tonumber(ARGV[13])
    for _, ring in ipairs({{KEYS[17], 1, 3600}, {KEYS[18], 60, 10080}}) do
      local stamp = second - second % ring[2]
      local slot = (stamp / ring[2]) % ring[3]
      local persisted, batches, worst, taken = stored, 1, p95, accepted
      local old = redis.call('HGET', ring[1], slot)
      if old then
        local t, p, b, w, a = string.match(old, '^(%d+) (%d+) (%d+) %d+ ([%d.]+) (%d+)$')
        if tonumber(t) == stamp then  -- else the slot holds an older lap of the ring
          persisted, batches = persisted + tonumber(p), batches + tonumber(b)
          worst, taken = math.max(worst, tonumber(w)), taken + tonumber(a)
        end
      end
      redis.call('HSET', ring[1], slot, string.format('%d %d %d %d %.1f %d', stamp, persisted, batches, queue, worst, taken))
    end
  end
end
if ARGV[11] ~= '' then redis.call('PUBLISH', KEYS[15], ARGV[11]) end
return 1
