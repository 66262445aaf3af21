package breaker

import "github.com/redis/go-redis/v9"

// The breaker's state lives in one Redis hash:
//
//	state        closed | open | half_open
//	failures     consecutive failures counted while closed
//	successes    consecutive successful probes while half-open
//	opened_at    server time (ms) of the last transition to open
//	probe_token  token of the request holding the half-open probe lease
//	probe_until  server time (ms) the probe lease lapses
//	gen          bumped on every transition, so a report from a request
//	             admitted under an earlier state is dropped
//
// Each script reads the clock with redis.call('TIME') so every worker judges
// timeouts by the same clock whatever its own says. Redis 7 replicates
// scripts by effects, which is what makes TIME legal before a write.

// allowScript decides whether one request may go upstream.
//
// ARGV: open_timeout_ms, probe_timeout_ms, token.
// Returns {verdict, state, wait_ms, gen, from}: verdict is one of the
// verdict constants below; from is the previous state when this call moved
// the breaker from open to half-open.
var allowScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local h = redis.call('HMGET', KEYS[1], 'state', 'opened_at', 'probe_token', 'probe_until', 'gen')
local state = h[1] or 'closed'
local gen = tonumber(h[5] or '0')
local from = ''
if state == 'closed' then
	return {1, state, 0, gen, from}
end
local holder = h[3] or ''
local lease_end = tonumber(h[4] or '0')
if state == 'open' then
	local reopen = tonumber(h[2] or '0') + tonumber(ARGV[1])
	if now < reopen then
		return {0, state, reopen - now, gen, from}
	end
	from = state
	state = 'half_open'
	gen = gen + 1
	holder = ''
	redis.call('HSET', KEYS[1], 'state', state, 'successes', 0, 'probe_token', '', 'probe_until', 0, 'gen', gen)
end
if holder ~= '' and now < lease_end then
	return {0, state, lease_end - now, gen, from}
end
redis.call('HSET', KEYS[1], 'probe_token', ARGV[3], 'probe_until', now + tonumber(ARGV[2]))
return {2, state, 0, gen, from}
`)

// The verdicts of allowScript.
const (
	verdictRejected      = 0
	verdictAdmitted      = 1 // while closed
	verdictAdmittedProbe = 2 // as the half-open probe, holding its lease
)

// reportScript records the outcome of an admitted request.
//
// ARGV: outcome (success | failure | ignore), gen, token (empty for a request
// admitted while closed), failure_threshold, success_threshold.
// Returns {state, from, to}; from and to are empty when nothing changed.
var reportScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local h = redis.call('HMGET', KEYS[1], 'state', 'gen', 'probe_token', 'failures')
local state = h[1] or 'closed'
local gen = tonumber(h[2] or '0')
local outcome = ARGV[1]
if tonumber(ARGV[2]) ~= gen then
	return {state, '', ''}
end
if ARGV[3] == '' then
	if state ~= 'closed' then
		return {state, '', ''}
	end
	if outcome == 'success' then
		if tonumber(h[4] or '0') ~= 0 then
			redis.call('HSET', KEYS[1], 'failures', 0)
		end
	elseif outcome == 'failure' then
		local f = redis.call('HINCRBY', KEYS[1], 'failures', 1)
		if f >= tonumber(ARGV[4]) then
			redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', now, 'successes', 0,
				'probe_token', '', 'probe_until', 0, 'gen', gen + 1)
			return {'open', 'closed', 'open'}
		end
	end
	return {state, '', ''}
end
if state ~= 'half_open' or h[3] ~= ARGV[3] then
	return {state, '', ''}
end
if outcome == 'success' then
	local s = redis.call('HINCRBY', KEYS[1], 'successes', 1)
	if s >= tonumber(ARGV[5]) then
		redis.call('HSET', KEYS[1], 'state', 'closed', 'failures', 0, 'successes', 0,
			'probe_token', '', 'probe_until', 0, 'gen', gen + 1)
		return {'closed', 'half_open', 'closed'}
	end
	redis.call('HSET', KEYS[1], 'probe_token', '', 'probe_until', 0)
elseif outcome == 'failure' then
	redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', now, 'successes', 0,
		'probe_token', '', 'probe_until', 0, 'gen', gen + 1)
	return {'open', 'half_open', 'open'}
else
	redis.call('HSET', KEYS[1], 'probe_token', '', 'probe_until', 0)
end
return {state, '', ''}
`)

// resetScript closes the breaker whatever its state.
//
// Returns the previous state.
var resetScript = redis.NewScript(`
local h = redis.call('HMGET', KEYS[1], 'state', 'gen')
local state = h[1] or 'closed'
redis.call('HSET', KEYS[1], 'state', 'closed', 'failures', 0, 'successes', 0, 'opened_at', 0,
	'probe_token', '', 'probe_until', 0, 'gen', tonumber(h[2] or '0') + 1)
return state
`)

// statusScript reads the hash together with the server clock, so the caller
// can tell an open breaker whose timeout passed (half-open in effect) from
// one still open.
//
// Returns {state, failures, successes, opened_at, probe_until, now}.
var statusScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local h = redis.call('HMGET', KEYS[1], 'state', 'failures', 'successes', 'opened_at', 'probe_until')
return {h[1] or 'closed', tonumber(h[2] or '0'), tonumber(h[3] or '0'), tonumber(h[4] or '0'), tonumber(h[5] or '0'), now}
`)
