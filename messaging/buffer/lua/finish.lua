-- A flush job may stop only when nothing waits and nothing is claimed. Checked and
-- acted on atomically with push.lua, so a message pushed meanwhile always finds either
-- this job still active or no active job (and then asks for a new one).
-- KEYS: pending, leases, flush_active
if redis.call('LLEN', KEYS[1]) == 0 and redis.call('ZCARD', KEYS[2]) == 0 then
  redis.call('DEL', KEYS[3])
  return 1
end
return 0
