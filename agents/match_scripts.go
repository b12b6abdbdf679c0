package agents

// ringAllGroup is shared by the matching scripts: the agents a ring-all
// caller of a category rings at once and their reservation.
const ringAllGroup = `
-- everyone: every available agent serving cat, longest idle first; for an
-- emergency with nobody serving it, every available agent (S6).
local function everyone(cat)
  local av = P .. 'agents:available'
  local g = redis.call('ZRANGE', av .. ':' .. cat, 0, -1)
  if #g == 0 and cat == EMERGENCY then g = redis.call('ZRANGE', av, 0, -1) end
  return g
end
-- reserve_all makes every agent of group ring for call: the caller's
-- offered_to is "*" and the group is listed in <p>ringall:<call>.
local function reserve_all(call, node, group, expires)
  for _, a in ipairs(group) do
    move('offer', a, 'ringing', {call = call, node = node, expires = expires})
    redis.call('SADD', P .. 'ringall:' .. call, a)
  end
  redis.call('HSET', P .. 'qcall:' .. call, 'offered_to', '*')
end
`

// matchScript pairs waiting callers with agents in one atomic step, so two
// nodes matching at once can never hand out a caller or an agent twice.
//
// Order: the emergency queue's candidate first (S6), then the candidate with
// the lowest score over the other queues (priority band first, S7, then
// oldest). A queue's candidate is its first caller, in serving order, that is
// not being offered and has an agent:
//   - its ticket owner when the owner is available (S16);
//   - none while the owner is logged in but busy and the caller has waited
//     less than owner_wait (the caller is held; later callers may go first);
//   - else the longest-idle available agent serving the queue (emergency: any
//     available agent when none serves it, S6).
//
// A candidate of a ring-all category (ARGV[8]) not going to its owner rings
// every available agent serving the category at once (ringAllGroup): one
// offer listing them all. The order above holds across one-at-a-time and
// ring-all queues alike.
//
// The agent becomes ringing with a reservation expiry; the caller gets
// offered_to and keeps its place. Per queue a cursor only moves forward: in
// one run callers are only taken, never freed, and agents only leave.
//
// ARGV[4] owner_wait ms, ARGV[5] reservation ms, ARGV[6] max offers,
// ARGV[7] callers scanned per queue, ARGV[8] ring-all categories ("a,b").
// Reply: {offers: [{call_id, agent_id, category, caller_node} or, ring-all,
// {call_id, agents, category, caller_node}], tr}.
var matchScript = acdScript(ringAllGroup + `
local OWNER_WAIT, RESERVE = tonumber(ARGV[4]), tonumber(ARGV[5])
local CAP, SCAN = tonumber(ARGV[6]), tonumber(ARGV[7])
local RING_ALL = {}
for _, c in ipairs(split(ARGV[8])) do RING_ALL[c] = true end
local AV = P .. 'agents:available'
if redis.call('ZCARD', AV) == 0 then return finish() end
local function longest_idle(cat)
  local a = redis.call('ZRANGE', AV .. ':' .. cat, 0, 0)[1]
  if not a and cat == EMERGENCY then a = redis.call('ZRANGE', AV, 0, 0)[1] end
  return a
end
-- agent_for: the available owner, false to hold the caller for its busy
-- owner, else the queue's default agent (may be nil).
local function agent_for(owner, at, default)
  if owner and owner ~= '' then
    local st = state_of(owner)
    if st == 'available' then return owner end
    if st ~= 'offline' and NOW - (tonumber(at) or 0) < OWNER_WAIT then return false end
  end
  return default
end
-- SCAN bounds the callers looked at that could be matched but are held for
-- their owner (S16); callers being offered (ringing an agent) are stepped
-- over without counting: at a few hundred calls/s hundreds ring at once at
-- the head of a queue, and counting them stopped every match behind them
-- while agents stood free. DEPTH bounds the walk whatever the queue holds.
local DEPTH = SCAN * 10
local cursor, start, held, cand, firstHeld = {}, {}, {}, {}, {}
local function find(cat)
  -- No agent available at all: nobody can be matched, not even to an owner
  -- (S16). Without this, a queue with no default agent is scanned to SCAN
  -- callers for owners each time an offer takes the last available agent.
  if redis.call('ZCARD', AV) == 0 then return false end
  local q = P .. 'queue:' .. cat
  local default = longest_idle(cat)
  while held[cat] < SCAN and cursor[cat] - start[cat] < DEPTH do
    local z = redis.call('ZRANGE', q, cursor[cat], cursor[cat] + 31, 'WITHSCORES')
    if #z == 0 then return false end
    for i = 1, #z, 2 do
      local h = redis.call('HMGET', P .. 'qcall:' .. z[i], 'offered_to', 'owner', 'enqueued_at', 'node')
      if h[3] and not h[1] then
        local agent = agent_for(h[2], h[3], default)
        if agent then
          return {call = z[i], score = tonumber(z[i + 1]), agent = agent, node = h[4] or '',
            owner = agent == h[2]}
        end
        held[cat] = held[cat] + 1
        if not firstHeld[cat] then firstHeld[cat] = z[i + 1] end
      end
      cursor[cat] = cursor[cat] + 1
    end
  end
  return false
end
-- The walk starts at the queue's skip score instead of stepping over the
-- same ringing callers one HMGET at a time in every run.
local skip = {}
for _, c in ipairs(redis.call('SMEMBERS', P .. 'queues')) do
  cursor[c], skip[c] = skip_rank(c)
  start[c], held[c] = cursor[c], 0
  cand[c] = find(c)
end
local offers = {}
while #offers < CAP do
  local best, bcat = cand[EMERGENCY], EMERGENCY
  if not best then
    best, bcat = nil, nil
    for c, x in pairs(cand) do
      if x and (not best or x.score < best.score) then best, bcat = x, c end
    end
  end
  if not best then break end
  local offer = {call_id = best.call, category = bcat, caller_node = best.node}
  local taken = {[best.agent] = true}
  if RING_ALL[bcat] and not best.owner then
    offer.agents = everyone(bcat)
    reserve_all(best.call, best.node, offer.agents, NOW + RESERVE)
    for _, a in ipairs(offer.agents) do taken[a] = true end
  else
    move('offer', best.agent, 'ringing', {call = best.call, node = best.node, expires = NOW + RESERVE})
    redis.call('HSET', P .. 'qcall:' .. best.call, 'offered_to', best.agent)
    offer.agent_id = best.agent
  end
  offers[#offers + 1] = offer
  cursor[bcat] = cursor[bcat] + 1
  for c, x in pairs(cand) do
    if x and (c == bcat or taken[x.agent]) then cand[c] = find(c) end
  end
end
if #offers > 0 then out.offers = offers end
-- Every caller before a queue's cursor is being offered or held for its
-- owner: the skip moves up to the first held one, else to the cursor (past
-- the last caller when every one is offered).
for c, at in pairs(cursor) do
  local q, sc = P .. 'queue:' .. c, firstHeld[c]
  if not sc then
    local z = redis.call('ZRANGE', q, at, at, 'WITHSCORES')
    if #z > 0 then
      sc = z[2]
    else
      z = redis.call('ZRANGE', q, -1, -1, 'WITHSCORES')
      if #z > 0 then sc = tonumber(z[2]) + 1 end
    end
  end
  if sc and (not skip[c] or tonumber(sc) > tonumber(skip[c])) then
    redis.call('SET', skip_key(c), num(tonumber(sc)))
  end
end
return finish()
`)
