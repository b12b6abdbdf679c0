package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/ivr"
	"github.com/hotline-dev/hotline/sip"
)

// legResult is how ringing one agent of a ring-all group ended.
type legResult struct {
	agent ivr.AgentOffer
	leg   *sip.AgentLeg // answered; nil with err
	err   error
}

// ringAll rings every agent of a ring-all offer at once (acd.ring_all, issue
// 3). The first 200 OK the ACD accepts (AnsweredBy, atomic in Redis) is
// bridged; every other phone gets CANCEL, or BYE when its 200 crossed, and
// the ACD has made those agents available again without a miss — so never
// two agents are bridged to one caller.
//
// Misses: an agent who declines or is busy while a colleague may still
// answer stays reserved until the group's outcome is known. If somebody
// answers, nobody in the group counts a miss; if nobody does (every phone
// failed or rang ring_timeout), each agent's failure counts as a miss exactly
// as when ringing one agent at a time (S1), and the caller keeps their place.
// If the caller hangs up, every phone gets CANCEL and every agent is
// available again at once.
func (k *connector) ringAll(ctx context.Context, c *sip.Call, o ivr.AgentOffer) (ivr.Conversation, error) {
	log := c.Logger().With("agents", o.AgentIDs())
	lctx, cancelLegs := context.WithCancel(ctx)
	defer cancelLegs()
	results := make(chan legResult, len(o.Group))
	for _, ag := range o.Group {
		ag.Category = o.Category
		// Each goroutine ends when its DialAgent returns: answered, failed,
		// or cancelled through lctx (bounded by the SIP transaction timers).
		go func() {
			leg, err := k.dial(lctx, c, ag.AgentID)
			results <- legResult{agent: ag, leg: leg, err: err}
		}()
	}
	log.Info("ringing all available agents")
	// settle ends the ringing once the outcome is known: CANCEL to the
	// phones still ringing (BYE to those whose 200 crosses it).
	settle := func(left int) {
		cancelLegs()
		go hangUpAnswered(results, left)
	}
	var failed []legResult
	for left := len(o.Group); left > 0; {
		var r legResult
		select {
		case r = <-results:
			left--
		case <-ctx.Done(): // the caller hung up while the phones rang
			settle(left)
			k.releaseGroup(ctx, c, o)
			return nil, fmt.Errorf("ring all %s: %w", o.AgentIDs(), ctx.Err())
		}
		if r.err != nil {
			failed = append(failed, r)
			continue
		}
		conv, err := k.takeAnswer(ctx, c, r)
		switch {
		case err == nil:
			settle(left)
			return conv, nil
		case ctx.Err() != nil || errors.Is(err, agents.ErrCallerGone):
			settle(left)
			k.releaseGroup(ctx, c, o)
			return nil, fmt.Errorf("ring all %s: %w: %w", o.AgentIDs(), ivr.ErrNotConnected, err)
		}
		// This agent no longer rings for the caller (reservation swept,
		// logged out): its leg got BYE; the others may still answer.
	}
	if ctx.Err() != nil { // every leg ended with the caller's hang-up
		k.releaseGroup(ctx, c, o)
		return nil, fmt.Errorf("ring all %s: %w", o.AgentIDs(), ctx.Err())
	}
	k.missed(ctx, c, failed)
	return nil, fmt.Errorf("ring all %s: %w: nobody answered", o.AgentIDs(), ivr.ErrNotConnected)
}

// takeAnswer asks the ACD whether r's agent, who answered, takes the
// caller (one agent, or one of a ring-all group: only one can win). A leg
// that loses (another agent won, the caller left) gets BYE at once.
func (k *connector) takeAnswer(ctx context.Context, c *sip.Call, r legResult) (*conversation, error) {
	err := ctx.Err() // the caller hung up as the agent answered
	var released []string
	if err == nil {
		released, err = k.a.acd.AnsweredBy(ctx, c.ID(), r.agent.AgentID)
	}
	if err != nil {
		r.leg.Hangup(context.WithoutCancel(ctx))
		c.Logger().Info("answer not taken: bye", "agent", r.agent.AgentID, "err", err)
		return nil, err
	}
	k.a.queue.forget(c.ID())
	k.a.metrics.ringEnded("answered")
	for range released {
		k.a.metrics.ringEnded("answered_elsewhere")
	}
	c.Logger().Info("agent answered", "agent", r.agent.AgentID, "staff", r.agent.StaffNumber, "released", released)
	return &conversation{k: k, call: c, leg: r.leg, offer: r.agent, answered: time.Now()}, nil
}

// hangUpAnswered collects the last n results of a group whose outcome is
// settled and hangs up every leg that was answered anyway (its 200 crossed
// our CANCEL): BYE at once.
func hangUpAnswered(results <-chan legResult, n int) {
	for range n {
		if r := <-results; r.err == nil {
			r.leg.Hangup(context.Background())
		}
	}
}

// releaseGroup frees every agent still ringing for a caller who left (not a
// miss).
func (k *connector) releaseGroup(ctx context.Context, c *sip.Call, o ivr.AgentOffer) {
	dctx, cancel := detached(ctx)
	defer cancel()
	ids := make([]string, len(o.Group))
	for i, ag := range o.Group {
		ids[i] = ag.AgentID
		k.a.metrics.ringEnded("caller_gone")
	}
	releaseAgents(dctx, k.a.acd, c.ID(), ids, c.Logger())
}

// missed reports failed rings (one agent's, or a group's nobody answered):
// each is a miss with its own reason (S1); an unregistered agent was logged
// out instead. The caller keeps their place: match again.
func (k *connector) missed(ctx context.Context, c *sip.Call, failed []legResult) {
	dctx, cancel := detached(ctx)
	defer cancel()
	for _, r := range failed {
		if errors.Is(r.err, errUnregistered) {
			continue
		}
		reason := missReason(r.err)
		k.a.metrics.ringEnded(reason)
		if err := k.a.acd.Missed(dctx, c.ID(), r.agent.AgentID, reason); err != nil {
			c.Logger().Warn("record missed ring", "agent", r.agent.AgentID, "err", err)
		}
	}
	k.disp.poke()
}
