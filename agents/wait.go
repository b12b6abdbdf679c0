package agents

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// EstimatedWait tells a caller at position roughly how long they will wait (S8),
// from measured handle times rather than a constant:
//
//	avg    = mean of the last 50 handle times recorded for the category
//	         (QueueOptions.DefaultHandleTime while none was recorded)
//	agents = members of <p>agents:serving:<category> (at least 1)
//	wait   = ceil(position / agents) * avg
//
// Each agent serving the queue takes one caller per average handle time, so
// the caller is reached in the ceil(position/agents)-th round. position is the
// one Position returns (it already counts emergencies ahead).
func (q *Queue) EstimatedWait(ctx context.Context, category string, position int) (time.Duration, error) {
	if position < 1 {
		return 0, fmt.Errorf("estimate wait in %s: position %d must be at least 1", category, position)
	}
	avg, agents, err := q.serviceRate(ctx, category)
	if err != nil {
		return 0, fmt.Errorf("estimate wait in %s: %w", category, err)
	}
	rounds := (int64(position) + agents - 1) / agents
	return time.Duration(rounds) * avg, nil
}

// serviceRate reads the average recent handle time and the number of agents
// serving the category in one round trip.
func (q *Queue) serviceRate(ctx context.Context, category string) (avg time.Duration, agents int64, err error) {
	pipe := q.rdb.Pipeline()
	samples := pipe.LRange(ctx, q.handleTimesKey(category), 0, handleTimeSamples-1)
	serving := pipe.SCard(ctx, q.servingKey(category))
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, 0, fmt.Errorf("read handle times and serving agents: %w", err)
	}
	avg, err = average(samples.Val(), q.defaultAHT)
	if err != nil {
		return 0, 0, err
	}
	// An empty or missing set counts as one agent: the queue is still served
	// (the overflow to a callback handles "nobody logged in").
	return avg, max(serving.Val(), 1), nil
}

// average returns the mean of millisecond samples, or def when there are none.
func average(samples []string, def time.Duration) (time.Duration, error) {
	if len(samples) == 0 {
		return def, nil
	}
	var sum int64
	for _, s := range samples {
		ms, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("handle time sample %q: %w", s, err)
		}
		sum += ms
	}
	return time.Duration(sum/int64(len(samples))) * time.Millisecond, nil
}

// RecordHandleTime adds one measured handle time (answer to end of wrap-up)
// for the category; only the last 50 are kept (S8).
func (q *Queue) RecordHandleTime(ctx context.Context, category string, d time.Duration) error {
	if category == "" {
		return fmt.Errorf("record handle time: empty category")
	}
	if d < time.Millisecond {
		return fmt.Errorf("record handle time in %s: duration %s must be at least 1ms", category, d)
	}
	key := q.handleTimesKey(category)
	_, err := q.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.LPush(ctx, key, d.Milliseconds())
		p.LTrim(ctx, key, 0, handleTimeSamples-1)
		return nil
	})
	if err != nil {
		return fmt.Errorf("record handle time in %s: %w", category, err)
	}
	return nil
}
