-- Releases a lock only if the caller still holds it (compare-and-delete): a lock that expired
-- and was taken by another process is left to its new holder.
-- KEYS: 1 lock key
-- ARGV: 1 owner token
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
