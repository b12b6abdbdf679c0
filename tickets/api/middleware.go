package api

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hotline-dev/hotline/agents"
)

type ctxKey int

const requestIDKey ctxKey = iota

// csrfHeader carries the session's CSRF token on every changing request.
const csrfHeader = "X-CSRF-Token"

// requestID returns the id instrument gave the request ("" outside one).
func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// statusWriter remembers the status code for the metrics.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// instrument gives each request an id (X-Request-Id, also in the logs),
// forbids caching of responses that carry personal data (S5), and counts
// requests by route.
func (s *server) instrument(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		id := hex.EncodeToString(b)
		h := w.Header()
		h.Set("X-Request-Id", id)
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		sw := &statusWriter{ResponseWriter: w}
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey, id))
		mux.ServeHTTP(sw, r)
		if sw.code == 0 {
			sw.code = http.StatusOK
		}
		// The mux set r.Pattern: one of the registered routes, a closed set.
		s.metrics.observe(r.Pattern, sw.code, time.Since(start).Seconds())
	})
}

// authedFunc is a handler for a signed-in person.
type authedFunc func(w http.ResponseWriter, r *http.Request, sess session)

// authed requires a session (401) and, on a request that changes
// anything, the session's CSRF token in X-CSRF-Token and a same-host Origin
// or Referer when the browser sends one (403).
func (s *server) authed(next authedFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, ok, err := s.currentSession(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if !ok {
			s.fail(w, r, apiError(http.StatusUnauthorized, msgSessionNone))
			return
		}
		if err := s.checkCSRF(r, sess); err != nil {
			s.fail(w, r, err)
			return
		}
		next(w, r, sess)
	}
}

// sessionEnded answers a request whose session the directory has ended.
var sessionEnded = apiError(http.StatusUnauthorized, msgSessionEnded)

// currentSession loads the session of the request's cookie and checks it
// against the directory on every request, so a disable, password or role
// change made on any node (or by `hotline agent`) ends it at once.
func (s *server) currentSession(r *http.Request) (session, bool, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return session{}, false, nil
	}
	ctx := r.Context()
	sess, ok, err := s.sessions.load(ctx, c.Value)
	if err != nil || !ok {
		return session{}, false, err
	}
	a, err := s.auth.Get(ctx, sess.AgentID)
	if err != nil && !errors.Is(err, agents.ErrAgentNotFound) {
		return session{}, false, err
	}
	if err == nil && a.Enabled && a.SessionEpoch == sess.Epoch && a.Role == sess.Role {
		return sess, true, nil
	}
	s.log.InfoContext(ctx, "session ended by an account change", "agent", sess.AgentID, "request_id", requestID(ctx))
	if err := s.sessions.delete(ctx, c.Value); err != nil {
		return session{}, false, err
	}
	return session{}, false, sessionEnded
}

// checkCSRF applies the token and origin checks to unsafe methods.
func (s *server) checkCSRF(r *http.Request, sess session) error {
	if safeMethod(r.Method) {
		return nil
	}
	if err := s.checkOrigin(r); err != nil {
		return err
	}
	got := r.Header.Get(csrfHeader)
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(sess.CSRFToken)) != 1 {
		s.metrics.csrfRejected.WithLabelValues(reasonToken).Inc()
		return apiError(http.StatusForbidden, msgCSRF, "header", csrfHeader)
	}
	return nil
}

// checkOrigin refuses a browser request sent from another site: the Origin
// header (or, without it, the Referer) must name this host. Clients that
// send neither (scripts, integrations) pass; the token still protects them.
func (s *server) checkOrigin(r *http.Request) error {
	from := r.Header.Get("Origin")
	if from == "" {
		from = r.Header.Get("Referer")
	}
	if from == "" {
		return nil
	}
	u, err := url.Parse(from)
	if err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host) {
		return nil
	}
	s.metrics.csrfRejected.WithLabelValues(reasonOrigin).Inc()
	return apiError(http.StatusForbidden, msgCrossSite)
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// clientAddr is the address of the client: the connection's peer, or,
// when the peer is a trusted proxy, the nearest untrusted address in
// X-Forwarded-For (read right to left, as each proxy appends its peer).
// From any other peer X-Forwarded-For is ignored: any client can set it.
func (s *server) clientAddr(r *http.Request) netip.Addr {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	addr := peer.Addr().Unmap()
	if !s.trusted(addr) {
		return addr
	}
	hops := 0
	for _, h := range slices.Backward(r.Header.Values("X-Forwarded-For")) {
		for _, f := range slices.Backward(strings.Split(h, ",")) {
			if hops++; hops > maxForwardedHops {
				return addr
			}
			a, err := netip.ParseAddr(strings.TrimSpace(f))
			if err != nil {
				return addr // garbage behind our proxies: the last hop we can name
			}
			if addr = a.Unmap(); !s.trusted(addr) {
				return addr
			}
		}
	}
	return addr
}

// maxForwardedHops bounds the X-Forwarded-For entries read.
const maxForwardedHops = 16

// clientIP is clientAddr for logs and the audit log.
func (s *server) clientIP(r *http.Request) string {
	if a := s.clientAddr(r); a.IsValid() {
		return a.String()
	}
	return r.RemoteAddr
}

// trusted reports whether a is one of the configured proxies.
func (s *server) trusted(a netip.Addr) bool {
	for _, p := range s.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// secure reports whether the browser reached us over HTTPS: our own TLS, or
// a trusted proxy's X-Forwarded-Proto (the scheme its client used). Cookies
// are Secure then.
func (s *server) secure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil || !s.trusted(peer.Addr().Unmap()) {
		return false
	}
	proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	return strings.EqualFold(strings.TrimSpace(proto), "https")
}

// supervisor reports whether the session may see every ticket.
func (sess session) supervisor() bool { return sess.Role == agents.RoleSupervisor }
