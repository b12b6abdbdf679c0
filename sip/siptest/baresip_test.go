package siptest

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/hotline-dev/hotline/sip/media"
	"github.com/hotline-dev/hotline/sip/siptest/poll"
)

// TestBaresipAnswersAndExchangesAudio: baresip registers with digest auth, the
// test server calls it, and each side hears the other's tone.
func TestBaresipAnswersAndExchangesAudio(t *testing.T) {
	cases := []struct {
		name       string
		autoAnswer bool
		transport  string
		codecs     []string
		wantCodec  media.Codec
		agentBye   bool // the agent hangs up instead of the server
	}{
		{name: "auto answer udp", autoAnswer: true, wantCodec: media.PCMU},
		{name: "manual accept", autoAnswer: false, wantCodec: media.PCMU},
		{name: "pcma only", autoAnswer: true, codecs: []string{"PCMA"}, wantCodec: media.PCMA},
		{name: "tcp", autoAnswer: true, transport: "tcp", wantCodec: media.PCMU},
		{name: "agent hangs up", autoAnswer: true, wantCodec: media.PCMU, agentBye: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			reg := newTestRegistrar(t)
			opts := agentOptions(reg, tc.autoAnswer)
			opts.Transport, opts.Codecs = tc.transport, tc.codecs
			b := startTestBaresip(t, ctx, opts)
			if err := b.WaitRegistered(ctx); err != nil {
				t.Fatal(err)
			}
			accepted := make(chan error, 1)
			if !tc.autoAnswer {
				go func() { accepted <- acceptNext(ctx, b) }()
			}
			call := reg.call(ctx, agentUser, Tone(serverTone, time.Second, 8000))
			if !tc.autoAnswer {
				if err := <-accepted; err != nil {
					t.Fatal(err)
				}
			}
			if _, err := b.WaitEvent(ctx, EventCallEstablished); err != nil {
				t.Fatal(err)
			}
			if call.neg.Codec != tc.wantCodec {
				t.Errorf("negotiated %s, want %s", call.neg.Codec.Name, tc.wantCodec.Name)
			}
			checkBothDirections(t, ctx, b, call)
			if err := b.SendDTMF(ctx, '5'); err != nil {
				t.Fatal(err)
			}
			poll.Until(t, "telephone-event packets from baresip", func() bool { _, n := call.received(); return n > 0 })
			hangup(t, ctx, b, call, tc.agentBye)
		})
	}
}

// hangup ends the call from either side and checks both sides saw it end.
func hangup(t *testing.T, ctx context.Context, b *Baresip, call *serverCall, byAgent bool) {
	t.Helper()
	if byAgent {
		if err := b.Hangup(ctx); err != nil {
			t.Fatal(err)
		}
		poll.Until(t, "bye from the agent", func() bool { return call.dlg.LoadState() == sip.DialogStateEnded })
	} else if err := call.dlg.Bye(ctx); err != nil {
		t.Fatalf("bye: %v", err)
	}
	if _, err := b.WaitEvent(ctx, EventCallClosed); err != nil {
		t.Fatal(err)
	}
}

func acceptNext(ctx context.Context, b *Baresip) error {
	if _, err := b.WaitEvent(ctx, EventCallIncoming); err != nil {
		return err
	}
	return b.Accept(ctx)
}

// checkBothDirections waits for a second of audio each way, then checks the
// tones: the server hears the agent's microphone, the agent hears the server.
func checkBothDirections(t *testing.T, ctx context.Context, b *Baresip, call *serverCall) {
	t.Helper()
	var heard, got []int16
	for {
		var err error
		if heard, err = b.Recorded(); err != nil {
			t.Fatal(err)
		}
		got, _ = call.received()
		if len(heard) >= sampleRate && len(got) >= sampleRate {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("audio: agent heard %d samples, server got %d: %v", len(heard), len(got), ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if g := Goertzel(got, sampleRate, agentTone); g < 0.5 || RMS(got) < 1000 {
		t.Errorf("server received %v Hz share %.2f, rms %.0f: want the agent's microphone tone", agentTone, g, RMS(got))
	}
	if g := Goertzel(heard, sampleRate, serverTone); g < 0.5 || RMS(heard) < 1000 {
		t.Errorf("agent heard %v Hz share %.2f, rms %.0f: want the server's tone", serverTone, g, RMS(heard))
	}
	if g := Goertzel(heard, sampleRate, agentTone); g > 0.05 {
		t.Errorf("agent heard its own tone (share %.2f)", g)
	}
}

// TestBaresipDials: the agent places a call to a UAS, hears it, and hangs up.
func TestBaresipDials(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	reg := newTestRegistrar(t)
	uas := newFakeUAS(t)
	b := startTestBaresip(t, ctx, agentOptions(reg, true))
	if err := b.WaitRegistered(ctx); err != nil {
		t.Fatal(err)
	}
	if c, ok := reg.contact(agentUser); !ok || c.Port != b.SIPPort() {
		t.Fatalf("registered contact %v (%v), want baresip's port %d", c, ok, b.SIPPort())
	}
	if err := b.Dial(ctx, uas.uri("support")); err != nil {
		t.Fatal(err)
	}
	ev, err := b.WaitEvent(ctx, EventCallEstablished)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ev.PeerURI, "support@") || ev.ID == "" || ev.Raw["direction"] != "outgoing" {
		t.Errorf("established event %+v: want an outgoing call to support with a call id", ev)
	}
	c := uas.call(ev.ID)
	if c == nil {
		t.Fatalf("uas has no call %q", ev.ID)
	}
	poll.Until(t, "agent audio at the uas", func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.audio >= 50 })
	poll.Until(t, "uas tone at the agent", func() bool { pcm, _ := b.Recorded(); return len(pcm) >= sampleRate })
	heard, err := b.Recorded()
	if err != nil {
		t.Fatal(err)
	}
	if g := Goertzel(heard, sampleRate, uasTone); g < 0.5 {
		t.Errorf("agent heard %v Hz share %.2f, want the uas tone", uasTone, g)
	}
	if err := b.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WaitEvent(ctx, EventCallClosed); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "bye at the uas", func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.bye })
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Recorded(); err == nil {
		t.Error("Recorded after Close: want an error, the recordings are gone")
	}
}

// TestBaresipRegisterFails: a wrong password ends in REGISTER_FAIL, not a hang.
func TestBaresipRegisterFails(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	reg := newTestRegistrar(t)
	opts := agentOptions(reg, true)
	opts.Password = "wrong"
	b := startTestBaresip(t, ctx, opts)
	err := b.WaitRegistered(ctx)
	if err == nil || errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "403") {
		t.Fatalf("register with a wrong password: %v, want the 403 failure", err)
	}
}

// A port chosen free can be taken before baresip binds it (an outgoing
// connection's ephemeral port, a test running beside): StartBaresip then
// starts it again on new ports instead of failing the test that needed it.
func TestBaresipStartRetriesATakenPort(t *testing.T) {
	ctx := testCtx(t)
	taken, err := net.Listen("tcp", net.JoinHostPort(loopback, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	picks := 0
	pickSIPPort = func() (int, error) {
		if picks++; picks == 1 {
			return taken.Addr().(*net.TCPAddr).Port, nil // bound for TCP: baresip's bind fails
		}
		return freeUDPTCPPort()
	}
	t.Cleanup(func() { pickSIPPort = freeUDPTCPPort })
	reg := newTestRegistrar(t)
	b := startTestBaresip(t, ctx, agentOptions(reg, true))
	if picks != 2 || b.SIPPort() == taken.Addr().(*net.TCPAddr).Port {
		t.Fatalf("SIP port picked %d times, baresip on %d (taken: %d); want a second pick", picks, b.SIPPort(), taken.Addr().(*net.TCPAddr).Port)
	}
	if err := b.WaitRegistered(ctx); err != nil {
		t.Fatal(err)
	}
}
