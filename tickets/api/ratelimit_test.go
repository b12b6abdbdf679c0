package api

import (
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/agents/redistest"
)

// TestLoginLimiterTakesBeforeCheck sends parallel wrong guesses for one
// account: only the account's burst reaches the password check, the rest
// are refused before it, and the right password is refused too until the
// bucket refills.
func TestLoginLimiterTakesBeforeCheck(t *testing.T) {
	f := newFixture(t)
	burst := DefaultConfig().Login.AccountBurst
	const parallel = 30
	var wg sync.WaitGroup
	statuses := make(chan int, parallel)
	for i := range parallel {
		wg.Go(func() {
			res := f.newClient(t).do("POST", "/api/login",
				map[string]string{"agent_id": "1001", "password": "guess-" + strings.Repeat("x", i+1)}, nil)
			statuses <- res.status
		})
	}
	wg.Wait()
	close(statuses)
	got := map[int]int{}
	for s := range statuses {
		got[s]++
	}
	if got[http.StatusUnauthorized] != burst || got[http.StatusTooManyRequests] != parallel-burst {
		t.Fatalf("statuses = %v, want %d checked (401) and %d refused before the check (429)", got, burst, parallel-burst)
	}
	if n := counterValue(t, f.metrics.loginFailures.WithLabelValues(reasonBadCredentials)); n != float64(burst) {
		t.Fatalf("passwords checked = %v, want %d", n, burst)
	}
	if res := f.newClient(t).do("POST", "/api/login", map[string]string{"agent_id": "1001", "password": password}, nil); res.status != http.StatusTooManyRequests {
		t.Fatalf("right password while the account is limited = %d, want 429", res.status)
	}
	// Same address, another account: a centre behind one NAT keeps working.
	if res := f.newClient(t).do("POST", "/api/login", map[string]string{"agent_id": "1002", "password": password}, nil); res.status != http.StatusOK {
		t.Fatalf("another agent from the same address = %d %s, want 200", res.status, res.raw)
	}
	f.clock.advance(DefaultConfig().Login.AccountRefill)
	if res := f.newClient(t).do("POST", "/api/login", map[string]string{"agent_id": "1001", "password": password}, nil); res.status != http.StatusOK {
		t.Fatalf("right password after a refill = %d %s, want 200", res.status, res.raw)
	}
}

// TestLoginSuccessGivesTokensBack checks only failures count: a centre of
// many agents signing in from one address is never limited.
func TestLoginSuccessGivesTokensBack(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Login.AccountBurst, cfg.Login.SourceBurst = 2, 3
	f := newFixtureWith(t, &cfg)
	for i := range 10 {
		for _, id := range []string{"1001", "1002", "2001"} {
			if res := f.newClient(t).do("POST", "/api/login", map[string]string{"agent_id": id, "password": password}, nil); res.status != http.StatusOK {
				t.Fatalf("sign-in %d of %s = %d %s, want 200", i, id, res.status, res.raw)
			}
		}
	}
}

// TestLoginSourceLimit checks the per-source limit behind a trusted proxy:
// guesses spread over accounts from one IPv6 /64 are stopped, other
// addresses behind the same proxy are not, and X-Forwarded-For from an
// untrusted peer changes nothing.
func TestLoginSourceLimit(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Login.SourceBurst = 3
	cfg.TrustedProxies = []string{"127.0.0.1"}
	f := newFixtureWith(t, &cfg)
	attempt := func(id, from string) response {
		return f.newClient(t).do("POST", "/api/login", map[string]string{"agent_id": id, "password": "wrong-guess"},
			map[string]string{"X-Forwarded-For": from})
	}
	for _, id := range []string{"1001", "1002", "2001"} {
		if res := attempt(id, "2001:db8:1:2::1"); res.status != http.StatusUnauthorized {
			t.Fatalf("guess on %s = %d, want 401", id, res.status)
		}
	}
	tests := []struct {
		name, id, from string
		want           int
	}{
		{"same address, fresh account", "9999", "2001:db8:1:2::1", http.StatusTooManyRequests},
		{"same /64", "9998", "2001:db8:1:2:ffff:1:2:3", http.StatusTooManyRequests},
		{"next /64", "9997", "2001:db8:1:3::1", http.StatusUnauthorized},
		{"IPv4 client of the proxy", "9996", "192.0.2.7", http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := attempt(tc.id, tc.from)
			if res.status != tc.want {
				t.Fatalf("status %d %s, want %d", res.status, res.raw, tc.want)
			}
			if tc.want == http.StatusTooManyRequests && !strings.Contains(res.raw, "from this address") {
				t.Fatalf("refusal %s does not name the address", res.raw)
			}
		})
	}
	t.Run("untrusted peer", func(t *testing.T) {
		cfg.TrustedProxies = nil
		g := newFixtureWith(t, &cfg)
		for i, from := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"} {
			res := g.newClient(t).do("POST", "/api/login", map[string]string{"agent_id": "999" + string(rune('0'+i)), "password": "x-wrong-x"},
				map[string]string{"X-Forwarded-For": from})
			if want := map[bool]int{true: http.StatusTooManyRequests, false: http.StatusUnauthorized}[i == 3]; res.status != want {
				t.Fatalf("attempt %d with forged X-Forwarded-For %s = %d, want %d (counted on the peer)", i, from, res.status, want)
			}
		}
	})
}

func TestSourcePrefix(t *testing.T) {
	tests := []struct{ name, addr, want string }{
		{"IPv4", "192.0.2.7", "192.0.2.7/32"},
		{"IPv4-mapped IPv6", "::ffff:192.0.2.7", "192.0.2.7/32"},
		{"IPv6", "2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"IPv6 same /64", "2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"},
		{"IPv6 with zone", "fe80::1%eth0", "fe80::/64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := sourcePrefix(netip.MustParseAddr(tc.addr)).String(); got != tc.want {
				t.Fatalf("sourcePrefix(%s) = %s, want %s", tc.addr, got, tc.want)
			}
		})
	}
}

// TestLoginLimiterRefills drives the Redis buckets with the injected clock.
func TestLoginLimiterRefills(t *testing.T) {
	rdb, prefix := redistest.New(t)
	clock := &testClock{now: time.Unix(1_700_000_000, 0)}
	l := &loginLimiter{rdb: rdb, prefix: prefix, now: clock.Now,
		limits: LoginLimits{AccountBurst: 2, AccountRefill: time.Minute, SourceBurst: 10, SourceRefill: time.Second}}
	src := sourcePrefix(netip.MustParseAddr("192.0.2.1"))
	ctx := t.Context()
	for i := range 2 {
		if no, err := l.take(ctx, "1001", src); err != nil || no.wait != 0 {
			t.Fatalf("take %d = %+v, %v; want allowed", i, no, err)
		}
	}
	no, err := l.take(ctx, "1001", src)
	if err != nil || no.by != "account" || no.wait != time.Minute {
		t.Fatalf("take after the burst = %+v, %v; want the account's 1m wait", no, err)
	}
	clock.advance(30 * time.Second)
	if no, _ := l.take(ctx, "1001", src); no.wait != 30*time.Second {
		t.Fatalf("half-way wait = %s, want 30s", no.wait)
	}
	if err := l.giveBack(ctx, "1001", src); err != nil {
		t.Fatalf("give back: %v", err)
	}
	if no, _ := l.take(ctx, "1001", src); no.wait != 0 {
		t.Fatalf("after a give-back = %+v, want allowed", no)
	}
	clock.advance(2 * time.Minute)
	if no, _ := l.take(ctx, "1001", src); no.wait != 0 {
		t.Fatalf("after a refill = %+v, want allowed", no)
	}
}
