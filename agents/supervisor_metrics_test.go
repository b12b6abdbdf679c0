package agents

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/configs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
)

// The oldest wait is the longest-waiting caller's, whatever the serving
// order: a priority caller (S7) at the head does not hide an older normal one.
func TestQueueOldestWait(t *testing.T) {
	reg := prometheus.NewRegistry()
	q, _ := newTestQueue(t, QueueOptions{Metrics: NewMetrics(reg)})
	now := time.Now()
	mustEnqueue(t, q,
		configs.QueueEntry{CallID: "old", Category: "complaint", EnqueuedAt: now.Add(-40 * time.Second)},
		configs.QueueEntry{CallID: "vip", Category: "complaint", Priority: true, EnqueuedAt: now.Add(-5 * time.Second)},
		configs.QueueEntry{CallID: "e", Category: configs.CategoryEmergency, EnqueuedAt: now.Add(-16 * time.Second)},
	)
	tests := []struct {
		name     string
		category string
		min, max float64
	}{
		{"older normal caller behind a priority one", "complaint", 39, 45},
		{"emergency", configs.CategoryEmergency, 15, 21},
		{"empty queue is zero", "business", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := sample(t, reg, "hotline_agents_queue_oldest_wait_seconds", map[string]string{"category": tt.category})
			if !ok || got < tt.min || got > tt.max {
				t.Fatalf("oldest wait %s = %v (present %v), want %v..%v", tt.category, got, ok, tt.min, tt.max)
			}
		})
	}
}

// Agents by category served and state: an agent serving two categories
// counts in both, every combination is present, logged-out agents in none.
func TestAgentsServingGauge(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	e := newTestACD(t, ACDOptions{Metrics: NewMetrics(reg)})
	e.login(t, "1001", "inquiry", "complaint")
	e.login(t, "1002", "inquiry")
	e.login(t, "1003", "business")
	e.must(t, "pause", e.Pause(ctx, "1002", "lunch"))
	e.must(t, "logout", e.Logout(ctx, "1003"))
	tests := []struct {
		category, state string
		want            float64
	}{
		{"inquiry", "available", 1},
		{"inquiry", "paused", 1},
		{"complaint", "available", 1},
		{"business", "available", 0},
		{"business", "offline", 0},
		{"emergency", "on_call", 0},
	}
	for _, tt := range tests {
		t.Run(tt.category+"/"+tt.state, func(t *testing.T) {
			got, ok := sample(t, reg, "hotline_agents_serving", map[string]string{"category": tt.category, "state": tt.state})
			if !ok || got != tt.want {
				t.Fatalf("serving %s/%s = %v (present %v), want %v", tt.category, tt.state, got, ok, tt.want)
			}
		})
	}
	if n := testutil.CollectAndCount(reg, "hotline_agents_serving"); n != len(configs.QueueCategories())*len(States) {
		t.Fatalf("%d serving series, want every category × state", n)
	}
}

// Handle time comes from the hang-up; wrap-up time is the time spent in
// wrap_up by the Redis clock of the transitions (S12).
func TestHandleAndWrapUpHistograms(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	e := newTestACD(t, ACDOptions{Metrics: NewMetrics(reg)})
	e.toState(t, StateWrapUp) // handle time 1 min, category inquiry
	e.clock.Add(95 * time.Second)
	e.must(t, "done", e.WrapUpDone(ctx, "1001"))
	if got, ok := sample(t, reg, "hotline_agents_handle_seconds", map[string]string{"category": "inquiry"}); !ok || got != 1 {
		t.Fatalf("handle observations = %v (present %v), want 1", got, ok)
	}
	if got, ok := sample(t, reg, "hotline_agents_handle_seconds", map[string]string{"category": "complaint"}); !ok || got != 0 {
		t.Fatalf("complaint handle series = %v (present %v), want a zero", got, ok)
	}
	want := `
# HELP hotline_agents_wrap_up_seconds Time agents spent in wrap-up after a call (S12: at most the entry window).
# TYPE hotline_agents_wrap_up_seconds histogram
hotline_agents_wrap_up_seconds_bucket{le="10"} 0
hotline_agents_wrap_up_seconds_bucket{le="30"} 0
hotline_agents_wrap_up_seconds_bucket{le="60"} 0
hotline_agents_wrap_up_seconds_bucket{le="120"} 1
hotline_agents_wrap_up_seconds_bucket{le="180"} 1
hotline_agents_wrap_up_seconds_bucket{le="240"} 1
hotline_agents_wrap_up_seconds_bucket{le="300"} 1
hotline_agents_wrap_up_seconds_bucket{le="600"} 1
hotline_agents_wrap_up_seconds_bucket{le="+Inf"} 1
hotline_agents_wrap_up_seconds_sum 95
hotline_agents_wrap_up_seconds_count 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "hotline_agents_wrap_up_seconds"); err != nil {
		t.Fatal(err)
	}
}

// Every agents metric passes the Prometheus linter.
func TestAgentsMetricsLint(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newTestACD(t, ACDOptions{Metrics: NewMetrics(reg)})
	e.login(t, "1001", "inquiry")
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

// roundTrips counts the commands and pipelines sent to Redis.
type roundTrips struct{ n atomic.Int64 }

func (h *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.n.Add(1); return next(ctx, cmd) }
}

func (h *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { h.n.Add(1); return next(ctx, cmds) }
}

// A scrape reads Redis once per collector, whatever the number of
// categories and agents: one pipeline for the queues, one for the agents.
func TestScrapeReadsRedisOncePerCollector(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newTestACD(t, ACDOptions{Metrics: NewMetrics(reg)})
	for _, id := range []string{"1001", "1002", "1003"} {
		e.login(t, id, "inquiry", "complaint")
	}
	mustEnqueue(t, e.q, configs.QueueEntry{CallID: "c1", Category: "business", EnqueuedAt: time.Now()})
	// The collectors run at once: the first scrape opens their connections.
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}
	hook := &roundTrips{}
	e.rdb.AddHook(hook)
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}
	if got := hook.n.Load(); got != 2 {
		t.Fatalf("one scrape sent %d requests to Redis, want 2", got)
	}
}

// BenchmarkScrapeAgents measures one scrape of the agents' metrics as at
// 1,000 bridged calls: 1,000 agents logged in for every category and on a
// call, 100 callers waiting. It reports the CPU time of the scraping process
// per scrape (the Redis side runs in Redis).
func BenchmarkScrapeAgents(b *testing.B) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	e := newTestACD(b, ACDOptions{Metrics: NewMetrics(reg)})
	pipe := e.rdb.Pipeline()
	for i := range 1000 {
		id := fmt.Sprint(10000 + i)
		if err := e.Login(ctx, id, configs.QueueCategories()); err != nil {
			b.Fatal(err)
		}
		// As if on a call: the state hash is what the collector reads.
		pipe.HSet(ctx, e.key("agents:state"), id, string(StateOnCall))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		b.Fatal(err)
	}
	for i := range 100 {
		mustEnqueue(b, e.q, configs.QueueEntry{CallID: fmt.Sprint("w", i), Category: configs.QueueCategories()[i%4], EnqueuedAt: time.Now()})
	}
	if got, _ := sample(b, reg, "hotline_agents_serving", map[string]string{"category": "inquiry", "state": "on_call"}); got != 1000 {
		b.Fatalf("serving inquiry on_call = %v, want 1000", got)
	}
	cpu0 := processCPU(b)
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/scrape")
}

// processCPU is this process's user and system CPU time.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
