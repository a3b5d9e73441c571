-- One write to one document, with its entries in the document's and the collection's change
-- logs, all in one atomic step.
-- KEYS: 1 document hash, 2 collection index (sorted set, score = create time), 3 document log,
--       4 collection log, 5 log counters, 6 write counter
-- ARGV: 1 mode: set | create | update | delete, 2 document id, 3 document path, 4 log cap,
--       5 largest document in bytes, then (set, create, update) the fields as pairs of
--       name as a JSON string, value as JSON text
-- Returns {kind, create time, update time}, or {'exists'} (create), {'not_found'} (update,
-- delete), {'too_large', size} (update: the merged document would be over the limit).
local mode, id, path, cap, max_bytes = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local exists = redis.call('EXISTS', KEYS[1]) == 1
if mode == 'create' and exists then return {'exists'} end
if (mode == 'update' or mode == 'delete') and not exists then return {'not_found'} end

local kind, data, ctime, utime
if mode == 'delete' then
  -- A removal carries the document as it was last written, as Firestore's removed change does.
  kind = 'removed'
  data, ctime, utime = read_doc(KEYS[1])
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], id)
else
  local fields = {}
  for i = 6, #ARGV, 2 do fields[#fields + 1] = ARGV[i]; fields[#fields + 1] = ARGV[i + 1] end
  if mode == 'update' then
    -- The merged document's size as compact JSON: braces, `name:value` per field, commas.
    local merged = {}
    local flat = redis.call('HGETALL', KEYS[1])
    for i = 1, #flat, 2 do
      if flat[i] ~= 'ctime' and flat[i] ~= 'utime' then merged[flat[i]] = #flat[i + 1] end
    end
    for i = 1, #fields, 2 do merged[fields[i]] = #fields[i + 1] end
    local size, count = 2, 0
    for name, length in pairs(merged) do
      size = size + #name + 1 + length
      count = count + 1
    end
    if count > 1 then size = size + count - 1 end
    if size > max_bytes then return {'too_large', tostring(size)} end
  end
  utime = tostring(redis.call('INCR', KEYS[6]))
  if exists then
    kind, ctime = 'modified', redis.call('HGET', KEYS[1], 'ctime')
  else
    kind, ctime = 'added', utime
    redis.call('ZADD', KEYS[2], utime, id)
  end
  if mode ~= 'update' then redis.call('DEL', KEYS[1]) end
  redis.call('HSET', KEYS[1], 'ctime', ctime, 'utime', utime)
  -- In slices: Lua's unpack has a limit on how many values it returns.
  for i = 1, #fields, 1000 do
    redis.call('HSET', KEYS[1], unpack(fields, i, math.min(i + 999, #fields)))
  end
  data = read_doc(KEYS[1])
end
append(KEYS[5], KEYS[3], cap, kind, path, data, ctime, utime)
append(KEYS[5], KEYS[4], cap, kind, path, data, ctime, utime)
return {kind, ctime, utime}
