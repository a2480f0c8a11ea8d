
local key = KEYS[1]
if redis.call('EXISTS', key) == 0 then
  return {0}
end
local kind, vpath, expected, max = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
-- Guards (a bulk update's filter fields): each stored value as the search
-- read it ('=' .. value), or absent ('-'); any other: no longer matches.
local g = tonumber(ARGV[5])
for i = 6, 5 + 2 * g, 2 do
  local have
  if kind == 'J' then
    have = redis.call('JSON.GET', key, ARGV[i])
  else
    have = redis.call('HGET', key, ARGV[i])
  end
  if not have or (kind == 'J' and have == '[]') then
    have = '-'
  else
    have = '=' .. have
  end
  if have ~= ARGV[i + 1] then
    return {6}
  end
end
local o = 1 + 2 * g
local found = '0'
if vpath ~= '' then
  if kind == 'J' then
    local raw = redis.call('JSON.GET', key, vpath)
    if raw and raw ~= '[]' then
      found = string.match(raw, '^%[(-?%d+)%]$') or raw
    end
  else
    found = redis.call('HGET', key, vpath) or '0'
  end
  if expected ~= '' and found ~= expected then
    return {2, found}
  end
  -- The stored version must be an integer the model's type can take one
  -- more of (Lua numbers are exact up to 2^53, the bound `max` respects).
  local num = tonumber(found)
  if not num or not string.match(found, '^-?%d+$') then
    return {4, found}
  end
  if num >= max then
    return {5, found}
  end
end
local n = tonumber(ARGV[5 + o])
local m = tonumber(ARGV[6 + o + n])
local e = 7 + o + n
local pairs_at = e + 2 * m
if kind == 'J' then
  -- Triplets: path, value, parent path. JSON.SET at a path whose parent is
  -- missing or null does nothing: refused before anything is written.
  for i = pairs_at, #ARGV, 3 do
    local parent = ARGV[i + 2]
    if parent ~= '$' then
      local t = redis.call('JSON.TYPE', key, parent)
      if type(t) ~= 'table' or t[1] ~= 'object' then
        return {3, ARGV[i]}
      end
    end
  end
  for i = 6 + o, 5 + o + n do
    redis.call('JSON.DEL', key, ARGV[i])
  end
  for i = pairs_at, #ARGV, 3 do
    redis.call('JSON.SET', key, ARGV[i], ARGV[i + 1])
  end
else
  local left = field_ttls(key, m, e)
  if n > 0 then
    redis.call('HDEL', key, unpack(ARGV, 6 + o, 5 + o + n))
  end
  if #ARGV >= pairs_at then
    redis.call('HSET', key, unpack(ARGV, pairs_at))
  end
  restore_field_ttls(key, m, e, left)
end
if vpath ~= '' then
  local next = string.format('%d', tonumber(found) + 1)
  if kind == 'J' then
    redis.call('JSON.SET', key, vpath, next)
  else
    redis.call('HSET', key, vpath, next)
  end
end
return {1}
