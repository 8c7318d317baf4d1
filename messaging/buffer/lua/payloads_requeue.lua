-- Put payloads back on the queue as the oldest messages (dead letters kept outside Redis,
-- being requeued): the same effect as dead_letter_take.lua's requeue, without a list entry
-- to remove. One step, so a message is never on the queue without its queued_ids mark.
-- KEYS: pending, queued_ids
-- ARGV: the queued message's id field (message_format.py), payloads...
-- Returns how many were queued.
for i = 2, #ARGV do
  redis.call('RPUSH', KEYS[1], ARGV[i])
  local ok, message = pcall(cjson.decode, ARGV[i])
  if ok and type(message) == 'table' and type(message[ARGV[1]]) == 'string' then
    redis.call('HSET', KEYS[2], message[ARGV[1]], '1')
  end
end
return #ARGV - 1
