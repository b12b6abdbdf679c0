package siptest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/sip/media"
)

// TestSIPpScenarios runs every scenario against the fake UAS, so a broken XML
// fails here and not first in the end-to-end tests.
func TestSIPpScenarios(t *testing.T) {
	RequireSIPp(t)
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

// A port chosen free can be taken before SIPp binds it (an outgoing
// connection's ephemeral port, a test running beside): SIPp then exits
// before its first call, and RunSIPp runs it again on new ports instead of
// failing the test that needed it.
func TestRunSIPpRetriesATakenPort(t *testing.T) {
	RequireSIPp(t)
	taken, err := net.ListenPacket("udp", net.JoinHostPort(loopback, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	takenPort := taken.LocalAddr().(*net.UDPAddr).Port
	free := pickSIPpPorts
	t.Cleanup(func() { pickSIPpPorts = free })
	picks, lastSIP := 0, 0
	pickSIPpPorts = func() (int, int, error) {
		sip, media, err := free()
		if picks++; picks == 1 {
			sip = takenPort // bound already: SIPp cannot bind its main socket
		}
		lastSIP = sip
		return sip, media, err
	}
	uas := newFakeUAS(t)
	opts := SIPpOptions{Scenario: "wrong_number.xml", Service: "wrong", Timeout: 15 * time.Second,
		Target: net.JoinHostPort(loopback, strconv.Itoa(uas.port))}
	res, err := RunSIPp(testCtx(t), opts)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if picks != 2 || lastSIP == takenPort {
		t.Fatalf("ports picked %d times, SIPp last on %d (taken: %d); want a second pick", picks, lastSIP, takenPort)
	}
	if res.ExitCode != 0 || res.Successful != 1 || res.Failed != 0 {
		t.Fatalf("exit %d, %d ok, %d failed; stderr: %s", res.ExitCode, res.Successful, res.Failed, res.Stderr)
	}
}

// A run is retried only when it ended no call (a call made twice would
// show in the test that asked for one).
func TestSIPpNoCalls(t *testing.T) {
	dir := t.TempDir()
	if !noCalls(dir) {
		t.Fatal("no statistics: want no calls")
	}
	stat := func(ok, failed int) {
		csv := fmt.Sprintf("StartTime;SuccessfulCall(C);FailedCall(C);\n0;%d;%d;\n", ok, failed)
		if err := os.WriteFile(filepath.Join(dir, "stat.csv"), []byte(csv), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		ok, failed int
		want       bool
	}{{0, 0, true}, {1, 0, false}, {0, 1, false}} {
		stat(tc.ok, tc.failed)
		if got := noCalls(dir); got != tc.want {
			t.Errorf("%d ok, %d failed: noCalls %v, want %v", tc.ok, tc.failed, got, tc.want)
		}
	}
}

// portTaken tells SIPp's bind failure from a run whose calls failed.
func TestSIPpPortTaken(t *testing.T) {
	bind := SIPpResult{ExitCode: 254, Stderr: "Unable to bind main socket, errno = 98 (Address already in use)\n"}
	failed := SIPpResult{ExitCode: 1, Failed: 1, Stderr: "Aborting call on unexpected message"}
	ok := SIPpResult{Stderr: "Address already in use"} // exit 0: it ran
	if !portTaken(bind) || portTaken(failed) || portTaken(ok) {
		t.Fatalf("portTaken: bind %v, failed call %v, exit 0 %v; want true, false, false", portTaken(bind), portTaken(failed), portTaken(ok))
	}
}
