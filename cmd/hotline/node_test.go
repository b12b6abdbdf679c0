package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/agents/redistest"
	"github.com/hotline-dev/hotline/configs"
	"github.com/hotline-dev/hotline/ivr"
	"github.com/hotline-dev/hotline/tickets"
	"github.com/hotline-dev/hotline/tickets/pgtest"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
)

// Calendars for end-to-end nodes: always open, or always closed (S9).
const (
	calendarOpen = `timezone: Asia/Shanghai
weekly:
  mon: ["00:00-24:00"]
  tue: ["00:00-24:00"]
  wed: ["00:00-24:00"]
  thu: ["00:00-24:00"]
  fri: ["00:00-24:00"]
  sat: ["00:00-24:00"]
  sun: ["00:00-24:00"]
`
)

// calendarClosed is closed now: yesterday, today and tomorrow (Asia/Shanghai)
// are holidays, as on a real public holiday (S9).
func calendarClosed() string {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	now := time.Now().In(loc)
	var b strings.Builder
	b.WriteString("timezone: Asia/Shanghai\nweekly:\n")
	for _, d := range []string{"mon", "tue", "wed", "thu", "fri"} {
		b.WriteString("  " + d + ": [\"09:00-12:00\", \"13:00-17:00\"]\n")
	}
	b.WriteString("  sat: []\n  sun: []\nholidays:\n")
	for _, off := range []int{-1, 0, 1} {
		b.WriteString("  - \"" + now.AddDate(0, 0, off).Format(time.DateOnly) + "\"\n")
	}
	return b.String()
}

// testNode is one hotline node running in the test process on loopback, with
// its own PostgreSQL database and Redis key prefix.
type testNode struct {
	t      *testing.T
	app    *app
	cfg    Config
	sigs   chan os.Signal
	done   chan error
	pool   *pgxpool.Pool
	rdb    *redis.Client
	queue  *agents.Queue
	target string // sip:12345@127.0.0.1:port
	sipHP  string // 127.0.0.1:port
}

// startNode starts a node with test-sized IVR timings; mutate adjusts the config.
func startNode(t *testing.T, calendar string, mutate func(*Config)) *testNode {
	t.Helper()
	dir := t.TempDir()
	calPath := filepath.Join(dir, "calendar.yaml")
	if err := os.WriteFile(calPath, []byte(calendar), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Node = "test-" + randHex(3)
	cfg.DataDir = dir
	cfg.LogLevel = "debug"
	cfg.SIP.Listen = "127.0.0.1:0"
	cfg.SIP.RTPPorts = "30000-39998"
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.HTTP.OpsListen = "127.0.0.1:0"
	cfg.Calendar.File = calPath
	cfg.Recording.Dir = filepath.Join(dir, "recordings")
	cfg.RedisURL = redistest.URL()
	// The prefix's keys are deleted after n.stop (cleanups run last first).
	cfg.Queue.KeyPrefix = redistest.Prefix(t, redistest.Client(t))
	cfg.IVR.MenuTimeout = configs.Duration(2 * time.Second)
	cfg.IVR.MaxRetries = 2
	cfg.IVR.AnnounceInterval = configs.Duration(4 * time.Second)
	cfg.IVR.MaxWait = configs.Duration(60 * time.Second)
	cfg.IVR.CallbackTimeout = configs.Duration(3 * time.Second)
	cfg.DatabaseURL = pgtest.NewDatabase(t)
	cfg.SecretKey = strings.Repeat("5a", 32) // hex, 32 bytes
	cfg.Tickets.DeadlinesFile = filepath.Join(repoRoot(t), "configs", "deadlines.yaml")
	if mutate != nil {
		mutate(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config: %v", err)
	}
	ctx := context.Background()
	if err := migrate(ctx, cfg); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	logw := io.Discard
	if os.Getenv("HOTLINE_TEST_LOG") != "" {
		logw = os.Stderr
	}
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", cfg.Node)
	a, err := newApp(ctx, cfg, log)
	if err != nil {
		t.Fatalf("start node: %v", err)
	}
	n := &testNode{t: t, app: a, cfg: cfg, sigs: make(chan os.Signal, 2), done: make(chan error, 1),
		pool: a.pool, rdb: a.rdb}
	n.queue = agents.NewQueue(a.rdb, agents.QueueOptions{Prefix: cfg.Queue.KeyPrefix, Node: cfg.Node})
	go func() { n.done <- a.run(ctx, n.sigs) }()
	select {
	case <-a.ready:
	case err := <-n.done:
		t.Fatalf("node stopped at start: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("node not ready within 10 s")
	}
	n.sipHP = a.sip.UDPAddr().String()
	n.target = "sip:" + cfg.SIP.Hotline + "@" + n.sipHP
	t.Cleanup(n.stop)
	return n
}

// stop drains the node like SIGTERM and hangs up what is left.
func (n *testNode) stop() {
	n.sigs <- os.Interrupt
	n.sigs <- os.Interrupt
	select {
	case err := <-n.done:
		if err != nil {
			n.t.Errorf("node exit: %v", err)
		}
	case <-time.After(20 * time.Second):
		n.t.Error("node did not stop within 20 s")
	}
	n.app.close()
}

// record waits for the call record of a SIP Call-ID (written at the call's end).
func (n *testNode) record(sipCallID string) tickets.CallRecord {
	n.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		rec, err := tickets.CallBySIPCallID(context.Background(), n.pool, sipCallID)
		if err == nil {
			return rec
		}
		if !errors.Is(err, tickets.ErrNotFound) || time.Now().After(deadline) {
			n.t.Fatalf("call record for %s: %v", sipCallID, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// queueLen is the number of callers waiting in a category's Redis queue.
func (n *testNode) queueLen(category string) int {
	n.t.Helper()
	l, err := n.queue.Len(context.Background(), category)
	if err != nil {
		n.t.Fatalf("queue length: %v", err)
	}
	return l
}

// waitQueueLen polls until the queue has want callers.
func (n *testNode) waitQueueLen(category string, want int) {
	n.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for n.queueLen(category) != want {
		if time.Now().After(deadline) {
			n.t.Fatalf("queue %s: %d waiting, want %d", category, n.queueLen(category), want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// callbacks returns the callback requests stored for a call.
func (n *testNode) callbacks(callID string) []string {
	n.t.Helper()
	rows, err := n.pool.Query(context.Background(),
		`SELECT reason || '/' || coalesce(category, '') FROM callback_requests WHERE call_id = $1`, callID)
	if err != nil {
		n.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			n.t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// repoRoot is two folders up from cmd/hotline.
func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(wd, "..", "..")
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// prompt returns the PCM of an embedded prompt for audio comparisons.
func prompt(t *testing.T, lang, name string) []int16 {
	t.Helper()
	p, err := ivr.Prompts(lang)
	if err != nil {
		t.Fatal(err)
	}
	pcm, ok := p[name]
	if !ok {
		t.Fatalf("no prompt %s/%s", lang, name)
	}
	return pcm
}

// metricsText scrapes the node's /metrics.
func (n *testNode) metricsText() string {
	n.t.Helper()
	body, status := httpGet(n.t, "http://"+n.app.opsAddr+"/metrics")
	if status != 200 {
		n.t.Fatalf("/metrics: status %d", status)
	}
	return body
}
