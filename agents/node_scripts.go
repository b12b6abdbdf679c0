package agents

// heartbeatScript refreshes <p>node:<node>:alive (Redis clock TTL) and
// creates <p>epoch when missing.
//
// ARGV[4] TTL ms, ARGV[5] a fresh epoch id. Reply: {alive: whether the alive
// key still existed, member: whether the node was still in <p>nodes (a reap
// removes it), epoch}.
var heartbeatScript = acdScript(`
local old = redis.call('SET', P .. 'node:' .. NODE .. ':alive', num(NOW), 'PX', ARGV[4], 'GET')
out.member = redis.call('SISMEMBER', P .. 'nodes', NODE) == 1
redis.call('SADD', P .. 'nodes', NODE)
redis.call('SET', P .. 'epoch', ARGV[5], 'NX')
out.alive = old and true or false
out.epoch = redis.call('GET', P .. 'epoch')
return finish()
`)

// reapScript cleans up after every node whose alive key expired: its
// waiting callers leave the queues, agents ringing for its callers become
// available and agents talking through it go to wrap-up (the call is lost
// with the node; the ticket is still due, S12). Its calls in progress
// (lost.go) are returned, each with the agent that was talking to it and
// since when, for their records.
//
// ARGV[4] wrap-up max ms. Reply: {dead: [node], calls: n, lost, tr}.
var reapScript = acdScript(`
local WRAP = tonumber(ARGV[4])
local dead, calls, lost = {}, 0, {}
for _, n in ipairs(redis.call('SMEMBERS', P .. 'nodes')) do
  local nk = P .. 'node:' .. n
  if n ~= NODE and redis.call('EXISTS', nk .. ':alive') == 0 then
    dead[#dead + 1] = n
    local talking = {}
    for _, a in ipairs(redis.call('SMEMBERS', nk .. ':agents')) do
      local h = redis.call('HMGET', akey(a), 'state', 'node', 'call_id', 'since')
      if h[2] == n and h[1] == 'ringing' then
        move('release', a, 'available', {reason = 'node_lost'})
      elseif h[2] == n and h[1] == 'on_call' then
        talking[h[3]] = {a, h[4]}
        move('drop', a, 'wrap_up', {reason = 'node_lost', call = h[3], deadline = NOW + WRAP})
      end
    end
    for _, c in ipairs(redis.call('SMEMBERS', nk .. ':qcalls')) do
      if unqueue(c) then calls = calls + 1 end
    end
    for _, c in ipairs(redis.call('SMEMBERS', nk .. ':calls')) do
      local lk = P .. 'live:' .. c
      local f, live = redis.call('HGETALL', lk), {}
      for i = 1, #f, 2 do live[f[i]] = f[i + 1] end
      local t = talking[c] or {}
      lost[#lost + 1] = {id = c, live = live, agent = t[1] or '', since = t[2] or ''}
      redis.call('DEL', lk)
    end
    redis.call('DEL', nk .. ':agents', nk .. ':qcalls', nk .. ':offers', nk .. ':calls')
    redis.call('SREM', P .. 'nodes', n)
  end
end
if #dead > 0 then out.dead = dead end
if #lost > 0 then out.lost = lost end
out.calls = calls
return finish()
`)

// restoreScript re-publishes one agent's state after a Redis restart, unless
// the agent is already known again (logged in since). A ringing agent takes
// its caller's offer back when the caller is waiting and not offered; a
// second agent ringing for the same caller can only be of a ring-all group,
// so the offer becomes the group's ("*" and <p>ringall:<call>) again.
//
// ARGV[4] agent, [5] state, [6] reason, [7] call, [8] idle_since ms,
// [9] categories, [10] misses, [11] node, [12] since ms, [13] reservation
// expiry ms, [14] wrap-up deadline ms. Reply: {restored: bool}.
var restoreScript = acdScript(`
local id, st, call, node = ARGV[4], ARGV[5], ARGV[7], ARGV[11]
if redis.call('EXISTS', akey(id)) == 1 then
  out.restored = false
  return finish()
end
local cats = split(ARGV[9])
redis.call('HSET', akey(id), 'state', st, 'since', ARGV[12], 'reason', ARGV[6], 'call_id', call,
  'idle_since', ARGV[8], 'categories', ARGV[9], 'misses', ARGV[10], 'node', node)
redis.call('HSET', P .. 'agents:state', id, st)
if st ~= 'offline' then
  for _, c in ipairs(cats) do redis.call('SADD', P .. 'agents:serving:' .. c, id) end
end
if st == 'available' then
  avail(id, cats, tonumber(ARGV[8]))
  hint = true
elseif st == 'ringing' then
  redis.call('ZADD', P .. 'agents:ringing', ARGV[13], id)
  local qk = P .. 'qcall:' .. call
  local offered = redis.call('HGET', qk, 'offered_to')
  if redis.call('EXISTS', qk) == 0 or offered == id then
  elseif not offered then
    redis.call('HSET', qk, 'offered_to', id)
  else
    if offered ~= '*' then redis.call('SADD', P .. 'ringall:' .. call, offered) end
    redis.call('SADD', P .. 'ringall:' .. call, id)
    redis.call('HSET', qk, 'offered_to', '*')
  end
elseif st == 'wrap_up' then
  redis.call('ZADD', P .. 'agents:wrapup', ARGV[14], id)
end
if (st == 'ringing' or st == 'on_call') and node ~= '' then
  redis.call('SADD', P .. 'node:' .. node .. ':agents', id)
end
out.restored = true
return finish()
`)
