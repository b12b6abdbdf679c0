package redistest

import (
	"context"
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	t.Setenv("HOTLINE_REDIS_URL", "")
	if got := URL(); got != DefaultURL {
		t.Errorf("URL() without HOTLINE_REDIS_URL = %q, want %q", got, DefaultURL)
	}
	t.Setenv("HOTLINE_REDIS_URL", "redis://10.0.0.9:6380/2")
	if got := URL(); got != "redis://10.0.0.9:6380/2" {
		t.Errorf("URL() = %q, want the one HOTLINE_REDIS_URL names", got)
	}
}

// A test's prefix is its own, and its keys are gone when the test ends while
// keys under another test's prefix stay.
func TestPrefixIsDeletedWhenTheTestEnds(t *testing.T) {
	ctx := context.Background()
	rdb, outer := New(t)
	if err := rdb.Set(ctx, outer+"kept", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	var inner string
	t.Run("inner", func(t *testing.T) {
		inner = Prefix(t, rdb)
		if inner == outer || !strings.HasPrefix(inner, "hotline-test-") || !strings.HasSuffix(inner, ":") {
			t.Fatalf("prefix %q (outer %q): want a new hotline-test-<random>: prefix", inner, outer)
		}
		for _, k := range []string{"a", "b", "c:d"} {
			if err := rdb.Set(ctx, inner+k, "1", 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
	})
	if n, err := rdb.Exists(ctx, inner+"a", inner+"b", inner+"c:d").Result(); err != nil || n != 0 {
		t.Errorf("%d keys left under the ended test's prefix (err %v), want 0", n, err)
	}
	if n, err := rdb.Exists(ctx, outer+"kept").Result(); err != nil || n != 1 {
		t.Errorf("the other prefix's key exists %d (err %v), want 1", n, err)
	}
}
