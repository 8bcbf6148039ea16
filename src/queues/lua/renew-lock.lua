-- Extends a lock only if the caller still holds it (compare-and-expire).
-- KEYS: 1 lock key
-- ARGV: 1 owner token, 2 new lifetime in ms
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
