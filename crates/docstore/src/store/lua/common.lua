-- Shared by every script. A document is a hash: each top-level field under its name as a JSON
-- string (with the quotes), holding its value as JSON text, beside `ctime` and `utime` (which,
-- not starting with a quote, cannot clash with a field). So a merge is an HSET, and the
-- document's JSON text is its fields joined, with no JSON parsing in Lua.

-- The document at `key` as compact JSON text, and its create and update times (all nil if it
-- does not exist).
local function read_doc(key)
  local flat = redis.call('HGETALL', key)
  if #flat == 0 then return nil, nil, nil end
  local parts, ctime, utime = {}, nil, nil
  for i = 1, #flat, 2 do
    local field, value = flat[i], flat[i + 1]
    if field == 'ctime' then ctime = value
    elseif field == 'utime' then utime = value
    else parts[#parts + 1] = field .. ':' .. value end
  end
  return '{' .. table.concat(parts, ',') .. '}', ctime, utime
end

-- Appends one change to a change log (a Redis stream). The entry id is the log's own change
-- number n, as "n-0", kept in the counters hash: a reader that knows the last number it read can
-- tell entries trimmed by MAXLEN from a quiet log.
local function append(counters, log, cap, kind, path, data, ctime, utime)
  local n = redis.call('HINCRBY', counters, log, 1)
  redis.call('XADD', log, 'MAXLEN', '~', cap, n .. '-0',
    'kind', kind, 'path', path, 'data', data, 'ctime', ctime, 'utime', utime)
end
