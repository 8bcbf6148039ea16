-- A session's live statistics change: add to its counters and move its unfinished-URL hint.
-- One script instead of a pipeline: a pipeline object costs more CPU than the whole call
-- (ioredis copies every defined command, BullMQ's included, into it).
-- KEYS: 1 stats hash, 2 unfinished counter
-- ARGV: 1 change of the unfinished count (claimed: +, finished: -), then field, increment pairs
for i = 2, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
end
return redis.call('INCRBY', KEYS[2], ARGV[1])
