package agents

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// State is an agent's routing state. Transitions happen only inside the Lua
// scripts of acd_scripts.go, checked against allowedFrom.
type State string

// The agent states an agent moves through.
const (
	StateOffline       State = "offline"
	StateAvailable     State = "available"
	StateRinging       State = "ringing"
	StateOnCall        State = "on_call"
	StateWrapUp        State = "wrap_up"
	StatePaused        State = "paused"
	StateNotResponding State = "not_responding"
)

// States lists every state (the "state" label values of the agents gauge).
var States = []State{StateOffline, StateAvailable, StateRinging, StateOnCall, StateWrapUp, StatePaused, StateNotResponding}

// ReasonNotResponding is the pause reason of an agent who missed MaxNoAnswer
// offers in a row (S1).
const ReasonNotResponding = "not_responding"

// ErrBadTransition is returned (wrapped) when an operation is not allowed
// from the agent's current state; the message names that state.
var ErrBadTransition = errors.New("transition not allowed")

// ErrUnknownAgent is returned (wrapped) by State for an agent that never logged in.
var ErrUnknownAgent = errors.New("unknown agent")

// op names an operation of the state machine; each is one Lua script step.
type op string

const (
	opLogin   op = "login"   // offline → available
	opLogout  op = "logout"  // → offline; a ringing agent's caller keeps its place
	opPause   op = "pause"   // → paused (reason); also changes a pause reason
	opResume  op = "resume"  // paused, not_responding → available
	opOffer   op = "offer"   // available → ringing (Match)
	opAnswer  op = "answer"  // ringing → on_call
	opMiss    op = "miss"    // ringing → available, or not_responding after MaxNoAnswer (S1)
	opRelease op = "release" // ringing → available, not the agent's fault (caller gone, sweep, reap, ring-all)
	opHangup  op = "hangup"  // on_call → wrap_up (S12)
	opDone    op = "done"    // wrap_up → available (submitted, feature code or WrapUpMax)
	opDrop    op = "drop"    // on_call → wrap_up when the node holding the call died
)

// allowedFrom is the transition table: the states each operation may start
// from. It is rendered into every script (luaAllowed) so Go and Lua share it.
var allowedFrom = map[op][]State{
	opLogin:   {StateOffline},
	opLogout:  {StateAvailable, StateRinging, StateWrapUp, StatePaused, StateNotResponding},
	opPause:   {StateAvailable, StateWrapUp, StatePaused, StateNotResponding},
	opResume:  {StatePaused, StateNotResponding},
	opOffer:   {StateAvailable},
	opAnswer:  {StateRinging},
	opMiss:    {StateRinging},
	opRelease: {StateRinging},
	opHangup:  {StateOnCall},
	opDone:    {StateWrapUp},
	opDrop:    {StateOnCall},
}

// luaAllowed renders allowedFrom as a Lua table: {login={offline=true}, ...}.
func luaAllowed() string {
	ops := make([]string, 0, len(allowedFrom))
	for o := range allowedFrom {
		ops = append(ops, string(o))
	}
	slices.Sort(ops)
	var b strings.Builder
	b.WriteString("{")
	for _, o := range ops {
		fmt.Fprintf(&b, "%s={", o)
		for _, s := range allowedFrom[op(o)] {
			fmt.Fprintf(&b, "%s=true,", s)
		}
		b.WriteString("},")
	}
	b.WriteString("}")
	return b.String()
}

// AgentState is an agent's state as kept in Redis.
type AgentState struct {
	ID    string
	State State
	// Since is when the agent entered State.
	Since time.Time
	// Reason is the pause reason, a miss reason or why the ACD moved the agent.
	Reason string
	// CallID is the call ringing, in progress or in wrap-up.
	CallID string
	// IdleSince orders available agents: the longest idle is offered first.
	IdleSince  time.Time
	Categories []string
	// Misses counts offers missed in a row (S1); an answer resets it.
	Misses int
	// Node holds the caller of a ringing or on_call agent (reaped with it).
	Node string
}

// Login makes the agent available for the categories it serves and lists it
// in <p>agents:serving:<category> (the wait estimate, S8).
func (a *ACD) Login(ctx context.Context, agentID string, categories []string) error {
	if agentID == "" || len(categories) == 0 {
		return fmt.Errorf("login agent %q: %w: an agent id and at least one category are needed", agentID, ErrBadTransition)
	}
	for _, c := range categories {
		if c == "" || strings.Contains(c, ",") {
			return fmt.Errorf("login agent %s: category %q is empty or has a comma", agentID, c)
		}
	}
	_, err := a.eval(ctx, "login agent "+agentID, loginScript, agentID, strings.Join(categories, ","))
	return err
}

// Logout takes the agent out of routing. A ringing agent's caller keeps its
// place and is offered to the next agent.
func (a *ACD) Logout(ctx context.Context, agentID string) error {
	_, err := a.eval(ctx, "logout agent "+agentID, logoutScript, agentID)
	return err
}

// Pause takes an available (or wrapping-up) agent out of routing with a
// reason code; pausing a paused agent changes the reason.
func (a *ACD) Pause(ctx context.Context, agentID, reason string) error {
	if reason == "" {
		return fmt.Errorf("pause agent %s: empty reason code", agentID)
	}
	_, err := a.eval(ctx, "pause agent "+agentID, pauseScript, agentID, reason)
	return err
}

// Resume makes a paused or not-responding agent available again.
func (a *ACD) Resume(ctx context.Context, agentID string) error {
	_, err := a.eval(ctx, "resume agent "+agentID, resumeScript, agentID)
	return err
}

// agentFields are the hash fields read into an AgentState, in order.
var agentFields = []string{"state", "since", "reason", "call_id", "idle_since", "categories", "misses", "node"}

// State returns one agent's state; an agent that never logged in gives
// ErrUnknownAgent.
func (a *ACD) State(ctx context.Context, agentID string) (AgentState, error) {
	vals, err := a.rdb.HMGet(ctx, a.agentKey(agentID), agentFields...).Result()
	if err != nil {
		return AgentState{}, fmt.Errorf("state of agent %s: %w", agentID, err)
	}
	if vals[0] == nil {
		return AgentState{}, fmt.Errorf("state of agent %s: %w", agentID, ErrUnknownAgent)
	}
	return agentFromHash(agentID, vals)
}

// Agents returns every agent that ever logged in (offline ones included),
// sorted by id.
func (a *ACD) Agents(ctx context.Context) ([]AgentState, error) {
	ids, err := a.rdb.HKeys(ctx, a.key("agents:state")).Result()
	if err != nil {
		return nil, fmt.Errorf("list agents: %w", err)
	}
	slices.Sort(ids)
	pipe := a.rdb.Pipeline()
	for _, id := range ids {
		pipe.HMGet(ctx, a.agentKey(id), agentFields...)
	}
	cmds, err := pipe.Exec(ctx)
	if err != nil && len(ids) > 0 {
		return nil, fmt.Errorf("read %d agents: %w", len(ids), err)
	}
	out := make([]AgentState, 0, len(ids))
	for i, c := range cmds {
		vals, _ := c.(interface{ Val() []any })
		if vals == nil || vals.Val()[0] == nil {
			continue
		}
		s, err := agentFromHash(ids[i], vals.Val())
		if err != nil {
			return nil, fmt.Errorf("list agents: %w", err)
		}
		out = append(out, s)
	}
	return out, nil
}

func agentFromHash(id string, v []any) (AgentState, error) {
	str := func(i int) string { s, _ := v[i].(string); return s }
	s := AgentState{ID: id, State: State(str(0)), Reason: str(2), CallID: str(3), Node: str(7)}
	var err error
	if s.Since, err = msTime(str(1)); err != nil {
		return AgentState{}, fmt.Errorf("agent %s since: %w", id, err)
	}
	if s.IdleSince, err = msTime(str(4)); err != nil {
		return AgentState{}, fmt.Errorf("agent %s idle_since: %w", id, err)
	}
	if c := str(5); c != "" {
		s.Categories = strings.Split(c, ",")
	}
	if m := str(6); m != "" {
		if s.Misses, err = strconv.Atoi(m); err != nil {
			return AgentState{}, fmt.Errorf("agent %s misses: %w", id, err)
		}
	}
	return s, nil
}

// msTime parses a millisecond timestamp; empty is the zero time.
func msTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	return time.UnixMilli(ms), nil
}
