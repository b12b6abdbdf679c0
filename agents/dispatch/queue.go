package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/configs"
	"github.com/hotline-dev/hotline/ivr"
	"github.com/prometheus/client_golang/prometheus"
)

// queue is the IVR's queue (ivr.Queue): the agents' shared queue in Redis,
// plus this node's waiting callers with their original enqueue times, so
// they can be re-published after a Redis restart, and the S16 owner of each.
type queue struct {
	shared  *agents.Queue
	tickets Tickets
	repeat  time.Duration
	log     *slog.Logger

	mu    sync.Mutex
	local map[string]configs.QueueEntry
	// lookups are the S16 owner lookups of calls in progress (owner.go).
	lookups map[string]*ownerLookup
	// ownerLate counts callers queued without waiting any longer for theirs.
	ownerLate prometheus.Counter
	// joined runs after a caller is in the queue (the dispatcher's poke:
	// try a match now, not at the next tick).
	joined func()
	// queued runs once a caller is in the queue (liveCalls.queued).
	queued func(ctx context.Context, e configs.QueueEntry)
	// changed runs when a caller joined or left a queue (the wall's hint).
	changed func()
}

func newQueue(shared *agents.Queue, t Tickets, repeat time.Duration, log *slog.Logger, ownerLate prometheus.Counter, joined func()) *queue {
	return &queue{shared: shared, tickets: t, repeat: repeat, log: log, ownerLate: ownerLate, joined: joined,
		local: map[string]configs.QueueEntry{}, lookups: map[string]*ownerLookup{}}
}

// Enqueue queues the caller; a repeat caller with an open ticket goes to
// its owner first (S16, looked up since the answer: lookAhead).
func (q *queue) Enqueue(ctx context.Context, e configs.QueueEntry) error {
	en := configs.QueueEntry(e)
	if en.Owner == "" {
		en.Owner = q.owner(ctx, e.CallID, e.Caller)
	}
	q.mu.Lock()
	q.local[e.CallID] = en
	q.mu.Unlock()
	if err := q.shared.Enqueue(ctx, en); err != nil {
		return err
	}
	if q.queued != nil {
		q.queued(ctx, en)
	}
	if q.joined != nil {
		q.joined()
	}
	q.wallChanged()
	return nil
}

// Position is the caller's 1-based place (S8).
func (q *queue) Position(ctx context.Context, category, callID string) (int, error) {
	pos, err := q.shared.Position(ctx, category, callID)
	if errors.Is(err, agents.ErrNotQueued) {
		return 0, fmt.Errorf("%w: %w", ivr.ErrNotQueued, err)
	}
	return pos, err
}

// EstimatedWait is the wait announced at position (S8).
func (q *queue) EstimatedWait(ctx context.Context, category string, position int) (time.Duration, error) {
	return q.shared.EstimatedWait(ctx, category, position)
}

// Remove takes a caller who gave up out of the queue.
func (q *queue) Remove(ctx context.Context, category, callID string) error {
	q.forget(callID)
	defer q.wallChanged()
	return q.shared.Remove(ctx, category, callID)
}

// wallChanged hints the supervisors' walls that a queue changed.
func (q *queue) wallChanged() {
	if q.changed != nil {
		q.changed()
	}
}

// forget drops a caller who left the queue (removed, or answered by an agent).
func (q *queue) forget(callID string) {
	q.mu.Lock()
	delete(q.local, callID)
	q.mu.Unlock()
}

// entries are this node's waiting callers.
func (q *queue) entries() []configs.QueueEntry {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]configs.QueueEntry, 0, len(q.local))
	for _, e := range q.local {
		out = append(out, e)
	}
	return out
}
