-- Read the last `count` buckets of one history ring (messaging/buffer/history.py), newest
-- last, by Redis's clock as ack.lua writes them.
-- KEYS: ring
-- ARGV: resolution_s, slots, count
-- Returns {now, value or false per bucket}
local now = tonumber(redis.call('TIME')[1])
local resolution, slots, count = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local last = now - now % resolution
local values = {}
-- HMGET in chunks: unpack() of 10,080 fields would overflow Lua's C stack.
for chunk_start = count - 1, 0, -1000 do
  local fields = {}
  for i = chunk_start, math.max(chunk_start - 999, 0), -1 do
    fields[#fields + 1] = ((last - i * resolution) / resolution) % slots
  end
  for _, value in ipairs(redis.call('HMGET', KEYS[1], unpack(fields))) do values[#values + 1] = value end
end
return {now, values}
