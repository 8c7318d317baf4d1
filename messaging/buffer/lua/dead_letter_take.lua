-- Take named dead letters off the list and, when requeueing, push their payloads back as
-- the oldest messages, in one step: a crash in between can neither lose nor double one.
-- KEYS: dead_letters, pending, queued_ids
-- ARGV: requeue (1/0), the dead letter's payload field, the queued message's id field
--       (both named by Python: dead_letters.py, message_format.py), raw dead-letter entries...
-- Returns how many entries were taken.
local payload_field, id_field = ARGV[2], ARGV[3]
local taken = 0
for i = 4, #ARGV do
  if redis.call('LREM', KEYS[1], 1, ARGV[i]) == 1 then
    taken = taken + 1
    if ARGV[1] == '1' then
      local payload = cjson.decode(ARGV[i])[payload_field]
      redis.call('RPUSH', KEYS[2], payload)
      local ok, message = pcall(cjson.decode, payload)
      if ok and type(message) == 'table' and type(message[id_field]) == 'string' then
        redis.call('HSET', KEYS[3], message[id_field], '1')
      end
    end
  end
end
return taken
