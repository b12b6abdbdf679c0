package siptest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/sip/media"
	"github.com/hotline-dev/hotline/sip/siptest/poll"
	"github.com/pion/rtp"
)

func newTestCaller(t *testing.T) *Caller {
	t.Helper()
	c, err := NewCaller("siptest", nil)
	if err != nil {
		t.Fatalf("new caller: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close caller: %v", err)
		}
	})
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestDialHearsToneAndHangsUp(t *testing.T) {
	cases := []struct {
		name      string
		transport string
		codecs    []media.Codec
		noSDP     bool
		want      string
	}{
		{name: "udp pcmu", transport: "udp", codecs: []media.Codec{media.PCMU}, want: "PCMU"},
		{name: "udp pcma", transport: "udp", codecs: []media.Codec{media.PCMA, media.PCMU}, want: "PCMA"},
		{name: "tcp default codecs", transport: "tcp", want: "PCMU"},
		{name: "invite without sdp", transport: "udp", noSDP: true, want: "PCMA"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			uas, caller, ctx := newFakeUAS(t), newTestCaller(t), testCtx(t)
			call, err := caller.Dial(ctx, DialOptions{Target: uas.uri("12345"), Transport: tc.transport,
				Codecs: tc.codecs, NoSDP: tc.noSDP})
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			if got := call.Codec().Name; got != tc.want {
				t.Errorf("codec = %s, want %s", got, tc.want)
			}
			if err := call.WaitAudio(ctx, 300*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			pcm := call.Received()
			if p := Goertzel(pcm, sampleRate, uasTone); p < 0.5 {
				t.Errorf("tone power at %v Hz = %.3f, want > 0.5", uasTone, p)
			}
			if p := Goertzel(pcm, sampleRate, 1500); p > 0.05 {
				t.Errorf("power at 1500 Hz = %.3f, want < 0.05", p)
			}
			uc := uas.call(call.CallID())
			poll.Until(t, "caller's rtp at the uas", func() bool { uc.mu.Lock(); defer uc.mu.Unlock(); return uc.audio >= 5 })
			checkStats(t, call.PacketStats())
			if err := call.Hangup(ctx); err != nil {
				t.Fatalf("hangup: %v", err)
			}
			poll.Until(t, "bye at the uas", func() bool { uc.mu.Lock(); defer uc.mu.Unlock(); return uc.bye })
		})
	}
}

func checkStats(t *testing.T, st PacketStats) {
	t.Helper()
	if st.AudioPackets < 10 || st.SeqGaps != 0 || st.SSRCChanges != 0 || st.Markers != 1 {
		t.Errorf("stats = %+v, want >= 10 audio packets, no gaps, one ssrc, one marker", st)
	}
	if st.InterArrivalP50 < 10*time.Millisecond || st.InterArrivalP50 > 30*time.Millisecond {
		t.Errorf("inter-arrival p50 = %v, want about 20ms", st.InterArrivalP50)
	}
}

func TestDialErrors(t *testing.T) {
	g729 := []byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio 4000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n")
	cases := []struct {
		name string
		user string
		sdp  []byte
		want int
	}{
		{name: "busy", user: "busy", want: 486},
		{name: "wrong number", user: "wrong", want: 404},
		{name: "g729 only offer", user: "12345", sdp: g729, want: 488},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			uas, caller, ctx := newFakeUAS(t), newTestCaller(t), testCtx(t)
			_, err := caller.Dial(ctx, DialOptions{Target: uas.uri(tc.user), SDP: tc.sdp})
			var se *StatusError
			if !errors.As(err, &se) || se.Code != tc.want {
				t.Fatalf("dial error = %v, want StatusError %d", err, tc.want)
			}
		})
	}
}

func TestInviteAndCancel(t *testing.T) {
	uas, caller, ctx := newFakeUAS(t), newTestCaller(t), testCtx(t)
	code, err := caller.InviteAndCancel(ctx, DialOptions{Target: uas.uri("ring")})
	if err != nil || code != 487 {
		t.Fatalf("InviteAndCancel = %d, %v; want 487", code, err)
	}
}

func TestServerHangup(t *testing.T) {
	uas, caller, ctx := newFakeUAS(t), newTestCaller(t), testCtx(t)
	call, err := caller.Dial(ctx, DialOptions{Target: uas.uri("12345")})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if err := uas.hangup(ctx, call.CallID()); err != nil {
		t.Fatalf("uas bye: %v", err)
	}
	if err := call.WaitHangup(ctx); err != nil {
		t.Fatal(err)
	}
	if err := call.SendDTMF('1'); err == nil {
		t.Error("SendDTMF after the server hung up succeeded, want an error")
	}
}

func TestSendDTMF(t *testing.T) {
	uas, caller, ctx := newFakeUAS(t), newTestCaller(t), testCtx(t)
	call, err := caller.Dial(ctx, DialOptions{Target: uas.uri("12345"), DTMFPayloadType: 96})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer call.Hangup(ctx)
	for _, d := range "5#" {
		if err := call.SendDTMF(d); err != nil {
			t.Fatalf("send %c: %v", d, err)
		}
	}
	uc := uas.call(call.CallID())
	poll.Until(t, "16 event packets", func() bool { uc.mu.Lock(); defer uc.mu.Unlock(); return len(uc.events) >= 16 })
	uc.mu.Lock()
	events := slices.Clone(uc.events)
	uc.mu.Unlock()
	checkEvent(t, events[:8], 5)
	checkEvent(t, events[8:16], 11)
	if events[0].Timestamp == events[8].Timestamp {
		t.Error("two events share one timestamp: the receiver would merge them")
	}
}

// checkEvent checks one RFC 4733 event: PT 96, marker only on the first packet,
// one timestamp, growing durations, and exactly the last 3 packets with E set.
func checkEvent(t *testing.T, pkts []rtp.Packet, want uint8) {
	t.Helper()
	var last uint16
	for i, p := range pkts {
		e, err := media.ParseDTMFEvent(p.Payload)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if p.PayloadType != 96 || e.Event != want || p.Timestamp != pkts[0].Timestamp {
			t.Errorf("packet %d: pt %d event %d ts %d, want pt 96 event %d ts %d", i, p.PayloadType, e.Event, p.Timestamp, want, pkts[0].Timestamp)
		}
		if p.Marker != (i == 0) || e.End != (i >= eventPackets) || e.Duration < last {
			t.Errorf("packet %d: marker %v end %v duration %d after %d", i, p.Marker, e.End, e.Duration, last)
		}
		last = e.Duration
	}
}

func TestHoldAndINFO(t *testing.T) {
	uas, caller, ctx := newFakeUAS(t), newTestCaller(t), testCtx(t)
	call, err := caller.Dial(ctx, DialOptions{Target: uas.uri("12345")})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer call.Hangup(ctx)
	steps := []func(context.Context) error{
		call.Hold, call.Unhold,
		func(ctx context.Context) error { return call.SendINFO(ctx, '5', "application/dtmf-relay") },
		func(ctx context.Context) error { return call.SendINFO(ctx, '#', "application/dtmf") },
	}
	for i, step := range steps {
		if err := step(ctx); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	if err := call.SendINFO(ctx, '1', "text/plain"); err == nil {
		t.Error("SendINFO with text/plain succeeded, want an error")
	}
	uc := uas.call(call.CallID())
	poll.Until(t, "3 acks", func() bool { uc.mu.Lock(); defer uc.mu.Unlock(); return uc.acks == 3 })
	uc.mu.Lock()
	defer uc.mu.Unlock()
	if want := []media.Direction{media.SendOnly, media.SendRecv}; !slices.Equal(uc.directions, want) {
		t.Errorf("re-INVITE directions = %v, want %v", uc.directions, want)
	}
	want := []string{"application/dtmf-relay|Signal=5\r\nDuration=160\r\n", "application/dtmf|#"}
	if !slices.Equal(uc.infos, want) {
		t.Errorf("INFO bodies = %q, want %q", uc.infos, want)
	}
	if d := call.RemoteSDP().Direction; d != media.RecvOnly {
		t.Errorf("remote direction after unhold = %s, want the fake's recvonly", d)
	}
}
