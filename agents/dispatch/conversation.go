package dispatch

import (
	"context"
	"path/filepath"
	"time"

	"github.com/hotline-dev/hotline/ivr"
)

// conversation is a caller bridged to an agent, or to a specialist line.
type conversation struct {
	r        *Router
	call     ivr.Call
	leg      Leg
	offer    ivr.AgentOffer
	answered time.Time
	// specialist: a transfer to an outside line, not an agent of the ACD.
	specialist bool
	// xfer receives a transfer the agent asked from the panel (S10).
	xfer chan ivr.Transfer
}

// newConversation starts a conversation; one with an agent takes panel
// transfers from now on, before Talk (S2's announcement comes first): a
// transfer asked meanwhile waits in xfer.
func (r *Router) newConversation(call ivr.Call, leg Leg, o ivr.AgentOffer, specialist bool) *conversation {
	v := &conversation{r: r, call: call, leg: leg, offer: o, answered: time.Now(), specialist: specialist,
		xfer: make(chan ivr.Transfer, 1)}
	if !specialist {
		r.talks.add(call.ID(), v)
	}
	return v
}

// Agent is the agent who answered (S2: its staff number is announced).
func (v *conversation) Agent() ivr.AgentOffer { return v.offer }

// Talk bridges the legs, recorded when the category records (S19), and
// returns when either side hangs up or the agent transfers; the agent then
// goes to wrap-up (S12).
func (v *conversation) Talk(ctx context.Context) (ivr.TalkResult, error) {
	r := v.r
	var recordTo string
	if r.o.Recording.enabled(v.offer.Category) {
		recordTo = filepath.Join(r.o.Recording.Dir, time.Now().Format("20060102"), v.call.ID()+".wav")
	}
	if v.specialist {
		return v.leg.Bridge(ctx, v.call, recordTo), nil
	}
	res := v.bridge(ctx, recordTo)
	r.pops.stopped(v.call.ID(), v.offer.AgentID) // no longer bridged: wrap-up, or the phone is gone
	dctx, cancel := detached(ctx)
	defer cancel()
	if res.AgentLost { // S1: no caller is offered to a phone that is gone
		if err := r.o.ACD.PhoneLost(dctx, v.offer.AgentID); err != nil {
			r.callLog(v.call).Warn("agent to not_responding", "agent", v.offer.AgentID, "err", err)
		}
		r.disp.poke()
		return res, nil
	}
	if err := r.o.ACD.Hangup(dctx, v.offer.AgentID, time.Since(v.answered), v.offer.Category); err != nil {
		r.callLog(v.call).Warn("agent to wrap-up", "agent", v.offer.AgentID, "err", err)
	}
	if res.AgentHungUp {
		r.m.agentHangup() // S11
	}
	// S12: the agent owes the call's ticket unless the caller went to
	// another agent or queue, whose agent then owes it.
	owes := res.Transfer == nil || res.Transfer.Kind == ivr.TransferNumber
	var due time.Time // until the draft is written; unknown without an entry window
	if r.o.EntryWindow > 0 {
		due = time.Now().Add(r.o.EntryWindow)
	}
	r.panelReport(ctx, v.call, "call ended", func(ctx context.Context) error {
		return r.o.ACD.CallEnded(ctx, v.offer.AgentID, v.call.ID(), owes, due)
	})
	return res, nil
}

// bridge bridges the legs until either hangs up, the agent transfers with
// REFER, or the agent transfers from the panel: the agent's leg then gets
// BYE and the caller goes where the panel said (S10).
func (v *conversation) bridge(ctx context.Context, recordTo string) ivr.TalkResult {
	bctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer v.r.talks.remove(v.call.ID(), v)
	var panel *ivr.Transfer
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case t := <-v.xfer:
			panel = &t
			cancel()
		case <-bctx.Done():
		}
	}()
	res := v.leg.Bridge(bctx, v.call, recordTo)
	cancel()
	<-watched
	if panel != nil && res.Transfer == nil && ctx.Err() == nil {
		v.r.callLog(v.call).Info("agent transferred from the panel", "agent", v.offer.AgentID, "to", panel.String())
		return ivr.TalkResult{Transfer: panel}
	}
	return res
}

// detached is for reports that must reach Redis after the caller hung up.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
}
