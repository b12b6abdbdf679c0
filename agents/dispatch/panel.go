package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/ivr"
	"github.com/hotline-dev/hotline/tickets"
)

// Errors of the panel's requests; match them with errors.Is.
var (
	// ErrDraftOpen refuses the end of a wrap-up while the call's ticket is
	// not submitted (S12, agents.wrap_up_until_submitted).
	ErrDraftOpen = errors.New("the call's ticket is not submitted yet: submit it to end wrap-up (S12)")
	// ErrUnknownPauseReason: the reason is not in agents.pause_reasons.
	ErrUnknownPauseReason = errors.New("unknown pause reason")
	// ErrCallUnreachable: the node holding the agent's call did not take the request.
	ErrCallUnreachable = errors.New("the node holding the call does not answer")
)

// PauseSupervisor is the pause reason of an agent a supervisor paused
// (the supervisor's own words go to the audit log).
const PauseSupervisor = "supervisor"

// panelTimeout bounds the Redis writes of the screen pop and the call's
// events: the panel must not hold up the call.
const panelTimeout = time.Second

// PauseReasons lists the configured pause reasons.
func (r *Router) PauseReasons() []string { return slices.Clone(r.o.PauseReasons) }

// WallChanged asks for a "wall" event soon: the supervisors' walls read
// their figures again (coalesced; never blocks).
func (r *Router) WallChanged() { r.o.ACD.WallChanged() }

// WrapUpUntilSubmitted reports whether wrap-up waits for the ticket (S12).
func (r *Router) WrapUpUntilSubmitted() bool { return r.o.WrapUpUntilSubmitted }

// featurePauseReason is the reason of the softphone's pause code: "break"
// when configured, else the first reason.
func (r *Router) featurePauseReason() string {
	if len(r.o.PauseReasons) == 0 || slices.Contains(r.o.PauseReasons, "break") {
		return "break"
	}
	return r.o.PauseReasons[0]
}

// SetState is an agent's own state change from the panel: available (log
// in, resume, or end a wrap-up whose ticket is in), paused with one of the
// configured reasons, or offline. A change the state machine does not allow
// wraps agents.ErrBadTransition.
func (r *Router) SetState(ctx context.Context, agentID string, to agents.State, reason string) error {
	var err error
	switch to {
	case agents.StateAvailable:
		err = r.available(ctx, agentID, false)
	case agents.StatePaused:
		if !slices.Contains(r.o.PauseReasons, reason) {
			return fmt.Errorf("%q: %w", reason, ErrUnknownPauseReason)
		}
		err = r.o.ACD.Pause(ctx, agentID, reason)
	case agents.StateOffline:
		err = r.o.ACD.Logout(ctx, agentID)
	default:
		return fmt.Errorf("state %q: %w", to, agents.ErrBadTransition)
	}
	if err != nil {
		return fmt.Errorf("agent %s: %w", agentID, err)
	}
	r.disp.poke()
	return nil
}

// ForceState is a supervisor's change of an agent's state (e.g. out of
// not_responding): it may end a wrap-up whose ticket is still open; a
// pause takes the reason PauseSupervisor. It returns the state changed from.
func (r *Router) ForceState(ctx context.Context, agentID string, to agents.State) (agents.State, error) {
	from := agents.StateOffline
	if st, err := r.o.ACD.State(ctx, agentID); err == nil {
		from = st.State
	} else if !errors.Is(err, agents.ErrUnknownAgent) {
		return from, err
	}
	var err error
	switch to {
	case agents.StateAvailable:
		err = r.available(ctx, agentID, true)
	case agents.StatePaused:
		err = r.o.ACD.Pause(ctx, agentID, PauseSupervisor)
	case agents.StateOffline:
		err = r.o.ACD.Logout(ctx, agentID)
	default:
		return from, fmt.Errorf("state %q: %w", to, agents.ErrBadTransition)
	}
	if err != nil {
		return from, fmt.Errorf("agent %s: %w", agentID, err)
	}
	r.disp.poke()
	return from, nil
}

// available makes the agent available: an ended wrap-up (held while its
// ticket is open unless override), a resume or a log-in.
func (r *Router) available(ctx context.Context, agentID string, override bool) error {
	st, err := r.o.ACD.State(ctx, agentID)
	if err == nil && st.State == agents.StateWrapUp {
		if !override {
			if err := r.checkWrapUpDone(ctx, agentID); err != nil {
				return err
			}
		}
		return r.o.ACD.WrapUpDone(ctx, agentID)
	}
	return r.makeAvailable(ctx, agentID)
}

// checkWrapUpDone refuses to end a wrap-up while the agent owes the call's
// ticket (S12: the agent stays in wrap-up until it is submitted, at most
// wrap_up_max, which the ACD's sweep enforces whatever happens here). An
// agent who transferred the caller away owes no ticket. Whether the draft
// is still a draft is asked of the store: it may have been entered by
// another way than the panel's submit.
func (r *Router) checkWrapUpDone(ctx context.Context, agentID string) error {
	if !r.o.WrapUpUntilSubmitted {
		return nil
	}
	c, err := r.o.ACD.CurrentCall(ctx, agentID)
	if errors.Is(err, agents.ErrNoCall) {
		return nil // not in wrap-up, or its call unknown: the ACD decides
	}
	if err != nil {
		return err
	}
	if c.State != agents.StateWrapUp || !c.DraftDue {
		return nil
	}
	if c.Draft == "" {
		return ErrDraftOpen // not even written yet (the caller may be in the survey)
	}
	k, err := r.o.Tickets.Get(ctx, c.Draft)
	if err != nil {
		return fmt.Errorf("draft %s: %w", c.Draft, err)
	}
	if k.Status == tickets.StatusDraft {
		return ErrDraftOpen
	}
	return nil
}

// Transfer kinds of the panel (S10).
const (
	PanelTransferCategory   = "category"
	PanelTransferAgent      = "agent"
	PanelTransferSpecialist = "specialist"
)

// Transfer sends the agent's current caller to a category's queue, another
// agent or a specialist line (S10), resolved by the same allowlist as a
// REFER. The node holding the call carries it out; the agent's phone gets
// BYE and the agent goes to wrap-up. A target off the allowlist wraps
// ErrTransferForbidden; no call wraps agents.ErrNoCall.
func (r *Router) Transfer(ctx context.Context, agentID, kind, target string) error {
	key, want := target, ""
	switch kind {
	case PanelTransferCategory:
		key, want = "queue-"+target, ivr.TransferQueue
	case PanelTransferAgent:
		want = ivr.TransferAgent
	case PanelTransferSpecialist:
		want = ivr.TransferNumber
	default:
		return fmt.Errorf("kind %q: %w", kind, ErrTransferForbidden)
	}
	t, err := r.TransferTarget(ctx, agentID, key)
	if err != nil {
		return err
	}
	if t.Kind != want {
		return fmt.Errorf("%q is not a %s: %w", target, kind, ErrTransferForbidden)
	}
	st, err := r.o.ACD.State(ctx, agentID)
	if errors.Is(err, agents.ErrUnknownAgent) || (err == nil && st.State != agents.StateOnCall) {
		return fmt.Errorf("agent %s is not on a call: %w", agentID, agents.ErrNoCall)
	}
	if err != nil {
		return err
	}
	ok, err := r.o.ACD.SendCommand(ctx, st.Node, agents.Command{Type: agents.CommandTransfer,
		Agent: agentID, CallID: st.CallID, Kind: t.Kind, Target: t.Target})
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("node %s: %w", st.Node, ErrCallUnreachable)
	}
	return nil
}

// talks are this node's conversations with an agent, by call id: a
// transfer asked from the panel reaches its conversation here.
type talks struct {
	mu sync.Mutex
	by map[string]*conversation
}

func (t *talks) add(callID string, v *conversation) {
	t.mu.Lock()
	t.by[callID] = v
	t.mu.Unlock()
}

// remove forgets v once its talk is over; nil forgets the call's
// conversation whatever it is (the call ended).
func (t *talks) remove(callID string, v *conversation) {
	t.mu.Lock()
	if v == nil || t.by[callID] == v {
		delete(t.by, callID)
	}
	t.mu.Unlock()
}

// pops are this node's calls ringing an agent or bridged to one, by call
// and agent, as written to the agents' current-call keys (the panel's
// screen pop): after a Redis restart they are written again (Republish),
// or an agent on a call would see none in the panel.
type pops struct {
	mu sync.Mutex
	by map[string]map[string]agents.CurrentCall // call id → agent id → its call
}

// rang records the call ringing agentID.
func (p *pops) rang(agentID string, c agents.CurrentCall) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.by[c.CallID] == nil {
		p.by[c.CallID] = map[string]agents.CurrentCall{}
	}
	p.by[c.CallID][agentID] = c
}

// answered keeps only agentID's pop of the call (a ring-all group's other
// phones stopped ringing), now on_call since at.
func (p *pops) answered(callID, agentID string, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.by[callID][agentID]
	if !ok {
		return
	}
	c.State, c.Started = agents.StateOnCall, at
	p.by[callID] = map[string]agents.CurrentCall{agentID: c}
}

// stopped forgets agentID's pop of the call: its phone no longer rings.
func (p *pops) stopped(callID, agentID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.by[callID], agentID)
	if len(p.by[callID]) == 0 {
		delete(p.by, callID)
	}
}

// ended forgets every pop of the call: it is over, or in wrap-up.
func (p *pops) ended(callID string) {
	p.mu.Lock()
	delete(p.by, callID)
	p.mu.Unlock()
}

// republish writes every pop back (after a Redis restart). A key written
// meanwhile by a newer ring is left alone; the panel checks the call against
// the agent's state anyway, so a pop whose ring just failed shows nothing.
func (p *pops) republish(ctx context.Context, acd *agents.ACD, log *slog.Logger) {
	type pop struct {
		agent string
		call  agents.CurrentCall
	}
	p.mu.Lock()
	var all []pop
	for _, byAgent := range p.by {
		for id, c := range byAgent {
			all = append(all, pop{id, c})
		}
	}
	p.mu.Unlock()
	for _, x := range all {
		if _, err := acd.RestoreCall(ctx, x.agent, x.call); err != nil {
			log.Error("re-publish an agent's current call", "agent", x.agent, "call_id", x.call.CallID, "err", err)
		}
	}
}

// runCommands carries out the panel's commands for this node's calls
// until ctx is done.
func (r *Router) runCommands(ctx context.Context) {
	cmds, err := r.o.ACD.Commands(ctx)
	if err != nil {
		r.log.Warn("no panel commands from redis: panel transfers fail on this node's calls", "err", err)
		return
	}
	for c := range cmds {
		if c.Type != agents.CommandTransfer {
			continue
		}
		r.talks.mu.Lock()
		v := r.talks.by[c.CallID]
		r.talks.mu.Unlock()
		if v == nil || v.offer.AgentID != c.Agent {
			r.log.Info("panel transfer for a conversation not here", "call_id", c.CallID, "agent", c.Agent)
			continue
		}
		select {
		case v.xfer <- ivr.Transfer{Kind: c.Kind, Target: c.Target}:
		default: // one transfer per conversation
		}
	}
}

// popUp stores the call ringing agentID and publishes the "ringing" event
// with its screen pop (S1: apologise after a long wait; S16: the caller's
// open tickets). A failure is logged: the call goes on without a pop.
func (r *Router) popUp(ctx context.Context, call ivr.Call, agentID, category string) {
	now := time.Now()
	c := agents.CurrentCall{CallID: call.ID(), State: agents.StateRinging, Started: now}
	c.Caller, c.Category, c.OpenTickets = call.Caller(), category, []agents.OpenTicket{}
	if lc, ok := r.live.get(call.ID()); ok {
		if lc.Priority {
			c.Priority = 1
		}
		if !lc.QueuedAt.IsZero() {
			waited := now.Sub(lc.QueuedAt)
			c.WaitedMS = waited.Milliseconds()
			c.Apologise = waited > r.o.ServiceLevelThreshold
		}
	}
	for _, k := range r.queue.openTickets(call.ID()) {
		c.OpenTickets = append(c.OpenTickets, openTicket(k))
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), panelTimeout)
	defer cancel()
	r.pops.rang(agentID, c) // kept even when Redis fails now: a restart re-publishes it
	if err := r.o.ACD.StartCall(pctx, agentID, c); err != nil {
		r.callLog(call).Warn("screen pop not published", "agent", agentID, "err", err)
	}
}

func openTicket(k tickets.Ticket) agents.OpenTicket {
	o := agents.OpenTicket{Ref: k.Ref, Owner: k.OwnerAgent, Status: k.Status, Category: k.Category}
	if !k.DueAt.IsZero() {
		o.Due = k.DueAt.UTC().Format(time.RFC3339)
	}
	return o
}

// panelReport runs a call's panel update (answered, ended) bounded by
// panelTimeout, logging a failure.
func (r *Router) panelReport(ctx context.Context, call ivr.Call, what string, f func(context.Context) error) {
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), panelTimeout)
	defer cancel()
	if err := f(pctx); err != nil {
		log := r.log
		if call != nil {
			log = r.callLog(call)
		}
		log.Warn("panel not told", "what", what, "err", err)
	}
}

// DraftWritten is told by the record writer once a call's draft ticket is
// committed (S12): the agent's panel shows it at once.
func (r *Router) DraftWritten(ctx context.Context, agentID, callID, ref string, entryDeadline time.Time) {
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), panelTimeout)
	defer cancel()
	if err := r.o.ACD.DraftWritten(pctx, agentID, callID, ref, entryDeadline); err != nil {
		r.log.Warn("draft not announced to the panel", "agent", agentID, "ref", ref, "err", err)
	}
}

// TicketEvent publishes a "ticket" event for the ticket's owner; the
// tickets' sweeper alerts (late, escalated) and the supervisors' acts
// arrive here.
func (r *Router) TicketEvent(ctx context.Context, owner, ref, reason string) {
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), panelTimeout)
	defer cancel()
	if err := r.o.ACD.Publish(pctx, agents.Event{Type: agents.EventTicket, Agent: owner, Ticket: ref, Reason: reason}); err != nil {
		r.log.Warn("ticket event not published", "ref", ref, "reason", reason, "err", err)
	}
}

// Notify implements tickets.Notifier: an overdue draft is "late" (S12), a
// breach or escalation "escalated" (S14, S15), for the owner's panel and
// the wall. The sweeper finds each once across the nodes.
func (r *Router) Notify(ctx context.Context, a tickets.Alert) {
	reason := agents.TicketEscalated
	if a.Kind == tickets.AlertOverdue {
		reason = agents.TicketLate
	}
	r.TicketEvent(ctx, a.Agent, a.TicketRef, reason)
}

// AgentState is the agent's live state in the ACD (the softphone's
// feature codes change it too); an agent who never logged in wraps
// agents.ErrUnknownAgent.
func (r *Router) AgentState(ctx context.Context, agentID string) (agents.AgentState, error) {
	return r.o.ACD.State(ctx, agentID)
}

// AgentStates lists every agent that ever logged in, for the wall.
func (r *Router) AgentStates(ctx context.Context) ([]agents.AgentState, error) {
	return r.o.ACD.Agents(ctx)
}

// CurrentCall is the agent's call for its panel (agents.ErrNoCall when none).
func (r *Router) CurrentCall(ctx context.Context, agentID string) (agents.CurrentCall, error) {
	return r.o.ACD.CurrentCall(ctx, agentID)
}

// QueueFigures are the queues' lengths and oldest waits, as the metrics read them.
func (r *Router) QueueFigures(ctx context.Context) ([]agents.QueueFigure, error) {
	return r.o.Queue.Figures(ctx)
}
