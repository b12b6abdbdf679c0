package agents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Event types for the agents' panel and the supervisors' wall, besides
// EventState and EventMatch. They travel on the same <p>events channel.
const (
	EventRinging   = "ringing"    // an agent's phone rings: Pop holds the screen pop (S1, S16)
	EventAnswered  = "answered"   // the agent answered CallID
	EventCallEnded = "call_ended" // the agent's conversation of CallID ended
	EventTicket    = "ticket"     // a ticket of Agent changed: Ticket is its ref, Reason says how
	EventWall      = "wall"       // queue figures changed: the wall reads them again
)

// Reasons of an EventTicket.
const (
	TicketDraft        = "draft"        // the call's draft was written for the agent (S12)
	TicketSubmitted    = "submitted"    // the agent entered it (S12)
	TicketReassigned   = "reassigned"   // a supervisor gave it to the agent (S16)
	TicketHandedOff    = "handoff"      // it was handed over to or from the agent (S16)
	TicketEscalated    = "escalated"    // its deadline was breached or escalated again (S14, S15)
	TicketAcknowledged = "acknowledged" // a supervisor acknowledged its escalation (S15)
	TicketLate         = "late"         // the draft passed its entry deadline (S12)
)

// OpenTicket is a repeat caller's ticket still in work, shown before the
// agent answers (S16).
type OpenTicket struct {
	Ref      string `json:"ref"`
	Owner    string `json:"owner"`
	Status   string `json:"status"`
	Category string `json:"category"`
	Due      string `json:"due"` // RFC 3339, empty when no deadline is set yet
}

// ScreenPop is what an agent's panel shows the moment the phone rings.
type ScreenPop struct {
	Caller   string `json:"caller"`
	Category string `json:"category"`
	WaitedMS int64  `json:"waited_ms"`
	Priority int    `json:"priority"` // 1 for a special-group caller (S7), else 0
	// Apologise is set when the caller waited longer than
	// service_level_threshold: the agent apologises first (S1).
	Apologise   bool         `json:"apologise"`
	OpenTickets []OpenTicket `json:"open_tickets"`
}

// CurrentCall is an agent's call as its panel resumes it on (re)connect.
type CurrentCall struct {
	CallID string `json:"call_id"`
	ScreenPop
	State   State     `json:"state"` // ringing, on_call or wrap_up
	Started time.Time `json:"started"`
	// Draft is the ref of the call's draft ticket once written, else empty.
	Draft string `json:"draft"`
	// EntryDeadline is when the draft must be entered (S12), RFC 3339 once
	// the call ended, else empty.
	EntryDeadline string `json:"entry_deadline"`
	// DraftDue is set at hang-up when the agent owes the call's ticket (not
	// when the agent transferred the caller away): wrap-up then waits for it.
	DraftDue bool `json:"-"`
}

// ErrNoCall is returned (wrapped) by CurrentCall when the agent has no call.
var ErrNoCall = errors.New("agent has no call")

// callTTL bounds how long an agent's current call stays in Redis without an
// update: far beyond any call and wrap-up; CurrentCall also checks it
// against the agent's state, so a stale one is never shown.
const callTTL = 12 * time.Hour

func (a *ACD) callKey(agentID string) string { return a.prefix + "agent:" + agentID + ":call" }

// MarshalJSON encodes an event as the scripts do, with "at" in Unix
// milliseconds, so that published events decode alike.
func (e Event) MarshalJSON() ([]byte, error) {
	type plain Event
	w := struct {
		plain
		AtMS int64 `json:"at,omitempty"`
	}{plain: plain(e)}
	if !e.At.IsZero() {
		w.AtMS = e.At.UnixMilli()
	}
	return json.Marshal(w)
}

// Publish sends e on <p>events for every node (and every panel) to see;
// a zero At is stamped now and an empty Node is this node.
func (a *ACD) Publish(ctx context.Context, e Event) error {
	b, err := a.encodeEvent(e)
	if err != nil {
		return err
	}
	if err := a.rdb.Publish(ctx, a.key("events"), b).Err(); err != nil {
		return fmt.Errorf("publish %s event: %w", e.Type, err)
	}
	return nil
}

// encodeEvent stamps e as Publish does and encodes it.
func (a *ACD) encodeEvent(e Event) ([]byte, error) {
	if e.At.IsZero() {
		e.At = a.now()
	}
	if e.Node == "" {
		e.Node = a.node
	}
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode %s event: %w", e.Type, err)
	}
	return b, nil
}

// StartCall stores the call ringing agentID (state ringing) in place of any
// earlier one and publishes the "ringing" event with the screen pop.
func (a *ACD) StartCall(ctx context.Context, agentID string, c CurrentCall) error {
	tickets, err := json.Marshal(c.OpenTickets)
	if err != nil {
		return fmt.Errorf("encode open tickets: %w", err)
	}
	pop := c.ScreenPop
	ev, err := a.encodeEvent(Event{Type: EventRinging, Agent: agentID, CallID: c.CallID, Pop: &pop})
	if err != nil {
		return err
	}
	// One round trip for the call and its event: this runs before the
	// agent's phone rings, on every offer.
	k := a.callKey(agentID)
	_, err = a.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, k)
		p.HSet(ctx, k, "call_id", c.CallID, "caller", c.Caller, "category", c.Category,
			"waited_ms", c.WaitedMS, "priority", c.Priority, "apologise", boolDigit(c.Apologise),
			"open_tickets", tickets, "state", string(StateRinging), "started", c.Started.UnixMilli())
		p.Expire(ctx, k, callTTL)
		p.Publish(ctx, a.key("events"), ev)
		return nil
	})
	if err != nil {
		return fmt.Errorf("store call of agent %s: %w", agentID, err)
	}
	return nil
}

// restoreCallScript writes an agent's call back after a Redis restart
// unless the agent's call key is there again (a newer ring wrote it since).
// KEYS[1] call key; ARGV[1] ttl (s), then field, value pairs.
var restoreCallScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
`)

// RestoreCall puts back the call ringing agentID or bridged to it (c.State
// ringing or on_call) after a Redis restart emptied it, and publishes
// "ringing" or "answered" so that an open panel shows it again. A call key
// written meanwhile is left as it is: restored is false then.
func (a *ACD) RestoreCall(ctx context.Context, agentID string, c CurrentCall) (restored bool, err error) {
	if c.State != StateRinging && c.State != StateOnCall {
		return false, fmt.Errorf("restore call %s of agent %s: state %s is neither ringing nor on_call", c.CallID, agentID, c.State)
	}
	tickets, err := json.Marshal(c.OpenTickets)
	if err != nil {
		return false, fmt.Errorf("encode open tickets: %w", err)
	}
	n, err := restoreCallScript.Run(ctx, a.rdb, []string{a.callKey(agentID)}, int64(callTTL/time.Second),
		"call_id", c.CallID, "caller", c.Caller, "category", c.Category, "waited_ms", c.WaitedMS,
		"priority", c.Priority, "apologise", boolDigit(c.Apologise), "open_tickets", tickets,
		"state", string(c.State), "started", c.Started.UnixMilli()).Int()
	if err != nil {
		return false, fmt.Errorf("restore call %s of agent %s: %w", c.CallID, agentID, err)
	}
	if n == 0 {
		return false, nil
	}
	e := Event{Type: EventAnswered, Agent: agentID, CallID: c.CallID}
	if c.State == StateRinging {
		pop := c.ScreenPop
		e = Event{Type: EventRinging, Agent: agentID, CallID: c.CallID, Pop: &pop}
	}
	return true, a.Publish(ctx, e)
}

// updateCallScript sets fields of an agent's call only while it is still
// the call named (a late update never lands on the agent's next call), and
// publishes the update's event either way, in the same round trip.
// KEYS[1] call key, KEYS[2] events channel; ARGV[1] call id, ARGV[2] ttl
// (s), ARGV[3] the event ("" for none), then field, value pairs.
var updateCallScript = redis.NewScript(`
if ARGV[3] ~= '' then redis.call('PUBLISH', KEYS[2], ARGV[3]) end
if redis.call('HGET', KEYS[1], 'call_id') ~= ARGV[1] then return 0 end
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
`)

// updateCall sets fields of the agent's call and publishes e unless its
// Type is empty.
func (a *ACD) updateCall(ctx context.Context, agentID, callID string, e Event, fields ...any) (bool, error) {
	var ev []byte
	if e.Type != "" {
		var err error
		if ev, err = a.encodeEvent(e); err != nil {
			return false, err
		}
	}
	args := append([]any{callID, int64(callTTL / time.Second), ev}, fields...)
	n, err := updateCallScript.Run(ctx, a.rdb, []string{a.callKey(agentID), a.key("events")}, args...).Int()
	if err != nil {
		return false, fmt.Errorf("update call %s of agent %s: %w", callID, agentID, err)
	}
	return n == 1, nil
}

// CallAnswered marks the agent's call answered and publishes "answered".
func (a *ACD) CallAnswered(ctx context.Context, agentID, callID string) error {
	_, err := a.updateCall(ctx, agentID, callID, Event{Type: EventAnswered, Agent: agentID, CallID: callID},
		"state", string(StateOnCall), "started", a.now().UnixMilli())
	return err
}

// CallEnded marks the agent's conversation ended (wrap-up, S12) and
// publishes "call_ended". draftDue says the agent owes the call's ticket;
// entryDeadline is when it is due.
func (a *ACD) CallEnded(ctx context.Context, agentID, callID string, draftDue bool, entryDeadline time.Time) error {
	fields := []any{"state", string(StateWrapUp), "draft_due", boolDigit(draftDue)}
	if !entryDeadline.IsZero() {
		fields = append(fields, "entry_deadline", entryDeadline.UnixMilli())
	}
	_, err := a.updateCall(ctx, agentID, callID, Event{Type: EventCallEnded, Agent: agentID, CallID: callID}, fields...)
	return err
}

// DraftWritten records the draft of the agent's call once it is in
// PostgreSQL and publishes the "ticket" event (reason "draft").
func (a *ACD) DraftWritten(ctx context.Context, agentID, callID, ref string, entryDeadline time.Time) error {
	fields := []any{"draft", ref}
	if !entryDeadline.IsZero() {
		fields = append(fields, "entry_deadline", entryDeadline.UnixMilli())
	}
	_, err := a.updateCall(ctx, agentID, callID, Event{Type: EventTicket, Agent: agentID, CallID: callID, Ticket: ref, Reason: TicketDraft}, fields...)
	return err
}

// DraftSubmitted records that the agent entered its call's ticket: wrap-up
// no longer waits for it (S12).
func (a *ACD) DraftSubmitted(ctx context.Context, agentID, callID string) error {
	_, err := a.updateCall(ctx, agentID, callID, Event{}, "draft_due", "0")
	return err
}

// callFields are the hash fields read into a CurrentCall, in order.
var callFields = []string{"call_id", "caller", "category", "waited_ms", "priority", "apologise",
	"open_tickets", "state", "started", "draft", "entry_deadline", "draft_due"}

// CurrentCall returns the agent's call while the ACD has the agent ringing
// for it, on it or in its wrap-up, with the state the ACD holds; otherwise
// an error wrapping ErrNoCall. Any node can answer: the call is in Redis.
func (a *ACD) CurrentCall(ctx context.Context, agentID string) (CurrentCall, error) {
	st, err := a.State(ctx, agentID)
	if errors.Is(err, ErrUnknownAgent) {
		return CurrentCall{}, fmt.Errorf("agent %s: %w", agentID, ErrNoCall)
	}
	if err != nil {
		return CurrentCall{}, err
	}
	if st.CallID == "" || (st.State != StateRinging && st.State != StateOnCall && st.State != StateWrapUp) {
		return CurrentCall{}, fmt.Errorf("agent %s is %s: %w", agentID, st.State, ErrNoCall)
	}
	v, err := a.rdb.HMGet(ctx, a.callKey(agentID), callFields...).Result()
	if err != nil {
		return CurrentCall{}, fmt.Errorf("call of agent %s: %w", agentID, err)
	}
	str := func(i int) string { s, _ := v[i].(string); return s }
	if str(0) != st.CallID {
		return CurrentCall{}, fmt.Errorf("agent %s: call %s not stored: %w", agentID, st.CallID, ErrNoCall)
	}
	c := CurrentCall{CallID: st.CallID, State: st.State, Draft: str(9), DraftDue: str(11) == "1"}
	c.Caller, c.Category, c.Apologise = str(1), str(2), str(5) == "1"
	c.WaitedMS, _ = strconv.ParseInt(str(3), 10, 64)
	c.Priority, _ = strconv.Atoi(str(4))
	if err := json.Unmarshal([]byte(str(6)), &c.OpenTickets); err != nil || c.OpenTickets == nil {
		c.OpenTickets = []OpenTicket{}
	}
	if c.Started, err = msTime(str(8)); err != nil {
		return CurrentCall{}, fmt.Errorf("call of agent %s: started: %w", agentID, err)
	}
	if d, err := msTime(str(10)); err == nil && !d.IsZero() {
		c.EntryDeadline = d.UTC().Format(time.RFC3339)
	}
	return c, nil
}
