-- Marks one claimed URL finished and adds its statistics, exactly once even if the job that
-- finishes it runs twice (a crash after finishing but before BullMQ saw the completion).
-- KEYS: 1 done (set), 2 pending (set), 3 stats (hash)
-- ARGV: 1 member, 2.. field, delta pairs
-- Returns how many claimed URLs of the session are still unfinished (0: the session is complete).
if redis.call('SREM', KEYS[2], ARGV[1]) == 1 then
  redis.call('SADD', KEYS[1], ARGV[1])
  for i = 2, #ARGV, 2 do
    redis.call('HINCRBY', KEYS[3], ARGV[i], ARGV[i + 1])
  end
end
return redis.call('SCARD', KEYS[2])
