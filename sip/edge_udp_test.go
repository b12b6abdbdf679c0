package sip

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A 200 OK to an INVITE that came through a chain of proxies carries all
// their Via and Record-Route headers and outgrows 1,300 bytes; RFC 3261
// §18.2.2 lets a response go over UDP at any size (IP fragments it), and the
// caller must get it rather than retransmit into silence.
func TestLargeResponseSentOverUDP(t *testing.T) {
	srv := testServer(t, func(o *Options) { o.Handler = holdCalls })
	p := newRawPeer(t, "127.0.0.1", srv)
	var proxies []string
	for i := 1; i <= 10; i++ {
		n := strconv.Itoa(i)
		proxies = append(proxies, "Via: SIP/2.0/UDP 192.0.2."+n+":5060;branch=z9hG4bK-proxy"+n+"-4f1c2a9d7e3b8c6a;received=192.0.2."+n)
	}
	for i := 1; i <= 8; i++ {
		proxies = append(proxies, "Record-Route: <sip:192.0.2."+strconv.Itoa(i)+":5060;lr;ftag=f-large;did=7a1.b2c3d4e5>")
	}
	p.send(withBody(p.request("INVITE", "12345", "large", 1, proxies...), offerSDP(40006)))
	ok, size := p.final("INVITE", 3*time.Second)
	if ok == nil || ok.StatusCode != 200 {
		t.Fatalf("INVITE through 10 proxies: final response %v, want a 200", ok)
	}
	if size <= 1300 || len(ok.GetHeaders("Via")) != 11 || len(ok.GetHeaders("Record-Route")) != 8 {
		t.Fatalf("200 of %d bytes with %d Via and %d Record-Route: want over 1,300 bytes, 11 and 8",
			size, len(ok.GetHeaders("Via")), len(ok.GetHeaders("Record-Route")))
	}
	t.Logf("200 OK of %d bytes received over UDP", size)
	p.send(p.inDialog("ACK", ok, 1))
	p.send(p.inDialog("BYE", ok, 2))
	if bye, _ := p.final("BYE", 3*time.Second); bye == nil || bye.StatusCode != 200 {
		t.Fatalf("BYE: %v", bye)
	}
}

// topVia matches the sent-by of a message's first Via (full or compact form).
var topVia = regexp.MustCompile(`(?im)^(via|v)[ \t]*:[ \t]*SIP[ \t]*/[ \t]*2\.0[ \t]*/[ \t]*UDP[ \t]+([A-Za-z0-9.\-]+)(:[0-9]+)?`)

// viaHostTo keeps a torture message's Via host name but gives it the peer's
// port: RFC 3261 §18.2.2 sends the response to the received address at the
// sent-by port, which must be the test's socket.
func viaHostTo(msg string, port int) (string, string) {
	m := topVia.FindStringSubmatchIndex(msg)
	if m == nil {
		return msg, ""
	}
	host := msg[m[4]:m[5]]
	end := m[5]
	if m[6] >= 0 {
		end = m[7]
	}
	return msg[:m[4]] + host + ":" + strconv.Itoa(port) + msg[end:], host
}

// The RFC 4475 messages whose Via names a host get their answer at the
// address they came from, and the server never queries DNS for the name
// (RFC 3261 §18.2.2, RFC 3581): an attacker cannot aim our resolver.
func TestNoDNSForHostNamesInRequests(t *testing.T) {
	srv := testServer(t, nil)
	tests := []struct{ file, method string }{
		{"valid/lwsdisp.dat", "OPTIONS"},    // §3.1.1.6
		{"valid/transports.dat", "OPTIONS"}, // §3.1.1.10: five Vias, five transports
		{"invalid/zeromf.dat", "OPTIONS"},   // §3.3.11
		{"valid/escnull.dat", "REGISTER"},   // §3.1.1.4
		{"invalid/cparam01.dat", "REGISTER"},
		{"invalid/regescrt.dat", "REGISTER"},
		{"valid/esc01.dat", "INVITE"}, // §3.1.1.3
		{"invalid/baddate.dat", "INVITE"},
		{"invalid/inv2543.dat", "INVITE"}, // §3.4.1: RFC 2543 Via without branch
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			p := newRawPeer(t, "127.0.0.1", srv)
			msg, host := viaHostTo(string(readTorture(t, tt.file)), p.port())
			if host == "" || strings.Trim(host, "0123456789.") == "" {
				t.Fatalf("top Via of %s names no host: %q", tt.file, host)
			}
			p.send(msg)
			if res, _ := p.final(tt.method, 2*time.Second); res == nil {
				t.Fatalf("no final response at the source address (Via host %s)", host)
			}
		})
	}
	if n := testutil.ToFloat64(srv.metrics.dnsRefused); n != 0 {
		t.Fatalf("%v DNS lookups tried, want none", n)
	}
}

// An answered caller whose Contact names a host gets the server's BYE at the
// address its INVITE came from; the name is never looked up (this BYE used to
// go through DNS: "IP addr resolving failed, doing via dns SRV resolver").
func TestByeGoesToSourceNotContactHost(t *testing.T) {
	srv := testServer(t, func(o *Options) {
		o.Handler = func(context.Context, *Call) {} // hang up at once
	})
	p := newRawPeer(t, "127.0.0.1", srv)
	msg := strings.Replace(string(readTorture(t, "invalid/baddate.dat")), "INVITE sip:user@example.com", "INVITE sip:12345@example.com", 1)
	msg = strings.ReplaceAll(msg, "192.0.2.5", "127.0.0.1") // same length: Content-Length holds
	msg, _ = viaHostTo(msg, p.port())
	p.send(msg)
	ok, _ := p.final("INVITE", 3*time.Second)
	if ok == nil || ok.StatusCode != 200 {
		t.Fatalf("INVITE: %v, want 200", ok)
	}
	p.send(p.inDialog("ACK", ok, 1392934))
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		m, _ := p.next(time.Until(deadline))
		if req, isReq := m.(*sip.Request); isReq && req.Method == sip.BYE {
			p.answer(req)
			if n := testutil.ToFloat64(srv.metrics.dnsRefused); n != 0 {
				t.Fatalf("%v DNS lookups tried, want none", n)
			}
			return
		}
		if m == nil {
			break
		}
	}
	t.Fatalf("no BYE at the INVITE's source address; %v DNS lookups tried for the Contact host",
		testutil.ToFloat64(srv.metrics.dnsRefused))
}
