package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/ivr"
	"github.com/hotline-dev/hotline/sip"
	"github.com/hotline-dev/hotline/sip/media"
)

// connector rings matched agents for queued callers and bridges the
// conversation (ivr.Agents). It is the seam between ivr, agents and sip.
type connector struct {
	a    *app
	disp *dispatcher
}

func (k *connector) Offers(callID string) (<-chan ivr.AgentOffer, func()) {
	return k.disp.Offers(callID)
}

// AnyServing reports whether any logged-in agent serves category (overflow
// to the callback offer when none does).
func (k *connector) AnyServing(ctx context.Context, category string) (bool, error) {
	return k.a.queue.q.AnyServing(ctx, category)
}

// RingNumber rings a configured specialist line for a transfer (S10); the
// number was resolved from the allowlist, never taken from a SIP message.
func (k *connector) RingNumber(ctx context.Context, call ivr.Call, number string) (ivr.Conversation, error) {
	c := call.(*sip.Call)
	uri, ok := k.a.cfg.Transfer.Specialists[number]
	if !ok {
		return nil, fmt.Errorf("specialist %q is not configured", number)
	}
	leg, err := k.a.sip.DialAgent(ctx, sip.DialAgentOptions{AgentID: number, Contact: uri,
		CallerID: c.Caller(), RingTimeout: time.Duration(k.a.cfg.ACD.RingTimeout), CallID: c.ID()})
	if err != nil {
		return nil, fmt.Errorf("ring specialist %s: %w", number, err)
	}
	return &conversation{k: k, call: c, leg: leg, offer: ivr.AgentOffer{Category: ""}, answered: time.Now(),
		specialist: true}, nil
}

// Ring rings the offered agent's registered contact for at most ring_timeout
// (S1), or every agent of a ring-all offer at once (ringAll). No answer, busy
// or decline: the caller keeps their place, the ACD counts the miss
// (not_responding after max_no_answer) and offers the next agent.
func (k *connector) Ring(ctx context.Context, call ivr.Call, o ivr.AgentOffer) (ivr.Conversation, error) {
	c := call.(*sip.Call)
	if len(o.Group) > 0 {
		return k.ringAll(ctx, c, o)
	}
	acd, log := k.a.acd, c.Logger().With("agent", o.AgentID)
	leg, err := k.dial(ctx, c, o.AgentID)
	if errors.Is(err, errUnregistered) {
		return nil, fmt.Errorf("%w: %w", ivr.ErrNotConnected, err)
	}
	if err != nil {
		dctx, cancel := detached(ctx)
		defer cancel()
		if ctx.Err() != nil { // the caller hung up while the agent's phone rang
			k.a.metrics.ringEnded("caller_gone")
			return nil, errors.Join(ctx.Err(), acd.CallerGone(dctx, c.ID(), o.AgentID))
		}
		k.missed(ctx, c, []legResult{{agent: o, err: err}})
		return nil, fmt.Errorf("ring agent %s: %w: %w", o.AgentID, ivr.ErrNotConnected, err)
	}
	conv, err := k.takeAnswer(ctx, c, legResult{agent: o, leg: leg})
	if err != nil {
		// The caller left as the agent answered: the agent's leg got BYE,
		// and the agent is available again (not a miss).
		dctx, cancel := detached(ctx)
		defer cancel()
		releaseAgents(dctx, acd, c.ID(), []string{o.AgentID}, log)
		k.a.metrics.ringEnded("caller_gone")
		return nil, fmt.Errorf("agent %s answered: %w: %w", o.AgentID, ivr.ErrNotConnected, err)
	}
	return conv, nil
}

// errUnregistered: the offered agent has no registration (it is logged out).
var errUnregistered = errors.New("agent has no registration")

// dial rings one agent's registered contact for at most ring_timeout (S1).
// An agent without a registration is logged out, which frees its caller
// for the next agent (not a miss).
func (k *connector) dial(ctx context.Context, c *sip.Call, agentID string) (*sip.AgentLeg, error) {
	reg, err := k.a.locs.Lookup(ctx, agentID)
	if err != nil && ctx.Err() == nil {
		dctx, cancel := detached(ctx)
		defer cancel()
		if lerr := k.a.acd.Logout(dctx, agentID); lerr != nil {
			c.Logger().Warn("log out unregistered agent", "agent", agentID, "err", lerr)
		}
		return nil, fmt.Errorf("agent %s: %w: %w", agentID, errUnregistered, err)
	}
	if err != nil {
		return nil, fmt.Errorf("look up agent %s: %w", agentID, ctx.Err())
	}
	return k.a.sip.DialAgent(ctx, sip.DialAgentOptions{AgentID: agentID, Contact: reg.Contact,
		CallerID: c.Caller(), RingTimeout: time.Duration(k.a.cfg.ACD.RingTimeout), CallID: c.ID()})
}

// missReason is the ACD's miss reason for a ring that did not connect.
func missReason(err error) string {
	switch {
	case errors.Is(err, sip.ErrAgentBusy):
		return agents.MissBusy
	case errors.Is(err, sip.ErrAgentDeclined):
		return agents.MissDecline
	}
	return agents.MissNoAnswer
}

// detached is for reports that must reach Redis after the caller hung up.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
}

// conversation is a caller bridged to an agent.
type conversation struct {
	k        *connector
	call     *sip.Call
	leg      *sip.AgentLeg
	offer    ivr.AgentOffer
	answered time.Time
	rec      *media.Recorder
	// specialist: a transfer to an outside line, not an agent of the ACD.
	specialist bool
}

// Agent is the agent who answered (S2: its staff number is announced).
func (v *conversation) Agent() ivr.AgentOffer { return v.offer }

// Talk relays RTP between the legs (transcoding when their codecs differ),
// records both directions when the category records (S19), and returns when
// either side hangs up; the agent then goes to wrap-up (S12).
func (v *conversation) Talk(ctx context.Context) (ivr.TalkResult, error) {
	a := v.k.a
	opts := media.BridgeOptions{HoldMusic: a.prompts[ivr.PromptHoldMusic], Logger: v.call.Logger()}
	if a.cfg.Recording.enabled(v.offer.Category) {
		path := filepath.Join(a.cfg.Recording.Dir, time.Now().Format("20060102"), v.call.ID()+".wav")
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			v.call.Logger().Error("recording folder", "err", err)
		} else if rec, err := media.NewRecorder(path); err != nil {
			v.call.Logger().Error("start recording", "err", err)
		} else {
			v.rec, opts.Recorder = rec, rec
			v.call.SetRecording(path)
		}
	}
	br := media.NewBridge(v.call.Media(), v.leg.Session(), opts)
	br.Start()
	var res ivr.TalkResult
	select {
	case d := <-v.leg.Transfers(): // S10: the agent's leg ends itself (NOTIFY, BYE)
		res.Transfer = &ivr.Transfer{Kind: d.Kind, Target: d.Value}
	case <-v.leg.Done():
		if d, ok := v.leg.TransferredTo(); ok {
			res.Transfer = &ivr.Transfer{Kind: d.Kind, Target: d.Value}
		} else {
			res.AgentHungUp = v.leg.HungUpBy() == sip.HungUpByAgent
		}
	case <-ctx.Done():
		v.leg.Hangup(context.WithoutCancel(ctx))
	}
	br.Stop()
	if v.rec != nil {
		if err := v.rec.Close(); err != nil {
			v.call.Logger().Error("finish recording", "err", err)
		}
	}
	if v.specialist {
		return res, nil
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
	defer cancel()
	handle := time.Since(v.answered)
	if err := a.acd.Hangup(dctx, v.offer.AgentID, handle, v.offer.Category); err != nil {
		v.call.Logger().Warn("agent to wrap-up", "agent", v.offer.AgentID, "err", err)
	}
	if res.AgentHungUp {
		a.metrics.agentHangup(v.offer.AgentID) // S11
	}
	return res, nil
}

// transferTarget resolves what an agent's REFER names, from an allowlist only
// (S10): "queue-<category>", a configured specialist, or another agent. A
// caller-supplied URI is never dialled.
func (a *app) transferTarget(ctx context.Context, agentID, target string) (sip.TransferDestination, error) {
	if cat, ok := strings.CutPrefix(target, "queue-"); ok && slices.Contains(ivr.Categories(), cat) {
		return sip.TransferDestination{Kind: sip.TransferToQueue, Value: cat}, nil
	}
	if _, ok := a.cfg.Transfer.Specialists[target]; ok {
		return sip.TransferDestination{Kind: sip.TransferToNumber, Value: target}, nil
	}
	ag, err := a.dir.Get(ctx, target)
	switch {
	case err == nil && ag.Enabled && ag.ID != agentID:
		return sip.TransferDestination{Kind: sip.TransferToAgent, Value: ag.ID}, nil
	case err != nil && !errors.Is(err, agents.ErrAgentNotFound):
		return sip.TransferDestination{}, err
	}
	return sip.TransferDestination{}, fmt.Errorf("%q: %w", target, sip.ErrTransferForbidden)
}
