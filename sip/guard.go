package sip

import (
	"bytes"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
)

// DefaultMaxMessageSize is the largest SIP datagram a Guard accepts by default
// (sipgo's parser limit).
const DefaultMaxMessageSize = 65535

// GuardOptions configure a Guard.
type GuardOptions struct {
	// MaxMessageSize refuses larger datagrams (0 = DefaultMaxMessageSize). The
	// effective limit is also capped by the caller's read buffer, so a message
	// is refused rather than silently truncated.
	MaxMessageSize int
	// RatePerSecond is the datagram rate allowed per source IP (0 = unlimited).
	RatePerSecond float64
	// Burst is the token-bucket size per source IP (0 = max(1, RatePerSecond)).
	Burst int
	// Banned, when set, is asked for the source of every REGISTER; true drops
	// it silently. A ban stops logins only: a banned source's INVITE to the
	// hotline may be an emergency, and OPTIONS and in-dialog requests pass.
	Banned func(netip.Addr) bool
	// Trusted, when set, names sources exempt from the rate limit and bans.
	Trusted func(netip.Addr) bool
	// Logger receives one debug line per refused datagram (nil = slog.Default()).
	Logger *slog.Logger
}

// guardStatuses are the statuses a Guard answers with; GuardStats counts each.
var guardStatuses = [...]int{400, 406, 415, 416, 420, 483, 505, 513}

// GuardStats are a Guard's counters; read them with Load.
type GuardStats struct {
	Received    atomic.Uint64 // datagrams read from the socket
	Delivered   atomic.Uint64 // requests and responses handed to sipgo
	KeepAlives  atomic.Uint64 // CRLF keep-alives skipped (RFC 5626 §3.5.1)
	Oversized   atomic.Uint64 // datagrams above the size limit (answered 513 or dropped)
	RateLimited atomic.Uint64 // dropped by the per-source rate limit
	Banned      atomic.Uint64 // REGISTERs dropped by the Banned hook
	Dropped     atomic.Uint64 // dropped unanswered: garbage, bad responses, bad ACKs
	rejected    [len(guardStatuses)]atomic.Uint64
}

// RejectedStatuses lists the statuses Rejected can report (a closed set, fit
// for a metric label).
func RejectedStatuses() []int { return slices.Clone(guardStatuses[:]) }

// Rejected is how many datagrams were answered with status.
func (s *GuardStats) Rejected(status int) uint64 {
	if i := slices.Index(guardStatuses[:], status); i >= 0 {
		return s.rejected[i].Load()
	}
	return 0
}

func (s *GuardStats) reject(status int) {
	if i := slices.Index(guardStatuses[:], status); i >= 0 {
		s.rejected[i].Add(1)
	}
}

// Guard wraps the UDP listener given to sipgo's ServeUDP. It drops flooding
// sources, banned sources' REGISTERs, keep-alives and oversized datagrams
// (trusted sources are never limited nor banned), answers malformed and
// invalid requests itself (RFC 3261 §8.2, RFC 4475) and hands only valid
// requests and parseable responses to sipgo.
type Guard struct {
	conn    net.PacketConn
	opts    GuardOptions
	parser  *sip.Parser
	limiter *sourceLimiter
	log     *slog.Logger
	bufs    sync.Pool
	stats   GuardStats
}

var _ net.PacketConn = (*Guard)(nil)

// NewGuard wraps conn.
func NewGuard(conn net.PacketConn, opts GuardOptions) *Guard {
	if opts.MaxMessageSize <= 0 {
		opts.MaxMessageSize = DefaultMaxMessageSize
	}
	g := &Guard{conn: conn, opts: opts, parser: sip.NewParser(), log: opts.Logger}
	g.parser.MaxMessageLength = opts.MaxMessageSize
	if g.log == nil {
		g.log = slog.Default()
	}
	if opts.RatePerSecond > 0 {
		g.limiter = newSourceLimiter(opts.RatePerSecond, opts.Burst)
	}
	size := opts.MaxMessageSize + 1 // one more octet tells an oversized datagram
	g.bufs.New = func() any { b := make([]byte, size); return &b }
	return g
}

// Stats returns the live counters.
func (g *Guard) Stats() *GuardStats { return &g.stats }

// ReadFrom returns the next datagram that passed the guard. Refused datagrams
// are answered or dropped here and never returned.
func (g *Guard) ReadFrom(p []byte) (int, net.Addr, error) {
	limit := min(g.opts.MaxMessageSize, len(p))
	for {
		bp := g.bufs.Get().(*[]byte)
		n, addr, err := g.conn.ReadFrom(*bp)
		if err != nil {
			g.bufs.Put(bp)
			return 0, addr, err
		}
		deliver, reply := g.inspect((*bp)[:n], addr, limit, time.Now())
		if deliver {
			n = copy(p, (*bp)[:n])
			g.bufs.Put(bp)
			return n, addr, nil
		}
		g.bufs.Put(bp)
		if reply != nil {
			if _, err := g.conn.WriteTo(reply, addr); err != nil {
				g.log.Debug("sip guard reply failed", "source", addr.String(), "error", err)
			}
		}
	}
}

// inspect decides one datagram: deliver it, or drop it with an optional reply.
func (g *Guard) inspect(data []byte, addr net.Addr, limit int, now time.Time) (deliver bool, reply []byte) {
	g.stats.Received.Add(1)
	ip := addrIP(addr)
	untrusted := ip.IsValid() && (g.opts.Trusted == nil || !g.opts.Trusted(ip))
	if untrusted && g.limiter != nil && !g.limiter.allow(ip, now) {
		g.stats.RateLimited.Add(1)
		return false, nil
	}
	if len(data) > limit {
		g.stats.Oversized.Add(1)
		return false, g.rawReply(data, addr, sip.StatusMessageTooLarge, "Message Too Large")
	}
	if len(bytes.Trim(data, "\r\n")) == 0 {
		g.stats.KeepAlives.Add(1)
		return false, nil
	}
	msg, err := g.parser.ParseSIP(data)
	if err != nil {
		status, reason := parseFailureStatus(data, err)
		return false, g.rawReply(data, addr, status, reason)
	}
	req, ok := msg.(*sip.Request)
	if !ok {
		g.stats.Delivered.Add(1) // responses: sipgo's transaction layer matches or drops them
		return true, nil
	}
	if untrusted && req.Method == sip.REGISTER && g.opts.Banned != nil && g.opts.Banned(ip) {
		g.stats.Banned.Add(1)
		return false, nil
	}
	rerr := ValidateRequest(req)
	if rerr == nil {
		g.stats.Delivered.Add(1)
		return true, nil
	}
	if req.IsAck() { // an ACK is never answered (RFC 3261 §17.2.3)
		g.stats.Dropped.Add(1)
		return false, nil
	}
	req.SetSource(addr.String())
	g.stats.reject(rerr.Status)
	g.log.Debug("sip guard rejected request", "source", addr.String(), "status", rerr.Status, "reason", rerr.Reason)
	return false, []byte(ErrorResponse(req, rerr).String())
}

// rawReply builds the answer to a request sipgo cannot parse (or that is too
// large to parse) from its raw header text; nil (and a drop) when the datagram
// is not a request, is an ACK, or lacks the Via and CSeq the peer needs to match
// the answer (RFC 3261 §17.1.3).
func (g *Guard) rawReply(data []byte, addr net.Addr, status int, reason string) []byte {
	reply := buildRawReply(data, status, reason)
	if reply == nil {
		g.stats.Dropped.Add(1)
		return nil
	}
	g.stats.reject(status)
	g.log.Debug("sip guard rejected datagram", "source", addr.String(), "status", status, "reason", reason)
	return reply
}

// parseFailureStatus picks the answer to an unparseable request from its
// request line: 505 for another SIP version (RFC 4475 §3.1.2.16), 416 for a
// well-formed but unsupported URI scheme (RFC 4475 §3.3.3 novelsc), else 400.
func parseFailureStatus(data []byte, err error) (int, string) {
	line, _, _ := bytes.Cut(data, []byte("\n"))
	fields := strings.Fields(string(line))
	if len(fields) == 3 {
		if !strings.EqualFold(fields[2], "SIP/2.0") {
			return sip.StatusVersionNotSupported, "Version Not Supported"
		}
		if scheme, _, ok := strings.Cut(fields[1], ":"); ok && isURIScheme(scheme) {
			switch strings.ToLower(scheme) {
			case "sip", "sips", "tel":
			default:
				return statusUnsupportedURIScheme, "Unsupported URI Scheme"
			}
		}
	}
	return sip.StatusBadRequest, "Bad Request: " + shortText(err.Error(), 80)
}

// addrIP returns the source IP of a datagram (IPv4-mapped addresses unmapped).
func addrIP(addr net.Addr) netip.Addr {
	if ua, ok := addr.(*net.UDPAddr); ok {
		return ua.AddrPort().Addr().Unmap()
	}
	if addr == nil {
		return netip.Addr{}
	}
	ap, _ := netip.ParseAddrPort(addr.String()) // invalid (zero) when not ip:port
	return ap.Addr().Unmap()
}

// WriteTo sends a datagram (sipgo's responses and requests).
func (g *Guard) WriteTo(p []byte, addr net.Addr) (int, error) { return g.conn.WriteTo(p, addr) }

// Close closes the wrapped socket.
func (g *Guard) Close() error { return g.conn.Close() }

// LocalAddr is the wrapped socket's address.
func (g *Guard) LocalAddr() net.Addr { return g.conn.LocalAddr() }

// SetDeadline, SetReadDeadline and SetWriteDeadline set the wrapped socket's deadlines.
func (g *Guard) SetDeadline(t time.Time) error      { return g.conn.SetDeadline(t) }
func (g *Guard) SetReadDeadline(t time.Time) error  { return g.conn.SetReadDeadline(t) }
func (g *Guard) SetWriteDeadline(t time.Time) error { return g.conn.SetWriteDeadline(t) }

// buildRawReply writes a minimal response by hand from the raw header text of
// a request: status line, the Via, From, To (with a To-tag, RFC 3261 §8.2.6.2),
// Call-ID and CSeq values stripped of control characters, Content-Length: 0.
func buildRawReply(data []byte, status int, reason string) []byte {
	line, rest, _ := bytes.Cut(data, []byte("\n"))
	fields := strings.Fields(string(line))
	if len(fields) < 3 || !looksLikeVersion(fields[len(fields)-1]) || strings.EqualFold(fields[0], "ACK") {
		return nil
	}
	h := scanRawHeaders(rest)
	if len(h["via"]) == 0 || len(h["cseq"]) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("SIP/2.0 " + strconv.Itoa(status) + " " + shortText(reason, 120) + "\r\n")
	for _, v := range h["via"] {
		b.WriteString("Via: " + v + "\r\n")
	}
	if v := h["from"]; len(v) > 0 {
		b.WriteString("From: " + v[0] + "\r\n")
	}
	if v := h["to"]; len(v) > 0 {
		to := v[0]
		if !strings.Contains(strings.ToLower(to), "tag=") {
			to += ";tag=" + sip.GenerateTagN(16)
		}
		b.WriteString("To: " + to + "\r\n")
	}
	if v := h["call-id"]; len(v) > 0 {
		b.WriteString("Call-ID: " + v[0] + "\r\n")
	}
	b.WriteString("CSeq: " + h["cseq"][0] + "\r\nContent-Length: 0\r\n\r\n")
	return []byte(b.String())
}

// looksLikeVersion matches SIP/x.y, case-insensitively.
func looksLikeVersion(s string) bool {
	if len(s) < 7 || !strings.EqualFold(s[:4], "SIP/") {
		return false
	}
	major, minor, ok := strings.Cut(s[4:], ".")
	return ok && isDigits(major) && isDigits(minor)
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// rawHeaderNames maps the header names (full and compact, RFC 3261 §7.3.3) that
// a raw reply copies.
var rawHeaderNames = map[string]string{
	"via": "via", "v": "via", "from": "from", "f": "from", "to": "to", "t": "to",
	"call-id": "call-id", "i": "call-id", "cseq": "cseq",
}

// scanRawHeaders collects the values of the copied header fields up to the
// empty line, unfolding continuation lines; values are cleaned of CR/LF and
// other control characters.
func scanRawHeaders(data []byte) map[string][]string {
	h := make(map[string][]string, 5)
	last := ""
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte("\n"))
		line = bytes.TrimRight(line, "\r")
		if len(bytes.TrimSpace(line)) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' { // folded (RFC 3261 §7.3.1)
			if vs := h[last]; last != "" && len(vs) > 0 {
				vs[len(vs)-1] += " " + cleanHeaderText(strings.TrimSpace(string(line)))
			}
			continue
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		last = rawHeaderNames[strings.ToLower(strings.TrimSpace(string(name)))]
		if !ok || last == "" {
			last = ""
			continue
		}
		if v := cleanHeaderText(strings.TrimSpace(string(value))); v != "" {
			h[last] = append(h[last], strings.ToValidUTF8(v, ""))
		}
	}
	return h
}

// maxTrackedSources bounds the rate limiter's memory under a spoofed flood.
const maxTrackedSources = 100_000

// sourceLimiter is a token bucket per source IP.
type sourceLimiter struct {
	mu        sync.Mutex
	rate      float64
	burst     float64
	buckets   map[netip.Addr]*tokenBucket
	lastSweep time.Time
}

type tokenBucket struct {
	tokens float64
	last   time.Time
}

func newSourceLimiter(rate float64, burst int) *sourceLimiter {
	b := float64(burst)
	if b <= 0 {
		b = max(1, rate)
	}
	return &sourceLimiter{rate: rate, burst: b, buckets: make(map[netip.Addr]*tokenBucket)}
}

// allow takes one token from ip's bucket.
func (l *sourceLimiter) allow(ip netip.Addr, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	b := l.buckets[ip]
	if b == nil {
		b = &tokenBucket{tokens: l.burst, last: now}
		l.buckets[ip] = b
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(l.burst, b.tokens+el*l.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// sweep forgets buckets that have refilled (they equal a new bucket) every 10 s,
// and everything when a flood of sources fills the table.
func (l *sourceLimiter) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < 10*time.Second && len(l.buckets) < maxTrackedSources {
		return
	}
	l.lastSweep = now
	full := time.Duration(l.burst / l.rate * float64(time.Second))
	for ip, b := range l.buckets {
		if now.Sub(b.last) >= full {
			delete(l.buckets, ip)
		}
	}
	if len(l.buckets) >= maxTrackedSources {
		clear(l.buckets)
	}
}
