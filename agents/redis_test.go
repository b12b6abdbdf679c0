package agents

import (
	"context"
	"testing"

	"github.com/hotline-dev/hotline/agents/redistest"
	"github.com/hotline-dev/hotline/configs"
	"github.com/redis/go-redis/v9"
)

// newTestQueue returns a queue under a random key prefix whose keys are
// deleted when the test ends.
func newTestQueue(t *testing.T, opts QueueOptions) (*Queue, *redis.Client) {
	t.Helper()
	rdb, prefix := redistest.New(t)
	opts.Prefix = prefix
	if opts.Node == "" {
		opts.Node = "node-a"
	}
	return NewQueue(rdb, opts), rdb
}

// ids returns the call ids of entries in order.
func ids(entries []configs.QueueEntry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.CallID
	}
	return out
}

func mustEnqueue(t testing.TB, q *Queue, entries ...configs.QueueEntry) {
	t.Helper()
	for _, e := range entries {
		if err := q.Enqueue(context.Background(), e); err != nil {
			t.Fatalf("enqueue %s: %v", e.CallID, err)
		}
	}
}

func mustPosition(t *testing.T, q *Queue, category, callID string) int {
	t.Helper()
	pos, err := q.Position(context.Background(), category, callID)
	if err != nil {
		t.Fatalf("position of %s in %s: %v", callID, category, err)
	}
	return pos
}
