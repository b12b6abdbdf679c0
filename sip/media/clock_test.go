package media

import (
	"context"
	"testing"
	"time"
)

func testGridClock(t *testing.T, newClock func(ctx context.Context, start time.Time, period time.Duration) gridClock) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const period = 2 * time.Millisecond
	start := time.Now()
	c := newClock(ctx, start, period)
	var ticks int64
	for ticks < 50 {
		n, ok := c.wait()
		if !ok {
			t.Fatal("wait ended before ctx was done")
		}
		if n < 1 {
			t.Fatalf("wait returned %d ticks", n)
		}
		ticks += n
		// Tick k is never early: it is due at start + k·period.
		if early := time.Until(start.Add(time.Duration(ticks) * period)); early > 0 {
			t.Fatalf("tick %d came %v early", ticks, early)
		}
	}
	// A late caller is told how many ticks it missed: no tick is lost.
	time.Sleep(10 * period)
	n, ok := c.wait()
	if !ok || n < 10 {
		t.Fatalf("after sleeping 10 periods wait returned %d ticks (ok %v), want ≥ 10", n, ok)
	}
	ticks += n
	if want := int64(time.Since(start) / period); ticks < want-1 || ticks > want {
		t.Fatalf("%d ticks counted after %v, want %d", ticks, time.Since(start), want)
	}
	cancel()
	done := make(chan bool)
	go func() { _, ok := c.wait(); done <- ok }()
	select {
	case ok := <-done:
		if ok {
			t.Fatal("wait returned a tick after ctx was done")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("wait did not return after ctx was done")
	}
}

func TestGridClock(t *testing.T) {
	testGridClock(t, newGridClock)
}

func TestTimerClock(t *testing.T) {
	testGridClock(t, func(ctx context.Context, start time.Time, period time.Duration) gridClock {
		return newTimerClock(ctx, start, period)
	})
}
