package agents

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/configs"
	"github.com/hotline-dev/hotline/sip/siptest/poll"
	"github.com/hotline-dev/hotline/tickets"
	"github.com/hotline-dev/hotline/tickets/pgtest"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// newHistoryPool returns a pool on a fresh database migrated to the current
// schema (agent_state_history comes from 0002) with agent 1001 in the
// directory (the history references it).
func newHistoryPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	_, pool := pgtest.Migrated(t, tickets.Migrate)
	agent := Agent{ID: "1001", DisplayName: "Li Na", StaffNumber: "1001", Categories: []string{"inquiry"}, Role: RoleAgent}
	if err := NewDirectory(pool, "hotline.test").Add(ctx, agent, "correct horse battery"); err != nil {
		t.Fatalf("add agent: %v", err)
	}
	return pool
}

type historyRow struct{ state, reason, node, callID string }

func historyRows(t *testing.T, pool *pgxpool.Pool) []historyRow {
	t.Helper()
	rows, err := pool.Query(context.Background(),
		`SELECT state, coalesce(reason, ''), coalesce(node, ''), coalesce(call_id, '')
		 FROM agent_state_history WHERE agent_id = '1001' ORDER BY id`)
	if err != nil {
		t.Fatalf("query history: %v", err)
	}
	defer rows.Close()
	var out []historyRow
	for rows.Next() {
		var r historyRow
		if err := rows.Scan(&r.state, &r.reason, &r.node, &r.callID); err != nil {
			t.Fatalf("scan history: %v", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read history: %v", err)
	}
	return out
}

// Every transition becomes a row, written by Run off the routing path.
func TestHistoryRecordsTransitions(t *testing.T) {
	pool := newHistoryPool(t)
	ctx, cancel := context.WithCancel(context.Background())
	e := newTestACD(t, ACDOptions{History: NewPGHistory(pool), NodeTTL: time.Hour})
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	e.login(t, "1001", "inquiry")
	mustEnqueue(t, e.q, configs.QueueEntry{CallID: "c1", Category: "inquiry", EnqueuedAt: at(1)})
	e.match(t)
	e.must(t, "answer", e.Answered(ctx, "c1", "1001"))
	e.must(t, "hangup", e.Hangup(ctx, "1001", time.Minute, "inquiry"))
	e.must(t, "pause", e.Pause(ctx, "1001", "lunch"))
	want := []historyRow{
		{"available", "", "node-a", ""},
		{"ringing", "", "node-a", "c1"},
		{"on_call", "", "node-a", "c1"},
		{"wrap_up", "", "node-a", "c1"},
		{"paused", "lunch", "node-a", ""},
	}
	poll.Until(t, "history rows", func() bool { return len(historyRows(t, pool)) == len(want) })
	if got := historyRows(t, pool); !slices.Equal(got, want) {
		t.Fatalf("history = %+v, want %+v", got, want)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}

// A history that cannot keep up never blocks routing: the overflow is
// dropped and counted; what was buffered is written at shutdown.
func TestHistoryBufferFullDrops(t *testing.T) {
	pool := newHistoryPool(t)
	reg := prometheus.NewRegistry()
	e := newTestACD(t, ACDOptions{History: NewPGHistory(pool), HistoryBuffer: 2, Metrics: NewMetrics(reg)})
	ctx := context.Background()
	e.login(t, "1001", "inquiry")
	for range 2 {
		e.must(t, "pause", e.Pause(ctx, "1001", "lunch"))
	}
	if got, _ := sample(t, reg, "hotline_agents_state_history_dropped_total", nil); got != 1 {
		t.Fatalf("dropped = %v, want 1", got)
	}
	stopped, cancel := context.WithCancel(ctx)
	cancel()
	if err := e.Run(stopped); err != nil {
		t.Fatalf("run: %v", err)
	}
	if got := historyRows(t, pool); len(got) != 2 || got[0].state != "available" || got[1].state != "paused" {
		t.Fatalf("history after drain = %+v, want available and paused", got)
	}
}

// Agents by state are read from Redis at scrape time; the routing counters
// follow the calls.
func TestACDMetrics(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	e := newTestACD(t, ACDOptions{Metrics: NewMetrics(reg)})
	e.login(t, "1001", "inquiry")
	e.login(t, "1002", "inquiry")
	e.login(t, "1003", "inquiry")
	e.must(t, "pause", e.Pause(ctx, "1003", "lunch"))
	mustEnqueue(t, e.q, configs.QueueEntry{CallID: "c1", Category: "inquiry", EnqueuedAt: at(1)})
	e.match(t)
	e.must(t, "miss", e.Missed(ctx, "c1", "1001", MissNoAnswer))
	tests := []struct {
		name   string
		metric string
		labels map[string]string
		want   float64
	}{
		{"available", "hotline_agents_by_state", map[string]string{"state": "available"}, 2},
		{"paused", "hotline_agents_by_state", map[string]string{"state": "paused"}, 1},
		{"on call is zero", "hotline_agents_by_state", map[string]string{"state": "on_call"}, 0},
		{"matches", "hotline_agents_matches_total", map[string]string{"category": "inquiry", "mode": "one"}, 1},
		{"misses", "hotline_agents_misses_total", map[string]string{"reason": "no_answer"}, 1},
		{"match latency observed", "hotline_agents_match_seconds", nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, ok := sample(t, reg, tt.metric, tt.labels); !ok || got != tt.want {
				t.Fatalf("%s%v = %v (present %v), want %v", tt.metric, tt.labels, got, ok, tt.want)
			}
		})
	}
}

// Rows carry the time Redis made the transition, not the time the writer got
// to them (it may be seconds behind under load), and a batch with a row the
// database refuses (an agent no longer in the directory) still writes the rest.
func TestHistoryBatchTimesAndBadRow(t *testing.T) {
	pool := newHistoryPool(t)
	ctx := context.Background()
	h := NewPGHistory(pool)
	t1 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	events := []Event{
		{Agent: "1001", To: StateAvailable, Node: "node-a", At: t1},
		{Agent: "no-such-agent", To: StateAvailable, Node: "node-a", At: t1.Add(time.Second)},
		{Agent: "1001", To: StateRinging, Node: "node-a", CallID: "c1", At: t1.Add(2 * time.Second)},
	}
	err := h.RecordStates(ctx, events)
	if err == nil || !strings.Contains(err.Error(), "no-such-agent") {
		t.Fatalf("RecordStates = %v, want an error naming the unknown agent", err)
	}
	rows, qerr := pool.Query(ctx, `SELECT state, at FROM agent_state_history WHERE agent_id = '1001' ORDER BY id`)
	if qerr != nil {
		t.Fatal(qerr)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var state string
		var at time.Time
		if err := rows.Scan(&state, &at); err != nil {
			t.Fatal(err)
		}
		got = append(got, state+"@"+at.UTC().Format(time.TimeOnly))
	}
	want := []string{"available@09:00:00", "ringing@09:00:02"}
	if !slices.Equal(got, want) {
		t.Fatalf("rows %v, want %v", got, want)
	}
}

// The ACD's transitions reach the table with the ACD's clock (t0 here).
func TestHistoryRowsAtTransitionTime(t *testing.T) {
	pool := newHistoryPool(t)
	ctx, cancel := context.WithCancel(context.Background())
	e := newTestACD(t, ACDOptions{History: NewPGHistory(pool), NodeTTL: time.Hour})
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	e.login(t, "1001", "inquiry")
	poll.Until(t, "history row", func() bool { return len(historyRows(t, pool)) == 1 })
	var at time.Time
	if err := pool.QueryRow(ctx, `SELECT at FROM agent_state_history WHERE agent_id = '1001'`).Scan(&at); err != nil {
		t.Fatal(err)
	}
	if !at.Equal(t0.Truncate(time.Millisecond)) {
		t.Errorf("row at %v, want the transition's time %v", at, t0)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}
