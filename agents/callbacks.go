package agents

import (
	"context"
	"fmt"
	"time"
)

// Why ReserveCallback reserved nobody.
const (
	// CallbackHeldNoAgent: no agent serving the category is available (or
	// the claiming agent is not).
	CallbackHeldNoAgent = "no_agent"
	// CallbackHeldCallers: an emergency caller waits (S6), or a caller of
	// the category has waited the limit: live callers go first.
	CallbackHeldCallers = "callers_waiting"
)

// reserveCallbackScript: ARGV[4] callback call id, ARGV[5] category,
// ARGV[6] agent who claimed it ("" for anyone), ARGV[7] caller wait limit
// (ms), ARGV[8] reservation (ms). Waiting callers go first: any emergency
// caller not yet offered (S6), or a caller of the category who waited the
// limit, holds the callback (out.held). Else the claiming agent (while it
// is logged in: a claim does not outlive its agent's shift), or the
// longest-idle available agent serving the category, rings for the
// callback like for a caller (Missed, CallerGone and Sweep apply), with the
// node that places it as the caller's node. The first 32 callers of a queue
// not known to be offered are looked at (from Match's skip score, so callers
// ringing at the head do not hide those waiting behind them): the oldest
// caller of a category is among them unless 32 special-group callers (S7)
// were queued after it.
var reserveCallbackScript = acdScript(`
local call, cat, pref = ARGV[4], ARGV[5], ARGV[6]
local WAIT, RESERVE = tonumber(ARGV[7]), tonumber(ARGV[8])
local function waited(c, limit)
  local from = skip_rank(c)
  for _, id in ipairs(redis.call('ZRANGE', P .. 'queue:' .. c, from, from + 31)) do
    local h = redis.call('HMGET', P .. 'qcall:' .. id, 'offered_to', 'enqueued_at')
    if h[2] and not h[1] and NOW - tonumber(h[2]) >= limit then return true end
  end
  return false
end
if waited(EMERGENCY, 0) or waited(cat, WAIT) then
  out.held = 'callers_waiting'
  return finish()
end
local AV = P .. 'agents:available:' .. cat
local agent
if pref ~= '' and state_of(pref) ~= 'offline' then
  if redis.call('ZSCORE', AV, pref) then agent = pref end
else
  agent = redis.call('ZRANGE', AV, 0, 0)[1]
end
if not agent then
  out.held = 'no_agent'
  return finish()
end
out.idle_since = tonumber(redis.call('HGET', akey(agent), 'idle_since')) or NOW
move('offer', agent, 'ringing', {call = call, node = NODE, expires = NOW + RESERVE})
out.agent = agent
return finish()
`)

// callbackAnswerScript: ARGV[4] callback call id, ARGV[5] agent: the agent
// rung for the callback answered and is on_call.
var callbackAnswerScript = acdScript(ringingFor + `
local call, id = ARGV[4], ARGV[5]
local ok, st = ringing_for(id, call)
if not ok then return fail('bad_transition', st) end
move('answer', id, 'on_call', {call = call})
redis.call('HSET', akey(id), 'misses', 0)
return finish()
`)

// CallbackReservation is what ReserveCallback did.
type CallbackReservation struct {
	// Agent is now ringing for the callback; "" when none was reserved.
	Agent string
	// Held says why no agent was reserved (CallbackHeld*).
	Held string
	// IdleSince is when Agent became available (for the time from a freed
	// agent to the callee's phone ringing).
	IdleSince time.Time
}

// ReserveCallback reserves an agent of category to place callback callID
// (S9): claimedBy's agent when set, else the longest-idle one, only when no
// caller waits ahead (see reserveCallbackScript; callerWait is the limit).
// Report the ring's end with CallbackAnswered, Missed or CallerGone, and
// the call's with Hangup.
func (a *ACD) ReserveCallback(ctx context.Context, callID, category, claimedBy string, callerWait time.Duration) (CallbackReservation, error) {
	r, err := a.eval(ctx, "reserve agent for callback "+callID, reserveCallbackScript,
		callID, category, claimedBy, callerWait.Milliseconds(), a.opts.Reservation.Milliseconds())
	if err != nil {
		return CallbackReservation{}, err
	}
	if r.Agent == "" {
		return CallbackReservation{Held: r.Held}, nil
	}
	a.due.by(a.now().Add(a.opts.Reservation))
	return CallbackReservation{Agent: r.Agent, IdleSince: time.UnixMilli(r.IdleSince)}, nil
}

// CallbackAnswered records that agentID, rung for callback callID, answered:
// the agent is on_call (the callee is dialled next).
func (a *ACD) CallbackAnswered(ctx context.Context, callID, agentID string) error {
	if _, err := a.eval(ctx, "agent "+agentID+" answered callback "+callID, callbackAnswerScript, callID, agentID); err != nil {
		return fmt.Errorf("callback answered: %w", err)
	}
	return nil
}
