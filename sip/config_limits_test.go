package sip

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/configs"
)

// The default rate limit is on, and a carrier trunk that is not listed in
// sip.trusted still passes it at 40 new calls a second (about five datagrams
// each: INVITE, ACK, BYE, a DTMF INFO, an OPTIONS ping), while one source
// flooding INVITEs at 310 a second is cut to the rate.
func TestDefaultRateLimitPassesTrunkStopsFlood(t *testing.T) {
	cfg := DefaultConfig()
	if cfg.RatePerSecond <= 0 {
		t.Fatalf("default sip.rate_per_second %v: the rate limit is off", cfg.RatePerSecond)
	}
	g := NewGuard(nil, GuardOptions{MaxMessageSize: cfg.MaxMessageSize, RatePerSecond: cfg.RatePerSecond, Burst: cfg.Burst})
	trunk := &net.UDPAddr{IP: net.IPv4(198, 51, 100, 7), Port: 5060}
	flood := &net.UDPAddr{IP: net.IPv4(203, 0, 113, 9), Port: 5060}
	start := time.Now()
	const seconds = 10
	delivered := map[*net.UDPAddr]int{}
	for i := range seconds * 1000 { // one step per millisecond
		now := start.Add(time.Duration(i) * time.Millisecond)
		if i%5 == 0 { // 200 datagrams a second
			if ok, _ := g.inspect([]byte(validOptions("trunk-"+strconv.Itoa(i))), trunk, cfg.MaxMessageSize, now); ok {
				delivered[trunk]++
			}
		}
		if i%1000 < 310 { // 310 a second
			if ok, _ := g.inspect([]byte(guardRequest("INVITE", "flood-"+strconv.Itoa(i))), flood, cfg.MaxMessageSize, now); ok {
				delivered[flood]++
			}
		}
	}
	if got, want := delivered[trunk], seconds*200; got != want {
		t.Fatalf("trunk: %d of %d datagrams delivered", got, want)
	}
	if got, limit := delivered[flood], cfg.Burst+int(cfg.RatePerSecond)*seconds; got > limit {
		t.Fatalf("flood: %d of %d INVITEs delivered, want at most burst + rate × %d s = %d", got, seconds*310, seconds, limit)
	}
}

func TestConfigLimitsValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"defaults", func(*Config) {}, ""},
		{"rate off", func(c *Config) { c.RatePerSecond = 0 }, ""},
		{"negative rate", func(c *Config) { c.RatePerSecond = -1 }, "must not be negative"},
		{"burst below rate", func(c *Config) { c.RatePerSecond, c.Burst = 200, 50 }, "sip.burst 50: want at least sip.rate_per_second"},
		{"trusted CIDR and address", func(c *Config) { c.Trusted = []string{"203.0.113.0/24", "2001:db8::1"} }, ""},
		{"trusted host name", func(c *Config) { c.Trusted = []string{"trunk.example.net"} }, `sip.trusted: "trunk.example.net": want a CIDR`},
		{"negative calls", func(c *Config) { c.MaxCalls = -1 }, "sip.max_calls -1: want 0 (one per RTP port) or 1..5001"},
		{"one call per port by default, a narrow range", func(c *Config) { c.RTPPorts = "10000-10100" }, ""},
		{"more calls than ports", func(c *Config) { c.RTPPorts, c.MaxCalls = "10000-10100", 4000 }, `sip.max_calls 4000: want 0 (one per RTP port) or 1..51 (one RTP port per call, 51 even ports in sip.rtp_ports "10000-10100")`},
		{"per source above node", func(c *Config) { c.MaxCalls, c.MaxCallsPerSource = 4000, 5000 }, "sip.max_calls_per_source 5000: want 1..sip.max_calls (4000)"},
		{"per source above the ports", func(c *Config) { c.MaxCallsPerSource = 6000 }, "sip.max_calls_per_source 6000: want 1..sip.max_calls (5001)"},
		{"per source zero", func(c *Config) { c.MaxCallsPerSource = 0 }, "sip.max_calls_per_source 0"},
		{"retry after fraction", func(c *Config) { c.OverloadRetryAfter = configs.Duration(1500 * time.Millisecond) }, "sip.overload_retry_after 1.5s: want whole seconds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mutate(&c)
			err := c.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Validate = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestTrustedNets(t *testing.T) {
	nets, err := parseTrusted([]string{"203.0.113.0/24", "198.51.100.7", "2001:db8::/32"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ip   string
		want bool
	}{
		{"203.0.113.200", true}, {"203.0.114.1", false}, {"198.51.100.7", true}, {"198.51.100.8", false},
		{"::ffff:203.0.113.5", true}, {"2001:db8:1::9", true}, {"2001:db9::1", false},
	}
	for _, tt := range tests {
		if got := nets.contains(mustAddr(t, tt.ip)); got != tt.want {
			t.Errorf("contains(%s) = %v, want %v", tt.ip, got, tt.want)
		}
	}
}

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
