package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/ivr"
)

// Ring rings the offered agent's registered contact for at most
// RingTimeout (S1), or every agent of a ring-all offer at once (ringAll). No
// answer, busy or decline: the caller keeps their place, the ACD counts the
// miss (not_responding after max_no_answer) and offers the next agent.
func (r *Router) Ring(ctx context.Context, call ivr.Call, o ivr.AgentOffer) (ivr.Conversation, error) {
	if len(o.Group) > 0 {
		return r.ringAll(ctx, call, o)
	}
	log := r.callLog(call).With("agent", o.AgentID)
	r.popUp(ctx, call, o.AgentID, o.Category)
	leg, err := r.dial(ctx, call, Dial{Who: o.AgentID})
	if errors.Is(err, errUnregistered) {
		return nil, fmt.Errorf("%w: %w", ivr.ErrNotConnected, err)
	}
	if err != nil {
		dctx, cancel := detached(ctx)
		defer cancel()
		if ctx.Err() != nil { // the caller hung up while the agent's phone rang
			r.m.ringEnded("caller_gone")
			r.queue.wallChanged()
			return nil, errors.Join(ctx.Err(), r.o.ACD.CallerGone(dctx, call.ID(), o.AgentID))
		}
		r.missed(ctx, call, []legResult{{agent: o, err: err}})
		return nil, fmt.Errorf("ring agent %s: %w: %w", o.AgentID, ivr.ErrNotConnected, err)
	}
	conv, err := r.takeAnswer(ctx, call, legResult{agent: o, leg: leg})
	if err != nil {
		// The caller left as the agent answered: the agent's leg got BYE,
		// and the agent is available again (not a miss).
		dctx, cancel := detached(ctx)
		defer cancel()
		r.pops.stopped(call.ID(), o.AgentID)
		releaseAgents(dctx, r.o.ACD, call.ID(), []string{o.AgentID}, log)
		r.m.ringEnded("caller_gone")
		return nil, fmt.Errorf("agent %s answered: %w: %w", o.AgentID, ivr.ErrNotConnected, err)
	}
	return conv, nil
}

// errUnregistered: the offered agent has no registration (it is logged out).
var errUnregistered = errors.New("agent has no registration")

// dial rings one agent's (d.Who) registered contact for at most
// RingTimeout (S1), for call or, call nil, a callback (d.CallerID, d.CallID).
// An agent without a registration is logged out, which frees its caller
// for the next agent (not a miss).
func (r *Router) dial(ctx context.Context, call ivr.Call, d Dial) (Leg, error) {
	agentID := d.Who
	reg, err := r.o.Locations.Lookup(ctx, agentID)
	if err != nil && ctx.Err() == nil {
		dctx, cancel := detached(ctx)
		defer cancel()
		if lerr := r.o.ACD.Logout(dctx, agentID); lerr != nil {
			r.callLog(call).Warn("log out unregistered agent", "agent", agentID, "err", lerr)
		}
		return nil, fmt.Errorf("agent %s: %w: %w", agentID, errUnregistered, err)
	}
	if err != nil {
		return nil, fmt.Errorf("look up agent %s: %w", agentID, ctx.Err())
	}
	d.Contact, d.Timeout = reg.Contact, r.o.RingTimeout
	return r.o.Phones.Dial(ctx, call, d)
}

// missReason is the ACD's miss reason for a ring that did not connect.
func missReason(err error) string {
	switch {
	case errors.Is(err, ErrBusy):
		return agents.MissBusy
	case errors.Is(err, ErrDeclined):
		return agents.MissDecline
	}
	return agents.MissNoAnswer
}

// missed reports failed rings (one agent's, or a group's nobody answered):
// each is a miss with its own reason (S1); an unregistered agent was logged
// out instead. The caller keeps their place: match again.
func (r *Router) missed(ctx context.Context, call ivr.Call, failed []legResult) {
	dctx, cancel := detached(ctx)
	defer cancel()
	for _, f := range failed {
		if errors.Is(f.err, errUnregistered) {
			continue
		}
		r.pops.stopped(call.ID(), f.agent.AgentID)
		reason := missReason(f.err)
		r.m.ringEnded(reason)
		if err := r.o.ACD.Missed(dctx, call.ID(), f.agent.AgentID, reason); err != nil {
			r.callLog(call).Warn("record missed ring", "agent", f.agent.AgentID, "err", err)
		}
	}
	r.disp.poke()
}

// takeAnswer asks the ACD whether res's agent, who answered, takes the
// caller (one agent, or one of a ring-all group: only one can win). A leg
// that loses (another agent won, the caller left) gets BYE at once.
func (r *Router) takeAnswer(ctx context.Context, call ivr.Call, res legResult) (*conversation, error) {
	err := ctx.Err() // the caller hung up as the agent answered
	var released []string
	if err == nil {
		released, err = r.o.ACD.AnsweredBy(ctx, call.ID(), res.agent.AgentID)
	}
	log := r.callLog(call)
	if err != nil {
		res.leg.Hangup(context.WithoutCancel(ctx))
		log.Info("answer not taken: bye", "agent", res.agent.AgentID, "err", err)
		return nil, err
	}
	r.queue.forget(call.ID())
	r.queue.wallChanged()
	r.pops.answered(call.ID(), res.agent.AgentID, time.Now())
	r.panelReport(ctx, call, "answered", func(ctx context.Context) error {
		return r.o.ACD.CallAnswered(ctx, res.agent.AgentID, call.ID())
	})
	r.m.ringEnded("answered")
	for range released {
		r.m.ringEnded("answered_elsewhere")
	}
	log.Info("agent answered", "agent", res.agent.AgentID, "staff", res.agent.StaffNumber, "released", released)
	return r.newConversation(call, res.leg, res.agent, false), nil
}

// releaseAgents frees agents reserved for a caller who is gone (not a
// miss). CallerGone releases a whole ring-all group while the caller is
// queued; asking for each agent also covers one no longer ringing for the
// caller, or a caller already unqueued.
func releaseAgents(ctx context.Context, acd *agents.ACD, callID string, ids []string, log *slog.Logger) {
	for _, id := range ids {
		err := acd.CallerGone(ctx, callID, id)
		if err != nil && !errors.Is(err, agents.ErrCallerGone) && !errors.Is(err, agents.ErrBadTransition) {
			log.Warn("release agent of a gone caller", "agent", id, "err", err)
		}
	}
}

// callLog is the call's own logger when it has one (a SIP call does).
func (r *Router) callLog(call ivr.Call) *slog.Logger {
	if l, ok := call.(interface{ Logger() *slog.Logger }); ok {
		return l.Logger()
	}
	return r.log.With("call_id", call.ID())
}
