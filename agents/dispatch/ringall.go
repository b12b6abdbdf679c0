package dispatch

import (
	"context"
	"errors"
	"fmt"

	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/ivr"
)

// legResult is how ringing one agent of a ring-all group ended.
type legResult struct {
	agent ivr.AgentOffer
	leg   Leg // answered; nil with err
	err   error
}

// ringAll rings every agent of a ring-all offer at once (acd.ring_all). The first 200 OK the ACD accepts (AnsweredBy, atomic in Redis) is
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
func (r *Router) ringAll(ctx context.Context, c ivr.Call, o ivr.AgentOffer) (ivr.Conversation, error) {
	log := r.callLog(c).With("agents", o.AgentIDs())
	lctx, cancelLegs := context.WithCancel(ctx)
	defer cancelLegs()
	results := make(chan legResult, len(o.Group))
	for _, ag := range o.Group {
		ag.Category = o.Category
		r.popUp(ctx, c, ag.AgentID, o.Category)
		// Each goroutine ends when its DialAgent returns: answered, failed,
		// or cancelled through lctx (bounded by the SIP transaction timers).
		go func() {
			leg, err := r.dial(lctx, c, Dial{Who: ag.AgentID})
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
		var res legResult
		select {
		case res = <-results:
			left--
		case <-ctx.Done(): // the caller hung up while the phones rang
			settle(left)
			r.releaseGroup(ctx, c, o)
			return nil, fmt.Errorf("ring all %s: %w", o.AgentIDs(), ctx.Err())
		}
		if res.err != nil {
			failed = append(failed, res)
			continue
		}
		conv, err := r.takeAnswer(ctx, c, res)
		switch {
		case err == nil:
			settle(left)
			return conv, nil
		case ctx.Err() != nil || errors.Is(err, agents.ErrCallerGone):
			settle(left)
			r.releaseGroup(ctx, c, o)
			return nil, fmt.Errorf("ring all %s: %w: %w", o.AgentIDs(), ivr.ErrNotConnected, err)
		}
		// This agent no longer rings for the caller (reservation swept,
		// logged out): its leg got BYE; the others may still answer.
	}
	if ctx.Err() != nil { // every leg ended with the caller's hang-up
		r.releaseGroup(ctx, c, o)
		return nil, fmt.Errorf("ring all %s: %w", o.AgentIDs(), ctx.Err())
	}
	r.missed(ctx, c, failed)
	return nil, fmt.Errorf("ring all %s: %w: nobody answered", o.AgentIDs(), ivr.ErrNotConnected)
}

// hangUpAnswered collects the last n results of a group whose outcome is
// settled and hangs up every leg that was answered anyway (its 200 crossed
// our CANCEL): BYE at once.
func hangUpAnswered(results <-chan legResult, n int) {
	for range n {
		if res := <-results; res.err == nil {
			res.leg.Hangup(context.Background())
		}
	}
}

// releaseGroup frees every agent still ringing for a caller who left (not a
// miss).
func (r *Router) releaseGroup(ctx context.Context, c ivr.Call, o ivr.AgentOffer) {
	dctx, cancel := detached(ctx)
	defer cancel()
	ids := make([]string, len(o.Group))
	for i, ag := range o.Group {
		ids[i] = ag.AgentID
		r.m.ringEnded("caller_gone")
	}
	releaseAgents(dctx, r.o.ACD, c.ID(), ids, r.callLog(c))
}
