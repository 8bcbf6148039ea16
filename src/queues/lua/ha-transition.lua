-- Moves the cluster to a new primary only if nobody moved it since the caller looked: the term
-- is a fencing token, so a stale leader (its lock expired mid-failover) cannot undo a newer
-- decision.
-- KEYS: 1 cluster state hash
-- ARGV: 1 expected term, 2 new primary, 3 time (ms), 4 the cluster's system identifier ('' = keep),
--       5 the highest term the database recorded (a Redis that lost its state starts above it)
local term = tonumber(redis.call('HGET', KEYS[1], 'term') or '0')
if term ~= tonumber(ARGV[1]) then
  return -1
end
local floor = tonumber(ARGV[5] or '0') or 0
if floor > term then
  term = floor
end
redis.call('HSET', KEYS[1], 'term', term + 1, 'primary', ARGV[2], 'changed_at', ARGV[3])
if ARGV[4] and ARGV[4] ~= '' then
  redis.call('HSET', KEYS[1], 'system_id', ARGV[4])
end
return term + 1
