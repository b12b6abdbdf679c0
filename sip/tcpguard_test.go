package sip

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/configs"
	"github.com/hotline-dev/hotline/sip/siptest/poll"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// tcpRig is a hotline Server with stream bounds from tcp and its metrics.
type tcpRig struct {
	srv *Server
	met *ConnMetrics
}

func newTCPRig(t *testing.T, tcp TCPConfig, mutate func(*Options)) *tcpRig {
	t.Helper()
	r := &tcpRig{}
	r.srv = testServer(t, func(o *Options) {
		o.Config.TCP = tcp
		o.Config.Trusted = nil // loopback is trusted by default; the caps are tested untrusted
		r.met = NewConnMetrics(prometheus.NewRegistry())
		o.ConnMetrics = r.met
		if mutate != nil {
			mutate(o)
		}
	})
	return r
}

func (r *tcpRig) count(result string) float64 {
	return testutil.ToFloat64(r.met.connections.WithLabelValues("tcp", result))
}

func (r *tcpRig) closedBy(reason string) float64 {
	return testutil.ToFloat64(r.met.closedBy.WithLabelValues("tcp", reason))
}

func (r *tcpRig) open() float64 { return testutil.ToFloat64(r.met.open.WithLabelValues("tcp")) }

// dial opens a TCP connection to the rig from the loopback address src. A
// connection the server resets before the dial returns is nil.
func (r *tcpRig) dial(t *testing.T, src string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", r.srv.TCPAddr().String())
	if errors.Is(err, syscall.ECONNRESET) {
		return nil
	}
	if err != nil {
		t.Fatalf("dial from %s: %v", src, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedWithin reports whether the server closes c within d (false: the
// connection is still open when d passes). Any octets read are discarded.
func closedWithin(c net.Conn, d time.Duration) bool {
	if c == nil {
		return true
	}
	_ = c.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 4096)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		return !errors.Is(err, os.ErrDeadlineExceeded)
	}
}

func optionsRequest(callID string) string {
	return "OPTIONS sip:12345@127.0.0.1 SIP/2.0\r\n" +
		"Via: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-" + callID + "\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=f-" + callID + "\r\n" +
		"To: <sip:12345@127.0.0.1>\r\nCall-ID: " + callID + "\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
}

// readStatus reads one response from a stream and returns its status code.
func readStatus(t *testing.T, br *bufio.Reader, c net.Conn, within time.Duration) int {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(within))
	line, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("read status line: %v", err)
	}
	fields := strings.Fields(line)
	if len(fields) < 2 {
		t.Fatalf("status line %q", line)
	}
	code, _ := strconv.Atoi(fields[1])
	length := 0
	for {
		h, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("read header: %v", err)
		}
		h = strings.TrimRight(h, "\r\n")
		if h == "" {
			break
		}
		if name, v, ok := strings.Cut(h, ":"); ok && strings.EqualFold(strings.TrimSpace(name), "Content-Length") {
			length, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	if _, err := io.CopyN(io.Discard, br, int64(length)); err != nil {
		t.Fatalf("read body: %v", err)
	}
	return code
}

// The per-source and the global cap reset connections over them; a slot
// freed by a close is taken again.
func TestTCPConnectionCaps(t *testing.T) {
	r := newTCPRig(t, TCPConfig{ReadTimeout: configs.Duration(10 * time.Second), IdleTimeout: configs.Duration(time.Minute),
		MaxConnections: 5, MaxConnectionsPerSource: 3}, nil)
	accepted := 0
	open := func(src string) net.Conn {
		c := r.dial(t, src)
		accepted++
		poll.Until(t, "accept from "+src, func() bool { return r.count(connAccepted) == float64(accepted) })
		return c
	}
	a1, a2, a3 := open("127.0.0.1"), open("127.0.0.1"), open("127.0.0.1")
	if a4 := r.dial(t, "127.0.0.1"); !closedWithin(a4, 2*time.Second) {
		t.Fatal("a 4th connection from one source stayed open over a per-source cap of 3")
	}
	b1, b2 := open("127.0.0.2"), open("127.0.0.2")
	if c1 := r.dial(t, "127.0.0.3"); !closedWithin(c1, 2*time.Second) {
		t.Fatal("a 6th connection stayed open over a global cap of 5")
	}
	if got := r.count(connRefusedSource); got != 1 {
		t.Errorf("refused_source_cap = %v, want 1", got)
	}
	if got := r.count(connRefusedGlobal); got != 1 {
		t.Errorf("refused_global_cap = %v, want 1", got)
	}
	a1.Close()
	poll.Until(t, "the closed connection's slot", func() bool { return r.open() == 4 })
	c2 := open("127.0.0.3")
	for i, c := range []net.Conn{a2, a3, b1, b2, c2} {
		if closedWithin(c, 100*time.Millisecond) {
			t.Errorf("connection %d within the caps was closed", i)
		}
	}
}

// A trusted source (a proxy carrying many agents' phones) has no per-source
// cap; the global cap still holds.
func TestTCPTrustedSourceNoSourceCap(t *testing.T) {
	r := newTCPRig(t, TCPConfig{ReadTimeout: configs.Duration(10 * time.Second), IdleTimeout: configs.Duration(time.Minute),
		MaxConnections: 4, MaxConnectionsPerSource: 2}, func(o *Options) { o.Config.Trusted = []string{"127.0.0.1"} })
	var held []net.Conn
	for i := range 4 {
		held = append(held, r.dial(t, "127.0.0.1"))
		poll.Until(t, "accept", func() bool { return r.count(connAccepted) == float64(i+1) })
	}
	if c := r.dial(t, "127.0.0.1"); !closedWithin(c, 2*time.Second) {
		t.Fatal("a 5th connection from a trusted source stayed open over the global cap of 4")
	}
	for i, c := range held {
		if closedWithin(c, 100*time.Millisecond) {
			t.Errorf("trusted connection %d over the per-source cap of 2 was closed", i)
		}
	}
	if got := r.count(connRefusedSource); got != 0 {
		t.Errorf("refused_source_cap = %v for a trusted source, want 0", got)
	}
}

// Many idle connections from one source: the cap bounds how many are held,
// and the ones held are closed at the read timeout, as none sends a message.
func TestTCPIdleFloodClosed(t *testing.T) {
	const flood, perSource = 80, 50
	r := newTCPRig(t, TCPConfig{ReadTimeout: configs.Duration(400 * time.Millisecond), IdleTimeout: configs.Duration(10 * time.Second),
		MaxConnections: 100, MaxConnectionsPerSource: perSource}, nil)
	start := time.Now()
	conns := make([]net.Conn, flood)
	for i := range conns {
		conns[i] = r.dial(t, "127.0.0.1") // nil when reset at once
	}
	poll.Until(t, "every connection accepted or refused", func() bool {
		return r.count(connAccepted)+r.count(connRefusedSource) == flood
	})
	if got := r.count(connAccepted); got != perSource {
		t.Fatalf("accepted %v of %d idle connections, want the per-source cap %d", got, flood, perSource)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	stillOpen := 0
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !closedWithin(c, 5*time.Second) {
				mu.Lock()
				stillOpen++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if stillOpen != 0 {
		t.Fatalf("%d idle connections still open 5 s after a 400ms read timeout", stillOpen)
	}
	if el := time.Since(start); el < 400*time.Millisecond {
		t.Errorf("all closed after %v, before the read timeout", el)
	}
	poll.Until(t, "open gauge back to 0", func() bool { return r.open() == 0 })
	if got := r.closedBy(closeReadTimeout); got != perSource {
		t.Errorf("closed by read_timeout = %v, want %d", got, perSource)
	}
}

// After a valid message, a connection lives until the idle timeout, and a
// CRLF keep-alive (answered with a CRLF pong) counts as use.
func TestTCPIdleTimeout(t *testing.T) {
	const read, idle = 300 * time.Millisecond, time.Second
	r := newTCPRig(t, TCPConfig{ReadTimeout: configs.Duration(read), IdleTimeout: configs.Duration(idle),
		MaxConnections: 10, MaxConnectionsPerSource: 10}, nil)
	c := r.dial(t, "127.0.0.1")
	br := bufio.NewReader(c)
	if _, err := io.WriteString(c, optionsRequest("idle-1")); err != nil {
		t.Fatal(err)
	}
	if code := readStatus(t, br, c, 2*time.Second); code != 200 {
		t.Fatalf("OPTIONS over TCP: %d, want 200", code)
	}
	if closedWithin(c, 2*read) {
		t.Fatal("closed at the read timeout after a valid message; want the idle timeout")
	}
	if _, err := io.WriteString(c, "\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	pinged := time.Now()
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	pong := make([]byte, 2)
	if _, err := io.ReadFull(br, pong); err != nil || string(pong) != "\r\n" {
		t.Fatalf("pong %q, %v; want CRLF (RFC 5626 §3.5.1)", pong, err)
	}
	if closedWithin(c, idle/2) {
		t.Fatal("closed within half the idle timeout of a keep-alive")
	}
	if !closedWithin(c, 5*time.Second) {
		t.Fatal("idle connection still open 5 s after its idle timeout")
	}
	if el := time.Since(pinged); el < idle-50*time.Millisecond || el > idle+2*time.Second {
		t.Errorf("closed %v after the keep-alive, want about the idle timeout %v", el, idle)
	}
	if got := r.closedBy(closeIdleTimeout); got != 1 {
		t.Errorf("closed by idle_timeout = %v, want 1", got)
	}
}

// A message trickled in an octet at a time is cut off at the read timeout,
// as the first message of a connection and after a valid one alike.
func TestTCPSlowloris(t *testing.T) {
	const read = 500 * time.Millisecond
	for _, prime := range []bool{false, true} {
		t.Run("after a message "+strconv.FormatBool(prime), func(t *testing.T) {
			r := newTCPRig(t, TCPConfig{ReadTimeout: configs.Duration(read), IdleTimeout: configs.Duration(time.Minute),
				MaxConnections: 10, MaxConnectionsPerSource: 10}, nil)
			c := r.dial(t, "127.0.0.1")
			if prime {
				br := bufio.NewReader(c)
				_, _ = io.WriteString(c, optionsRequest("slow-0"))
				if code := readStatus(t, br, c, 2*time.Second); code != 200 {
					t.Fatalf("OPTIONS: %d", code)
				}
			}
			start := time.Now()
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() { // one octet every 20 ms: never idle, never complete
				defer close(done)
				msg := optionsRequest("slow-1")
				for i := 0; ; i = (i + 1) % len(msg) {
					select {
					case <-stop:
						return
					case <-time.After(20 * time.Millisecond):
					}
					if _, err := c.Write([]byte{msg[i]}); err != nil {
						return
					}
				}
			}()
			defer func() { close(stop); <-done }()
			if !closedWithin(c, 5*time.Second) {
				t.Fatal("a trickling connection still open 5 s after a 500ms read timeout")
			}
			if el := time.Since(start); el < read-50*time.Millisecond {
				t.Errorf("closed after %v, before the read timeout", el)
			}
			if got := r.closedBy(closeReadTimeout); got != 1 {
				t.Errorf("closed by read_timeout = %v, want 1", got)
			}
		})
	}
}

// A banned source's REGISTER gets no answer on TCP, as on UDP, and its
// connection ends at the read timeout; the ban stops logins, not other
// requests (an emergency caller must get through), so its OPTIONS is answered.
func TestTCPBannedSource(t *testing.T) {
	banned := netip.MustParseAddr("127.0.0.2")
	r := newTCPRig(t, TCPConfig{ReadTimeout: configs.Duration(time.Second), IdleTimeout: configs.Duration(time.Minute),
		MaxConnections: 10, MaxConnectionsPerSource: 10},
		func(o *Options) {
			o.Banned = func(ip netip.Addr) bool { return ip == banned }
			o.Config.Trusted = nil // loopback is trusted by default, and trusted sources are never banned
		})
	ok := r.dial(t, "127.0.0.1")
	_, _ = io.WriteString(ok, optionsRequest("ban-ok"))
	if code := readStatus(t, bufio.NewReader(ok), ok, 2*time.Second); code != 200 {
		t.Fatalf("OPTIONS from an unbanned source: %d, want 200", code)
	}
	opt := r.dial(t, banned.String())
	_, _ = io.WriteString(opt, optionsRequest("ban-options"))
	if code := readStatus(t, bufio.NewReader(opt), opt, 2*time.Second); code != 200 {
		t.Fatalf("OPTIONS from a banned source: %d, want 200 (a ban stops logins only)", code)
	}
	bad := r.dial(t, banned.String())
	_, _ = io.WriteString(bad, registerRequest("ban-bad"))
	_ = bad.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := bad.Read(make([]byte, 512))
	if n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("banned source's REGISTER read %d octets, %v; want no answer and the connection closed", n, err)
	}
	if got := r.srv.GuardStats()[0].Banned.Load(); got != 1 {
		t.Errorf("guard banned = %d, want 1", got)
	}
}

func registerRequest(callID string) string {
	return "REGISTER sip:127.0.0.1 SIP/2.0\r\n" +
		"Via: SIP/2.0/TCP 127.0.0.2:5999;branch=z9hG4bK-" + callID + "\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:1001@127.0.0.1>;tag=f-" + callID + "\r\n" +
		"To: <sip:1001@127.0.0.1>\r\nCall-ID: " + callID + "\r\nCSeq: 1 REGISTER\r\n" +
		"Contact: <sip:1001@127.0.0.2:5999;transport=tcp>\r\nContent-Length: 0\r\n\r\n"
}

// Framing on the stream: pipelined, compact and trickled messages are all
// answered; a message without Content-Length or over the size limit is
// answered and its connection closed (there is no boundary to resync on).
func TestTCPFraming(t *testing.T) {
	r := newTCPRig(t, TCPConfig{ReadTimeout: configs.Duration(2 * time.Second), IdleTimeout: configs.Duration(time.Minute),
		MaxConnections: 50, MaxConnectionsPerSource: 50}, nil)
	noLength := strings.Replace(optionsRequest("f-nolen"), "Content-Length: 0\r\n", "", 1)
	compact := strings.Replace(optionsRequest("f-compact"), "Content-Length: 0", "l: 0", 1)
	huge := strings.Replace(optionsRequest("f-huge"), "Content-Length: 0", "Content-Length: 70000", 1)
	tests := []struct {
		name   string
		writes []string
		want   []int
		closed bool
	}{
		{"pipelined", []string{optionsRequest("f-p1") + optionsRequest("f-p2")}, []int{200, 200}, false},
		{"compact length", []string{compact}, []int{200}, false},
		{"octet by octet", strings.Split(optionsRequest("f-octets"), ""), []int{200}, false},
		{"keep-alive then message", []string{"\r\n", optionsRequest("f-ka")}, []int{200}, false},
		{"missing content-length", []string{noLength}, []int{400}, true},
		{"over the size limit", []string{huge}, []int{513}, true},
		{"invalid request", []string{strings.Replace(optionsRequest("f-bad"), "CSeq: 1 OPTIONS", "CSeq: 1 INVITE", 1)}, []int{400}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := r.dial(t, "127.0.0.1")
			for _, w := range tc.writes {
				if _, err := io.WriteString(c, w); err != nil {
					t.Fatal(err)
				}
			}
			br := bufio.NewReader(c)
			for _, want := range tc.want {
				if got := readStatus(t, br, c, 2*time.Second); got != want {
					t.Fatalf("status %d, want %d", got, want)
				}
			}
			if got := closedWithin(c, 300*time.Millisecond); got != tc.closed {
				t.Fatalf("connection closed = %v, want %v", got, tc.closed)
			}
		})
	}
}

// fakeListener fails Accept with errs, one at a time, then hands out conns.
type fakeListener struct {
	mu    sync.Mutex
	errs  []error
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *fakeListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if len(l.errs) > 0 {
		err := l.errs[0]
		l.errs = l.errs[1:]
		l.mu.Unlock()
		return nil, err
	}
	l.mu.Unlock()
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *fakeListener) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *fakeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5060} }

// A failing Accept (out of descriptors) is retried with backoff and does not
// end the listener; only Close does.
func TestAcceptRetried(t *testing.T) {
	emfile := &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", errors.New("too many open files"))}
	inner := &fakeListener{errs: []error{emfile, emfile, emfile, errors.New("software caused connection abort")},
		conns: make(chan net.Conn, 1), done: make(chan struct{})}
	met := NewConnMetrics(nil)
	l := newLimitListener(inner, newConnLimits(DefaultTCPConfig(), nil), "tcp", met, slog.New(slog.DiscardHandler), nil)
	server, client := net.Pipe()
	defer client.Close()
	inner.conns <- server
	start := time.Now()
	c, err := l.Accept()
	if err != nil {
		t.Fatalf("Accept after 4 failures: %v, want the connection", err)
	}
	defer c.Close()
	// Backoff 5+10+20+40 ms.
	if el := time.Since(start); el < 75*time.Millisecond {
		t.Errorf("4 retries took %v, want a backoff of at least 75ms", el)
	}
	if got := testutil.ToFloat64(met.acceptErrors.WithLabelValues("tcp")); got != 4 {
		t.Errorf("accept errors = %v, want 4", got)
	}
	inner.mu.Lock()
	inner.errs = []error{emfile, emfile, emfile, emfile, emfile, emfile, emfile, emfile}
	inner.mu.Unlock()
	errc := make(chan error, 1)
	go func() { _, err := l.Accept(); errc <- err }()
	time.Sleep(50 * time.Millisecond)
	l.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Accept kept retrying after Close")
	}
}

// frameScan finds the header end and Content-Length whatever the chunking.
func TestFrameScan(t *testing.T) {
	tests := []struct {
		name    string
		msg     string // the header section, then length octets of body
		length  int
		wantErr error
	}{
		{"crlf", "OPTIONS sip:a SIP/2.0\r\nContent-Length: 5\r\n\r\nhello", 5, nil},
		{"bare lf", "OPTIONS sip:a SIP/2.0\nl: 2\n\nhi", 2, nil},
		{"folded header", "OPTIONS sip:a SIP/2.0\r\nSubject: a\r\n b\r\nContent-Length : 0\r\n\r\n", 0, nil},
		{"missing", "OPTIONS sip:a SIP/2.0\r\nCSeq: 1 OPTIONS\r\n\r\n", 0, errNoContentLength},
		{"negative", "OPTIONS sip:a SIP/2.0\r\nContent-Length: -1\r\n\r\n", 0, errBadContentLength},
		{"conflicting", "OPTIONS sip:a SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\n", 0, errBadContentLength},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, step := range []int{1, 7, len(tc.msg)} {
				s := frameScan{contentLength: -1}
				var end int
				var complete bool
				var err error
				for n := step; ; n = min(n+step, len(tc.msg)) {
					end, complete, err = s.advance([]byte(tc.msg[:n]))
					if complete || err != nil || n == len(tc.msg) {
						break
					}
				}
				if tc.wantErr != nil {
					if !errors.Is(err, tc.wantErr) {
						t.Fatalf("step %d: err %v, want %v", step, err, tc.wantErr)
					}
					continue
				}
				if want := len(tc.msg) - tc.length; err != nil || !complete || end != want || s.contentLength != tc.length {
					t.Fatalf("step %d: end %d complete %v length %d err %v; want end %d length %d",
						step, end, complete, s.contentLength, err, want, tc.length)
				}
			}
		})
	}
}

func TestTCPConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*TCPConfig)
		want   string
	}{
		{"defaults", func(*TCPConfig) {}, ""},
		{"zero read timeout", func(c *TCPConfig) { c.ReadTimeout = 0 }, "sip.tcp.read_timeout"},
		{"idle below read", func(c *TCPConfig) { c.IdleTimeout = configs.Duration(time.Second) }, "sip.tcp.idle_timeout"},
		{"no connections", func(c *TCPConfig) { c.MaxConnections = 0 }, "sip.tcp.max_connections 0"},
		{"per source over global", func(c *TCPConfig) { c.MaxConnectionsPerSource = 5000 }, "sip.tcp.max_connections_per_source"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.mutate(&cfg.TCP)
			err := cfg.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate: %v, want an error naming %s", err, tc.want)
			}
		})
	}
}
