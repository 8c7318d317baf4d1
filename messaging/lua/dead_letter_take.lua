-- Take named dead letters off the list and, when requeueing, push their payloads back as
-- the oldest messages, in one step: a crash in between can neither lose nor double one.
-- KEYS: dead_letters, pending, queued_ids
-- ARGV: requeue (1/0), raw dead-letter entries...
-- Returns how many entries were taken.
local taken = 0
for i = 2, #ARGV do
  if redis.call('LREM', KEYS[1], 1, ARGV[i]) == 1 then
    taken = taken + 1
    if ARGV[1] == '1' then
      local payload = cjson.decode(ARGV[i])['payload']
      redis.call('RPUSH', KEYS[2], payload)
      local ok, message = pcall(cjson.decode, payload)
      if ok and type(message) == 'table' and type(message['message_id']) == 'string' then
        redis.call('HSET', KEYS[3], message['message_id'], '1')
      end
    end
  end
end
return taken
