package agents

import (
	"context"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/agents/redistest"
	"github.com/hotline-dev/hotline/sip/siptest/poll"
)

func newTestBans(t *testing.T, opts BanOptions) (*Bans, string) {
	t.Helper()
	rdb, prefix := redistest.New(t)
	return NewBans(rdb, prefix, opts), prefix
}

// fail records n failures and returns whether the last one banned.
func fail(t *testing.T, b *Bans, user string, ip netip.Addr, n int) bool {
	t.Helper()
	banned := false
	for i := 0; i < n; i++ {
		var err error
		if banned, err = b.Failure(context.Background(), user, ip); err != nil {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	return banned
}

func TestBansThresholds(t *testing.T) {
	ip := netip.MustParseAddr("192.0.2.7")
	tests := []struct {
		name  string
		run   func(t *testing.T, b *Bans) bool // returns the last Failure's banned
		want  bool
		check netip.Addr
	}{
		{"four failures of one user do not ban", func(t *testing.T, b *Bans) bool {
			return fail(t, b, "1001", ip, 4)
		}, false, ip},
		{"fifth failure of one user bans", func(t *testing.T, b *Bans) bool {
			return fail(t, b, "1001", ip, 5)
		}, true, ip},
		{"success resets the user counter", func(t *testing.T, b *Bans) bool {
			fail(t, b, "1001", ip, 4)
			if err := b.Success(context.Background(), "1001", ip); err != nil {
				t.Fatalf("success: %v", err)
			}
			return fail(t, b, "1001", ip, 4)
		}, false, ip},
		{"twenty failures across users ban the IP", func(t *testing.T, b *Bans) bool {
			banned := false
			for i := 0; i < 20; i++ {
				banned = fail(t, b, "user"+strconv.Itoa(i), ip, 1)
			}
			return banned
		}, true, ip},
		{"IPv4-mapped IPv6 counts as the IPv4 address", func(t *testing.T, b *Bans) bool {
			fail(t, b, "1001", netip.MustParseAddr("::ffff:192.0.2.7"), 4)
			return fail(t, b, "1001", ip, 1)
		}, true, ip},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := newTestBans(t, BanOptions{})
			if got := tt.run(t, b); got != tt.want {
				t.Fatalf("banned = %v, want %v", got, tt.want)
			}
			banned, err := b.Banned(context.Background(), tt.check)
			if err != nil || banned != tt.want {
				t.Fatalf("Banned = %v, %v; want %v", banned, err, tt.want)
			}
			if got := b.IsBanned(tt.check); got != tt.want {
				t.Fatalf("IsBanned = %v, want %v", got, tt.want)
			}
			if b.IsBanned(netip.MustParseAddr("192.0.2.8")) {
				t.Fatal("another IP is banned too")
			}
		})
	}
}

func TestBansExpireAndShareAcrossNodes(t *testing.T) {
	ctx := context.Background()
	ip := netip.MustParseAddr("2001:db8::1")
	opts := BanOptions{MaxFailuresPerUserIP: 2, BanFor: 400 * time.Millisecond}
	a, prefix := newTestBans(t, opts)
	b := NewBans(a.rdb, prefix, opts) // a second node on the same Redis
	if !fail(t, a, "1001", ip, 2) {
		t.Fatal("two failures with MaxFailuresPerUserIP 2 did not ban")
	}
	if b.IsBanned(ip) {
		t.Fatal("node b knew of the ban before any refresh")
	}
	if err := b.Refresh(ctx); err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if !b.IsBanned(ip) {
		t.Fatal("node b does not see node a's ban after Refresh")
	}
	time.Sleep(500 * time.Millisecond)
	if a.IsBanned(ip) || b.IsBanned(ip) {
		t.Fatal("ban outlived BanFor in memory")
	}
	if banned, err := a.Banned(ctx, ip); err != nil || banned {
		t.Fatalf("Banned after BanFor = %v, %v; want false", banned, err)
	}
	// The counters were reset by the ban: one more failure does not re-ban.
	if fail(t, a, "1001", ip, 1) {
		t.Fatal("first failure after a ban banned again")
	}
}

func TestBansRunRefreshes(t *testing.T) {
	a, prefix := newTestBans(t, BanOptions{MaxFailuresPerIP: 1})
	b := NewBans(a.rdb, prefix, BanOptions{MaxFailuresPerIP: 1})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	refreshErrs := make(chan error, 100)
	go func() { done <- b.Run(ctx, 20*time.Millisecond, func(err error) { refreshErrs <- err }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	ip := netip.MustParseAddr("198.51.100.9")
	if _, err := a.Failure(ctx, "x", ip); err != nil {
		t.Fatalf("failure: %v", err)
	}
	poll.Until(t, "Run to bring node a's ban to node b", func() bool { return b.IsBanned(ip) })
	if len(refreshErrs) > 0 {
		t.Fatalf("refresh: %v", <-refreshErrs)
	}
}

func BenchmarkBansIsBanned(b *testing.B) {
	bans := &Bans{local: map[netip.Addr]time.Time{netip.MustParseAddr("192.0.2.1"): time.Now().Add(time.Hour)}}
	ip := netip.MustParseAddr("192.0.2.2")
	for b.Loop() {
		bans.IsBanned(ip)
	}
}
