package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/hotline-dev/hotline/agents/dispatch"
	"github.com/hotline-dev/hotline/ivr"
	"github.com/hotline-dev/hotline/sip"
)

// phones lets routing ring phones and bridge calls through the SIP server.
type phones struct {
	srv       *sip.Server
	holdMusic string
}

// Dial rings a phone for the caller; the IVR hands back the call the SIP
// server gave it, so the caller is always a *sip.Call.
func (p phones) Dial(ctx context.Context, call ivr.Call, d dispatch.Dial) (dispatch.Leg, error) {
	if call != nil {
		d.CallerID, d.CallID = call.Caller(), call.ID()
	}
	leg, err := p.srv.DialAgent(ctx, sip.DialAgentOptions{AgentID: d.Who, Contact: d.Contact,
		CallerID: d.CallerID, RingTimeout: d.Timeout, CallID: d.CallID})
	switch {
	case errors.Is(err, sip.ErrAgentBusy):
		return nil, fmt.Errorf("%w: %w", dispatch.ErrBusy, err)
	case errors.Is(err, sip.ErrAgentDeclined):
		return nil, fmt.Errorf("%w: %w", dispatch.ErrDeclined, err)
	case err != nil:
		return nil, err
	}
	return answeredLeg{leg: leg, holdMusic: p.holdMusic}, nil
}

type answeredLeg struct {
	leg       *sip.AgentLeg
	holdMusic string
}

func (l answeredLeg) Hangup(ctx context.Context) { l.leg.Hangup(ctx) }

func (l answeredLeg) Done() <-chan struct{} { return l.leg.Done() }

// Bridge bridges the agent's leg with a caller, or with a callback's callee
// (S9): the same bridge, recording and all.
func (l answeredLeg) Bridge(ctx context.Context, call ivr.Call, recordTo string) ivr.TalkResult {
	var c sip.Bridged
	switch v := call.(type) {
	case *sip.Call:
		c = v
	case calleeLeg:
		c = v.AgentLeg
	default: // a wiring error, not a caller's: end the leg rather than panic
		l.leg.Hangup(context.WithoutCancel(ctx))
		return ivr.TalkResult{}
	}
	end := l.leg.Bridge(ctx, c, sip.BridgeOptions{RecordTo: recordTo, HoldMusic: l.holdMusic})
	res := ivr.TalkResult{AgentHungUp: end.AgentHungUp, AgentLost: end.AgentLost}
	if end.Transfer != nil {
		res.Transfer = &ivr.Transfer{Kind: end.Transfer.Kind, Target: end.Transfer.Value}
	}
	return res
}

// featureOf maps the softphone's feature codes to agent features.
var featureOf = map[string]dispatch.Feature{
	sip.FeatureAvailable: dispatch.FeatureAvailable,
	sip.FeaturePause:     dispatch.FeaturePause,
	sip.FeatureLogout:    dispatch.FeatureLogout,
	sip.FeatureWrapUp:    dispatch.FeatureWrapUpDone,
}

// transferTarget adapts routing's allowlist (S10) to the SIP REFER handler.
func (a *app) transferTarget(ctx context.Context, agentID, target string) (sip.TransferDestination, error) {
	t, err := a.router.TransferTarget(ctx, agentID, target)
	if errors.Is(err, dispatch.ErrTransferForbidden) {
		return sip.TransferDestination{}, fmt.Errorf("%w: %w", sip.ErrTransferForbidden, err)
	}
	if err != nil {
		return sip.TransferDestination{}, err
	}
	return sip.TransferDestination{Kind: t.Kind, Value: t.Target}, nil
}
