//go:build !linux

package media

import (
	"context"
	"log/slog"
	"time"
)

func newGridClock(ctx context.Context, start time.Time, period time.Duration) gridClock {
	return newTimerClock(ctx, start, period)
}

// realtimeClock: real-time pacer workers need Linux.
func realtimeClock(context.Context, time.Time, time.Duration, *slog.Logger) (gridClock, bool) {
	return nil, false
}

// ThreadCPU is the calling thread's CPU time; a thread's own clock needs
// Linux, so elsewhere it is 0.
func ThreadCPU() time.Duration { return 0 }
