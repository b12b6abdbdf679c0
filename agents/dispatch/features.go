package dispatch

import (
	"context"
	"errors"
	"fmt"

	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/tickets"
)

// Feature is an agent's own state change, asked from the softphone by a
// feature code.
type Feature int

// The features an agent can ask for.
const (
	FeatureAvailable  Feature = iota + 1 // log in, or resume from a pause
	FeaturePause                         // pause ("break")
	FeatureLogout                        // log out
	FeatureWrapUpDone                    // end wrap-up (S12)
)

// Feature runs an agent's feature; a refusal (e.g. wrap-up done while not
// in wrap-up) is an error the phone plays as a failure tone.
func (r *Router) Feature(ctx context.Context, agentID string, f Feature) error {
	var err error
	switch f {
	case FeatureAvailable:
		err = r.makeAvailable(ctx, agentID)
	case FeaturePause:
		err = r.o.ACD.Pause(ctx, agentID, r.featurePauseReason())
	case FeatureLogout:
		err = r.o.ACD.Logout(ctx, agentID)
	case FeatureWrapUpDone:
		if err = r.checkWrapUpDone(ctx, agentID); err == nil {
			err = r.o.ACD.WrapUpDone(ctx, agentID)
		}
	default:
		return fmt.Errorf("unknown feature %d", f)
	}
	if err != nil {
		return fmt.Errorf("agent %s: %w", agentID, err)
	}
	r.disp.poke()
	return nil
}

// makeAvailable logs an offline agent in with the directory's categories,
// or resumes a paused or not-responding one.
func (r *Router) makeAvailable(ctx context.Context, agentID string) error {
	st, err := r.o.ACD.State(ctx, agentID)
	if err == nil && (st.State == agents.StatePaused || st.State == agents.StateNotResponding) {
		return r.o.ACD.Resume(ctx, agentID)
	}
	ag, err := r.o.Directory.Get(ctx, agentID)
	if err != nil {
		return err
	}
	return r.o.ACD.Login(ctx, agentID, ag.Categories)
}

// TicketSubmitted ends the wrap-up of the agent who took the call once its
// ticket is entered (S12): only then is the agent offered new calls.
func (r *Router) TicketSubmitted(ctx context.Context, k tickets.Ticket) {
	r.TicketEvent(ctx, k.OwnerAgent, k.Ref, agents.TicketSubmitted)
	if k.AgentID == "" {
		return
	}
	r.panelReport(ctx, nil, "submitted", func(ctx context.Context) error {
		return r.o.ACD.DraftSubmitted(ctx, k.AgentID, k.CallID)
	})
	st, err := r.o.ACD.State(ctx, k.AgentID)
	if err != nil || st.State != agents.StateWrapUp || (st.CallID != "" && st.CallID != k.CallID) {
		return
	}
	if err := r.o.ACD.WrapUpDone(ctx, k.AgentID); err != nil {
		r.log.Info("wrap-up not ended after the ticket", "agent", k.AgentID, "ref", k.Ref, "err", err)
		return
	}
	r.disp.poke()
}

// Unregistered takes an agent whose registration ended (un-REGISTER or
// expiry) out of routing.
func (r *Router) Unregistered(ctx context.Context, agentID string) {
	err := r.o.ACD.Logout(ctx, agentID)
	if err != nil && !errors.Is(err, agents.ErrBadTransition) && !errors.Is(err, agents.ErrUnknownAgent) {
		r.log.Warn("log out unregistered agent", "agent", agentID, "err", err)
	}
}

// Republish puts back what this node holds after a Redis restart: the
// registrations it took, first, so that no restored agent is offered a
// caller while its phone cannot be found; those agents' states as of the
// last heartbeat before the restart (ACD.Held); its waiting callers with
// their original enqueue times; its calls in progress; and the agents'
// current calls (screen pops) still ringing or bridged here, which the
// panel reads.
func (r *Router) Republish(ctx context.Context) {
	held := r.o.ACD.Held()
	calls := r.queue.entries()
	r.log.Warn("redis lost this node's state: re-publishing", "registrations", len(held.Registrations),
		"agents", len(held.Agents), "callers", len(calls))
	if _, err := r.o.Locations.Restore(ctx, held.Registrations); err != nil {
		r.log.Error("re-publish registrations after redis restart", "err", err)
	}
	if err := r.o.ACD.Republish(ctx, calls, held.Agents); err != nil {
		r.log.Error("re-publish after redis restart", "err", err)
	}
	r.live.republish(ctx)
	r.pops.republish(ctx, r.o.ACD, r.log)
}
