
local key = KEYS[1]
local cond, ttl, kind = ARGV[1], ARGV[2], ARGV[3]
local exists = redis.call('EXISTS', key) == 1
if (cond == 'NX' and exists) or (cond == 'XX' and not exists) then
  return 0
end
if kind == 'J' then
  redis.call('JSON.SET', key, '$', ARGV[4])
else
  local n = tonumber(ARGV[4])
  local m = tonumber(ARGV[5 + n])
  local e = 6 + n
  local left = field_ttls(key, m, e)
  if n > 0 then
    redis.call('HDEL', key, unpack(ARGV, 5, 4 + n))
  end
  redis.call('HSET', key, unpack(ARGV, e + 2 * m))
  restore_field_ttls(key, m, e, left)
end
if ttl == 'P' then
  redis.call('PERSIST', key)
elseif ttl ~= '0' then
  redis.call('PEXPIRE', key, ttl)
end
return 1
