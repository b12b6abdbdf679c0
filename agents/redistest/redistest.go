// Package redistest is the one Redis helper of every package's tests: a
// client on the real server named by HOTLINE_REDIS_URL (or the local
// default) and a key prefix of each test's own, deleted when the test ends,
// so tests share one Redis without seeing each other's keys.
//
// Under go test -short the helpers skip the test (the fast lane runs only
// tests without external services); without -short an unreachable server
// fails the test, so a run cannot pass by skipping.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultURL is used when HOTLINE_REDIS_URL is unset.
const DefaultURL = "redis://127.0.0.1:6379/0"

// URL returns the Redis URL for tests.
func URL() string {
	if u := os.Getenv("HOTLINE_REDIS_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// New returns a client on the test Redis and a fresh key prefix whose keys
// are deleted when the test ends.
func New(t testing.TB) (*redis.Client, string) {
	t.Helper()
	rdb := Client(t)
	return rdb, Prefix(t, rdb)
}

// Client connects to the test Redis and closes the client when the test ends.
// Under -short it skips the test; an unreachable server otherwise fails it.
func Client(t testing.TB) *redis.Client {
	t.Helper()
	if testing.Short() {
		t.Skip("redistest: needs Redis, which -short leaves out")
	}
	url := URL()
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("redistest: parse HOTLINE_REDIS_URL: %v", err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("redistest: Redis unreachable at %s (set HOTLINE_REDIS_URL or start redis-server): %v", opts.Addr, err)
	}
	return rdb
}

// Prefix returns a new key prefix "hotline-test-<random>:"; every key under it
// is deleted from rdb when the test ends.
func Prefix(t testing.TB, rdb *redis.Client) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("redistest: random prefix: %v", err)
	}
	prefix := "hotline-test-" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() { DeletePrefix(t, rdb, prefix) })
	return prefix
}

// DeletePrefix removes every key under prefix now; tests also call it to
// stand for a Redis restart that lost the data.
func DeletePrefix(t testing.TB, rdb *redis.Client, prefix string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// SCAN, not KEYS: it does not block a Redis that other tests share.
	iter := rdb.Scan(ctx, 0, prefix+"*", 500).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Errorf("redistest: scan %s*: %v", prefix, err)
		return
	}
	if len(keys) > 0 {
		if err := rdb.Del(ctx, keys...).Err(); err != nil {
			t.Errorf("redistest: delete %d keys under %s: %v", len(keys), prefix, err)
		}
	}
}
