package sip

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
)

// streamGuard holds what every framed connection of one listener shares.
type streamGuard struct {
	// inspect is the UDP guard's decision on one message (bans, rate,
	// validation), so both transports follow one policy and one rate per source.
	inspect     func(data []byte, addr net.Addr, now time.Time) (deliver bool, reply []byte)
	readTimeout time.Duration
	idleTimeout time.Duration
	maxMessage  int
	transport   string
	met         *ConnMetrics
	log         *slog.Logger
}

func (g *streamGuard) wrap(c net.Conn) net.Conn {
	now := time.Now()
	fc := &framedConn{Conn: c, g: g, accepted: now}
	fc.lastWrite.Store(now.UnixNano())
	return fc
}

// streamReadSize is how much one socket read takes: a connection's buffer
// grows with the message it carries, never with the connection count.
const streamReadSize = 4096

var errFraming = errors.New("sip stream framing")

// framedConn cuts a SIP stream into messages itself (RFC 3261 §18.3: by
// Content-Length), so each message passes the guard before sipgo parses it
// and so it knows when a message is in progress (read timeout) and when the
// connection is idle between messages (idle timeout). sipgo reads the
// delivered messages; refused ones are answered or dropped here.
type framedConn struct {
	net.Conn
	g *streamGuard

	// Read side, owned by sipgo's single reading goroutine.
	chunk     []byte
	in        []byte    // read, not yet framed
	out       []byte    // a delivered message not yet read by sipgo
	scan      frameScan // the header section of the message in progress
	started   time.Time // first octet of the message in progress; zero between messages
	accepted  time.Time
	delivered bool      // a message passed the guard
	lastRead  time.Time // last delivered message or keep-alive
	crlf      int       // keep-alive octets since the last pong

	lastWrite atomic.Int64 // unix nanoseconds
}

// Read returns the octets of messages that passed the guard. It returns
// io.EOF when the connection timed out or broke its framing: sipgo then
// closes it, quietly.
func (c *framedConn) Read(p []byte) (int, error) {
	for len(c.out) == 0 {
		again, err := c.frame(time.Now())
		if err != nil {
			return 0, io.EOF
		}
		if again {
			continue
		}
		if err := c.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, c.out)
	c.out = c.out[n:]
	return n, nil
}

// Write bounds every write by the read timeout: a peer that stops reading
// cannot hold a transaction's goroutine.
func (c *framedConn) Write(p []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.g.readTimeout)); err != nil {
		return 0, err
	}
	n, err := c.Conn.Write(p)
	c.lastWrite.Store(time.Now().UnixNano())
	return n, err
}

// fill reads more of the stream under the deadline that applies now.
func (c *framedConn) fill() error {
	if c.chunk == nil {
		c.chunk = make([]byte, streamReadSize)
	}
	for {
		deadline, reason := c.deadline()
		if err := c.Conn.SetReadDeadline(deadline); err != nil {
			return io.EOF
		}
		n, err := c.Conn.Read(c.chunk)
		if n > 0 {
			c.in = append(c.in, c.chunk[:n]...)
			return nil
		}
		switch {
		case err == nil:
			continue
		case errors.Is(err, os.ErrDeadlineExceeded):
			if reason == closeIdleTimeout && time.Now().Before(c.idleDeadline()) {
				continue // we wrote meanwhile: the connection is in use
			}
			c.g.met.closed(c.g.transport, reason)
			c.g.log.Debug("sip connection timed out", "transport", c.g.transport, "source", c.RemoteAddr().String(), "reason", reason)
			return io.EOF
		case errors.Is(err, net.ErrClosed):
			return err
		default: // reset by the peer, a failed TLS handshake: nothing for sipgo to log
			c.g.log.Debug("sip connection read failed", "transport", c.g.transport, "source", c.RemoteAddr().String(), "error", err)
			return io.EOF
		}
	}
}

// deadline is when the current read must end: the first valid message, and
// any message in progress, within the read timeout; else the idle timeout.
func (c *framedConn) deadline() (time.Time, string) {
	switch {
	case !c.delivered:
		return c.accepted.Add(c.g.readTimeout), closeReadTimeout
	case !c.started.IsZero():
		return c.started.Add(c.g.readTimeout), closeReadTimeout
	}
	return c.idleDeadline(), closeIdleTimeout
}

func (c *framedConn) idleDeadline() time.Time {
	last := time.Unix(0, c.lastWrite.Load())
	if c.lastRead.After(last) {
		last = c.lastRead
	}
	return last.Add(c.g.idleTimeout)
}

// frame takes the next whole message from the buffer and hands it to the
// guard. again is true when it consumed a message (delivered or not); false
// when it needs more octets. An error means the stream cannot be resynced.
func (c *framedConn) frame(now time.Time) (again bool, err error) {
	if c.started.IsZero() && !c.skipKeepAlives(now) {
		return false, nil
	}
	end, complete, ferr := c.scan.advance(c.in)
	switch {
	case ferr != nil:
		return false, c.refuse(c.in[:end], sip.StatusBadRequest, "Bad Request: "+ferr.Error(), closeBadFraming)
	case !complete && len(c.in) > c.g.maxMessage:
		return false, c.refuse(c.in, sip.StatusMessageTooLarge, "Message Too Large", closeTooLarge)
	case !complete:
		return false, nil
	case end+c.scan.contentLength > c.g.maxMessage:
		return false, c.refuse(c.in[:end], sip.StatusMessageTooLarge, "Message Too Large", closeTooLarge)
	case len(c.in) < end+c.scan.contentLength:
		return false, nil
	}
	total := end + c.scan.contentLength
	msg := c.in[:total:total]
	c.in = c.in[total:]
	c.started = time.Time{}
	deliver, reply := c.g.inspect(msg, c.RemoteAddr(), now)
	if deliver {
		c.out, c.delivered, c.lastRead = msg, true, now
		return true, nil
	}
	if reply != nil {
		if _, err := c.Write(reply); err != nil {
			return false, err
		}
	}
	return true, nil
}

// skipKeepAlives drops the CRLFs between messages and answers a double CRLF
// ping with a CRLF pong (RFC 5626 §3.5.1). It reports whether a message starts.
func (c *framedConn) skipKeepAlives(now time.Time) bool {
	i := 0
	for i < len(c.in) && (c.in[i] == '\r' || c.in[i] == '\n') {
		i++
	}
	if i > 0 {
		c.in, c.crlf, c.lastRead = c.in[i:], c.crlf+i, now
		if c.crlf >= 4 {
			c.crlf = 0
			_, _ = c.Write([]byte("\r\n"))
		}
	}
	if len(c.in) == 0 {
		c.in = nil // an idle connection keeps no buffer
		return false
	}
	c.started, c.crlf, c.scan = now, 0, frameScan{contentLength: -1}
	return true
}

// refuse answers a message whose framing is lost (when its header section
// names the Via and CSeq to answer to) and ends the connection.
func (c *framedConn) refuse(head []byte, status int, reason, closeReason string) error {
	if reply := buildRawReply(head, status, reason); reply != nil {
		_, _ = c.Write(reply)
	}
	c.g.met.closed(c.g.transport, closeReason)
	c.g.log.Debug("sip stream refused", "transport", c.g.transport, "source", c.RemoteAddr().String(), "status", status, "reason", reason)
	return errFraming
}

// frameScan finds the end of a header section and its Content-Length, line by
// line, resuming where the last call stopped, so a message trickled in one
// octet at a time costs linear time.
type frameScan struct {
	off           int // start of the first line not yet complete
	searched      int // octets after off already searched for LF
	contentLength int // -1 until a Content-Length header is seen
}

var (
	errNoContentLength  = errors.New("missing Content-Length")
	errBadContentLength = errors.New("malformed Content-Length")
)

// advance scans data (the message so far). complete is true at the empty line
// ending the header section; end is the offset just after it.
func (s *frameScan) advance(data []byte) (end int, complete bool, err error) {
	for {
		nl := bytes.IndexByte(data[s.off+s.searched:], '\n')
		if nl < 0 {
			s.searched = len(data) - s.off
			return 0, false, nil
		}
		lineEnd := s.off + s.searched + nl
		line := bytes.TrimRight(data[s.off:lineEnd], "\r")
		first := s.off == 0
		s.off, s.searched = lineEnd+1, 0
		if len(line) == 0 {
			if s.contentLength < 0 { // RFC 3261 §18.3: mandatory on a stream
				return s.off, true, errNoContentLength
			}
			return s.off, true, nil
		}
		if first || line[0] == ' ' || line[0] == '\t' {
			continue
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		name = bytes.TrimSpace(name)
		if !ok || !(bytes.EqualFold(name, []byte("Content-Length")) || bytes.EqualFold(name, []byte("l"))) {
			continue
		}
		v, err := strconv.Atoi(strings.TrimSpace(string(value)))
		if err != nil || v < 0 || (s.contentLength >= 0 && s.contentLength != v) {
			return s.off, true, errBadContentLength
		}
		s.contentLength = v
	}
}
