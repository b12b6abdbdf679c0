package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/agents/dispatch"
	"github.com/hotline-dev/hotline/ivr"
	"github.com/hotline-dev/hotline/sip"
	"github.com/hotline-dev/hotline/sip/media"
	"github.com/hotline-dev/hotline/tickets"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
)

// app is one running node: every part wired together.
type app struct {
	cfg     Config
	log     *slog.Logger
	reg     *prometheus.Registry
	pool    *pgxpool.Pool
	rdb     *redis.Client
	beats   *redis.Client // the ACD heartbeat's own connection
	writer  *tickets.Writer
	sip     *sip.Server
	pacer   *media.Pacer
	health  *health
	prompts media.Library
	acd     *agents.ACD
	dir     *agents.Directory
	locs    *agents.Locations
	bans    *agents.Bans
	queue   *agents.Queue
	router  *dispatch.Router
	store   *tickets.Store
	sweeper *tickets.Sweeper
	keyring *tickets.Keyring
	rules   *tickets.DeadlineRules
	alerts  *tickets.AlertBuffer

	ready    chan struct{} // closed once every listener is up
	httpAddr string        // the API listener
	opsAddr  string        // metrics, health, pprof
}

func newApp(ctx context.Context, cfg Config, log *slog.Logger) (*app, error) {
	cal, err := tickets.LoadCalendar(cfg.Calendar.File)
	if err != nil {
		return nil, fmt.Errorf("calendar: %w", err)
	}
	pool, rdb, err := connect(ctx, cfg)
	if err != nil {
		return nil, err
	}
	a := &app{cfg: cfg, log: log, reg: prometheus.NewRegistry(), pool: pool, rdb: rdb, ready: make(chan struct{})}
	if err := tickets.CheckSchema(ctx, pool); err != nil {
		a.close()
		return nil, err
	}
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := a.wire(cal); err != nil {
		a.close()
		return nil, err
	}
	return a, nil
}

// wire builds the parts and adapts one package to another.
func (a *app) wire(cal *tickets.Calendar) error {
	cfg := a.cfg
	tm := tickets.NewMetrics(a.reg)
	if err := a.wireTickets(cal, tm); err != nil {
		return err
	}
	w, err := tickets.NewWriter(a.pool, tickets.WriterOptions{
		SpoolDir: filepath.Join(cfg.DataDir, "spool"), Logger: a.log, Metrics: tm,
		EntryWindow: time.Duration(cfg.Tickets.EntryWindow), BacklogLimit: time.Duration(cfg.Tickets.SpoolDegradedAfter),
		// S12: the agent's panel shows the draft once it is committed.
		OnDraft: func(ctx context.Context, d tickets.DraftWritten) {
			a.router.DraftWritten(ctx, d.AgentID, d.CallID, d.Ref, d.EntryDeadline)
		},
	})
	if err != nil {
		return fmt.Errorf("record writer: %w", err)
	}
	a.writer = w
	library, err := loadPrompts(cfg.IVR)
	if err != nil {
		return err
	}
	a.prompts = library
	lo, hi, _ := sip.ParsePortRange(cfg.SIP.RTPPorts)
	ports, err := media.NewPortPool(lo, hi)
	if err != nil {
		return fmt.Errorf("rtp ports: %w", err)
	}
	mm := media.NewMetrics(a.reg)
	a.pacer = media.NewPacerConfig(media.PacerConfig{Metrics: mm, Logger: a.log, Send: cfg.SIP.RTPSend, Receive: cfg.SIP.RTPReceive, Realtime: cfg.SIP.RTPPriority == media.PriorityRealtime, Relay: cfg.SIP.RTPRelay})
	a.wireAgents(agents.NewMetrics(a.reg))
	registrar := sip.NewRegistrar(cfg.Registrar, a.dir, locationsAdapter{a.locs, cfg.Node}, a.bans, a.log,
		sip.NewRegistrarMetrics(a.reg))
	a.sip, err = sip.NewServer(sip.Options{
		Config: cfg.SIP, Prompts: library, Ports: ports, Pacer: a.pacer,
		Handler:        func(ctx context.Context, c *sip.Call) { a.router.HandleCall(ctx, c) },
		TransferTarget: a.transferTarget,
		Logger:         a.log, Metrics: sip.NewMetrics(a.reg), MediaMetrics: mm, ConnMetrics: sip.NewConnMetrics(a.reg),
		Registrar: registrar, Feature: a.featureCode, Banned: a.bans.IsBanned,
	})
	if err != nil {
		return err
	}
	if err := a.wireRouter(cal); err != nil {
		return fmt.Errorf("routing: %w", err)
	}
	a.reg.MustRegister(a.sip.GuardCollector())
	a.health = newHealth(a.pool, a.rdb, a.sip, a.writer, cal, a.log)
	a.reg.MustRegister(newNodeCollector(a.health))
	return nil
}

// loadPrompts decodes the embedded prompts of every language the IVR speaks
// once and encodes them once per codec: the home language's under their
// names ("menu"), the others' as ivr.PromptID names ("en/menu").
func loadPrompts(c ivr.Config) (media.Library, error) {
	lib := media.Library{}
	for _, lang := range c.SpokenLanguages() {
		pcm, err := ivr.Prompts(lang)
		if err != nil {
			return nil, fmt.Errorf("prompts: %w", err)
		}
		for name, samples := range pcm {
			if lang != c.Language {
				name = ivr.PromptID(lang, name)
			}
			lib[name] = media.NewPrompt(name, samples)
		}
	}
	return lib, nil
}

func (a *app) close() {
	if a.beats != nil {
		a.beats.Close()
	}
	if a.rdb != nil {
		a.rdb.Close()
	}
	if a.pool != nil {
		a.pool.Close()
	}
}
