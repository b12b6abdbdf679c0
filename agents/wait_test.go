package agents

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/configs"
)

// S8: the estimate comes from measured handle times and serving agents.
func TestEstimatedWait(t *testing.T) {
	tests := []struct {
		name     string
		samples  []time.Duration
		agents   int
		position int
		want     time.Duration
	}{
		{"no samples uses the default", nil, 0, 3, 3 * 4 * time.Minute},
		{"average of samples", []time.Duration{60 * time.Second, 120 * time.Second}, 0, 3, 3 * 90 * time.Second},
		{"two agents halve the rounds", []time.Duration{60 * time.Second, 120 * time.Second}, 2, 3, 2 * 90 * time.Second},
		{"first in line waits one handle time", []time.Duration{100 * time.Second}, 2, 1, 100 * time.Second},
		{"more agents than callers", []time.Duration{30 * time.Second}, 5, 4, 30 * time.Second},
		{"one agent in the set", []time.Duration{45 * time.Second}, 1, 2, 90 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			q, rdb := newTestQueue(t, QueueOptions{DefaultHandleTime: 4 * time.Minute})
			for _, d := range tt.samples {
				if err := q.RecordHandleTime(ctx, "inquiry", d); err != nil {
					t.Fatalf("record handle time: %v", err)
				}
			}
			for i := range tt.agents {
				if err := rdb.SAdd(ctx, q.servingKey("inquiry"), fmt.Sprint(1001+i)).Err(); err != nil {
					t.Fatalf("add serving agent: %v", err)
				}
			}
			got, err := q.EstimatedWait(ctx, "inquiry", tt.position)
			if err != nil {
				t.Fatalf("estimated wait: %v", err)
			}
			if got != tt.want {
				t.Fatalf("estimated wait = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestEstimatedWaitRejectsBadPosition(t *testing.T) {
	q, _ := newTestQueue(t, QueueOptions{})
	for _, pos := range []int{0, -1} {
		t.Run(fmt.Sprint(pos), func(t *testing.T) {
			if _, err := q.EstimatedWait(context.Background(), "inquiry", pos); err == nil {
				t.Fatalf("position %d: want an error", pos)
			}
		})
	}
}

// Only the last 50 handle times count, so the estimate follows the present.
func TestRecordHandleTimeKeepsRecentSamples(t *testing.T) {
	ctx := context.Background()
	q, rdb := newTestQueue(t, QueueOptions{})
	for range 30 {
		if err := q.RecordHandleTime(ctx, "complaint", 10*time.Minute); err != nil {
			t.Fatalf("record: %v", err)
		}
	}
	for range handleTimeSamples {
		if err := q.RecordHandleTime(ctx, "complaint", 2*time.Minute); err != nil {
			t.Fatalf("record: %v", err)
		}
	}
	if n, err := rdb.LLen(ctx, q.handleTimesKey("complaint")).Result(); err != nil || n != handleTimeSamples {
		t.Fatalf("samples kept = %d, %v; want %d", n, err, handleTimeSamples)
	}
	got, err := q.EstimatedWait(ctx, "complaint", 1)
	if err != nil || got != 2*time.Minute {
		t.Fatalf("estimated wait = %s, %v; want 2m", got, err)
	}
}

func TestRecordHandleTimeRejectsBadInput(t *testing.T) {
	q, _ := newTestQueue(t, QueueOptions{})
	tests := []struct {
		name     string
		category string
		d        time.Duration
	}{
		{"empty category", "", time.Minute},
		{"zero duration", "inquiry", 0},
		{"negative duration", "inquiry", -time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := q.RecordHandleTime(context.Background(), tt.category, tt.d); err == nil {
				t.Fatalf("want an error")
			}
		})
	}
}

// AnyServing drives the overflow: a caller of a queue nobody serves is
// offered a callback at once; an emergency is served by any logged-in agent
// (S6). Logging out takes the agent out of it.
func TestAnyServing(t *testing.T) {
	ctx := context.Background()
	e := newTestACD(t, ACDOptions{})
	want := func(category string, served bool) {
		t.Helper()
		got, err := e.q.AnyServing(ctx, category)
		if err != nil {
			t.Fatalf("any serving %s: %v", category, err)
		}
		if got != served {
			t.Fatalf("any serving %s = %v, want %v", category, got, served)
		}
	}
	want("inquiry", false)
	want(configs.CategoryEmergency, false)
	e.login(t, "1001", "complaint")
	want("inquiry", false)
	want("complaint", true)
	want(configs.CategoryEmergency, true) // S6: a complaint agent takes an emergency
	if err := e.Logout(ctx, "1001"); err != nil {
		t.Fatalf("logout: %v", err)
	}
	want("complaint", false)
	want(configs.CategoryEmergency, false)
}
