package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hotline-dev/hotline/agents/dispatch"
	"github.com/hotline-dev/hotline/sip"
)

// trunk dials callbacks' callees through the configured outbound trunk (S9).
type trunk struct {
	srv *sip.Server
	cfg CallbacksConfig
}

func (t trunk) Call(ctx context.Context, number, callID string, ringing func()) (dispatch.Callee, error) {
	leg, err := t.srv.DialOut(ctx, sip.DialOutOptions{Trunk: t.cfg.Trunk, Number: number,
		User: t.cfg.TrunkUser, Password: t.cfg.TrunkPassword, CallerID: t.cfg.CallerID,
		RingTimeout: time.Duration(t.cfg.RingTimeout), CallID: callID, Ringing: ringing})
	switch {
	case errors.Is(err, sip.ErrAgentBusy):
		return nil, fmt.Errorf("%w: %w", dispatch.ErrBusy, err)
	case errors.Is(err, sip.ErrAgentDeclined):
		return nil, fmt.Errorf("%w: %w", dispatch.ErrDeclined, err)
	case errors.Is(err, sip.ErrAgentNoAnswer):
		return nil, fmt.Errorf("%w: %w", dispatch.ErrNoAnswer, err)
	case err != nil:
		return nil, err
	}
	return calleeLeg{AgentLeg: leg, id: callID, number: number}, nil
}

// calleeLeg is a callback's callee as routing sees it: the caller's side of
// the bridge (an ivr.Call).
type calleeLeg struct {
	*sip.AgentLeg
	id, number string
}

func (c calleeLeg) ID() string     { return c.id }
func (c calleeLeg) Caller() string { return c.number }

// HungUp: the callee sent BYE (the trunk leg's far end is its "agent").
func (c calleeLeg) HungUp() bool { return c.HungUpBy() == sip.HungUpByAgent }

func (c calleeLeg) Play(ctx context.Context, names []string, _ bool) (rune, error) {
	return 0, c.AgentLeg.Play(ctx, names)
}

// PlayKeys plays the prompts whole: a callee's keys choose nothing.
func (c calleeLeg) PlayKeys(ctx context.Context, names []string, _ string, _ func(rune)) (rune, error) {
	return 0, c.AgentLeg.Play(ctx, names)
}

func (c calleeLeg) PlayLoop(ctx context.Context, names []string, _ bool) (rune, error) {
	for ctx.Err() == nil {
		if err := c.AgentLeg.Play(ctx, names); err != nil {
			return 0, err
		}
	}
	return 0, ctx.Err()
}
