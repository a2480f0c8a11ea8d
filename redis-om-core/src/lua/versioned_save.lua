
local key = KEYS[1]
local cond, ttl, kind, vpath, expected = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local exists = redis.call('EXISTS', key) == 1
if (cond == 'NX' and exists) or (cond == 'XX' and not exists) then
  return {0}
end
local found = '0'
if exists then
  if kind == 'J' then
    local raw = redis.call('JSON.GET', key, vpath)
    if raw and raw ~= '[]' then
      found = string.match(raw, '^%[(-?%d+)%]$') or raw
    end
  else
    found = redis.call('HGET', key, vpath) or '0'
  end
end
if found ~= expected then
  return {2, found}
end
if kind == 'J' then
  redis.call('JSON.SET', key, '$', ARGV[6])
else
  local n = tonumber(ARGV[6])
  if n > 0 then
    redis.call('HDEL', key, unpack(ARGV, 7, 6 + n))
  end
  redis.call('HSET', key, unpack(ARGV, 7 + n))
end
if ttl == 'P' then
  redis.call('PERSIST', key)
elseif ttl ~= '0' then
  redis.call('PEXPIRE', key, ttl)
end
return {1}
