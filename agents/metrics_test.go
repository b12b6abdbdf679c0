package agents

import (
	"context"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/configs"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"
)

// sample returns the value of the metric name with exactly the given labels
// (counter, gauge, or a histogram's sample count); ok is false when absent.
func sample(t testing.TB, reg *prometheus.Registry, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			if len(got) != len(labels) || !containsAll(got, labels) {
				continue
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue(), true
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue(), true
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount()), true
			}
		}
	}
	return 0, false
}

func containsAll(got, want map[string]string) bool {
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

func TestMetrics(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	q, rdb := newTestQueue(t, QueueOptions{Metrics: NewMetrics(reg)})
	mustEnqueue(t, q,
		configs.QueueEntry{CallID: "a", Category: "inquiry", EnqueuedAt: time.Now().Add(-25 * time.Second)},
		configs.QueueEntry{CallID: "b", Category: "inquiry"},
		configs.QueueEntry{CallID: "b", Category: "inquiry"},
		configs.QueueEntry{CallID: "e", Category: configs.CategoryEmergency},
	)
	for _, id := range []string{"a", "gone"} {
		if err := q.Remove(ctx, "inquiry", id); err != nil {
			t.Fatalf("remove %s: %v", id, err)
		}
	}
	// A second node on the same Redis reports the same shared lengths.
	otherReg := prometheus.NewRegistry()
	NewQueue(rdb, QueueOptions{Prefix: q.prefix, Node: "node-b", Metrics: NewMetrics(otherReg)})

	tests := []struct {
		name   string
		reg    *prometheus.Registry
		metric string
		labels map[string]string
		want   float64
	}{
		{"inquiry length", reg, "hotline_agents_queue_length", map[string]string{"category": "inquiry"}, 1},
		{"emergency length", reg, "hotline_agents_queue_length", map[string]string{"category": configs.CategoryEmergency}, 1},
		{"length seen by another node", otherReg, "hotline_agents_queue_length", map[string]string{"category": "inquiry"}, 1},
		{"new enqueues", reg, "hotline_agents_queue_enqueues_total", map[string]string{"category": "inquiry", "reason": "new"}, 2},
		{"requeues", reg, "hotline_agents_queue_enqueues_total", map[string]string{"category": "inquiry", "reason": "requeue"}, 1},
		{"removals", reg, "hotline_agents_queue_removals_total", map[string]string{"category": "inquiry", "reason": "removed"}, 1},
		{"removals of absent calls", reg, "hotline_agents_queue_removals_total", map[string]string{"category": "inquiry", "reason": "not_queued"}, 1},
		{"waits observed", reg, "hotline_agents_queue_wait_seconds", map[string]string{"category": "inquiry"}, 1},
		{"no scrape errors", reg, "hotline_agents_queue_length_scrape_errors_total", map[string]string{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := sample(t, tt.reg, tt.metric, tt.labels)
			if !ok || got != tt.want {
				t.Fatalf("%s%v = %v (present %v), want %v", tt.metric, tt.labels, got, ok, tt.want)
			}
		})
	}
}

// S1: a caller who waited 25 s lands above the 20 s bucket.
func TestMetricsWaitAboveServiceLevel(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	m.removed("inquiry", reasonRemoved, 25*time.Second)
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != "hotline_agents_queue_wait_seconds" {
			continue
		}
		var inquiry *dto.Metric
		for _, m := range f.GetMetric() {
			if m.GetLabel()[0].GetValue() == "inquiry" {
				inquiry = m
			}
		}
		for _, b := range inquiry.GetHistogram().GetBucket() {
			if b.GetUpperBound() == 20 && b.GetCumulativeCount() != 0 {
				t.Fatalf("20 s bucket has %d, want 0", b.GetCumulativeCount())
			}
			if b.GetUpperBound() == 30 && b.GetCumulativeCount() != 1 {
				t.Fatalf("30 s bucket has %d, want 1", b.GetCumulativeCount())
			}
		}
		return
	}
	t.Fatal("wait histogram not gathered")
}

// A Redis outage during a scrape is counted, not a failed scrape.
func TestMetricsScrapeWithRedisDown(t *testing.T) {
	reg := prometheus.NewRegistry()
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = down.Close() })
	NewQueue(down, QueueOptions{Prefix: "hotline-test-unreachable:", Node: "node-a", Metrics: NewMetrics(reg)})
	got, ok := sample(t, reg, "hotline_agents_queue_length_scrape_errors_total", map[string]string{})
	if !ok || got != 1 {
		t.Fatalf("scrape errors = %v (present %v), want 1", got, ok)
	}
}

func TestNewMetricsNilRegistersNothing(t *testing.T) {
	// Two unregistered sets must not collide, and a queue works with either.
	a, b := NewMetrics(nil), NewMetrics(nil)
	if a == b || a.enqueues == nil || b.lengths == nil {
		t.Fatal("NewMetrics(nil) must return usable, distinct metrics")
	}
	a.enqueued("inquiry", reasonNew)
	b.removed("inquiry", reasonNotQueued, 0)
}
