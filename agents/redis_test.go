package agents

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/configs"
	"github.com/redis/go-redis/v9"
)

// testRedis connects to the real Redis (HOTLINE_REDIS_URL) and fails the test
// when it is unreachable.
func testRedis(t testing.TB) *redis.Client {
	t.Helper()
	url := os.Getenv("HOTLINE_REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("parse HOTLINE_REDIS_URL %q: %v", url, err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("redis unreachable at %s (set HOTLINE_REDIS_URL or start redis-server): %v", url, err)
	}
	return rdb
}

// newTestQueue returns a queue under a random key prefix whose keys are
// deleted when the test ends.
func newTestQueue(t *testing.T, opts QueueOptions) (*Queue, *redis.Client) {
	t.Helper()
	rdb := testRedis(t)
	opts.Prefix = randomPrefix(t)
	if opts.Node == "" {
		opts.Node = "node-a"
	}
	t.Cleanup(func() { deletePrefix(t, rdb, opts.Prefix) })
	return NewQueue(rdb, opts), rdb
}

func randomPrefix(t testing.TB) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random prefix: %v", err)
	}
	return "hotline-test-" + hex.EncodeToString(b) + ":"
}

// deletePrefix removes every key under prefix (also used to simulate a Redis
// restart that lost the queues).
func deletePrefix(t testing.TB, rdb *redis.Client, prefix string) {
	t.Helper()
	ctx := context.Background()
	iter := rdb.Scan(ctx, 0, prefix+"*", 500).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Errorf("scan %s*: %v", prefix, err)
		return
	}
	if len(keys) > 0 {
		if err := rdb.Del(ctx, keys...).Err(); err != nil {
			t.Errorf("delete %d keys under %s: %v", len(keys), prefix, err)
		}
	}
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
