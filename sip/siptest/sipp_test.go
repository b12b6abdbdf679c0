package siptest

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/sip/media"
)

// TestSIPpScenarios runs every scenario against the fake UAS, so a broken XML
// fails here and not first in the end-to-end tests.
func TestSIPpScenarios(t *testing.T) {
	if !HaveSIPp() {
		t.Fatalf("%s not found: install sip-tester (apt-get install sip-tester)", SIPpPath)
	}
	cases := []struct {
		name       string
		opts       SIPpOptions
		wantDigits []rune
	}{
		{name: "ivr key", opts: SIPpOptions{Scenario: "ivr_key.xml", Key: '3'}, wantDigits: []rune{'3'}},
		{name: "invalid then valid", opts: SIPpOptions{Scenario: "invalid_then_valid.xml", InvalidKey: '7', Key: '#'},
			wantDigits: []rune{'7', '#'}},
		{name: "wrong number", opts: SIPpOptions{Scenario: "wrong_number.xml", Service: "wrong"}},
		{name: "g729 only", opts: SIPpOptions{Scenario: "g729.xml"}},
		{name: "cancel", opts: SIPpOptions{Scenario: "cancel.xml", Service: "ring"}},
		{name: "no key, server hangs up", opts: SIPpOptions{Scenario: "no_key.xml", Service: "hangup"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			uas := newFakeUAS(t)
			opts := tc.opts
			opts.Target = net.JoinHostPort(loopback, strconv.Itoa(uas.port))
			opts.AnswerWait, opts.AfterInvalid, opts.AfterKey = 300*time.Millisecond, 500*time.Millisecond, 500*time.Millisecond
			opts.Timeout = 15 * time.Second
			res, err := RunSIPp(testCtx(t), opts)
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			if res.ExitCode != 0 || res.Successful != 1 || res.Failed != 0 {
				t.Fatalf("exit %d, %d ok, %d failed; errors:\n%s\nstderr: %s", res.ExitCode, res.Successful, res.Failed, res.Errors, res.Stderr)
			}
			if tc.wantDigits != nil {
				checkSIPpDigits(t, uas, tc.wantDigits)
			}
		})
	}
}

// checkSIPpDigits decodes the RFC 4733 events the fake UAS got from SIPp.
func checkSIPpDigits(t *testing.T, uas *fakeUAS, want []rune) {
	t.Helper()
	uas.mu.Lock()
	defer uas.mu.Unlock()
	if len(uas.calls) != 1 {
		t.Fatalf("uas saw %d calls, want 1", len(uas.calls))
	}
	for _, c := range uas.calls {
		c.mu.Lock()
		var det media.DTMFDetector
		var got []rune
		for _, p := range c.events {
			if d, ok, err := det.Feed(p.SSRC, p.Timestamp, p.Payload); err == nil && ok {
				got = append(got, d)
			}
		}
		c.mu.Unlock()
		if len(c.events) != 10*len(want) {
			t.Errorf("%d event packets, want all 10 of each pcap", len(c.events))
		}
		t.Logf("rtp sources %v, sipp media port in the offer %d", c.sources, c.neg.Remote.Port())
		if string(got) != string(want) {
			t.Errorf("digits = %q, want %q (from %v)", string(got), string(want), c.sources)
		}
	}
}
