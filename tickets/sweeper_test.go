package tickets

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/configs"
	"github.com/jackc/pgx/v5/pgxpool"
)

func newTestSweeper(t testing.TB, pool *pgxpool.Pool, m *Metrics, n Notifier, batch int) *Sweeper {
	t.Helper()
	s, err := NewSweeper(pool, SweeperOptions{Notifier: n, Batch: batch, Metrics: m})
	if err != nil {
		t.Fatalf("new sweeper: %v", err)
	}
	return s
}

// TestSweeperFlagsOverdueDrafts covers S12: a draft left alone past its
// entry deadline is flagged, alerted and counted once, with no submission.
func TestSweeperFlagsOverdueDrafts(t *testing.T) {
	f := newStoreFixture(t)
	ctx := context.Background()
	late := f.draft(t, configs.CategoryComplaint, 6*time.Minute)
	onTime := f.draft(t, configs.CategoryComplaint, time.Minute)
	alerts := NewAlertBuffer(10)
	sw := newTestSweeper(t, f.pool, f.metrics, alerts, 0)
	for i, want := range []int{1, 0} {
		res, err := sw.Sweep(ctx)
		if err != nil || res.Overdue != want {
			t.Fatalf("sweep %d: %+v, %v; want %d overdue", i, res, err, want)
		}
	}
	got := alerts.Recent()
	if len(got) != 1 || got[0] != (Alert{Kind: AlertOverdue, TicketRef: late.Ref, Agent: "1001", Category: configs.CategoryComplaint}) {
		t.Fatalf("alerts %+v, want one overdue alert for %s to 1001", got, late.Ref)
	}
	if k, _ := f.store.Get(ctx, onTime.Ref); !k.OverdueFlaggedAt.IsZero() {
		t.Fatal("a draft within its window was flagged")
	}
	overdue, err := f.store.List(ctx, Filter{Overdue: true})
	if err != nil || len(overdue) != 1 || overdue[0].Ref != late.Ref {
		t.Fatalf("overdue list = %v, %v", overdue, err)
	}
	if v := metricValue(t, f.metrics.overdue); v != 1 {
		t.Fatalf("overdue metric = %v, want 1", v)
	}
	k, err := f.store.Submit(ctx, late.Ref, form(configs.CategoryComplaint, ResultFollowUp), "1001", "")
	if err != nil || !k.Late {
		t.Fatalf("late submission after the flag = %v late %v, want accepted and late", err, k.Late)
	}
}

// seedBreached inserts n open tickets whose due time has passed.
func seedBreached(t testing.TB, pool *pgxpool.Pool, n int) {
	t.Helper()
	_, err := pool.Exec(context.Background(), `INSERT INTO tickets (channel, status, category, owner_agent, due_at)
		SELECT 'web', 'open', (ARRAY['complaint', 'emergency'])[1 + g % 2], '1001', now() - interval '1 minute'
		FROM generate_series(1, $1) g`, n)
	if err != nil {
		t.Fatalf("seed tickets: %v", err)
	}
}

// TestEscalationExactlyOnce covers S14/S15: two sweepers (two nodes) run at
// once over many breached tickets; each breach and escalation happens once.
func TestEscalationExactlyOnce(t *testing.T) {
	f := newStoreFixture(t)
	ctx := context.Background()
	const n = 400
	seedBreached(t, f.pool, n)
	alerts := NewAlertBuffer(4 * n)
	var mu sync.Mutex
	var total SweepResult
	sweepAll := func() {
		var wg sync.WaitGroup
		for range 2 {
			sw := newTestSweeper(t, f.pool, f.metrics, alerts, 7)
			wg.Go(func() {
				for range 3 {
					res, err := sw.Sweep(ctx)
					if err != nil {
						t.Errorf("sweep: %v", err)
						return
					}
					mu.Lock()
					total.Breached += res.Breached
					total.Escalated += res.Escalated
					mu.Unlock()
				}
			})
		}
		wg.Wait()
	}
	sweepAll()
	if total.Breached != n || total.Escalated != 0 {
		t.Fatalf("first round: %+v, want %d breached, none escalated", total, n)
	}
	// The further period passes (S15): level 2 is due.
	if _, err := f.pool.Exec(ctx, `UPDATE tickets SET next_escalation_at = now() - interval '1 second'`); err != nil {
		t.Fatalf("age escalations: %v", err)
	}
	sweepAll()
	if total.Escalated != n {
		t.Fatalf("second round: %+v, want %d escalated", total, n)
	}
	assertCount(t, f.pool, `SELECT count(*) FROM ticket_events WHERE kind = 'breach'`, n)
	assertCount(t, f.pool, `SELECT count(*) FROM ticket_events WHERE kind = 'escalated'`, 2*n)
	assertCount(t, f.pool, `SELECT count(*) FROM (SELECT ticket_id FROM ticket_events WHERE kind = 'escalated'
		GROUP BY ticket_id HAVING count(*) = 2) x`, n)
	assertCount(t, f.pool, `SELECT count(*) FROM tickets WHERE escalation_level = 2 AND breached_at IS NOT NULL`, n)
	seen := map[string]int{}
	for _, a := range alerts.Recent() {
		seen[a.Kind+a.TicketRef]++
	}
	if len(seen) != 2*n || len(alerts.Recent()) != 2*n {
		t.Fatalf("%d alerts for %d distinct steps, want %d each", len(alerts.Recent()), len(seen), 2*n)
	}
	if v := metricValue(t, f.metrics.escalations.WithLabelValues("2")); v != n {
		t.Fatalf("level 2 escalations metric = %v, want %d", v, n)
	}
}

// TestEscalationPeriodPerCategory checks the level-2 time stored at breach
// comes from the category's rule (emergency 1h, others 24h).
func TestEscalationPeriodPerCategory(t *testing.T) {
	f := newStoreFixture(t)
	seedBreached(t, f.pool, 2)
	sw := newTestSweeper(t, f.pool, nil, NewAlertBuffer(4), 0)
	if res, err := sw.Sweep(context.Background()); err != nil || res.Breached != 2 || res.Escalated != 0 {
		t.Fatalf("sweep = %+v, %v", res, err)
	}
	assertCount(t, f.pool, `SELECT count(*) FROM tickets WHERE category = 'emergency'
		AND next_escalation_at - breached_at = interval '1 hour'`, 1)
	assertCount(t, f.pool, `SELECT count(*) FROM tickets WHERE category = 'complaint'
		AND next_escalation_at - breached_at = interval '24 hours'`, 1)
}

// TestSweeperUsesPartialIndexes: with many settled tickets the sweeper's
// statements read their partial indexes, not the whole table.
func TestSweeperUsesPartialIndexes(t *testing.T) {
	f := newStoreFixture(t)
	ctx := context.Background()
	_, err := f.pool.Exec(ctx, `INSERT INTO tickets (channel, status, category, due_at, breached_at)
		SELECT 'web', 'closed', 'business', now() - interval '1 day', CASE WHEN g % 3 = 0 THEN now() END
		FROM generate_series(1, 30000) g`)
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
	// Drafts: many abandoned ones already flagged, a few still running.
	_, err = f.pool.Exec(ctx, `INSERT INTO tickets (channel, status, entry_deadline, overdue_flagged_at)
		SELECT 'phone', 'draft', now() + (g - 3000) * interval '1 minute', CASE WHEN g <= 3000 THEN now() END
		FROM generate_series(1, 3020) g`)
	if err != nil {
		t.Fatalf("seed drafts: %v", err)
	}
	seedBreached(t, f.pool, 5)
	if _, err := f.pool.Exec(ctx, `ANALYZE tickets`); err != nil {
		t.Fatalf("analyze: %v", err)
	}
	sw := newTestSweeper(t, f.pool, nil, nil, 0)
	cats, secs := sw.escalationPeriods()
	tests := []struct {
		name, query, index string
		args               []any
	}{
		{"overdue drafts", overdueQuery, "tickets_draft_overdue_idx", []any{200}},
		{"breaches", breachQuery, "tickets_due_idx", []any{200, cats, secs}},
		{"escalations", escalationQuery, "tickets_escalation_idx", []any{200}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := f.pool.Query(ctx, "EXPLAIN "+tt.query, tt.args...)
			if err != nil {
				t.Fatalf("explain: %v", err)
			}
			var plan []string
			for rows.Next() {
				var line string
				if err := rows.Scan(&line); err != nil {
					t.Fatalf("scan plan: %v", err)
				}
				plan = append(plan, line)
			}
			text := strings.Join(plan, "\n")
			if !strings.Contains(text, "Index Scan using "+tt.index) && !strings.Contains(text, "Index Only Scan using "+tt.index) {
				t.Fatalf("plan does not scan %s:\n%s", tt.index, text)
			}
			if strings.Contains(text, "Seq Scan on tickets") {
				t.Fatalf("plan scans the whole table:\n%s", text)
			}
		})
	}
}
