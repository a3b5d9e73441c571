-- Deletes up to a batch of a collection's documents (oldest first), each with its removal in
-- its document's log and the collection's log. Subcollections stay, as in Firestore.
-- KEYS: 1 collection index, 2 collection log, 3 log counters
-- ARGV: 1 key prefix of the collection's documents, 2 key prefix of their logs,
--       3 collection path, 4 log cap, 5 batch size
-- Returns how many documents it deleted.
local ids = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[5]) - 1)
for _, id in ipairs(ids) do
  local key = ARGV[1] .. id
  local data, ctime, utime = read_doc(key)
  redis.call('DEL', key)
  redis.call('ZREM', KEYS[1], id)
  if data then
    local path = ARGV[3] .. '/' .. id
    append(KEYS[3], ARGV[2] .. id, ARGV[4], 'removed', path, data, ctime, utime)
    append(KEYS[3], KEYS[2], ARGV[4], 'removed', path, data, ctime, utime)
  end
end
return #ids
