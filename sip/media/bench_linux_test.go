package media

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"
)

// BenchmarkPacerBusy is BenchmarkPacer's 2,000 sessions beside goroutines
// that keep both Ps busy most of the time, as SIP handling does in the
// server, for each way of waking the grid:
//
//	go test -run '^$' -bench PacerBusy -benchtime 1x ./sip/media/
func BenchmarkPacerBusy(b *testing.B) {
	clocks := map[string]func(ctx context.Context, start time.Time, period time.Duration) gridClock{
		"timer": func(ctx context.Context, start time.Time, period time.Duration) gridClock {
			return newTimerClock(ctx, start, period)
		},
		"timerfd": func(ctx context.Context, start time.Time, period time.Duration) gridClock {
			c, err := newTimerFDClock(ctx, start, period)
			if err != nil {
				b.Skip(err)
			}
			return c
		},
		"grid": newGridClock, // the timer and the timerfd raced, on Linux
	}
	for _, name := range []string{"timer", "timerfd", "grid"} {
		b.Run("clock="+name, func(b *testing.B) {
			newClock = clocks[name]
			defer func() { newClock = newGridClock }()
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			for range runtime.GOMAXPROCS(0) {
				wg.Go(func() { busy(ctx) })
			}
			defer func() { cancel(); wg.Wait() }()
			for b.Loop() {
				benchPacer(b, SendAuto, 2000, 3*time.Second)
			}
		})
	}
}

// busy computes in 200 µs bursts with 400 µs sleeps until ctx is done: a
// third of a P each.
func busy(ctx context.Context) {
	for ctx.Err() == nil {
		end := time.Now().Add(200 * time.Microsecond)
		for time.Now().Before(end) {
		}
		time.Sleep(400 * time.Microsecond)
	}
}
