package sip

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// rawInvite is an INVITE with a PCMU offer from conn's address, as a flooder
// sends it: it will never be ACKed.
func rawInvite(conn *net.UDPConn, srv *net.UDPAddr, n int) []byte {
	local := conn.LocalAddr().(*net.UDPAddr)
	sdp := fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n", 40000+2*n)
	return []byte(fmt.Sprintf("INVITE sip:12345@%s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bK-noack-%d;rport\r\n"+
		"Max-Forwards: 70\r\n"+
		"From: <sip:1380000%04d@127.0.0.1>;tag=noack%d\r\n"+
		"To: <sip:12345@%s>\r\n"+
		"Call-ID: noack-%d-%d@127.0.0.1\r\n"+
		"CSeq: 1 INVITE\r\n"+
		"Contact: <sip:caller@%s>\r\n"+
		"Content-Type: application/sdp\r\n"+
		"Content-Length: %d\r\n\r\n%s",
		srv, local, n, n, n, srv, n, time.Now().UnixNano(), local, len(sdp), sdp))
}

// TestUnackedInviteFreesPort: INVITEs answered 200 and never ACKed hold an
// RTP port each only until the 200's transaction times out (64·T1, here
// shortened); then the pool is full again and the 200 is no longer sent.
func TestUnackedInviteFreesPort(t *testing.T) {
	const calls = 6
	const ackWait = 400 * time.Millisecond
	reg := prometheus.NewRegistry()
	srv := testServer(t, func(o *Options) {
		o.ackWait = ackWait
		o.Metrics = NewMetrics(reg)
	})
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for n := range calls {
		if _, err := conn.WriteToUDP(rawInvite(conn, srv.UDPAddr(), n), srv.UDPAddr()); err != nil {
			t.Fatal(err)
		}
	}
	sent := time.Now()
	// Every INVITE is answered 200, and each answered call holds a port.
	oks := map[string]bool{}
	buf := make([]byte, 65535)
	for len(oks) < calls {
		conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("%d of %d INVITEs answered 200: %v", len(oks), calls, err)
		}
		if msg := string(buf[:n]); strings.HasPrefix(msg, "SIP/2.0 200") {
			oks[header(msg, "Call-ID")] = true
		}
	}
	if got := srv.ports.InUse(); got != calls {
		t.Fatalf("%d RTP ports in use with %d calls awaiting their ACK, want %d", got, calls, calls)
	}
	deadline := sent.Add(ackWait + time.Second)
	for srv.ports.InUse() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d RTP ports still in use %v after the INVITEs (ACK wait %v)", srv.ports.InUse(), time.Since(sent), ackWait)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if took := time.Since(sent); took < ackWait {
		t.Fatalf("ports freed after %v, before the ACK wait of %v", took, ackWait)
	}
	if got := testutil.ToFloat64(srv.metrics.invites.WithLabelValues("no_ack")); got != calls {
		t.Fatalf("invites_total{result=no_ack} = %v, want %d", got, calls)
	}
	// The INVITE transactions are over: their 200s are not retransmitted
	// any more (the next retransmission would come within T2 = 4 s).
	drainUntil := time.Now().Add(200 * time.Millisecond) // one already in flight
	for {
		conn.SetReadDeadline(time.Now().Add(4500 * time.Millisecond))
		n, err := conn.Read(buf)
		if err != nil {
			break
		}
		if time.Now().After(drainUntil) && strings.HasPrefix(string(buf[:n]), "SIP/2.0 200") {
			t.Fatalf("a 200 was retransmitted after the call was dropped:\n%s", buf[:n])
		}
	}
}

// header returns the value of the first header name in a raw SIP message.
func header(msg, name string) string {
	for _, line := range strings.Split(msg, "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
