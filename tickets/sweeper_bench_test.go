package tickets

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"
)

// BenchmarkSweepBreaches measures how long the sweeper takes to find and mark
// the breached tickets (S14, S15) among HOTLINE_BENCH_TICKETS settled ones
// (default 10000; 1000000 for the target's figure): 1,000 open tickets are past
// due and every other ticket is closed, resolved or not yet due. The partial
// indexes keep this independent of the table's size.
func BenchmarkSweepBreaches(b *testing.B) {
	f := newStoreFixture(b)
	ctx := context.Background()
	prefill := 10000
	if v := os.Getenv("HOTLINE_BENCH_TICKETS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			b.Fatalf("HOTLINE_BENCH_TICKETS=%q is not a count", v)
		}
		prefill = n
	}
	if _, err := f.pool.Exec(ctx, `INSERT INTO tickets (channel, status, category, caller_number, due_at)
		SELECT 'web', (ARRAY['open', 'closed', 'resolved'])[1 + g % 3], 'business', '138' || g, now() + interval '3 days'
		FROM generate_series(1, $1) g`, prefill); err != nil {
		b.Fatalf("prefill: %v", err)
	}
	if _, err := f.pool.Exec(ctx, `ANALYZE tickets`); err != nil {
		b.Fatalf("analyze: %v", err)
	}
	s, err := NewSweeper(f.pool, SweeperOptions{Batch: 1000})
	if err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	for range b.N {
		b.StopTimer()
		if _, err := f.pool.Exec(ctx, `INSERT INTO tickets (channel, status, category, caller_number, due_at)
			SELECT 'web', 'open', 'business', '139' || g, now() - interval '1 minute'
			FROM generate_series(1, 1000) g`); err != nil {
			b.Fatalf("breaching tickets: %v", err)
		}
		b.StartTimer()
		t0 := time.Now()
		res, err := s.Sweep(ctx)
		total += time.Since(t0)
		if err != nil {
			b.Fatal(err)
		}
		if res.Breached != 1000 {
			b.Fatalf("sweep marked %d breaches, want 1000", res.Breached)
		}
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/sweep-of-1000-breaches")
}
