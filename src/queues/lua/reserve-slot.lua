-- Politeness across processes: reserves the next request slot for one host.
-- KEYS: 1 next-allowed time of the host (ms)
-- ARGV: 1 gap in ms after this request, 2 key lifetime in ms
-- Returns how many ms the caller waits before sending. Uses Redis' clock, so hosts with
-- skewed clocks still share one schedule.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local nextAt = tonumber(redis.call('GET', KEYS[1]) or '0')
local at = math.max(now, nextAt)
redis.call('SET', KEYS[1], at + tonumber(ARGV[1]), 'PX', ARGV[2])
return at - now
