package sip

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// rawExchange is a raw UDP SIP caller for tests that need messages in an
// order a well-behaved stack never produces (an INFO before the ACK).
type rawExchange struct {
	t    *testing.T
	conn *net.UDPConn
	srv  *net.UDPAddr
	buf  []byte
}

func (x *rawExchange) send(msg string) {
	x.t.Helper()
	if _, err := x.conn.WriteToUDP([]byte(msg), x.srv); err != nil {
		x.t.Fatal(err)
	}
}

// await reads until a message starting with prefix and whose CSeq header
// ends with method arrives (at most 3 s), skipping others.
func (x *rawExchange) await(prefix, method string) string {
	x.t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		_ = x.conn.SetReadDeadline(deadline)
		n, err := x.conn.Read(x.buf)
		if err != nil {
			x.t.Fatalf("waiting for %q to %s: %v", prefix, method, err)
		}
		msg := string(x.buf[:n])
		if strings.HasPrefix(msg, prefix) && strings.HasSuffix(header(msg, "CSeq"), method) {
			return msg
		}
	}
}

// inDialog is a request of the raw call's dialog: to is the 200's To header
// (with the server's tag), target the 200's Contact URI.
func inDialog(method, target, to string, cseq int, local net.Addr, callID, contentType, body string) string {
	ct := ""
	if contentType != "" {
		ct = "Content-Type: " + contentType + "\r\n"
	}
	return fmt.Sprintf("%s %s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bK-early-%s-%d;rport\r\n"+
		"Max-Forwards: 70\r\n"+
		"From: <sip:13800000000@127.0.0.1>;tag=noack0\r\n"+
		"To: %s\r\n"+
		"Call-ID: %s\r\n"+
		"CSeq: %d %s\r\n"+
		"%sContent-Length: %d\r\n\r\n%s",
		method, target, local, strings.ToLower(method), time.Now().UnixNano(), to, callID, cseq, method, ct, len(body), body)
}

// TestInfoDigitBeforeAckIsKept: a caller's SIP INFO key that reaches the
// server before its ACK (the ACK lost and the 200 retransmitted only after
// T1, then T2 = 4 s; or the ACK's handling delayed on a loaded machine) is
// answered 200 and must reach the call's digit stream once the media
// session starts. It used to be answered 200 and dropped, because the call
// had no media session yet: the caller of a bridged call in the 30-minute
// soak who pressed its key 1 s after the answer was never heard
// (abandoned_in_menu, 1 call in ~400,000).
func TestInfoDigitBeforeAckIsKept(t *testing.T) {
	got := make(chan rune, 1)
	srv := testServer(t, func(o *Options) {
		o.Handler = func(ctx context.Context, c *Call) {
			d, err := c.ReadDigit(ctx, 2*time.Second)
			if err != nil {
				t.Errorf("read digit: %v", err)
			}
			got <- d
		}
	})
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	x := &rawExchange{t: t, conn: conn, srv: srv.UDPAddr(), buf: make([]byte, 65535)}
	invite := string(rawInvite(conn, srv.UDPAddr(), 0))
	x.send(invite)
	ok := x.await("SIP/2.0 200", "INVITE")
	to, callID := header(ok, "To"), header(ok, "Call-ID")
	target := strings.Trim(header(ok, "Contact"), "<>")
	if i := strings.IndexByte(target, '>'); i >= 0 {
		target = target[:i]
	}
	// The key first, as it reaches a server whose ACK is late.
	x.send(inDialog("INFO", target, to, 2, conn.LocalAddr(), callID, "application/dtmf-relay", "Signal=1\r\nDuration=160\r\n"))
	if res := x.await("SIP/2.0 ", "INFO"); !strings.HasPrefix(res, "SIP/2.0 200") {
		t.Fatalf("INFO before the ACK answered %q, want 200", strings.SplitN(res, "\r\n", 2)[0])
	}
	x.send(inDialog("ACK", target, to, 1, conn.LocalAddr(), callID, "", ""))
	select {
	case d := <-got:
		if d != '1' {
			t.Fatalf("the call read digit %q, want '1' (the INFO answered 200 before the ACK was lost)", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the call's handler never ran: the ACK was not taken")
	}
	x.send(inDialog("BYE", target, to, 3, conn.LocalAddr(), callID, "", ""))
}

// TestEarlyDigitsBounded: a peer that sends INFO after INFO before its ACK
// holds at most maxEarlyDigits keys, the newest, in order.
func TestEarlyDigitsBounded(t *testing.T) {
	var e earlyDigits
	for i := range maxEarlyDigits + 8 {
		e.add(rune('0' + i%10))
	}
	if len(e.keys) != maxEarlyDigits {
		t.Fatalf("%d keys held, want %d", len(e.keys), maxEarlyDigits)
	}
	for i, k := range e.keys {
		if want := rune('0' + (i+8)%10); k != want {
			t.Fatalf("key %d is %q, want %q (the oldest are dropped)", i, k, want)
		}
	}
}
