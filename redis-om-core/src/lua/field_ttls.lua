
local function field_ttls(key, m, e)
  if m == 0 then
    return {}
  end
  local names = {}
  for i = 1, m do names[i] = ARGV[e + 2 * i - 2] end
  local left = redis.call('HPTTL', key, 'FIELDS', m, unpack(names))
  if type(left) ~= 'table' then
    return {}
  end
  return left
end
local function restore_field_ttls(key, m, e, left)
  for i = 1, m do
    local field = ARGV[e + 2 * i - 2]
    local ms = tonumber(left[i])
    if ms and ms > 0 then
      redis.call('HPEXPIRE', key, ms, 'FIELDS', 1, field)
    else
      redis.call('HEXPIRE', key, ARGV[e + 2 * i - 1], 'FIELDS', 1, field)
    end
  end
end
