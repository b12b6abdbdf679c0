package sip

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/sip/siptest/poll"
)

// guardRig is a Guard on a real loopback socket, read by a goroutine the way
// sipgo's ServeUDP reads it, and a client socket.
type guardRig struct {
	guard     *Guard
	delivered chan []byte
	client    *net.UDPConn
}

func newGuardRig(t *testing.T, opts GuardOptions) *guardRig {
	t.Helper()
	srv, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	client, err := net.DialUDP("udp", nil, srv.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	r := &guardRig{guard: NewGuard(srv, opts), delivered: make(chan []byte, 64), client: client}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65535)
		for {
			n, _, err := r.guard.ReadFrom(buf)
			if err != nil {
				return
			}
			r.delivered <- bytes.Clone(buf[:n])
		}
	}()
	t.Cleanup(func() {
		r.guard.Close()
		client.Close()
		<-done
	})
	return r
}

func (r *guardRig) send(t *testing.T, data []byte) {
	t.Helper()
	if _, err := r.client.Write(data); err != nil {
		t.Fatalf("send: %v", err)
	}
}

// reply reads the client's next datagram; nil when none comes within wait.
func (r *guardRig) reply(t *testing.T, wait time.Duration) []byte {
	t.Helper()
	r.client.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 65535)
	n, err := r.client.Read(buf)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil
	}
	if err != nil {
		t.Fatalf("client read: %v", err)
	}
	return buf[:n]
}

// sentinel proves the guard has handled everything sent before it.
func (r *guardRig) sentinel(t *testing.T) {
	t.Helper()
	msg := []byte(validOptions("sentinel"))
	r.send(t, msg)
	select {
	case got := <-r.delivered:
		if !bytes.Equal(got, msg) {
			t.Fatalf("delivered something else before the sentinel:\n%s", got)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("sentinel not delivered")
	}
}

func validOptions(callID string) string {
	return "OPTIONS sip:12345@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-" + callID +
		"\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:12345@127.0.0.1>\r\nCall-ID: " + callID +
		"\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
}

func statusOf(t *testing.T, reply []byte) int {
	t.Helper()
	line, _, _ := bytes.Cut(reply, []byte("\r\n"))
	f := strings.Fields(string(line))
	if len(f) < 2 || f[0] != "SIP/2.0" {
		t.Fatalf("not a SIP/2.0 response: %q", line)
	}
	st, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	return st
}

func TestGuardTortureOverUDP(t *testing.T) {
	r := newGuardRig(t, GuardOptions{})
	for _, tc := range tortureCases {
		t.Run(tc.file, func(t *testing.T) {
			data := readTorture(t, tc.file)
			r.send(t, data)
			switch tc.status {
			case processed:
				select {
				case got := <-r.delivered:
					if !bytes.Equal(got, data) {
						t.Fatal("delivered datagram differs from the one sent")
					}
				case <-time.After(2 * time.Second):
					t.Fatal("valid message not delivered")
				}
			case dropped:
				r.sentinel(t)
				if rep := r.reply(t, 50*time.Millisecond); rep != nil {
					t.Fatalf("dropped message answered: %q", rep)
				}
			default:
				rep := r.reply(t, 2*time.Second)
				if rep == nil {
					t.Fatalf("no answer, want %d", tc.status)
				}
				if got := statusOf(t, rep); got != tc.status {
					t.Fatalf("answer %d, want %d:\n%s", got, tc.status, rep)
				}
				assertReplyHeaders(t, rep)
				r.sentinel(t) // and the rejected message was not delivered before it
			}
		})
	}
	if st := r.guard.Stats(); st.Rejected(400) == 0 || st.Rejected(505) != 1 || st.Rejected(416) != 2 || st.Rejected(420) != 1 {
		t.Fatalf("stats 400=%d 505=%d 416=%d 420=%d", st.Rejected(400), st.Rejected(505), st.Rejected(416), st.Rejected(420))
	}
}

// assertReplyHeaders checks a reply copies Via and CSeq, tags a To and has
// Content-Length 0, and no bare CR or LF.
func assertReplyHeaders(t *testing.T, rep []byte) {
	t.Helper()
	head, _, ok := bytes.Cut(rep, []byte("\r\n\r\n"))
	if !ok {
		t.Fatalf("no end of headers: %q", rep)
	}
	for _, line := range strings.Split(string(head), "\r\n") {
		if strings.ContainsAny(line, "\r\n") {
			t.Fatalf("bare CR/LF in %q", line)
		}
	}
	s := strings.ToLower(string(head))
	want := []string{"\r\nvia: ", "\r\ncseq: ", "\r\ncontent-length: 0"}
	if strings.Contains(s, "\r\nto: ") { // insuf has no To to tag
		want = append(want, "tag=")
	}
	for _, want := range want {
		if !strings.Contains(s, want) {
			t.Fatalf("reply lacks %q:\n%s", want, head)
		}
	}
}

func TestGuardSyntheticRejections(t *testing.T) {
	r := newGuardRig(t, GuardOptions{MaxMessageSize: 2000})
	zeroMF := strings.Replace(validOptions("mf0"), "OPTIONS", "INVITE", 2)
	zeroMF = strings.Replace(zeroMF, "Max-Forwards: 70", "Max-Forwards: 0", 1)
	big := strings.Replace(validOptions("big"), "Content-Length: 0\r\n\r\n",
		"Content-Type: text/plain\r\nContent-Length: 3000\r\n\r\n"+strings.Repeat("x", 3000), 1)
	badAck := strings.Replace(validOptions("ack"), "OPTIONS", "ACK", 2)
	badAck = strings.Replace(badAck, "Content-Length: 0", "Content-Length: 0\r\nCSeq: 2 ACK", 1)
	cases := []struct {
		name   string
		data   string
		status int // 0: dropped unanswered
	}{
		{"max-forwards 0 invite", zeroMF, 483},
		{"oversized request", big, 513},
		{"oversized garbage", strings.Repeat("\x00\xff", 2000), 0},
		{"keep-alive", "\r\n\r\n", 0},
		{"invalid ack never answered", badAck, 0},
		{"unparseable response", "SIP/2.0 99999 x\r\n\r\n", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r.send(t, []byte(tc.data))
			if tc.status == 0 {
				r.sentinel(t)
				if rep := r.reply(t, 50*time.Millisecond); rep != nil {
					t.Fatalf("answered: %q", rep)
				}
				return
			}
			rep := r.reply(t, 2*time.Second)
			if rep == nil || statusOf(t, rep) != tc.status {
				t.Fatalf("answer %q, want %d", rep, tc.status)
			}
			r.sentinel(t)
		})
	}
	st := r.guard.Stats()
	if st.Oversized.Load() != 2 || st.KeepAlives.Load() != 1 || st.Rejected(513) != 1 || st.Rejected(483) != 1 {
		t.Fatalf("stats oversized=%d keepalives=%d 513=%d 483=%d", st.Oversized.Load(), st.KeepAlives.Load(), st.Rejected(513), st.Rejected(483))
	}
}

func TestGuardRateLimitAndBan(t *testing.T) {
	r := newGuardRig(t, GuardOptions{RatePerSecond: 0.001, Burst: 3})
	for i := range 6 {
		r.send(t, []byte(validOptions("rl"+strconv.Itoa(i))))
	}
	for i := range 3 {
		select {
		case <-r.delivered:
		case <-time.After(2 * time.Second):
			t.Fatalf("only %d of the burst delivered", i)
		}
	}
	poll.Until(t, "3 rate-limited", func() bool { return r.guard.Stats().RateLimited.Load() >= 3 })
	if got := r.guard.Stats().RateLimited.Load(); got != 3 {
		t.Fatalf("rate limited %d, want 3", got)
	}
	select {
	case <-r.delivered:
		t.Fatal("delivered beyond the burst")
	case <-time.After(50 * time.Millisecond):
	}

}

// request builds a minimal valid request of method to the hotline.
func guardRequest(method, callID string) string {
	return strings.NewReplacer("OPTIONS", method).Replace(validOptions(callID))
}

// A ban stops a source's logins, never its call to the hotline (it may be an
// emergency) nor OPTIONS; a trusted source (the trunk) is neither banned nor
// rate limited.
func TestGuardBanStopsRegisterOnly(t *testing.T) {
	loopback := func(a netip.Addr) bool { return a == netip.MustParseAddr("127.0.0.1") }
	tests := []struct {
		name        string
		opts        GuardOptions
		method      string
		wantDeliver bool
	}{
		{"banned REGISTER dropped", GuardOptions{Banned: loopback}, "REGISTER", false},
		{"banned INVITE to the hotline passes", GuardOptions{Banned: loopback}, "INVITE", true},
		{"banned OPTIONS passes", GuardOptions{Banned: loopback}, "OPTIONS", true},
		{"banned BYE passes", GuardOptions{Banned: loopback}, "BYE", true},
		{"trusted REGISTER never banned", GuardOptions{Banned: loopback, Trusted: loopback}, "REGISTER", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newGuardRig(t, tt.opts)
			r.send(t, []byte(guardRequest(tt.method, "ban-"+tt.method)))
			select {
			case <-r.delivered:
				if !tt.wantDeliver {
					t.Fatalf("%s from a banned source delivered", tt.method)
				}
			case <-time.After(300 * time.Millisecond):
				if tt.wantDeliver {
					t.Fatalf("%s not delivered (banned=%d)", tt.method, r.guard.Stats().Banned.Load())
				}
				if r.guard.Stats().Banned.Load() != 1 {
					t.Fatalf("banned counter %d, want 1", r.guard.Stats().Banned.Load())
				}
			}
		})
	}
}

func TestGuardTrustedNotRateLimited(t *testing.T) {
	r := newGuardRig(t, GuardOptions{RatePerSecond: 0.001, Burst: 1,
		Trusted: func(a netip.Addr) bool { return a.IsLoopback() }})
	for i := range 20 {
		r.send(t, []byte(validOptions("trunk"+strconv.Itoa(i))))
	}
	for i := range 20 {
		select {
		case <-r.delivered:
		case <-time.After(2 * time.Second):
			t.Fatalf("trusted source: %d of 20 delivered, rate limited %d", i, r.guard.Stats().RateLimited.Load())
		}
	}
}

// TestGuardRefuses70KB drives the handling step directly: the kernel refuses a
// 70 KB UDP datagram before it reaches any socket.
func TestGuardRefuses70KB(t *testing.T) {
	g := NewGuard(nil, GuardOptions{})
	msg := strings.Replace(validOptions("huge"), "Content-Length: 0\r\n\r\n",
		"Content-Type: text/plain\r\nContent-Length: 70000\r\n\r\n"+strings.Repeat("x", 70000), 1)
	src := &net.UDPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 5060}
	deliver, reply := g.inspect([]byte(msg), src, DefaultMaxMessageSize, time.Now())
	if deliver || reply == nil || statusOf(t, reply) != 513 {
		t.Fatalf("deliver=%v reply=%q, want 513", deliver, reply)
	}
}
