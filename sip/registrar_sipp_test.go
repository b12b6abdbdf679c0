package sip

import (
	"context"
	"net"
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
