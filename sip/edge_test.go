package sip

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/hotline-dev/hotline/sip/media"
)

// rawPeer is a UDP socket that sends hand-written SIP text to the server and
// reads what comes back, so a test controls every header and the source IP.
type rawPeer struct {
	t    *testing.T
	conn *net.UDPConn
	to   *net.UDPAddr
}

func newRawPeer(t *testing.T, ip string, srv *Server) *rawPeer {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatalf("listen %s: %v", ip, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &rawPeer{t: t, conn: conn, to: srv.UDPAddr()}
}

func (p *rawPeer) port() int { return p.conn.LocalAddr().(*net.UDPAddr).Port }

func (p *rawPeer) ip() string { return p.conn.LocalAddr().(*net.UDPAddr).IP.String() }

func (p *rawPeer) send(msg string) {
	p.t.Helper()
	if _, err := p.conn.WriteToUDP([]byte(msg), p.to); err != nil {
		p.t.Fatalf("send: %v", err)
	}
}

// next returns the next message within wait (nil when none), and its size.
func (p *rawPeer) next(wait time.Duration) (sip.Message, int) {
	p.t.Helper()
	buf := make([]byte, 65535)
	_ = p.conn.SetReadDeadline(time.Now().Add(wait))
	n, _, err := p.conn.ReadFromUDP(buf)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil, 0
	}
	if err != nil {
		p.t.Fatalf("read: %v", err)
	}
	msg, err := sip.ParseMessage(buf[:n])
	if err != nil {
		p.t.Fatalf("parse %q: %v", buf[:n], err)
	}
	return msg, n
}

// final waits for the final response to cseqMethod (skipping provisional
// ones and anything else); nil when none comes within wait.
func (p *rawPeer) final(method string, wait time.Duration) (*sip.Response, int) {
	p.t.Helper()
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		msg, n := p.next(time.Until(deadline))
		res, ok := msg.(*sip.Response)
		if msg == nil {
			return nil, 0
		}
		if ok && res.CSeq() != nil && string(res.CSeq().MethodName) == method && res.StatusCode >= 200 {
			return res, n
		}
	}
	return nil, 0
}

// request writes a request from this peer: Via with rport names its socket.
func (p *rawPeer) request(method, user, callID string, cseq int, extra ...string) string {
	host := p.ip()
	var b strings.Builder
	b.WriteString(method + " sip:" + user + "@" + p.to.String() + " SIP/2.0\r\n")
	b.WriteString("Via: SIP/2.0/UDP " + net.JoinHostPort(host, strconv.Itoa(p.port())) + ";rport;branch=z9hG4bK-" +
		callID + "-" + strconv.Itoa(cseq) + "\r\n")
	b.WriteString("Max-Forwards: 70\r\nFrom: <sip:" + user + "@" + host + ">;tag=f-" + callID + "\r\n")
	b.WriteString("To: <sip:" + user + "@" + p.to.String() + ">\r\n")
	b.WriteString("Call-ID: " + callID + "\r\nCSeq: " + strconv.Itoa(cseq) + " " + method + "\r\n")
	b.WriteString("Contact: <sip:" + user + "@" + net.JoinHostPort(host, strconv.Itoa(p.port())) + ">\r\n")
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	return b.String()
}

// withBody ends a request with an SDP offer, or with no body.
func withBody(req, sdp string) string {
	if sdp == "" {
		return req + "Content-Length: 0\r\n\r\n"
	}
	return req + "Content-Type: application/sdp\r\nContent-Length: " + strconv.Itoa(len(sdp)) + "\r\n\r\n" + sdp
}

func offerSDP(port int) string {
	return string(media.BuildSDP(media.LocalSDP{Addr: netip.MustParseAddr("127.0.0.1"), Port: port, SessionID: 9,
		Version: 9, Codecs: []media.Codec{media.PCMU}, Direction: media.SendRecv}))
}

// inDialog writes an ACK or BYE for the dialog a 200 to our INVITE set up
// (its From, To with tag and Call-ID).
func (p *rawPeer) inDialog(method string, ok *sip.Response, cseq int) string {
	host := net.JoinHostPort(p.ip(), strconv.Itoa(p.port()))
	return method + " sip:12345@" + p.to.String() + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + host + ";rport;branch=z9hG4bK-" + method + "-" + strconv.Itoa(cseq) + ok.CallID().Value() + "\r\n" +
		"Max-Forwards: 70\r\nFrom: " + ok.From().Value() + "\r\nTo: " + ok.To().Value() + "\r\n" +
		"Call-ID: " + ok.CallID().Value() + "\r\nCSeq: " + strconv.Itoa(cseq) + " " + method + "\r\n" +
		"Content-Length: 0\r\n\r\n"
}

// answerBye answers the server's BYE (or another request) with 200.
func (p *rawPeer) answer(req *sip.Request) {
	p.t.Helper()
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	if _, err := p.conn.WriteToUDP([]byte(res.String()), p.to); err != nil {
		p.t.Fatalf("answer: %v", err)
	}
}

// holdCalls is a call handler that keeps every call up until it ends.
func holdCalls(ctx context.Context, _ *Call) { <-ctx.Done() }

// edgeServer is a Server with a registrar (fake stores, bans after 5
// failures like agents.Bans) whose UDP guard asks the same ban list.
func edgeServer(t *testing.T, mutate func(*Options)) (*Server, *registrarEnv) {
	t.Helper()
	return edgeServerWith(t, testRegistrarConfig(), mutate)
}

func edgeServerWith(t *testing.T, cfg RegistrarConfig, mutate func(*Options)) (*Server, *registrarEnv) {
	t.Helper()
	env := &registrarEnv{creds: newFakeCreds(testRealm), locs: &fakeLocations{bindings: map[string]AgentBinding{}}, bans: newFakeBans(5)}
	env.creds.add("1001", "s3cret-pass")
	env.reg = NewRegistrar(cfg, env.creds, env.locs, env.bans, nil, nil)
	srv := testServer(t, func(o *Options) {
		o.Registrar, o.Handler, o.Feature = env.reg, holdCalls, (&featureCalls{}).hook
		o.Banned = func(ip netip.Addr) bool { b, _ := env.bans.Banned(context.Background(), ip); return b }
		o.Config.Trusted = nil
		if mutate != nil {
			mutate(o)
		}
	})
	return srv, env
}
