package media

import (
	"net"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestSocketDropsCounted: datagrams the kernel drops on a call's RTP socket
// (its receive buffer full while nobody reads) are told in the session's
// stats and in packets_dropped_total{reason="socket_full"} when it closes;
// the server's own checks never see them, so nothing else would.
func TestSocketDropsCounted(t *testing.T) {
	const sent = 1000 // the default 208 KiB buffer holds about 256
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	conn := listenLoopback(t)
	peer := listenLoopback(t)
	sess := NewSession(SessionConfig{Conn: conn, Metrics: m, Negotiated: Negotiated{Codec: PCMU}})
	to := conn.LocalAddr().(*net.UDPAddr)
	pkt := make([]byte, rtpHeaderLen+frameSamples)
	for range sent {
		if _, err := peer.WriteToUDP(pkt, to); err != nil {
			t.Fatal(err)
		}
	}
	// Never started: nothing reads the socket.
	if err := sess.Close(); err != nil {
		t.Fatal(err)
	}
	got := sess.Stats().DroppedSocket
	if got == 0 || got >= sent {
		t.Fatalf("Stats.DroppedSocket = %d after %d datagrams to a socket nobody read, want some but not all", got, sent)
	}
	if c := testutil.ToFloat64(m.dropped[dropSocket]); c != float64(got) {
		t.Fatalf("packets_dropped_total{reason=socket_full} = %v, want %d", c, got)
	}
}
