package main

import (
	"errors"
	"strings"
	"testing"
)

func TestParseBytes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		bad  bool
	}{
		{in: "2GiB", want: 2 << 30},
		{in: "512MiB", want: 512 << 20},
		{in: " 64 KiB ", want: 64 << 10},
		{in: "1000", want: 1000},
		{in: "100B", want: 100},
		{in: "0", want: 0},
		{in: "", want: 0},
		{in: "2GB", bad: true},
		{in: "-1MiB", bad: true},
		{in: "lots", bad: true},
		{in: "9999999999TiB", bad: true},
	} {
		got, err := parseBytes(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("parseBytes(%q) = %d, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

// The collector settings are checked with the rest of hotline.yaml: a typo
// stops the server with one line naming the key.
func TestRuntimeConfigValidate(t *testing.T) {
	cfg := DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	cfg.Runtime = RuntimeConfig{GCPercent: 10, MemoryLimit: "2 gigs"}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("gc_percent 10 and memory_limit \"2 gigs\" validated")
	}
	for _, want := range []string{"runtime.gc_percent 10", "runtime.memory_limit"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}

// The server's Redis pool is dialled whole at start and kept (no burst of
// dials in a burst of calls), sends no CLIENT SETINFO, and the URL's own
// pool_size / min_idle_conns win.
func TestRedisOptions(t *testing.T) {
	for _, tc := range []struct {
		url           string
		pool, minIdle int
	}{
		{url: "redis://127.0.0.1:6379/0", pool: defaultRedisConns, minIdle: defaultRedisConns},
		{url: "redis://127.0.0.1:6379/0?pool_size=8", pool: 8, minIdle: 8},
		{url: "redis://127.0.0.1:6379/0?pool_size=8&min_idle_conns=2", pool: 8, minIdle: 2},
	} {
		opt, err := redisOptions(tc.url)
		if err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		if opt.PoolSize != tc.pool || opt.MinIdleConns != tc.minIdle || !opt.DisableIdentity {
			t.Errorf("%s: pool %d, min idle %d, no SETINFO %v; want %d, %d, true",
				tc.url, opt.PoolSize, opt.MinIdleConns, opt.DisableIdentity, tc.pool, tc.minIdle)
		}
	}
	if _, err := redisOptions("http://nowhere"); err == nil || !strings.Contains(err.Error(), "HOTLINE_REDIS_URL") {
		t.Errorf("a URL that is not redis: error %v, want one naming HOTLINE_REDIS_URL", err)
	}
}

// A failed start is one line on stderr, whatever the error joins.
func TestOneLine(t *testing.T) {
	err := errors.Join(errors.New("sip.max_calls 0: want 1..5000"), errors.New("http.listen: must not be empty"))
	got := oneLine(err)
	if strings.Contains(got, "\n") || got != "hotline: sip.max_calls 0: want 1..5000; http.listen: must not be empty" {
		t.Fatalf("oneLine = %q", got)
	}
}
