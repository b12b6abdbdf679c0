package media

import (
	"net"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/sip/siptest/poll"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// streamFrame is one 20 ms G.711 packet of a stream: seq and timestamp advance with i.
func streamFrame(t *testing.T, c Codec, freq float64, ssrc uint32, seq0 uint16, i int) []byte {
	t.Helper()
	return rtpBytes(t, c.PayloadType, seq0+uint16(i), uint32(1000+i*frameSamples), ssrc,
		c.Encode(nil, sine(freq, i*frameSamples, frameSamples)))
}

// TestLatchInjectionNotRelayed: a stream from a foreign address aimed at a
// bridged caller's port, interleaved with the caller's own, is neither relayed
// to the agent nor recorded as the caller's audio; every packet of it is
// dropped and counted as foreign.
func TestLatchInjectionNotRelayed(t *testing.T) {
	r := newRig(t, legSpec{codec: PCMU}, legSpec{codec: PCMU})
	br := NewBridge(r.caller, r.agent, BridgeOptions{})
	br.Start()
	defer br.Stop()
	attacker := listenLoopback(t)
	got := listen(r.b, 300*time.Millisecond)
	const n = 40
	to := sessionAddr(r.caller)
	for i := range n {
		// A well-formed stream of its own (SSRC, sequence, 20 ms apart),
		// each packet just before one of the caller's
		// (so it arrives first, before the caller sent anything).
		for _, p := range []struct {
			c    *net.UDPConn
			b    []byte
			wait time.Duration
		}{
			{attacker, streamFrame(t, PCMU, 3000, 0xBAD, 7000, i), 10 * time.Millisecond},
			{r.a, streamFrame(t, PCMU, 1000, 0xCA11E4, 100, i), 10 * time.Millisecond},
		} {
			if _, err := p.c.WriteToUDPAddrPort(p.b, to); err != nil {
				t.Fatal(err)
			}
			time.Sleep(p.wait)
		}
	}
	heard := <-got
	if st := r.caller.Stats(); st.PacketsIn != n || st.DroppedForeign != n {
		t.Fatalf("caller session: %d packets accepted, %d dropped as foreign; want %d and %d", st.PacketsIn, st.DroppedForeign, n, n)
	}
	if st := br.Stats(); st.CallerToAgent != n {
		t.Fatalf("relayed %d packets to the agent, want the caller's %d only", st.CallerToAgent, n)
	}
	hasTone(t, "agent hears the caller", pcmOf(heard, PCMU), 1000, 3000)
	if got := metricValue(t, r.reg, "hotline_media_packets_dropped_total", dropForeign); got != n {
		t.Fatalf("packets_dropped_total{foreign} = %v, want %d", got, n)
	}
}

// TestLatchSourceMoves covers which other source may take a session over
// from the SDP address it latched first.
func TestLatchSourceMoves(t *testing.T) {
	tests := []struct {
		name string
		// seq is the moved stream's sequence number of packet i.
		seq func(i int) uint16
		gap time.Duration // between the moved stream's packets
		// wantIn is how many of the moved stream's packets are accepted.
		wantIn uint64
	}{
		{"NAT rebinding: in sequence every 20 ms", func(i int) uint16 { return uint16(10 + i) }, frameDuration, 20 - (latchRun - 1)},
		{"a few packets lost on the way", func(i int) uint16 { return uint16(10 + 3*i) }, frameDuration, 20 - (latchRun - 1)},
		{"sequence numbers jump about", func(i int) uint16 { return uint16(10 + 1000*i) }, frameDuration, 0},
		{"a burst shorter than the quiet span", func(i int) uint16 { return uint16(10 + i) }, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, 0)
			moved := listenLoopback(t) // the same phone behind a new NAT binding
			for i := range 5 {
				h.send(t, h.remote, rtpBytes(t, 0, uint16(5+i), uint32(160*i), 0xCAFE, make([]byte, 160)))
			}
			poll.Until(t, "signalled source latched", func() bool { return h.sess.Stats().PacketsIn == 5 })
			for i := range 20 {
				h.send(t, moved, rtpBytes(t, 0, tt.seq(i), uint32(160*(5+i)), 0xCAFE, make([]byte, 160)))
				time.Sleep(tt.gap)
			}
			want := SessionStats{PacketsIn: 5 + tt.wantIn, DroppedForeign: 20 - tt.wantIn}
			poll.Until(t, "moved stream handled", func() bool { return h.sess.Stats() == want })
			moves := 0.0
			if tt.wantIn > 0 {
				moves = 1
			}
			if got := testutil.ToFloat64(h.sess.m.sourceMoves); got != moves {
				t.Fatalf("source_moves_total = %v, want %v", got, moves)
			}
			if tt.wantIn == 0 {
				return
			}
			// The address signalled in SDP takes the session back at once.
			h.send(t, h.remote, rtpBytes(t, 0, 40, 160*40, 0xCAFE, make([]byte, 160)))
			poll.Until(t, "signalled address again", func() bool { return h.sess.Stats().PacketsIn == want.PacketsIn+1 })
		})
	}
}

// TestLatchWaitsForSignalledAddress: before anything latched, a few packets
// from elsewhere are not taken; the SDP address latches at its first packet.
func TestLatchWaitsForSignalledAddress(t *testing.T) {
	h := newHarness(t, 0)
	other := listenLoopback(t)
	for i := range latchRun - 1 {
		h.send(t, other, rtpBytes(t, 0, uint16(i), uint32(160*i), 0xBAD, make([]byte, 160)))
		time.Sleep(frameDuration)
	}
	h.send(t, h.remote, rtpBytes(t, 0, 1, 160, 0xCAFE, make([]byte, 160)))
	poll.Until(t, "signalled address latched", func() bool {
		return h.sess.Stats() == SessionStats{PacketsIn: 1, DroppedForeign: latchRun - 1}
	})
	if got := testutil.ToFloat64(h.sess.m.sourceMoves); got != 0 {
		t.Fatalf("source_moves_total = %v, want 0 (the signalled address is no move)", got)
	}
}
