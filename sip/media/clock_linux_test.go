package media

import (
	"context"
	"testing"
	"time"
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
