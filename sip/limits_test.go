package sip

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/textproto"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

func TestValidateRequestLimits(t *testing.T) {
	long := func(n int) string { return strings.Repeat("1", n) }
	invite := func(ruri string) string { return "INVITE " + ruri + " SIP/2.0" }
	const ok = 0
	cases := []struct {
		name, start, hdrs string
		status            int
		reason            string
	}{
		{"e164 caller", invite("sip:12345@example.net"), "From: <sip:+8613800138000@example.com>;tag=9\n", ok, ""},
		{"tel request-uri", invite("tel:+12345"), "", ok, ""},
		{"escaped user", invite("sip:12345@example.net"), "From: <sip:I%20have%20spaces@example.com>;tag=9\n", ok, ""},
		{"chinese display name", invite("sip:12345@example.net"), "From: \"张三\" <sip:1001@example.com>;tag=9\n", ok, ""},
		{"escaped control in display name", invite("sip:12345@example.net"), "From: \"BEL:\\\a\" <sip:1001@example.com>;tag=9\n", ok, ""},
		{"caller at the limit", invite("sip:12345@example.net"), "From: <sip:" + long(maxUserPart) + "@example.com>;tag=9\n", ok, ""},
		// The INVITE of the outage: a 3,000-character From user part.
		{"caller 3000 characters", invite("sip:12345@example.net"), "From: <sip:" + long(3000) + "@example.com>;tag=9\n", 400, "From user part too long"},
		{"caller one too long", invite("sip:12345@example.net"), "From: <sip:" + long(maxUserPart+1) + "@example.com>;tag=9\n", 400, "From user part too long"},
		{"dialled 3000 characters", invite("sip:" + long(3000) + "@example.net"), "", 414, "Request-URI Too Long"},
		{"request-uri params too long", invite("sip:12345@example.net;x=" + long(maxURI)), "", 414, "Request-URI Too Long"},
		{"to user too long", invite("sip:12345@example.net"), "To: <sip:" + long(maxUserPart+1) + "@example.net>\n", 400, "To user part too long"},
		{"from uri too long", invite("sip:12345@example.net"), "From: <sip:1001@example.com;x=" + long(maxURI) + ">;tag=9\n", 400, "From URI too long"},
		{"from header params too long", invite("sip:12345@example.net"), "From: <sip:1001@example.com>;tag=" + long(maxAddress) + "\n", 400, "From header too long"},
		{"from display name too long", invite("sip:12345@example.net"), "From: \"" + strings.Repeat("张", maxDisplayName/3+1) + "\" <sip:1001@example.com>;tag=9\n", 400, "From display name too long"},
		{"bare control in display name", invite("sip:12345@example.net"), "From: \"a\x01b\" <sip:1001@example.com>;tag=9\n", 400, "Bad From display name"},
		{"invalid utf-8 display name", invite("sip:12345@example.net"), "From: \"a\xffb\" <sip:1001@example.com>;tag=9\n", 400, "Bad From display name"},
		{"non-ascii user part", invite("sip:12345@example.net"), "From: <sip:张三@example.com>;tag=9\n", 400, "Bad From user part"},
		{"bad escape in user part", invite("sip:12345@example.net"), "From: <sip:10%G1@example.com>;tag=9\n", 400, "Bad From user part"},
		{"bad request-uri user", invite("sip:12%3@example.net"), "", 400, "Bad Request-URI user part"},
		{"call-id at the limit", invite("sip:12345@example.net"), "Call-ID: " + long(maxCallID) + "\n", ok, ""},
		{"call-id too long", invite("sip:12345@example.net"), "Call-ID: " + long(maxCallID+1) + "\n", 400, "Call-ID too long"},
		{"non-ascii call-id", invite("sip:12345@example.net"), "Call-ID: abc\xc3\xa9@host\n", 400, "Bad Call-ID"},
		{"contact user too long", "REGISTER sip:example.net SIP/2.0", "To: <sip:1001@example.net>\nContact: <sip:" + long(maxUserPart+1) + "@192.0.2.1>\n", 400, "Contact user part too long"},
		{"too many contacts", "REGISTER sip:example.net SIP/2.0", "To: <sip:1001@example.net>\n" + strings.Repeat("Contact: <sip:1001@192.0.2.1>\n", maxContacts+1), 400, "Too many Contact headers"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method, _, _ := strings.Cut(tc.start, " ")
			req := buildLimitRequest(t, tc.start, "CSeq: 1 "+method+"\n"+tc.hdrs)
			e := ValidateRequest(req)
			switch {
			case tc.status == ok && e != nil:
				t.Fatalf("refused with %d %s, want accepted", e.Status, e.Reason)
			case tc.status == ok:
			case e == nil:
				t.Fatalf("accepted, want %d %s", tc.status, tc.reason)
			case e.Status != tc.status || e.Reason != tc.reason:
				t.Fatalf("got %d %q, want %d %q", e.Status, e.Reason, tc.status, tc.reason)
			}
		})
	}
}

// buildLimitRequest parses a request with a Via, From, To and Call-ID of
// its own unless hdrs carries them; lines end in \n.
func buildLimitRequest(t *testing.T, start, hdrs string) *sip.Request {
	t.Helper()
	text := start + "\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds\n"
	for _, h := range []string{"From: <sip:alice@example.com>;tag=1928301774\n", "To: <sip:12345@example.net>\n",
		"Call-ID: a84b4c76e66710@pc33\n"} {
		name, _, _ := strings.Cut(h, ":")
		if !strings.Contains(hdrs, name+": ") {
			text += h
		}
	}
	data := strings.ReplaceAll(text+hdrs+"Content-Length: 0\n", "\n", "\r\n") + "\r\n"
	msg, err := sip.NewParser().ParseSIP([]byte(data))
	if err != nil {
		t.Fatalf("parse test request: %v", err)
	}
	return msg.(*sip.Request)
}

// TestServerRefusesOversizedCaller sends the INVITE whose 3,000-character
// From user part once made the call record unwritable, over UDP and TCP: the
// server answers 400 naming the header and no call reaches the handler, so
// nothing is stored. The same connection still gets its OPTIONS answered.
func TestServerRefusesOversizedCaller(t *testing.T) {
	var calls atomic.Int32
	srv := testServer(t, func(o *Options) {
		o.Handler = func(context.Context, *Call) { calls.Add(1) }
	})
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			addr := srv.UDPAddr().String()
			if transport == "tcp" {
				addr = srv.TCPAddr().String()
			}
			conn, err := net.Dial(transport, addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			r := bufio.NewReader(conn)
			huge := rawRequest("INVITE", transport, conn.LocalAddr().String(), strings.Repeat("7", 3000), transport+"-huge")
			if got := exchange(t, conn, r, huge); got != "SIP/2.0 400 From user part too long" {
				t.Fatalf("status line %q, want SIP/2.0 400 From user part too long", got)
			}
			options := rawRequest("OPTIONS", transport, conn.LocalAddr().String(), "13800138000", transport+"-options")
			if got := exchange(t, conn, r, options); got != "SIP/2.0 200 OK" {
				t.Fatalf("OPTIONS after the refused INVITE: %q, want SIP/2.0 200 OK", got)
			}
		})
	}
	time.Sleep(100 * time.Millisecond) // a call the refusal let through would have started by now
	if n := calls.Load(); n != 0 {
		t.Fatalf("%d calls reached the handler, want none", n)
	}
}

// rawRequest is an INVITE or OPTIONS to the hotline number from caller.
func rawRequest(method, transport, local, caller, callID string) string {
	return fmt.Sprintf("%[1]s sip:12345@127.0.0.1 SIP/2.0\r\n"+
		"Via: SIP/2.0/%[2]s %[3]s;branch=z9hG4bK-%[5]s\r\n"+
		"From: <sip:%[4]s@127.0.0.1>;tag=t-%[5]s\r\nTo: <sip:12345@127.0.0.1>\r\n"+
		"Call-ID: %[5]s\r\nCSeq: 1 %[1]s\r\nMax-Forwards: 70\r\nContact: <sip:caller@%[3]s>\r\n"+
		"Content-Length: 0\r\n\r\n", method, strings.ToUpper(transport), local, caller, callID)
}

// exchange sends one request and returns the status line of the first
// final (non-1xx) response.
func exchange(t *testing.T, conn net.Conn, r *bufio.Reader, req string) string {
	t.Helper()
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatalf("send: %v", err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	tp := textproto.NewReader(r)
	for {
		status, err := tp.ReadLine()
		if err != nil {
			t.Fatalf("read response: %v", err)
		}
		hdr, err := tp.ReadMIMEHeader()
		if err != nil {
			t.Fatalf("read response headers: %v", err)
		}
		if n := hdr.Get("Content-Length"); n != "" && n != "0" {
			t.Fatalf("unexpected body in %q", status)
		}
		if !strings.HasPrefix(status, "SIP/2.0 1") {
			return status
		}
	}
}
