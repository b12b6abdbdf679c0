package ivr

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Agents connects queued callers to agents (S1, S2). The ACD matches a waiting
// caller to an agent and delivers an AgentOffer for the call; the flow then rings
// the agent while the caller keeps their place in the queue.
type Agents interface {
	// Offers returns the channel on which offers for the call arrive, and a
	// function to call when the caller leaves the queue.
	Offers(callID string) (<-chan AgentOffer, func())
	// Ring rings the offered agent. An error wrapping ErrNotConnected (no answer,
	// busy, declined) leaves the caller waiting in their place; any other error
	// ends the call as failed.
	Ring(ctx context.Context, call Call, offer AgentOffer) (Conversation, error)
}

// AgentOffer is an agent matched to a waiting caller.
type AgentOffer struct {
	AgentID     string
	StaffNumber string // announced to the caller (S2)
	Category    string
}

// Conversation is a caller connected to an answering agent.
type Conversation interface {
	// Talk bridges caller and agent until either hangs up; it reports whether
	// the agent hung up first (S11).
	Talk(ctx context.Context) (agentHungUp bool, err error)
}

// ErrNotConnected marks a ring that did not reach the agent.
var ErrNotConnected = errors.New("agent not connected")

// OutcomeAnswered: the caller talked to an agent.
const OutcomeAnswered = "answered"

// offerBox receives one offer at a time for a queued caller.
type offerBox struct {
	ch   <-chan AgentOffer
	stop func()
	once sync.Once
}

func (r *run) openOffers() {
	if r.f.agents == nil || r.offers != nil {
		return
	}
	ch, stop := r.f.agents.Offers(r.call.ID())
	r.offers = &offerBox{ch: ch, stop: stop}
}

func (r *run) closeOffers() {
	if r.offers != nil {
		r.offers.once.Do(r.offers.stop)
	}
}

// holdFor plays hold music until until, or until an offer arrives (returned).
func (r *run) holdFor(ctx context.Context, until time.Time) (*AgentOffer, error) {
	if r.offers == nil {
		return nil, r.hold(ctx, until)
	}
	select { // an offer that came during an announcement
	case o := <-r.offers.ch:
		return &o, nil
	default:
	}
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	got := make(chan AgentOffer, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case o := <-r.offers.ch:
			got <- o
			cancel()
		case <-hctx.Done():
		}
	}()
	err := r.hold(hctx, until)
	cancel()
	<-done
	select {
	case o := <-got:
		return &o, nil
	default:
	}
	return nil, err
}

// connect rings the offered agent; when the agent answers, the caller hears the
// staff number (S2) and talks. It reports whether the conversation took place.
func (r *run) connect(ctx context.Context, o AgentOffer) (bool, error) {
	conv, err := r.f.agents.Ring(ctx, r.call, o)
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return false, fmt.Errorf("%w: ring agent %s: %w", errCallEnded, o.AgentID, ctx.Err())
	case errors.Is(err, ErrNotConnected):
		r.log.Info("agent not connected, caller keeps their place", "agent", o.AgentID, "err", err)
		return false, nil
	default:
		return false, fmt.Errorf("ring agent %s: %w", o.AgentID, err)
	}
	r.inQueue = "" // the ACD took the caller out of the queue when the agent answered
	r.closeOffers()
	r.res.Outcome, r.res.AgentID, r.res.ConnectedAt = OutcomeAnswered, o.AgentID, r.f.clk.Now()
	if o.StaffNumber != "" {
		prompts := append([]string{PromptAgentNumberPrefix}, SayDigits(o.StaffNumber)...)
		if err := r.play(ctx, append(prompts, PromptAgentNumberSuffix)...); err != nil {
			return true, err
		}
	}
	agentHungUp, err := conv.Talk(ctx)
	r.res.AgentHungUp = agentHungUp
	if err != nil && ctx.Err() == nil {
		return true, fmt.Errorf("conversation with agent %s: %w", o.AgentID, err)
	}
	if agentHungUp && ctx.Err() == nil {
		// The caller is still on the line: reference and survey (S17, S18).
		// A hang-up now leaves the outcome answered.
		if err := r.afterAgent(ctx); err != nil {
			r.log.Debug("caller left during the survey", "err", err)
		}
	}
	return true, nil
}
