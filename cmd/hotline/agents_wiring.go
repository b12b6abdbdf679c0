package main

import (
	"context"
	"errors"
	"time"

	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/agents/dispatch"
	"github.com/hotline-dev/hotline/ivr"
	"github.com/hotline-dev/hotline/sip"
	"github.com/hotline-dev/hotline/tickets"
	"github.com/redis/go-redis/v9"
)

// wireAgents builds the agent side: directory (PostgreSQL), registrations,
// bans, queue and the ACD (Redis). The ACD's restart hook reaches the router,
// which is built once the SIP server exists (wireRouter).
func (a *app) wireAgents(m *agents.Metrics) {
	cfg := a.cfg
	a.dir = agents.NewDirectory(a.pool, cfg.Registrar.Realm)
	a.bans = agents.NewBans(a.rdb, cfg.Queue.KeyPrefix, agents.BanOptions{})
	a.queue = agents.NewQueue(a.rdb, agents.QueueOptions{
		Prefix: cfg.Queue.KeyPrefix, Node: cfg.Node,
		DefaultHandleTime: time.Duration(cfg.Queue.DefaultHandleTime), Metrics: m,
	})
	// The heartbeat gets a connection of its own: on a node busy with calls,
	// waiting for the shared pool could let its alive key lapse.
	beatOpt := *a.rdb.Options()
	beatOpt.PoolSize, beatOpt.MinIdleConns = 1, 1
	a.beats = redis.NewClient(&beatOpt)
	a.acd = agents.NewACD(a.rdb, agents.ACDOptions{
		Heartbeats: a.beats,
		Prefix:     cfg.Queue.KeyPrefix, Node: cfg.Node, MaxNoAnswer: cfg.ACD.MaxNoAnswer,
		WrapUpMax: time.Duration(cfg.ACD.WrapUpMax), OwnerWait: time.Duration(cfg.ACD.OwnerWait),
		NodeTTL: time.Duration(cfg.ACD.NodeTTL), RingAll: cfg.ACD.RingAll,
		// A reservation outlives the ring it covers.
		Reservation: time.Duration(cfg.ACD.RingTimeout) + 10*time.Second,
		History:     agents.NewPGHistory(a.pool), Metrics: m, Logger: a.log,
		OnRestart: func(ctx context.Context) { a.router.Republish(ctx) },
		OnLost:    func(ctx context.Context, calls []agents.LiveCall) { a.router.CloseLost(ctx, calls) },
	})
	a.locs = agents.NewLocations(a.rdb, cfg.Queue.KeyPrefix, agents.LocationsOptions{
		// Un-REGISTER and expiry take the agent out of routing.
		OnChange: func(agentID string, registered bool) {
			if registered {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			a.router.Unregistered(ctx, agentID)
		},
	})
}

// wireRouter builds the routing between callers and agents over the SIP server.
func (a *app) wireRouter(cal *tickets.Calendar) error {
	cfg := a.cfg
	off := map[string]bool{}
	for cat, on := range cfg.Recording.Categories {
		off[cat] = !on
	}
	r, err := dispatch.New(dispatch.Options{
		Node: cfg.Node, ACD: a.acd, Directory: a.dir, Locations: a.locs, Queue: a.queue,
		Phones: phones{srv: a.sip, holdMusic: ivr.PromptHoldMusic}, Records: a.writer, Tickets: a.store,
		IVR: cfg.IVR, Hours: cal,
		RingTimeout:           time.Duration(cfg.ACD.RingTimeout),
		ServiceLevelThreshold: time.Duration(cfg.ACD.ServiceLevelThreshold),
		RepeatWindow:          time.Duration(a.rules.RepeatWindow),
		Recording:             dispatch.Recording{Dir: cfg.Recording.Dir, Off: off},
		Specialists:           cfg.Transfer.Specialists,
		PauseReasons:          cfg.Agents.PauseReasons,
		WrapUpUntilSubmitted:  cfg.Agents.WrapUpUntilSubmitted,
		EntryWindow:           time.Duration(cfg.Tickets.EntryWindow),
		Callbacks:             a.callbacks(),
		Registerer:            a.reg, Logger: a.log,
	})
	if err != nil {
		return err
	}
	a.router = r
	return nil
}

// callbacks is how routing places callback requests (S9): off, with the
// requests still ticketed, when no trunk is configured.
func (a *app) callbacks() dispatch.Callbacks {
	c := a.cfg.Callbacks
	out := dispatch.Callbacks{Store: a.store, MaxAttempts: c.MaxAttempts, RetryAfter: time.Duration(c.RetryAfter),
		CallerWait: time.Duration(c.CallerWait), AllowedPrefixes: c.AllowedPrefixes, DefaultCategory: c.DefaultCategory,
		RingTimeout: time.Duration(c.RingTimeout), Interval: time.Duration(c.Interval), MaxActive: c.MaxActive}
	if c.Trunk == "" {
		a.log.Info("callbacks are not placed: no callbacks.trunk configured; requests still become tickets")
		return out
	}
	out.Trunk = trunk{srv: a.sip, cfg: c}
	a.log.Info("callbacks are placed", "trunk", c.Trunk, "allowed_prefixes", c.AllowedPrefixes,
		"max_attempts", c.MaxAttempts, "digest", c.TrunkUser != "")
	return out
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
	go a.router.Run(ctx)
}

// featureCode runs an agent's feature code dialled from the softphone.
func (a *app) featureCode(ctx context.Context, agentID, code string) (string, error) {
	f, ok := featureOf[code]
	if !ok {
		return "", errors.New("unknown feature code " + code)
	}
	return "", a.router.Feature(ctx, agentID, f)
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
