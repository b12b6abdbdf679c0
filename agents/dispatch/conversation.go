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
}

func (r *Router) newConversation(call ivr.Call, leg Leg, o ivr.AgentOffer, specialist bool) *conversation {
	return &conversation{r: r, call: call, leg: leg, offer: o, answered: time.Now(), specialist: specialist}
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
	res := v.leg.Bridge(ctx, v.call, recordTo)
	if v.specialist {
		return res, nil
	}
	dctx, cancel := detached(ctx)
	defer cancel()
	if err := r.o.ACD.Hangup(dctx, v.offer.AgentID, time.Since(v.answered), v.offer.Category); err != nil {
		r.callLog(v.call).Warn("agent to wrap-up", "agent", v.offer.AgentID, "err", err)
	}
	if res.AgentHungUp {
		r.m.agentHangup() // S11
	}
	return res, nil
}

// detached is for reports that must reach Redis after the caller hung up.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
}
