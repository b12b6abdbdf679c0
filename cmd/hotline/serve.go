package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hotline-dev/hotline/agents"
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
	writer  *tickets.Writer
	flow    *ivr.Flow
	sip     *sip.Server
	pacer   *media.Pacer
	health  *health
	metrics *appMetrics
	prompts media.Library
	acd     *agents.ACD
	dir     *agents.Directory
	locs    *agents.Locations
	bans    *agents.Bans
	disp    *dispatcher
	queue   *queueAdapter
	store   *tickets.Store
	sweeper *tickets.Sweeper
	keyring *tickets.Keyring
	rules   *tickets.DeadlineRules
	alerts  *tickets.AlertBuffer

	ready    chan struct{} // closed once every listener is up
	httpAddr string
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

// connect opens PostgreSQL and Redis and checks both answer, with a clear error.
func connect(ctx context.Context, cfg Config) (*pgxpool.Pool, *redis.Client, error) {
	pool, err := openDB(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	opt, err := redisOptions(cfg.RedisURL)
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	rdb := redis.NewClient(opt)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		pool.Close()
		rdb.Close()
		return nil, nil, fmt.Errorf("redis at %s is unreachable (%v): start it or set HOTLINE_REDIS_URL", opt.Addr, err)
	}
	return pool, rdb, nil
}

// redisOptions reads HOTLINE_REDIS_URL with the server's pool defaults;
// pool_size=N and min_idle_conns=N in the URL override them.
func redisOptions(url string) (*redis.Options, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("HOTLINE_REDIS_URL: %w", err)
	}
	if !strings.Contains(url, "pool_size") {
		// go-redis's default (10 per CPU) had calls, matching and the
		// registrar wait for a connection at a few hundred calls/s.
		opt.PoolSize = defaultRedisConns
	}
	if !strings.Contains(url, "min_idle_conns") {
		// Dial the whole pool up front and keep it. go-redis otherwise grows
		// the pool on demand, so the first burst of calls after a quiet
		// spell dials dozens of connections inside it, each a TCP handshake,
		// HELLO and CLIENT SETINFO in Redis at its busiest moment (seen on
		// the wire in the matching benchmark).
		opt.MinIdleConns = opt.PoolSize
	}
	// CLIENT SETINFO (Redis 7.2+) only labels the connection; Redis 7.0,
	// Debian 12's, answers it with an error: a wasted round trip per
	// connection.
	opt.DisableIdentity = true
	return opt, nil
}

// defaultDBConns is the pool size when HOTLINE_DATABASE_URL names none
// (pool_max_conns=N in the URL overrides it).
const defaultDBConns = 16

// defaultRedisConns is the Redis pool size when HOTLINE_REDIS_URL names none
// (pool_size=N in the URL overrides it).
const defaultRedisConns = 64

func openDB(ctx context.Context, cfg Config) (*pgxpool.Pool, error) {
	pcfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("HOTLINE_DATABASE_URL: %w", err)
	}
	pcfg.ConnConfig.ConnectTimeout = 5 * time.Second
	if !strings.Contains(cfg.DatabaseURL, "pool_max_conns") {
		// pgxpool's default (max(4, CPUs)) makes the call records, the
		// nuisance check (S21) and the agent state history queue behind
		// each other at a few hundred calls/s on 2 cores.
		pcfg.MaxConns = defaultDBConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("postgresql: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgresql at %s:%d is unreachable (%v): start it or set HOTLINE_DATABASE_URL",
			pcfg.ConnConfig.Host, pcfg.ConnConfig.Port, firstLine(err))
	}
	return pool, nil
}

func migrate(ctx context.Context, cfg Config) error {
	pool, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	applied, err := tickets.Migrate(ctx, pool)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if len(applied) == 0 {
		fmt.Println("schema is up to date")
	}
	for _, a := range applied {
		fmt.Println("applied", a)
	}
	return nil
}

// serve runs the node until SIGINT/SIGTERM: the first signal drains (new calls
// get 503, calls in progress finish), a second one hangs up everything.
func serve(cfg Config) error {
	logw := newLogWriter(os.Stderr)
	defer logw.Close() // last, after the app's own shutdown lines
	log := newLogger(logw, cfg.LogLevel)
	slog.SetDefault(log)
	cfg.Runtime.apply(log)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	a, err := newApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.close()

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	return a.run(ctx, sigs)
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
	a.metrics = newAppMetrics(a.reg)
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
		EntryWindow: time.Duration(cfg.Tickets.EntryWindow),
	})
	if err != nil {
		return fmt.Errorf("record writer: %w", err)
	}
	a.writer = w
	agentsMetrics := agents.NewMetrics(a.reg)
	queue := agents.NewQueue(a.rdb, agents.QueueOptions{
		Prefix: cfg.Queue.KeyPrefix, Node: cfg.Node,
		DefaultHandleTime: time.Duration(cfg.Queue.DefaultHandleTime), Metrics: agentsMetrics,
	})
	a.queue = newQueueAdapter(queue, a.store, time.Duration(a.rules.RepeatWindow), a.log.With("component", "queue"), a.metrics.ownerLate)
	a.flow, err = ivr.NewFlow(cfg.IVR, cal, a.queue, recordsAdapter{w}, realClock{}, a.log, ivr.NewMetrics(a.reg))
	if err != nil {
		return fmt.Errorf("ivr flow: %w", err)
	}
	library, err := loadPrompts(cfg.IVR.Language)
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
	a.pacer = media.NewPacerConfig(media.PacerConfig{Metrics: mm, Logger: a.log, Send: cfg.SIP.RTPSend, Receive: cfg.SIP.RTPReceive, Realtime: cfg.SIP.RTPPriority == media.PriorityRealtime})
	a.wireAgents(agentsMetrics)
	registrar := sip.NewRegistrar(cfg.Registrar, a.dir, locationsAdapter{a.locs, cfg.Node}, a.bans, a.log,
		sip.NewRegistrarMetrics(a.reg))
	a.sip, err = sip.NewServer(sip.Options{
		Config: cfg.SIP, Handler: a.handleCall, Prompts: library, Ports: ports, Pacer: a.pacer,
		Logger: a.log, Metrics: sip.NewMetrics(a.reg), MediaMetrics: mm,
		Registrar: registrar, Feature: a.featureCode, Banned: a.bans.IsBanned,
		TransferTarget: a.transferTarget,
	})
	if err != nil {
		return err
	}
	a.flow.SetAgents(&connector{a: a, disp: a.disp})
	a.flow.SetTickets(a.store)
	a.reg.MustRegister(newGuardCollector(a.sip))
	a.health = newHealth(a.pool, a.rdb, a.sip)
	return nil
}

// loadPrompts decodes the embedded prompts once and encodes them once per codec.
func loadPrompts(lang string) (media.Library, error) {
	pcm, err := ivr.Prompts(lang)
	if err != nil {
		return nil, fmt.Errorf("prompts: %w", err)
	}
	lib := make(media.Library, len(pcm))
	for name, samples := range pcm {
		lib[name] = media.NewPrompt(name, samples)
	}
	return lib, nil
}

func (a *app) close() {
	if a.rdb != nil {
		a.rdb.Close()
	}
	if a.pool != nil {
		a.pool.Close()
	}
}

// run starts every goroutine and owns them until shutdown.
func (a *app) run(ctx context.Context, sigs <-chan os.Signal) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 5)
	go func() { errc <- a.pacer.Run(ctx) }()
	wctx, wcancel := context.WithCancel(context.WithoutCancel(ctx))
	wdone := make(chan error, 1)
	go func() { wdone <- a.writer.Run(wctx) }()
	go func() { errc <- a.sip.Run(ctx) }()
	a.runAgents(ctx)
	go func() {
		if err := a.sweeper.Run(ctx); err != nil && ctx.Err() == nil {
			a.log.Error("ticket sweeper stopped", "err", err)
		}
	}()
	httpSrv, err := a.startHTTP(ctx, errc)
	if err != nil {
		cancel()
		wcancel()
		return err
	}
	select {
	case <-a.sip.Ready():
	case err := <-errc:
		cancel()
		wcancel()
		return err
	}
	go a.health.run(ctx)
	a.httpAddr = httpSrv.Addr
	close(a.ready)
	fmt.Fprintf(os.Stderr, "hotline %s ready: SIP udp %s and tcp %s (dial %s), HTTP %s (/metrics /healthz /readyz; panel comes with the tickets issue)\n",
		a.cfg.Node, a.sip.UDPAddr(), a.sip.TCPAddr(), a.cfg.SIP.Hotline, httpSrv.Addr)

	var runErr error
	select {
	case <-sigs:
		a.drain(sigs)
	case runErr = <-errc:
	}
	cancel()
	shutdownHTTP(httpSrv)
	// The writer outlives the calls: their records are written (or spooled) first.
	wcancel()
	<-wdone
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		return runErr
	}
	return nil
}

// drain refuses new calls and waits for calls in progress; a second signal
// hangs up everything.
func (a *app) drain(sigs <-chan os.Signal) {
	a.beginDrain()
	n := a.sip.ActiveCalls()
	a.log.Info("draining: new calls get 503; waiting for calls in progress (signal again to hang up all)", "calls", n)
	waitCtx, stop := context.WithCancel(context.Background())
	defer stop()
	go func() {
		select {
		case <-sigs:
			a.log.Warn("second signal: hanging up every call")
			a.sip.HangupAll()
		case <-waitCtx.Done():
		}
	}()
	_ = a.sip.Wait(waitCtx)
	a.log.Info("drained")
}

// beginDrain refuses new calls (503) and turns /readyz false.
func (a *app) beginDrain() {
	a.sip.Drain()
	a.health.setDraining()
}
