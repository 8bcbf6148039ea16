-- Claims URLs for a crawl session, atomically across every worker process.
-- KEYS: 1 seen (hash member -> owner job), 2 done (set), 3 pending (set), 4 state, 5 page count
-- ARGV: 1 owner job id, 2 page budget (0 = unlimited; counts only page members, kind "p"),
--       3.. members ("<kind><urlKey>")
-- Returns the 1-based positions (among the members) the caller must enqueue: members new to
-- the session, plus members this same owner claimed before but never finished (the owner's job
-- is being re-run after a crash between claiming and enqueuing; re-adding is idempotent
-- because the job id is deterministic).
if redis.call('GET', KEYS[4]) ~= 'running' then
  return {}
end
local owner = ARGV[1]
local budget = tonumber(ARGV[2])
local out = {}
for i = 3, #ARGV do
  local member = ARGV[i]
  local current = redis.call('HGET', KEYS[1], member)
  if not current then
    local allowed = true
    if budget > 0 and string.sub(member, 1, 1) == 'p' then
      if tonumber(redis.call('GET', KEYS[5]) or '0') >= budget then
        allowed = false
      else
        redis.call('INCR', KEYS[5])
      end
    end
    if allowed then
      redis.call('HSET', KEYS[1], member, owner)
      redis.call('SADD', KEYS[3], member)
      out[#out + 1] = i - 2
    end
  elseif current == owner and redis.call('SISMEMBER', KEYS[2], member) == 0 then
    out[#out + 1] = i - 2
  end
end
return out
