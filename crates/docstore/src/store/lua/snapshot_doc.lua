-- A document and the number of its log's last change, read in one atomic step: a listener reads
-- its log from that number on and sees every later change exactly once.
-- KEYS: 1 document hash, 2 log counters, 3 document log
-- Returns {last change number, data, create time, update time} (no data and times if the
-- document does not exist).
local n = redis.call('HGET', KEYS[2], KEYS[3]) or '0'
local data, ctime, utime = read_doc(KEYS[1])
if not data then return {n} end
return {n, data, ctime, utime}
