package media

import (
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/sip/siptest/poll"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// phoneStream is a phone's outgoing RTP: one SSRC, sequence numbers and
// timestamps that go on across calls of audio and digit.
type phoneStream struct {
	conn *net.UDPConn
	to   *Session
	ssrc uint32
	seq  uint16
	ts   uint32
}

// audio sends n 20 ms frames of a freq Hz tone in real time.
func (p *phoneStream) audio(t *testing.T, freq float64, n int) {
	t.Helper()
	start := time.Now()
	for i := range n {
		b := rtpBytes(t, PCMU.PayloadType, p.seq, p.ts, p.ssrc, PCMU.Encode(nil, sine(freq, int(p.ts), frameSamples)))
		if _, err := p.conn.WriteToUDPAddrPort(b, sessionAddr(p.to)); err != nil {
			t.Fatalf("phone send: %v", err)
		}
		p.seq++
		p.ts += frameSamples
		time.Sleep(time.Until(start.Add(time.Duration(i+1) * frameDuration)))
	}
}

// digit sends one RFC 4733 event on the same stream (same SSRC), as a phone
// does in the middle of a conversation.
func (p *phoneStream) digit(t *testing.T, r rune) {
	t.Helper()
	ev, _ := DigitEvent(r)
	for i, end := range []bool{false, false, true, true, true} {
		payload := DTMFEvent{Event: ev, End: end, Volume: 10, Duration: uint16(160 * (i + 1))}.Marshal()
		b := rtpBytes(t, callerDTMFPT, p.seq, p.ts, p.ssrc, payload)
		if _, err := p.conn.WriteToUDPAddrPort(b, sessionAddr(p.to)); err != nil {
			t.Fatalf("phone send: %v", err)
		}
		p.seq++
		time.Sleep(frameDuration)
	}
	p.ts += 5 * frameSamples
}

// TestKernelRelayHandsBackAndForth: audio goes to the kernel after the
// first packet; a digit, a re-INVITE moving the agent's phone and a prompt
// take the leg back to user space and the kernel gets it again after each.
// Whoever sends, the agent's phone sees one stream: its session's SSRC,
// sequence numbers +1 without a gap or repeat, the right payload types and
// the right address; the recording has the caller throughout (S19).
func TestKernelRelayHandsBackAndForth(t *testing.T) {
	needKernelRelay(t, RelayKernel)
	r := newRigSend(t, SendAuto, RelayKernel, legSpec{PCMU, true}, legSpec{PCMU, true})
	rec, err := NewRecorder(filepath.Join(t.TempDir(), "call.wav"))
	if err != nil {
		t.Fatal(err)
	}
	br := NewBridge(r.caller, r.agent, BridgeOptions{Recorder: rec})
	br.Start()
	m := r.caller.m
	caller := &phoneStream{conn: r.a, to: r.caller, ssrc: 0xA11CE, seq: 65500, ts: 1000}
	atB := listen(r.b, 400*time.Millisecond)

	caller.audio(t, 440, 25)
	if got := testutil.ToFloat64(m.kernelLegs); got != 1 {
		t.Errorf("kernel legs while the caller talks = %v, want 1", got)
	}
	inKernel := testutil.ToFloat64(m.kernelRelayed)
	caller.digit(t, '7')
	caller.audio(t, 440, 25)
	if testutil.ToFloat64(m.kernelRelayed) <= inKernel {
		t.Errorf("the kernel forwarded nothing after the digit")
	}
	gotB := <-atB

	// A re-INVITE moves the agent's phone to another socket.
	b2 := listenLoopback(t)
	moved := r.agentNeg
	moved.Remote = addrOf(b2)
	r.agent.Update(moved)
	atB2 := listen(b2, 400*time.Millisecond)
	caller.audio(t, 440, 25)
	gotB2 := <-atB2
	if len(gotB2) != 25 {
		t.Errorf("the agent's new address got %d packets, want 25", len(gotB2))
	}
	br.Stop()
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}

	all := append(gotB, gotB2...)
	var audio, events int
	for i, p := range all {
		h := p.pkt.Header
		if h.SSRC != r.agent.tx.ssrc {
			t.Fatalf("packet %d: SSRC %#x, want the agent session's %#x", i, h.SSRC, r.agent.tx.ssrc)
		}
		switch h.PayloadType {
		case PCMU.PayloadType:
			audio++
		case agentDTMFPT:
			events++
		default:
			t.Fatalf("packet %d: payload type %d", i, h.PayloadType)
		}
		if i > 0 && h.SequenceNumber != all[i-1].pkt.SequenceNumber+1 {
			t.Fatalf("packet %d: seq %d after %d, want +1 (kernel and user space share one stream)",
				i, h.SequenceNumber, all[i-1].pkt.SequenceNumber)
		}
		if i > 0 && h.PayloadType == PCMU.PayloadType && all[i-1].pkt.PayloadType == PCMU.PayloadType &&
			h.Timestamp-all[i-1].pkt.Timestamp != frameSamples {
			t.Fatalf("packet %d: timestamp %d after %d, want +160", i, h.Timestamp, all[i-1].pkt.Timestamp)
		}
	}
	if audio != 75 || events != 5 {
		t.Errorf("the agent got %d audio and %d event packets, want 75 and 5", audio, events)
	}
	if st := br.Stats(); st.CallerToAgent != 75 || st.DTMF != 5 {
		t.Errorf("Stats: %d audio and %d events relayed, want 75 and 5", st.CallerToAgent, st.DTMF)
	}
	if got := testutil.ToFloat64(m.kernelRelayed); got < 60 {
		t.Errorf("kernel forwarded %v of 75 audio packets, want all but the first after each hand-back", got)
	}
	if got := testutil.ToFloat64(m.kernelLegs); got != 0 {
		t.Errorf("%v legs left in the kernel after Stop", got)
	}
	left, _ := readWAV(t, rec.Path())
	if p := goertzel(left, 440); len(left) < 75*frameSamples || p < 1e5 {
		t.Errorf("recording: %d samples, 440 Hz power %.3g: the caller is missing", len(left), p)
	}
}

// TestKernelRelayKeepsSessionAlive: packets the kernel forwards never reach
// the session's socket, yet they count as media: no media timeout while
// the caller talks, a timeout once the caller stops.
func TestKernelRelayKeepsSessionAlive(t *testing.T) {
	needKernelRelay(t, RelayKernel)
	r := newRigSend(t, SendAuto, RelayKernel, legSpec{PCMU, false}, legSpec{PCMU, false})
	r.caller.SetMediaTimeout(300 * time.Millisecond)
	br := NewBridge(r.caller, r.agent, BridgeOptions{})
	br.Start()
	defer br.Stop()
	caller := &phoneStream{conn: r.a, to: r.caller, ssrc: 0x5151}
	caller.audio(t, 440, 50) // 1 s, over three timeouts
	select {
	case <-r.caller.TimedOut():
		t.Fatal("media timeout while the kernel forwarded the caller's audio")
	default:
	}
	if got := testutil.ToFloat64(r.caller.m.kernelRelayed); got < 45 {
		t.Fatalf("kernel forwarded %v packets, want nearly all 50", got)
	}
	poll.Until(t, "media timeout after the caller stopped", func() bool {
		select {
		case <-r.caller.TimedOut():
			return true
		default:
			return false
		}
	})
}

// TestKernelRelayStopsWhenSessionCloses: the caller's session closing takes
// its leg out of the kernel at once, before the bridge stops: its port may
// be given to the next call.
func TestKernelRelayStopsWhenSessionCloses(t *testing.T) {
	r, br := kernelBridge(t)
	defer br.Stop()
	(&phoneStream{conn: r.a, to: r.caller, ssrc: 1}).audio(t, 440, 5)
	(&phoneStream{conn: r.b, to: r.agent, ssrc: 2}).audio(t, 1000, 5)
	if got := testutil.ToFloat64(r.caller.m.kernelLegs); got != 2 {
		t.Fatalf("kernel legs = %v, want 2", got)
	}
	if err := r.caller.Close(); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(r.caller.m.kernelLegs); got != 0 {
		t.Fatalf("kernel legs after the caller's session closed = %v, want 0", got)
	}
}

// TestKernelRelayRunTimeMetric: the program's own CPU time, which no
// process is charged for, is exported for the operator and the bench.
func TestKernelRelayRunTimeMetric(t *testing.T) {
	r, br := kernelBridge(t)
	defer br.Stop()
	(&phoneStream{conn: r.a, to: r.caller, ssrc: 9}).audio(t, 440, 10)
	runs := metricValue(t, r.reg, "hotline_media_kernel_relay_runs_total", "")
	cpu := metricValue(t, r.reg, "hotline_media_kernel_relay_cpu_seconds_total", "")
	if runs < 10 || cpu <= 0 || cpu/runs > 1e-4 {
		t.Fatalf("program runs %v, CPU %v s: want at least the 10 packets sent and a few µs each at most", runs, cpu)
	}
}

// TestRTPPayload: the drain finds the payload after CSRCs and a header
// extension and before padding, and refuses what does not add up.
func TestRTPPayload(t *testing.T) {
	hdr := func(b0 byte, rest ...byte) []byte {
		return append([]byte{b0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3}, rest...)
	}
	tests := []struct {
		name string
		pkt  []byte
		want string
		ok   bool
	}{
		{"plain", hdr(0x80, 'a', 'b'), "ab", true},
		{"one CSRC", hdr(0x81, 9, 9, 9, 9, 'a'), "a", true},
		{"extension of one word", hdr(0x90, 0xbe, 0xde, 0, 1, 1, 2, 3, 4, 'x', 'y'), "xy", true},
		{"padding", hdr(0xa0, 'a', 'b', 0, 0, 3), "ab", true},
		{"CSRC cut off", hdr(0x82, 1, 2, 3, 4), "", false},
		{"extension cut off", hdr(0x90, 0xbe, 0xde), "", false},
		{"padding longer than the payload", hdr(0xa0, 'a', 9), "", false},
		{"zero padding", hdr(0xa0, 'a', 0), "", false},
		{"short header", []byte{0x80, 0, 0}, "", false},
	}
	for _, tt := range tests {
		got, ok := rtpPayload(tt.pkt)
		if ok != tt.ok || string(got) != tt.want {
			t.Errorf("%s: %q, %v; want %q, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

// TestKernelRelayLongFramesStayInUserSpace: a leg whose packets are longer
// than the ring's copy (60 ms of G.711) is relayed in user space, so its
// recording is whole.
func TestKernelRelayLongFramesStayInUserSpace(t *testing.T) {
	needKernelRelay(t, RelayKernel)
	r := newRigSend(t, SendAuto, RelayKernel, legSpec{PCMU, false}, legSpec{PCMU, false})
	br := NewBridge(r.caller, r.agent, BridgeOptions{})
	br.Start()
	atB := listen(r.b, 200*time.Millisecond)
	for i := range 10 {
		b := rtpBytes(t, PCMU.PayloadType, uint16(i), uint32(i*480), 0x60, PCMU.Encode(nil, sine(440, i*480, 480)))
		if _, err := r.a.WriteToUDPAddrPort(b, sessionAddr(r.caller)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * frameDuration)
	}
	got := <-atB
	br.Stop()
	if len(got) != 10 || br.Stats().CallerToAgent != 10 {
		t.Fatalf("the agent got %d packets, Stats %d; want 10", len(got), br.Stats().CallerToAgent)
	}
	if n := testutil.ToFloat64(r.caller.m.kernelRelayed); n != 0 {
		t.Errorf("the kernel forwarded %v packets of 60 ms, want 0", n)
	}
}

// kernelBridge is a running bridge of two PCMU sessions on the kernel relay.
func kernelBridge(t *testing.T) (*rig, *Bridge) {
	t.Helper()
	needKernelRelay(t, RelayKernel)
	r := newRigSend(t, SendAuto, RelayKernel, legSpec{PCMU, false}, legSpec{PCMU, false})
	br := NewBridge(r.caller, r.agent, BridgeOptions{})
	br.Start()
	return r, br
}
