-- A host said "retry after N ms" (429/503): nobody sends to it before then.
-- KEYS: 1 next-allowed time of the host (ms)
-- ARGV: 1 delay in ms
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local until_ = now + tonumber(ARGV[1])
local nextAt = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_ > nextAt then
  redis.call('SET', KEYS[1], until_, 'PX', tonumber(ARGV[1]) + 60000)
end
return until_
