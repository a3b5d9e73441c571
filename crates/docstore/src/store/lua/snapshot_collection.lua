-- A collection's documents in creation order and the number of its log's last change, read in
-- one atomic step (see snapshot_doc.lua).
-- KEYS: 1 collection index, 2 log counters, 3 collection log
-- ARGV: 1 key prefix of the collection's documents
-- Returns {last change number, id, data, create time, update time, id, data, ...}.
local out = {redis.call('HGET', KEYS[2], KEYS[3]) or '0'}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local data, ctime, utime = read_doc(ARGV[1] .. id)
  if data then
    out[#out + 1] = id
    out[#out + 1] = data
    out[#out + 1] = ctime
    out[#out + 1] = utime
  end
end
return out
