package agents

import (
	"github.com/hotline-dev/hotline/configs"
	"github.com/redis/go-redis/v9"
)

// ACD key layout, under the same prefix as the queues (scripts.go):
//
//	<p>agent:<id>                HASH  state, since (ms), reason, call_id, idle_since (ms),
//	                                   categories ("a,b"), misses, node (caller's node while
//	                                   ringing/on_call)
//	<p>agents:state              HASH  id → state (Agents and the by-state gauge)
//	<p>agents:available          ZSET  available agents, score idle_since (emergency: any agent, S6)
//	<p>agents:available:<cat>    ZSET  available agents serving cat, score idle_since
//	<p>agents:serving:<cat>      SET   logged-in agents serving cat (wait estimate, S8)
//	<p>agents:ringing            ZSET  ringing agents, score reservation expiry (ms)
//	<p>agents:wrapup             ZSET  agents in wrap-up, score wrap_up deadline (ms, S12)
//	<p>ringall:<callID>          SET   agents rung together for one caller (ring-all)
//	<p>node:<node>:agents        SET   agents ringing for / talking to a caller held by node
//	<p>node:<node>:alive         STRING heartbeat, expires after the node TTL
//	<p>node:<node>:offers        LIST  offers for callers held by node (JSON), pushed by others
//	<p>nodes                     SET   nodes that ever heartbeated (the reaper's list)
//	<p>epoch                     STRING random id set when missing: a change means a Redis restart
//	<p>events                    pub/sub channel: JSON events, type "state" or "match"
//
// The caller hash <p>qcall:<id> gains offered_to: the agent ringing for it,
// or "*" with <p>ringall:<id> listing the agents. An offered caller keeps its
// place in <p>queue:<cat>; Match skips it.
//
// Every script takes ARGV[1..3] = prefix, now (ms, the ACD's clock), node,
// and KEYS[1] = <p>agents:state only so that a cluster client can route it;
// the other keys are built from the prefix (use a hash-tag prefix on Redis
// Cluster). A script checks everything before it writes, since Lua does not
// roll back, and replies with JSON: {err, state, tr: [events], ...}.

// acdPrelude is shared by every ACD script: the transition table, the
// bookkeeping of the per-state indexes, events and the reply.
var acdPrelude = `
local P, NOW, NODE = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local OPS = ` + luaAllowed() + `
local EMERGENCY = '` + configs.CategoryEmergency + `'
local tr, out, hint = {}, {}, false
local function num(n) return string.format('%.0f', n) end
local function akey(id) return P .. 'agent:' .. id end
local function split(s)
  local t = {}
  for c in string.gmatch(s or '', '[^,]+') do t[#t + 1] = c end
  return t
end
local function state_of(id) return redis.call('HGET', akey(id), 'state') or 'offline' end
local function avail(id, cats, idle)
  if idle then
    redis.call('ZADD', P .. 'agents:available', idle, id)
    for _, c in ipairs(cats) do redis.call('ZADD', P .. 'agents:available:' .. c, idle, id) end
  else
    redis.call('ZREM', P .. 'agents:available', id)
    for _, c in ipairs(cats) do redis.call('ZREM', P .. 'agents:available:' .. c, id) end
  end
end
-- move applies operation op to agent id, ending in state to. o: reason,
-- call, node, expires, deadline, fresh (idle_since = now). Returns ok, from.
local function move(op, id, to, o)
  local k = akey(id)
  local h = redis.call('HMGET', k, 'state', 'categories', 'idle_since', 'node', 'since')
  local from = h[1] or 'offline'
  if not OPS[op][from] then return false, from end
  local cats, node = split(h[2]), h[4] or ''
  if from == 'available' then avail(id, cats, nil) end
  if from == 'ringing' then redis.call('ZREM', P .. 'agents:ringing', id) end
  if from == 'wrap_up' then redis.call('ZREM', P .. 'agents:wrapup', id) end
  if (from == 'ringing' or from == 'on_call') and to ~= 'on_call' and node ~= '' then
    redis.call('SREM', P .. 'node:' .. node .. ':agents', id)
  end
  if to == 'ringing' then
    node = o.node
    redis.call('ZADD', P .. 'agents:ringing', o.expires, id)
    redis.call('SADD', P .. 'node:' .. node .. ':agents', id)
  elseif to ~= 'on_call' then
    node = ''
  end
  if to == 'available' then
    local idle = tonumber(h[3]) or NOW
    if o.fresh then idle = NOW end
    avail(id, cats, idle)
    redis.call('HSET', k, 'idle_since', num(idle))
    hint = true
  elseif to == 'wrap_up' then
    redis.call('ZADD', P .. 'agents:wrapup', o.deadline, id)
  elseif to == 'offline' then
    for _, c in ipairs(cats) do redis.call('SREM', P .. 'agents:serving:' .. c, id) end
  end
  redis.call('HSET', k, 'state', to, 'since', num(NOW), 'reason', o.reason or '',
    'call_id', o.call or '', 'node', node)
  redis.call('HSET', P .. 'agents:state', id, to)
  local ev = {type = 'state', agent = id, from = from, to = to, reason = o.reason or '',
    call_id = o.call or '', node = NODE, at = NOW, held_ms = NOW - (tonumber(h[5]) or NOW)}
  redis.call('PUBLISH', P .. 'events', cjson.encode(ev))
  tr[#tr + 1] = ev
  return true, from
end
-- <p>qskip:<cat> is a queue's skip score: every caller scoring below it is
-- being offered. Match raises it, enqueue lowers it, unoffer drops it; a walk
-- over the queue for callers not offered starts at skip_rank(cat).
local function skip_key(cat) return P .. 'qskip:' .. cat end
local function skip_rank(cat)
  local s = redis.call('GET', skip_key(cat))
  if not s then return 0, nil end
  return redis.call('ZCOUNT', P .. 'queue:' .. cat, '-inf', '(' .. s), s
end
-- unoffer frees a caller that was offered to agent (it keeps its place,
-- perhaps below its queue's skip score, so the skip goes).
local function unoffer(call, agent)
  local k = P .. 'qcall:' .. call
  local h = redis.call('HMGET', k, 'offered_to', 'category')
  local freed = false
  if h[1] == agent then
    freed = true
  elseif h[1] == '*' then
    local g = P .. 'ringall:' .. call
    redis.call('SREM', g, agent)
    freed = redis.call('SCARD', g) == 0
  end
  if freed then
    redis.call('HDEL', k, 'offered_to')
    if h[2] then redis.call('DEL', skip_key(h[2])) end
    hint = true
  end
end
-- unqueue removes a caller from its queue and node set; returns category, enqueued_at.
local function unqueue(call)
  local k = P .. 'qcall:' .. call
  local h = redis.call('HMGET', k, 'category', 'node', 'enqueued_at')
  if not h[1] then return nil end
  redis.call('ZREM', P .. 'queue:' .. h[1], call)
  if h[2] then redis.call('SREM', P .. 'node:' .. h[2] .. ':qcalls', call) end
  redis.call('DEL', k, P .. 'ringall:' .. call)
  return h[1], tonumber(h[3])
end
local function fail(code, state) return cjson.encode({err = code, state = state}) end
local function finish()
  if hint then
    redis.call('PUBLISH', P .. 'events', cjson.encode({type = 'match', node = NODE, at = NOW}))
  end
  if #tr > 0 then out.tr = tr end
  return cjson.encode(out)
end
`

func acdScript(body string) *redis.Script { return redis.NewScript(acdPrelude + body) }

// loginScript: ARGV[4] agent, ARGV[5] categories ("a,b").
var loginScript = acdScript(`
local id = ARGV[4]
local st = state_of(id)
if not OPS.login[st] then return fail('bad_transition', st) end
local old = split(redis.call('HGET', akey(id), 'categories'))
for _, c in ipairs(old) do redis.call('SREM', P .. 'agents:serving:' .. c, id) end
redis.call('HSET', akey(id), 'categories', ARGV[5], 'misses', 0)
for _, c in ipairs(split(ARGV[5])) do redis.call('SADD', P .. 'agents:serving:' .. c, id) end
move('login', id, 'available', {fresh = true})
return finish()
`)

// logoutScript: ARGV[4] agent. A ringing agent's caller is un-offered.
var logoutScript = acdScript(`
local id = ARGV[4]
local call = redis.call('HGET', akey(id), 'call_id') or ''
local ok, from = move('logout', id, 'offline', {})
if not ok then return fail('bad_transition', from) end
if from == 'ringing' then unoffer(call, id) end
return finish()
`)

// pauseScript: ARGV[4] agent, ARGV[5] reason.
var pauseScript = acdScript(`
local ok, from = move('pause', ARGV[4], 'paused', {reason = ARGV[5]})
if not ok then return fail('bad_transition', from) end
return finish()
`)

// resumeScript: ARGV[4] agent. A not-responding agent starts with no misses.
var resumeScript = acdScript(`
local ok, from = move('resume', ARGV[4], 'available', {fresh = true})
if not ok then return fail('bad_transition', from) end
redis.call('HSET', akey(ARGV[4]), 'misses', 0)
return finish()
`)

// ringingFor reports whether agent id is ringing for call (the guard of
// answer, miss and caller-gone).
const ringingFor = `
local function ringing_for(id, call)
  local h = redis.call('HMGET', akey(id), 'state', 'call_id')
  local st = h[1] or 'offline'
  if st ~= 'ringing' then return false, st end
  if h[2] ~= call then return false, 'ringing for another call' end
  return true, st
end
`

// answerScript: ARGV[4] call, ARGV[5] agent. The caller leaves the queue;
// the other agents of a ring-all group are released (out.released). A caller
// already gone releases the agent and replies err "caller_gone".
var answerScript = acdScript(ringingFor + `
local call, id = ARGV[4], ARGV[5]
local ok, st = ringing_for(id, call)
if not ok then return fail('bad_transition', st) end
local offered = redis.call('HGET', P .. 'qcall:' .. call, 'offered_to')
if offered ~= id and not (offered == '*' and redis.call('SISMEMBER', P .. 'ringall:' .. call, id) == 1) then
  move('release', id, 'available', {reason = 'caller_gone'})
  out.err = 'caller_gone'
  return finish()
end
local released = {}
if offered == '*' then
  for _, other in ipairs(redis.call('SMEMBERS', P .. 'ringall:' .. call)) do
    if other ~= id and move('release', other, 'available', {reason = 'answered_elsewhere'}) then
      released[#released + 1] = other
    end
  end
end
local cat, at = unqueue(call)
move('answer', id, 'on_call', {call = call})
redis.call('HSET', akey(id), 'misses', 0)
out.category, out.enqueued_at = cat, at
if #released > 0 then out.released = released end
return finish()
`)

// missScript: ARGV[4] call, ARGV[5] agent, ARGV[6] reason, ARGV[7] max
// misses. The agent goes to the back of the idle line (so the caller tries
// the next agent) or, at max misses in a row, to not_responding (S1).
var missScript = acdScript(ringingFor + `
local call, id = ARGV[4], ARGV[5]
local ok, st = ringing_for(id, call)
if not ok then return fail('bad_transition', st) end
local misses = redis.call('HINCRBY', akey(id), 'misses', 1)
if misses >= tonumber(ARGV[7]) then
  move('miss', id, 'not_responding', {reason = 'not_responding'})
  out.not_responding = true
else
  move('miss', id, 'available', {reason = ARGV[6], fresh = true})
end
unoffer(call, id)
return finish()
`)

// goneScript: ARGV[4] call, ARGV[5] agent. The caller hung up while the
// agent rang: it leaves the queue and every agent ringing for it is released
// (not a miss, idle time kept).
var goneScript = acdScript(ringingFor + `
local call, id = ARGV[4], ARGV[5]
local ok, st = ringing_for(id, call)
if not ok then return fail('bad_transition', st) end
local group = {id}
if redis.call('HGET', P .. 'qcall:' .. call, 'offered_to') == '*' then
  group = redis.call('SMEMBERS', P .. 'ringall:' .. call)
end
for _, a in ipairs(group) do
  local h = redis.call('HMGET', akey(a), 'state', 'call_id')
  if h[1] == 'ringing' and h[2] == call then move('release', a, 'available', {reason = 'caller_gone'}) end
end
out.category, out.enqueued_at = unqueue(call)
return finish()
`)

// hangupScript: ARGV[4] agent, ARGV[5] wrap-up deadline (ms, S12).
var hangupScript = acdScript(`
local id = ARGV[4]
local call = redis.call('HGET', akey(id), 'call_id') or ''
local ok, from = move('hangup', id, 'wrap_up', {call = call, deadline = ARGV[5]})
if not ok then return fail('bad_transition', from) end
return finish()
`)

// lostScript: ARGV[4] agent. Its phone vanished mid-call: it is not offered
// another caller until it resumes (S1).
var lostScript = acdScript(`
local id = ARGV[4]
local call = redis.call('HGET', akey(id), 'call_id') or ''
local ok, from = move('lost', id, 'not_responding', {reason = 'phone_lost', call = call})
if not ok then return fail('bad_transition', from) end
return finish()
`)

// doneScript: ARGV[4] agent. Idle time starts now (longest-idle routing).
var doneScript = acdScript(`
local ok, from = move('done', ARGV[4], 'available', {fresh = true})
if not ok then return fail('bad_transition', from) end
return finish()
`)

// sweepScript: ARGV[4] limit. Reservations past expiry are released (the
// ringing node never reported: not the agent's fault) and wrap-ups past
// their deadline end (S12).
var sweepScript = acdScript(`
local limit = tonumber(ARGV[4])
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'agents:ringing', '-inf', NOW, 'LIMIT', 0, limit)) do
  local call = redis.call('HGET', akey(id), 'call_id') or ''
  if move('release', id, 'available', {reason = 'reservation_expired'}) then
    unoffer(call, id)
  else
    redis.call('ZREM', P .. 'agents:ringing', id)
  end
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'agents:wrapup', '-inf', NOW, 'LIMIT', 0, limit)) do
  if not move('done', id, 'available', {reason = 'wrap_up_max', fresh = true}) then
    redis.call('ZREM', P .. 'agents:wrapup', id)
  end
end
-- The earliest deadline left, for the next sweep.
local due
for _, k in ipairs({'agents:ringing', 'agents:wrapup'}) do
  local z = redis.call('ZRANGE', P .. k, 0, 0, 'WITHSCORES')
  local t = tonumber(z[2])
  if t and (not due or t < due) then due = t end
end
if due then out.next = num(due) end
return finish()
`)
