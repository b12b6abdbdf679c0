// Package sip is hotline's SIP front end: the sipgo user agent, its UDP and TCP
// listeners behind a hostile-input guard, and the caller legs of calls (INVITE,
// ACK, BYE, CANCEL, re-INVITE hold, INFO DTMF, OPTIONS) with their media sessions,
// and the agent legs (DialAgent) with blind transfer by REFER.
// It is the only package that imports sipgo; no sipgo type leaves it.
package sip

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/hotline-dev/hotline/sip/media"
)

// sipgo reads UDP into a buffer of TransportBufferReadSize bytes (32 KiB by
// default): make it hold the largest message the guard accepts. Set once, before
// any transport reads, so concurrent servers never race on it.
//
// sipgo refuses to send a UDP message within 200 bytes of UDPMTUSize (1,500):
// a 200 OK carrying a proxy chain's Via and Record-Route headers was never
// sent. RFC 3261 §18.2.2 lets a response go over UDP whatever its size (IP
// fragments it), so only the largest UDP payload is refused.
func init() {
	sip.TransportBufferReadSize = DefaultMaxMessageSize
	sip.UDPMTUSize = maxUDPPayload + 200
}

// maxUDPPayload is the largest UDP payload over IPv4 (65,535 − 20 − 8 octets).
const maxUDPPayload = 65507

// CallHandler runs one answered call. The call's context is cancelled when the
// caller hangs up; when the handler returns, the server hangs up a call still up.
type CallHandler func(ctx context.Context, c *Call)

// Options wires a Server.
type Options struct {
	Config  Config
	Handler CallHandler
	Prompts media.Library
	Ports   *media.PortPool
	Pacer   *media.Pacer
	Logger  *slog.Logger
	Metrics *Metrics
	// MediaMetrics is passed to every media session.
	MediaMetrics *media.Metrics
	// Registrar, when set, answers REGISTER and authenticates feature-code
	// INVITEs (*1, *2, *0, *3) from agents' phones. The server hands it
	// Config.Trusted: failures from those sources never ban them.
	Registrar *Registrar
	// Feature runs an authenticated agent's feature code and names the
	// confirmation prompt to play; nil answers feature codes with 404.
	Feature FeatureFunc
	// Banned, when set, is asked for the source of every REGISTER over UDP;
	// true drops it. Other requests pass: a banned source may still call the
	// hotline (an emergency) and ask OPTIONS; its feature codes get 403.
	Banned func(netip.Addr) bool
	// TransferTarget is the allowlist of blind-transfer destinations (S10): it
	// resolves the user part of an agent's Refer-To; nil refuses every REFER.
	TransferTarget TransferTargetFunc
	// ConnMetrics counts the TCP and TLS connections; nil registers none.
	ConnMetrics *ConnMetrics

	// ackWait overrides 64·T1 as the wait for an ACK (tests).
	ackWait time.Duration
}

// Server is the SIP user agent answering the hotline.
type Server struct {
	cfg     Config
	handler CallHandler
	prompts media.Library
	ports   *media.PortPool
	pacer   *media.Pacer
	log     *slog.Logger
	metrics *Metrics
	mmet    *media.Metrics

	ua     *sipgo.UserAgent
	srv    *sipgo.Server
	dua    *sipgo.DialogUA
	calls  *dialogs[*Call]
	legs   *dialogs[*AgentLeg]
	guards []*Guard
	reg    *Registrar
	feat   FeatureFunc
	banned func(netip.Addr) bool
	xfer   TransferTargetFunc
	// trusted sources pass the rate limit and per-source cap and are never banned.
	trusted trustedNets
	caps    *callCaps
	noDNS   *refusingResolver
	cmet    *ConnMetrics
	tlsConf *tls.Config

	// ackWait is how long a 200 waits for its ACK before the call is
	// dropped and its RTP port freed: 64·T1 (RFC 3261 §13.3.1.4).
	ackWait time.Duration

	draining atomic.Bool
	wg       sync.WaitGroup // one per call in progress
	ready    chan struct{}
	udpAddr  atomic.Pointer[net.UDPAddr]
	tcpAddr  atomic.Pointer[net.TCPAddr]
	tlsAddr  atomic.Pointer[net.TCPAddr]
}

// NewServer builds the user agent and registers the handlers; Run starts it.
func NewServer(o Options) (*Server, error) {
	if err := o.Config.Validate(); err != nil {
		return nil, err
	}
	if o.Handler == nil || o.Ports == nil || o.Pacer == nil {
		return nil, errors.New("sip: handler, port pool and pacer are required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	if o.ConnMetrics == nil {
		o.ConnMetrics = NewConnMetrics(nil)
	}
	var tlsConf *tls.Config
	if o.Config.TLS.Enabled() {
		var err error
		if tlsConf, err = o.Config.TLS.serverConfig(); err != nil {
			return nil, err
		}
	}
	parser := sip.NewParser()
	parser.MaxMessageLength = o.Config.MaxMessageSize
	var s *Server
	// RFC 3261 §13.2.2.4: a 2xx whose INVITE transaction is gone is still ACKed.
	stray := sip.WithTransactionLayerUnhandledResponseHandler(func(r *sip.Response) { s.onStrayResponse(r) })
	noDNS := newRefusingResolver(o.Logger, o.Metrics)
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("hotline"), sipgo.WithUserAgentParser(parser),
		sipgo.WithUserAgentTransactionLayerOptions(stray), sipgo.WithUserAgentDNSResolver(noDNS.resolver()))
	if err != nil {
		return nil, fmt.Errorf("create sip user agent: %w", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(o.Logger.With("component", "sipgo")))
	if err != nil {
		return nil, fmt.Errorf("create sip server: %w", err)
	}
	cli, err := sipgo.NewClient(ua, sipgo.WithClientLogger(o.Logger.With("component", "sipgo")))
	if err != nil {
		return nil, fmt.Errorf("create sip client: %w", err)
	}
	s = &Server{
		cfg: o.Config, handler: o.Handler, prompts: o.Prompts, ports: o.Ports, pacer: o.Pacer,
		log: o.Logger.With("component", "sip"), metrics: o.Metrics, mmet: o.MediaMetrics,
		ua: ua, srv: srv, calls: newDialogs[*Call](false), legs: newDialogs[*AgentLeg](true), ready: make(chan struct{}),
		reg: o.Registrar, feat: o.Feature, banned: o.Banned, xfer: o.TransferTarget,
		cmet: o.ConnMetrics, tlsConf: tlsConf,
		trusted: o.Config.trustedNets(), caps: newCallCaps(o.Config.maxCalls(), o.Config.MaxCallsPerSource),
		noDNS:   noDNS,
		ackWait: cmp.Or(o.ackWait, 64*sip.T1),
	}
	if s.reg != nil {
		s.reg.trusted = s.trusted
	}
	// In-dialog requests without a Record-Route go to the address the dialog's
	// INVITE (or 2xx) came from, never to a Contact host name (RFC 3581 §4).
	s.dua = &sipgo.DialogUA{Client: cli, ContactHDR: s.contact("", "UDP"), RewriteContact: true}
	srv.OnInvite(s.guardHandler(s.onInvite))
	srv.OnAck(s.onAck)
	srv.OnBye(s.guardHandler(s.onBye))
	srv.OnInfo(s.guardHandler(s.onInfo))
	srv.OnRefer(s.guardHandler(s.onRefer))
	srv.OnOptions(s.guardHandler(s.onOptions))
	srv.OnNoRoute(s.guardHandler(s.onNoRoute))
	if o.Registrar != nil {
		srv.OnRegister(s.guardHandler(o.Registrar.Handle))
	}
	return s, nil
}

// Run listens on UDP and TCP at cfg.Listen (and TLS at cfg.TLS.Listen when
// configured) and serves until ctx is done. A port in use is returned at once
// as an error.
func (s *Server) Run(ctx context.Context) error {
	udp, rawTCP, err := listenPair(s.cfg.Listen)
	if err != nil {
		return err
	}
	s.udpAddr.Store(udp.LocalAddr().(*net.UDPAddr))
	s.tcpAddr.Store(rawTCP.Addr().(*net.TCPAddr))
	if uc, ok := udp.(*net.UDPConn); ok {
		s.metrics.watchUDP(uc)
	}
	if rcv, snd, err := sizeBuffers(udp, sipSocketBuffer); err != nil {
		s.log.Warn("sip socket buffers left at the system default", "err", err)
	} else if rcv < sipSocketBuffer || snd < sipSocketBuffer {
		s.log.Warn("sip socket buffers smaller than asked: a burst of messages may be dropped; raise net.core.rmem_max and net.core.wmem_max",
			"asked", sipSocketBuffer, "receive", rcv, "send", snd)
	}
	guard := NewGuard(udp, GuardOptions{
		MaxMessageSize: s.cfg.MaxMessageSize,
		RatePerSecond:  s.cfg.RatePerSecond,
		Burst:          s.cfg.Burst,
		Banned:         s.banned,
		Trusted:        s.trusted.contains,
	})
	s.guards = append(s.guards, guard)
	limits := newConnLimits(s.cfg.TCP, s.trusted.contains)
	tcpGuard := s.streamGuard(guard, "tcp")
	tcp := newLimitListener(rawTCP, limits, "tcp", s.cmet, s.log, tcpGuard.wrap)
	var tlsL net.Listener
	if s.tlsConf != nil {
		if tlsL, err = s.listenTLS(limits, s.streamGuard(guard, "tls")); err != nil {
			tcp.Close()
			udp.Close()
			return err
		}
	}

	errc := make(chan error, 3)
	sc := &servingConn{Guard: guard, serving: make(chan struct{})}
	go func() { errc <- s.srv.ServeUDP(sc) }()
	go func() { errc <- s.srv.ServeTCP(tcp) }()
	if tlsL != nil {
		go func() { errc <- s.srv.ServeTLS(tlsL) }()
	}
	// Ready once sipgo reads the UDP socket: before that its transport does
	// not know the listener, and requests we send (DialAgent) cannot leave from it.
	select {
	case <-sc.serving:
		close(s.ready)
		s.log.Info("sip listening", "udp", udp.LocalAddr().String(), "tcp", tcp.Addr().String(), "tls", s.TLSAddr(), "hotline", s.cfg.Hotline)
		select {
		case <-ctx.Done():
		case err = <-errc:
		}
	case <-ctx.Done():
	case err = <-errc:
	}
	tcp.Close()
	if tlsL != nil {
		tlsL.Close()
	}
	udp.Close()
	s.ua.Close()
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("sip serve: %w", err)
	}
	return nil
}

// listenPair listens on UDP and TCP at the same address. With port 0 the
// kernel picks a free UDP port that may be taken for TCP: then another UDP
// port is tried, a bounded number of times.
func listenPair(listen string) (net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, nil, fmt.Errorf("sip listen address %q: %w", listen, err)
	}
	tries := 1
	if port == "0" {
		tries = 20
	}
	for i := 0; ; i++ {
		udp, err := net.ListenPacket("udp", listen)
		if err != nil {
			return nil, nil, fmt.Errorf("listen sip udp %s: %w", listen, err)
		}
		tcpListen := net.JoinHostPort(host, strconv.Itoa(udp.LocalAddr().(*net.UDPAddr).Port))
		tcp, err := net.Listen("tcp", tcpListen)
		if err == nil {
			return udp, tcp, nil
		}
		udp.Close()
		if i+1 >= tries || !errors.Is(err, syscall.EADDRINUSE) {
			return nil, nil, fmt.Errorf("listen sip tcp %s: %w", tcpListen, err)
		}
	}
}

// servingConn tells when sipgo starts reading the guarded UDP socket.
type servingConn struct {
	*Guard
	once    sync.Once
	serving chan struct{}
}

func (c *servingConn) ReadFrom(p []byte) (int, net.Addr, error) {
	c.once.Do(func() { close(c.serving) })
	return c.Guard.ReadFrom(p)
}

// Ready is closed once the listeners are bound and served.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// UDPAddr is the bound UDP address (after Ready).
func (s *Server) UDPAddr() *net.UDPAddr { return s.udpAddr.Load() }

// TCPAddr is the bound TCP address (after Ready).
func (s *Server) TCPAddr() *net.TCPAddr { return s.tcpAddr.Load() }

// TLSAddr is the bound TLS address (after Ready; nil without TLS).
func (s *Server) TLSAddr() *net.TCPAddr { return s.tlsAddr.Load() }

// streamGuard puts the UDP guard's policy and the stream bounds on one
// stream listener's connections.
func (s *Server) streamGuard(g *Guard, transport string) *streamGuard {
	return &streamGuard{
		inspect: func(data []byte, addr net.Addr, now time.Time) (bool, []byte) {
			return g.inspect(data, addr, g.opts.MaxMessageSize, now)
		},
		readTimeout: time.Duration(s.cfg.TCP.ReadTimeout), idleTimeout: time.Duration(s.cfg.TCP.IdleTimeout),
		maxMessage: s.cfg.MaxMessageSize, transport: transport, met: s.cmet, log: s.log,
	}
}

// Drain makes new INVITEs get 503 with Retry-After; calls in progress go on.
func (s *Server) Drain() { s.draining.Store(true) }

// Draining reports whether Drain was called.
func (s *Server) Draining() bool { return s.draining.Load() }

// ActiveCalls is the number of calls in progress on this node.
func (s *Server) ActiveCalls() int { return s.calls.len() }

// Wait blocks until every call in progress has ended or ctx is done.
func (s *Server) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// HangupAll ends every call in progress (the second signal of a drain).
func (s *Server) HangupAll() {
	for _, c := range s.calls.all() {
		c.end(HungUpBySystem, "shutdown")
	}
	for _, l := range s.legs.all() {
		l.end(context.Background(), HungUpBySystem, "shutdown")
	}
}

// GuardStats returns the UDP guard counters (for metrics).
func (s *Server) GuardStats() []*GuardStats {
	out := make([]*GuardStats, 0, len(s.guards))
	for _, g := range s.guards {
		out = append(out, g.Stats())
	}
	return out
}

// contact builds our Contact header for the given advertised host and the
// transport of the request it answers or goes with: a TCP or TLS peer gets
// our port and a transport parameter for it, so its next request comes back
// the same way (RFC 3261 §8.1.1.8, §19.1.1).
func (s *Server) contact(host, transport string) sip.ContactHeader {
	if host == "" {
		host = s.advertiseFor(nil).String()
	}
	port := 5060
	if _, p, err := net.SplitHostPort(s.cfg.Listen); err == nil {
		if n, err := strconv.Atoi(p); err == nil && n != 0 {
			port = n
		}
	}
	if a := s.udpAddr.Load(); a != nil {
		port = a.Port
	}
	c := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: s.cfg.Hotline, Host: host, Port: port}}
	if stream := s.streamAddr(transport); stream != nil {
		c.Address.Port = stream.Port
		c.Address.UriParams = sip.NewParams()
		c.Address.UriParams.Add("transport", strings.ToLower(transport))
	}
	return c
}

// streamAddr is our listening address for a stream transport (TCP, TLS),
// nil for UDP or a transport not served.
func (s *Server) streamAddr(transport string) *net.TCPAddr {
	switch strings.ToUpper(transport) {
	case "TCP":
		return s.tcpAddr.Load()
	case "TLS":
		return s.tlsAddr.Load()
	}
	return nil
}

// advertiseFor picks the IP for Contact and SDP: the configured one, else the
// listen host, else the host the caller dialled (it reached us there).
func (s *Server) advertiseFor(req *sip.Request) netip.Addr {
	if a, err := netip.ParseAddr(s.cfg.Advertise); err == nil {
		return a
	}
	if host, _, err := net.SplitHostPort(s.cfg.Listen); err == nil {
		if a, err := netip.ParseAddr(host); err == nil && !a.IsUnspecified() {
			return a
		}
	}
	if req != nil {
		if a, err := netip.ParseAddr(req.Recipient.Host); err == nil && !a.IsUnspecified() {
			return a.Unmap()
		}
		if h, _, err := net.SplitHostPort(req.Destination()); err == nil {
			if a, err := netip.ParseAddr(h); err == nil && !a.IsUnspecified() {
				return a.Unmap()
			}
		}
	}
	return netip.MustParseAddr("127.0.0.1")
}
