package stream

import "github.com/redis/go-redis/v9"

// publishOnceScript appends each message whose key is new to the
// de-duplication hash. Claim and append happen in one script so a crash
// can never leave a claimed key without its entry. Keys are checked with one
// HMGET and claimed with one HSET per call, not a command per message: this
// script is most of the cost of a scheduler cycle's enqueue.
//
// KEYS: stream, dedup hash. ARGV: ttl ms, maxlen (0 = none), ts, then
// (key, type, data) triples.
var publishOnceScript = redis.NewScript(publishOnceScriptSrc)

const publishOnceScriptSrc = `
local maxlen = tonumber(ARGV[2])
local keys = {}
for i = 4, #ARGV, 3 do
  keys[#keys + 1] = ARGV[i]
end
if #keys == 0 then
  return 0
end
local known = redis.call('HMGET', KEYS[2], unpack(keys))
local claimed = {}
local claims = {}
for j = 1, #keys do
  local k = keys[j]
  if not known[j] and not claimed[k] then
    claimed[k] = true
    claims[#claims + 1] = k
    claims[#claims + 1] = '1'
    local i = 1 + 3 * j
    if maxlen > 0 then
      redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*',
        'type', ARGV[i+1], 'data', ARGV[i+2], 'ts', ARGV[3], 'key', k)
    else
      redis.call('XADD', KEYS[1], '*',
        'type', ARGV[i+1], 'data', ARGV[i+2], 'ts', ARGV[3], 'key', k)
    end
  end
end
if #claims > 0 then
  redis.call('HSET', KEYS[2], unpack(claims))
end
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return #claims / 2
`

// deadLetterScript copies a pending entry to the dead-letter stream and only
// then acknowledges it. An entry no longer pending (another consumer
// finished it) is left alone, so racing consumers write one copy.
//
// KEYS: dead-letter stream, stream. ARGV: group, id, then field/value pairs.
var deadLetterScript = redis.NewScript(`
local p = redis.call('XPENDING', KEYS[2], ARGV[1], ARGV[2], ARGV[2], 1)
if #p == 0 then
  return 0
end
redis.call('XADD', KEYS[1], '*', unpack(ARGV, 3))
return redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
`)

// deferScript acknowledges a pending entry and parks a copy in the delayed
// set, due after the given delay by the Redis clock (one clock for every
// consumer, whatever their skew).
//
// KEYS: delayed set, stream. ARGV: group, id, delay ms, then field/value
// pairs.
var deferScript = redis.NewScript(`
if redis.call('XACK', KEYS[2], ARGV[1], ARGV[2]) == 0 then
  return 0
end
local t = redis.call('TIME')
local due = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[3])
local fields = {}
for i = 4, #ARGV do
  fields[#fields + 1] = ARGV[i]
end
redis.call('ZADD', KEYS[1], due, cmsgpack.pack(fields))
return 1
`)

// moveDueScript moves up to a limit of due members of the delayed set back
// to the stream. Every consumer runs it; being one script, a member is
// removed and appended exactly once however many run at the same time.
//
// KEYS: delayed set, stream. ARGV: limit.
var moveDueScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
for _, m in ipairs(due) do
  redis.call('XADD', KEYS[2], '*', unpack(cmsgpack.unpack(m)))
  redis.call('ZREM', KEYS[1], m)
end
return #due
`)
