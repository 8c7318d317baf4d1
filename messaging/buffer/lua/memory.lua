-- Redis's used_memory and maxmemory (bytes), from INFO memory, as two integers: read here
-- rather than through redis-py's INFO parser, which leaves reference cycles behind on
-- every call (a garbage collection per /health miss: tests/test_polled_reads.py).
local info = redis.call('INFO', 'memory')
return {tonumber(string.match(info, 'used_memory:(%d+)')) or 0, tonumber(string.match(info, 'maxmemory:(%d+)')) or 0}
