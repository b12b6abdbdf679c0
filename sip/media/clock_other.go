//go:build !linux

package media

import (
	"context"
	"time"
)

func newGridClock(ctx context.Context, start time.Time, period time.Duration) gridClock {
	return newTimerClock(ctx, start, period)
}
