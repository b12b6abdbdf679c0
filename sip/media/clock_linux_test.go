package media

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// On Linux the pacer's grid races a timerfd and a Go timer.
func TestGridClockIsHybridOnLinux(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if c := newGridClock(ctx, time.Now(), subSlot); func() bool { _, ok := c.(*hybridClock); return !ok }() {
		t.Fatalf("newGridClock returned %T, want *hybridClock", c)
	}
}

func TestTimerFDClock(t *testing.T) {
	testGridClock(t, func(ctx context.Context, start time.Time, period time.Duration) gridClock {
		c, err := newTimerFDClock(ctx, start, period)
		if err != nil {
			t.Skipf("no timerfd: %v", err)
		}
		return c
	})
}

// TestRealtimeClock: a real-time pacer worker's grid (sip.rtp_priority
// realtime) keeps the grid's contract and runs on a SCHED_FIFO thread.
func TestRealtimeClock(t *testing.T) {
	if unix.Geteuid() != 0 {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if _, ok := realtimeClock(ctx, time.Now(), subSlot, slog.New(slog.DiscardHandler)); ok {
			t.Fatal("realtime clock without root")
		}
		t.Skip("real-time priority needs root or CAP_SYS_NICE")
	}
	testGridClock(t, func(ctx context.Context, start time.Time, period time.Duration) gridClock {
		c, ok := realtimeClock(ctx, start, period, slog.New(slog.DiscardHandler))
		if !ok {
			t.Fatal("realtimeClock refused as root")
		}
		attr, err := unix.SchedGetAttr(0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if attr.Policy != unix.SCHED_FIFO || attr.Priority != rxPriority {
			t.Fatalf("worker thread: policy %d priority %d, want SCHED_FIFO %d", attr.Policy, attr.Priority, rxPriority)
		}
		return c
	})
}
