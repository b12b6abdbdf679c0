package sip

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/sip/siptest"
)

// TestRegisterSIPpInterop has SIPp (sip-tester) register with its own MD5
// digest (-au/-ap) against the registrar. SIPp 3.6 answers only the first
// challenge and only in MD5, so this registrar offers MD5 alone.
func TestRegisterSIPpInterop(t *testing.T) {
	siptest.RequireSIPp(t)
	tests := []struct {
		name     string
		password string
		wantOK   bool
	}{
		{"right password", "s3cret-pass", true},
		{"wrong password", "wrong-pass", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testRegistrarConfig()
			cfg.Algorithms = []string{"MD5"}
			env := startRegistrar(t, cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res, err := siptest.RunSIPp(ctx, siptest.SIPpOptions{
				Scenario: "register.xml", Service: "1001",
				Target:    net.JoinHostPort("127.0.0.1", strconv.Itoa(env.addr.Port)),
				Timeout:   10 * time.Second,
				ExtraArgs: []string{"-au", "1001", "-ap", tt.password},
			})
			if err != nil {
				t.Fatalf("sipp: %v", err)
			}
			if ok := res.Successful == 1 && res.Failed == 0; ok != tt.wantOK {
				t.Fatalf("sipp successful=%d failed=%d exit=%d, want ok=%v\nerrors: %s\nstderr: %s",
					res.Successful, res.Failed, res.ExitCode, tt.wantOK, res.Errors, res.Stderr)
			}
			b, bound := env.locs.get("1001")
			if bound != tt.wantOK || (bound && b.Expires != 600*time.Second) {
				t.Fatalf("binding %+v bound=%v, want bound=%v with 600 s", b, bound, tt.wantOK)
			}
		})
	}
}

// SIPp, a real phone, guessing agent 1001's password from one address: its
// digest answers carry the nonces we sent it, so five failures ban the
// address. A sixth REGISTER goes unanswered, but a SIPp call from the same
// address to the hotline is still answered (a banned address may be an
// emergency caller).
func TestBannedSIPpStillCallsHotline(t *testing.T) {
	siptest.RequireSIPp(t)
	cfg := testRegistrarConfig()
	cfg.Algorithms = []string{"MD5"}
	srv, env := edgeServerWith(t, cfg, func(o *Options) {
		o.Handler = func(ctx context.Context, _ *Call) { // hang up after 1 s
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	})
	target := net.JoinHostPort("127.0.0.1", strconv.Itoa(srv.UDPAddr().Port))
	run := func(opts siptest.SIPpOptions) siptest.SIPpResult {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		opts.Target = target
		res, err := siptest.RunSIPp(ctx, opts)
		if err != nil {
			t.Fatalf("sipp %s: %v", opts.Scenario, err)
		}
		return res
	}
	guess := siptest.SIPpOptions{Scenario: "register.xml", Service: "1001", Calls: 5, Timeout: 10 * time.Second,
		ExtraArgs: []string{"-au", "1001", "-ap", "wrong-pass"}}
	if res := run(guess); res.Successful != 0 || res.Failed != 5 {
		t.Fatalf("wrong-password registrations: successful=%d failed=%d, want 0 and 5", res.Successful, res.Failed)
	}
	if banned, _ := env.bans.Banned(context.Background(), netip.MustParseAddr("127.0.0.1")); !banned {
		t.Fatal("five failures on our own nonces did not ban the address")
	}
	guess.Calls, guess.Timeout = 1, 3*time.Second
	guess.ExtraArgs = []string{"-au", "1001", "-ap", "s3cret-pass"}
	if res := run(guess); res.Successful != 0 || srv.GuardStats()[0].Banned.Load() == 0 {
		t.Fatalf("REGISTER from the banned address: successful=%d, dropped=%d; want dropped",
			res.Successful, srv.GuardStats()[0].Banned.Load())
	}
	if res := run(siptest.SIPpOptions{Scenario: "no_key.xml", Timeout: 10 * time.Second}); res.Successful != 1 {
		t.Fatalf("call to the hotline from the banned address: successful=%d failed=%d\nerrors: %s",
			res.Successful, res.Failed, res.Errors)
	}
}
