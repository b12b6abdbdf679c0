package dispatch

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/tickets"
	"github.com/hotline-dev/hotline/tickets/pgtest"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func newOwnerQueue(t *testing.T, pool *pgxpool.Pool) (*queue, prometheus.Counter) {
	t.Helper()
	cal, err := tickets.LoadCalendar("../../configs/calendar.yaml")
	if err != nil {
		t.Fatalf("load calendar: %v", err)
	}
	kr, err := tickets.ParseKeyring(strings.Repeat("ab", 32))
	if err != nil {
		t.Fatalf("keyring: %v", err)
	}
	store, err := tickets.NewStore(pool, tickets.StoreOptions{Calendar: cal, IDs: kr})
	if err != nil {
		t.Fatalf("new store: %v", err)
	}
	late := prometheus.NewCounter(prometheus.CounterOpts{Name: "owner_lookup_late_total"})
	return newQueue(nil, store, time.Hour, slog.New(slog.DiscardHandler), late, nil), late
}

// S16: the owner of a repeat caller's open ticket is looked up from the
// answer on (lookAhead) and is there when the caller is queued.
func TestOwnerLookAhead(t *testing.T) {
	ctx := context.Background()
	_, pool := pgtest.Migrated(t, tickets.Migrate)
	w, err := tickets.NewWriter(pool, tickets.WriterOptions{SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatalf("new writer: %v", err)
	}
	end := time.Now().Add(-time.Minute)
	first := tickets.CallRecord{ID: "first-call", SIPCallID: "s1", Caller: "13800138000", Dialled: "12345",
		Category: "complaint", Node: "n", StartedAt: end.Add(-2 * time.Minute), AnsweredAt: end.Add(-2 * time.Minute),
		EndedAt: end, Outcome: "answered", HungUpBy: "caller", AgentID: "1001"}
	if err := w.SaveAnsweredCall(ctx, first, tickets.DraftFacts{}); err != nil {
		t.Fatalf("save the first call: %v", err)
	}
	a, late := newOwnerQueue(t, pool)
	forget := a.lookAhead(ctx, "repeat-call", "13800138000")
	defer forget()
	if got := a.owner(ctx, "repeat-call", "13800138000"); got != "1001" {
		t.Fatalf("owner of the repeat caller = %q, want 1001", got)
	}
	if got := a.owner(ctx, "new-call", "13900139000"); got != "" {
		t.Fatalf("owner of a first-time caller = %q, want none", got)
	}
	if n := testutil.ToFloat64(late); n != 0 {
		t.Fatalf("late lookups = %v, want 0", n)
	}
}

// A database that does not answer keeps the caller from the queue for at
// most ownerWaitMax: queued without the owner preference, and counted.
func TestOwnerLookupBounded(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never speaks
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	cfg, err := pgxpool.ParseConfig("postgres://x@" + ln.Addr().String() + "/x?connect_timeout=30")
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("pool: %v", err)
	}
	defer pool.Close()
	a, late := newOwnerQueue(t, pool)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	forget := a.lookAhead(ctx, "stuck-call", "13800138000")
	defer forget()
	start := time.Now()
	got := a.owner(ctx, "stuck-call", "13800138000")
	took := time.Since(start)
	if got != "" {
		t.Fatalf("owner with a silent database = %q, want none", got)
	}
	if took < ownerWaitMax || took > ownerWaitMax+2*time.Second {
		t.Fatalf("queueing waited %s for a silent database, want about %s", took, ownerWaitMax)
	}
	if n := testutil.ToFloat64(late); n != 1 {
		t.Fatalf("late lookups = %v, want 1", n)
	}
}
