package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/sip"
	"github.com/hotline-dev/hotline/tickets"
)

// wireAgents builds the agent side: directory (PostgreSQL), registrations,
// bans and the ACD (Redis), and the dispatcher of matches.
func (a *app) wireAgents(m *agents.Metrics) {
	cfg := a.cfg
	a.dir = agents.NewDirectory(a.pool, cfg.Registrar.Realm)
	a.locs = agents.NewLocations(a.rdb, cfg.Queue.KeyPrefix)
	a.bans = agents.NewBans(a.rdb, cfg.Queue.KeyPrefix, agents.BanOptions{})
	a.acd = agents.NewACD(a.rdb, agents.ACDOptions{
		Prefix: cfg.Queue.KeyPrefix, Node: cfg.Node, MaxNoAnswer: cfg.ACD.MaxNoAnswer,
		WrapUpMax: time.Duration(cfg.ACD.WrapUpMax), OwnerWait: time.Duration(cfg.ACD.OwnerWait),
		NodeTTL: time.Duration(cfg.ACD.NodeTTL), RingAll: cfg.ACD.RingAll,
		// A reservation outlives the ring it covers.
		Reservation: time.Duration(cfg.ACD.RingTimeout) + 10*time.Second,
		History:     agents.NewPGHistory(a.pool), Metrics: m, Logger: a.log,
		OnRestart: a.republish,
	})
	a.disp = newDispatcher(a.acd, a.dir, cfg.Node, a.log)
	a.queue.joined = a.disp.poke
	// Un-REGISTER and expiry take the agent out of routing.
	a.locs.OnChange = func(agentID string, registered bool) {
		if registered {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if err := a.acd.Logout(ctx, agentID); err != nil && !errors.Is(err, agents.ErrBadTransition) &&
			!errors.Is(err, agents.ErrUnknownAgent) {
			a.log.Warn("log out unregistered agent", "agent", agentID, "err", err)
		}
	}
}

// runAgents starts the agent side's loops; they stop with ctx.
func (a *app) runAgents(ctx context.Context) {
	logErr := func(err error) { a.log.Warn("agents loop", "err", err) }
	go func() {
		if err := a.acd.Run(ctx); err != nil && ctx.Err() == nil {
			logErr(err)
		}
	}()
	go func() { _ = a.locs.Run(ctx, 5*time.Second, logErr) }()
	go func() { _ = a.bans.Run(ctx, time.Second, logErr) }()
	go a.disp.run(ctx)
}

// republish puts back what this node holds after a Redis restart (issue 3):
// the registrations it took, first, so that no restored agent is offered a
// caller while its phone cannot be found; those agents' states as of the last
// heartbeat before the restart (ACD.Held); and its waiting callers with their
// original enqueue times.
func (a *app) republish(ctx context.Context) {
	held := a.acd.Held()
	calls := a.queue.entries()
	a.log.Warn("redis lost this node's state: re-publishing", "registrations", len(held.Registrations),
		"agents", len(held.Agents), "callers", len(calls))
	if _, err := a.locs.Restore(ctx, held.Registrations); err != nil {
		a.log.Error("re-publish registrations after redis restart", "err", err)
	}
	if err := a.acd.Republish(ctx, calls, held.Agents); err != nil {
		a.log.Error("re-publish after redis restart", "err", err)
	}
}

// featureCode runs an agent's feature code dialled from the softphone (until
// the panel exists): *1 available, *2 pause, *0 log out, *3 wrap-up done.
func (a *app) featureCode(ctx context.Context, agentID, code string) (string, error) {
	var err error
	switch code {
	case sip.FeatureAvailable:
		err = a.makeAvailable(ctx, agentID)
	case sip.FeaturePause:
		err = a.acd.Pause(ctx, agentID, "break")
	case sip.FeatureLogout:
		err = a.acd.Logout(ctx, agentID)
	case sip.FeatureWrapUp:
		err = a.acd.WrapUpDone(ctx, agentID)
	default:
		return "", fmt.Errorf("unknown feature code %q", code)
	}
	if err != nil {
		a.log.Info("feature code refused", "agent", agentID, "code", code, "err", err)
		return sip.PromptFeatureFailed, nil
	}
	a.disp.poke()
	return sip.PromptFeatureOK, nil
}

// makeAvailable logs an offline agent in with the directory's categories, or
// resumes a paused one.
func (a *app) makeAvailable(ctx context.Context, agentID string) error {
	st, err := a.acd.State(ctx, agentID)
	if err == nil && (st.State == agents.StatePaused || st.State == agents.StateNotResponding) {
		return a.acd.Resume(ctx, agentID)
	}
	ag, err := a.dir.Get(ctx, agentID)
	if err != nil {
		return err
	}
	return a.acd.Login(ctx, agentID, ag.Categories)
}

// locationsAdapter stores the registrar's bindings in agents.Locations.
type locationsAdapter struct {
	l    *agents.Locations
	node string
}

func (a locationsAdapter) Register(ctx context.Context, b sip.AgentBinding) error {
	return a.l.Register(ctx, agents.Registration{AgentID: b.AgentID, Contact: b.Contact, Transport: b.Transport,
		Node: a.node, Source: b.Source, UserAgent: b.UserAgent, Expires: b.Expires})
}

func (a locationsAdapter) Unregister(ctx context.Context, agentID, contact string) error {
	return a.l.Unregister(ctx, agentID, contact)
}

func (a locationsAdapter) Lookup(ctx context.Context, agentID string) (sip.AgentBinding, bool, error) {
	r, err := a.l.Lookup(ctx, agentID)
	if errors.Is(err, agents.ErrNotRegistered) {
		return sip.AgentBinding{}, false, nil
	}
	if err != nil {
		return sip.AgentBinding{}, false, err
	}
	left := max(r.Expires-time.Since(r.RegisteredAt), time.Second).Truncate(time.Second)
	return sip.AgentBinding{AgentID: r.AgentID, Contact: r.Contact, Transport: r.Transport,
		Source: r.Source, UserAgent: r.UserAgent, Expires: left}, true, nil
}

// ticketSubmitted ends the wrap-up of the agent who took the call once its
// ticket is entered (S12): only then is the agent offered new calls.
func (a *app) ticketSubmitted(ctx context.Context, k tickets.Ticket) {
	if k.AgentID == "" {
		return
	}
	st, err := a.acd.State(ctx, k.AgentID)
	if err != nil || st.State != agents.StateWrapUp || (st.CallID != "" && st.CallID != k.CallID) {
		return
	}
	if err := a.acd.WrapUpDone(ctx, k.AgentID); err != nil {
		a.log.Info("wrap-up not ended after the ticket", "agent", k.AgentID, "ref", k.Ref, "err", err)
		return
	}
	a.disp.poke()
}
