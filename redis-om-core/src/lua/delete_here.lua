#!lua flags=allow-cross-slot-keys,allow-oom
-- delete_many on a cluster: ARGV[1] is DEL or UNLINK, the rest are keys that
-- the slot map puts on this primary. Each is deleted here if this primary
-- still serves its slot (its count, 0 or 1); -1 if it does not (the slot
-- moved, or is moving and the key is already gone from here), for the client
-- to delete through the cluster's redirects. Nothing runs twice.
local out = {}
for i = 2, #ARGV do
  local n = redis.pcall(ARGV[1], ARGV[i])
  if type(n) == 'number' then
    out[i - 1] = n
  else
    out[i - 1] = -1
  end
end
return out
