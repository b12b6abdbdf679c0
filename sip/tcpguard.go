package sip

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/hotline-dev/hotline/configs"
)

// TCPConfig bounds the stream connections (TCP and TLS) the SIP listeners
// accept: every one holds a descriptor, so an unbounded number of idle ones
// starves the process (and its RTP ports) of descriptors.
type TCPConfig struct {
	// ReadTimeout: a new connection must deliver a valid message within this,
	// and every later message must arrive whole within this of its first octet
	// (a slowloris is closed). A write blocked this long fails too.
	ReadTimeout configs.Duration `yaml:"read_timeout"`
	// IdleTimeout closes a connection that carried no message and no
	// keep-alive (RFC 5626 §3.5.1) in either direction for this long.
	IdleTimeout configs.Duration `yaml:"idle_timeout"`
	// MaxConnections caps the open connections of TCP and TLS together.
	MaxConnections int `yaml:"max_connections"`
	// MaxConnectionsPerSource caps the open connections of one source IP.
	MaxConnectionsPerSource int `yaml:"max_connections_per_source"`
}

// DefaultTCPConfig returns the defaults documented in configs/hotline.yaml.
func DefaultTCPConfig() TCPConfig {
	return TCPConfig{
		ReadTimeout:             configs.Duration(10 * time.Second),
		IdleTimeout:             configs.Duration(10 * time.Minute),
		MaxConnections:          4096,
		MaxConnectionsPerSource: 64,
	}
}

func (c TCPConfig) validate() error {
	var errs []error
	if c.ReadTimeout <= 0 {
		errs = append(errs, fmt.Errorf("sip.tcp.read_timeout %v: want a positive duration, e.g. \"10s\"", time.Duration(c.ReadTimeout)))
	}
	if c.IdleTimeout < c.ReadTimeout {
		errs = append(errs, fmt.Errorf("sip.tcp.idle_timeout %v: want at least sip.tcp.read_timeout, e.g. \"10m\"", time.Duration(c.IdleTimeout)))
	}
	if c.MaxConnections < 1 {
		errs = append(errs, fmt.Errorf("sip.tcp.max_connections %d: want at least 1", c.MaxConnections))
	}
	if c.MaxConnectionsPerSource < 1 || c.MaxConnectionsPerSource > c.MaxConnections {
		errs = append(errs, fmt.Errorf("sip.tcp.max_connections_per_source %d: want 1..max_connections (%d)",
			c.MaxConnectionsPerSource, c.MaxConnections))
	}
	return errors.Join(errs...)
}

// Connection refusal and close reasons (closed sets, used as metric labels).
const (
	connRefusedGlobal = "refused_global_cap"
	connRefusedSource = "refused_source_cap"
	connAccepted      = "accepted"

	closeReadTimeout = "read_timeout"
	closeIdleTimeout = "idle_timeout"
	closeBadFraming  = "bad_framing"
	closeTooLarge    = "too_large"
)

// connLimits counts the open stream connections, in all and per source IP.
type connLimits struct {
	mu        sync.Mutex
	max       int
	perSource int
	open      int
	bySource  map[netip.Addr]int
}

func newConnLimits(c TCPConfig) *connLimits {
	return &connLimits{max: c.MaxConnections, perSource: c.MaxConnectionsPerSource, bySource: make(map[netip.Addr]int)}
}

// acquire takes a slot for ip, or names the cap that refuses it.
func (l *connLimits) acquire(ip netip.Addr) (refused string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open >= l.max {
		return connRefusedGlobal
	}
	if l.bySource[ip] >= l.perSource {
		return connRefusedSource
	}
	l.open++
	l.bySource[ip]++
	return ""
}

func (l *connLimits) release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.bySource[ip]--; l.bySource[ip] <= 0 {
		delete(l.bySource, ip)
	}
}

// Accept failures back off from acceptRetryMin, doubling up to acceptRetryMax.
const (
	acceptRetryMin = 5 * time.Millisecond
	acceptRetryMax = time.Second
)

// limitListener is the SIP stream listener given to sipgo. A failing Accept
// (out of descriptors, an aborted handshake) is retried with backoff instead
// of ending sipgo's accept loop, and so the server; a connection over a cap is
// reset at once. wrap, when set, wraps each accepted connection.
type limitListener struct {
	net.Listener
	limits    *connLimits
	transport string
	met       *ConnMetrics
	log       *slog.Logger
	wrap      func(net.Conn) net.Conn

	closeOnce sync.Once
	closed    chan struct{}
}

func newLimitListener(l net.Listener, limits *connLimits, transport string, met *ConnMetrics, log *slog.Logger,
	wrap func(net.Conn) net.Conn) *limitListener {
	return &limitListener{Listener: l, limits: limits, transport: transport, met: met, log: log, wrap: wrap,
		closed: make(chan struct{})}
}

// Accept returns the next connection within the caps. It returns an error
// only once the listener is closed.
func (l *limitListener) Accept() (net.Conn, error) {
	var delay time.Duration
	for {
		conn, err := l.Listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil, err
			}
			delay = min(max(2*delay, acceptRetryMin), acceptRetryMax)
			l.met.acceptFailed(l.transport)
			l.log.Warn("sip accept failed, retrying", "transport", l.transport, "error", err, "retry_in", delay)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-l.closed:
				t.Stop()
				return nil, net.ErrClosed
			}
			continue
		}
		delay = 0
		ip := addrIP(conn.RemoteAddr())
		if refused := l.limits.acquire(ip); refused != "" {
			l.met.connection(l.transport, refused)
			l.log.Debug("sip connection refused", "transport", l.transport, "source", ip.String(), "cap", refused)
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // a reset leaves no TIME_WAIT behind on our side
			}
			_ = conn.Close()
			continue
		}
		l.met.connection(l.transport, connAccepted)
		l.met.opened(l.transport, 1)
		c := net.Conn(&countedConn{Conn: conn, release: func() { l.limits.release(ip); l.met.opened(l.transport, -1) }})
		if l.wrap != nil {
			c = l.wrap(c)
		}
		return c, nil
	}
}

// Close closes the listener and ends a pending retry.
func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// countedConn gives its slot back once, on the first Close.
type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	err := net.ErrClosed
	c.once.Do(func() { err = c.Conn.Close(); c.release() })
	return err
}

// framedListener wraps each accepted connection (TLS: after tls.NewListener,
// so the guard reads the decrypted stream).
type framedListener struct {
	net.Listener
	wrap func(net.Conn) net.Conn
}

func (l framedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return l.wrap(c), nil
}
