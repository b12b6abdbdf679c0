package sip

import (
	"net"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestSIPUDPDropsExported: udp_receive_drops_total reads the kernel's drops
// on the server's SIP UDP socket, so an operator sees the lost ACKs and
// INFOs that the transaction layer never does.
func TestSIPUDPDropsExported(t *testing.T) {
	reg := prometheus.NewRegistry()
	srv := testServer(t, func(o *Options) { o.Metrics = NewMetrics(reg) })
	if c := srv.metrics.udpConn.Load(); c == nil || c.LocalAddr().String() != srv.UDPAddr().String() {
		t.Fatalf("udp_receive_drops_total watches %v, want the SIP socket %v", c, srv.UDPAddr())
	}
	// The server reads its socket too fast to overflow: a socket nobody
	// reads stands in for it.
	m := NewMetrics(nil)
	idle, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	m.watchUDP(idle)
	from, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer from.Close()
	if got := testutil.ToFloat64(m.udpDrops); got != 0 {
		t.Fatalf("udp_receive_drops_total = %v before any datagram, want 0", got)
	}
	msg := make([]byte, 600) // about an ACK's size
	for range 2000 {
		if _, err := from.WriteToUDP(msg, idle.LocalAddr().(*net.UDPAddr)); err != nil {
			t.Fatal(err)
		}
	}
	if got := testutil.ToFloat64(m.udpDrops); got <= 0 || got >= 2000 {
		t.Fatalf("udp_receive_drops_total = %v after 2000 datagrams to a socket nobody read, want some but not all", got)
	}
}
