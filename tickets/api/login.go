package api

import (
	"errors"
	"math"
	"net/http"
	"strconv"

	"github.com/hotline-dev/hotline/agents"
)

// loginRequest is the body of POST /api/login.
type loginRequest struct {
	AgentID  string `json:"agent_id"`
	Password string `json:"password"`
}

// sessionResponse tells the panel who is signed in and the CSRF token to
// send back in X-CSRF-Token.
type sessionResponse struct {
	AgentID   string `json:"agent_id"`
	Role      string `json:"role"`
	CSRFToken string `json:"csrf_token"`
}

// wrongCredentials is the one answer for an unknown agent, a disabled one
// and a wrong password, so ids cannot be probed.
var wrongCredentials = apiError(http.StatusUnauthorized, msgLoginWrong)

// login signs an agent or supervisor in: POST /api/login. The limiter
// takes its tokens before the password is checked, so parallel guesses
// cannot slip through between a check and its count.
func (s *server) login(w http.ResponseWriter, r *http.Request) {
	if err := s.checkOrigin(r); err != nil {
		s.fail(w, r, err)
		return
	}
	var in loginRequest
	if err := decodeJSON(w, r, &in, false); err != nil {
		s.fail(w, r, err)
		return
	}
	ctx, ip := r.Context(), s.clientIP(r)
	source := sourcePrefix(s.clientAddr(r))
	no, err := s.limiter.take(ctx, in.AgentID, source)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if no.wait > 0 {
		s.refuseRateLimited(w, r, in.AgentID, ip, no)
		return
	}
	a, ok, err := s.auth.Verify(ctx, in.AgentID, in.Password)
	if errors.Is(err, agents.ErrNoPanelPassword) {
		s.metrics.loginFailures.WithLabelValues(reasonNoPanelPassword).Inc()
		s.fail(w, r, apiError(http.StatusForbidden, msgLoginNoPassword, "agent", in.AgentID))
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !ok {
		s.metrics.loginFailures.WithLabelValues(reasonBadCredentials).Inc()
		s.log.InfoContext(ctx, "sign-in refused", "agent", in.AgentID, "client_ip", ip)
		s.fail(w, r, wrongCredentials)
		return
	}
	if err := s.limiter.giveBack(ctx, in.AgentID, source); err != nil {
		s.log.WarnContext(ctx, "give back sign-in tokens", "request_id", requestID(ctx), "err", err)
	}
	s.startSession(w, r, a, ip)
}

// refuseRateLimited answers 429 with Retry-After, naming the bucket.
func (s *server) refuseRateLimited(w http.ResponseWriter, r *http.Request, agentID, ip string, no refusal) {
	s.metrics.loginFailures.WithLabelValues(reasonRateLimited).Inc()
	s.log.InfoContext(r.Context(), "sign-in rate limited", "agent", agentID, "client_ip", ip, "by", no.by)
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(no.wait.Seconds()))))
	code := msgLoginLimitedAgent
	if no.by == "source" {
		code = msgLoginLimitedSource
	}
	s.fail(w, r, apiError(http.StatusTooManyRequests, code))
}

// startSession replaces the browser's session with a new one for a.
func (s *server) startSession(w http.ResponseWriter, r *http.Request, a agents.Agent, ip string) {
	s.endOldSession(r)
	id, sess, err := s.sessions.create(r.Context(), a.ID, a.Role, a.SessionEpoch)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", HttpOnly: true,
		Secure: s.secure(r), SameSite: http.SameSiteStrictMode})
	s.log.InfoContext(r.Context(), "signed in", "agent", a.ID, "role", a.Role, "client_ip", ip)
	writeJSON(w, http.StatusOK, sessionResponse{AgentID: sess.AgentID, Role: sess.Role, CSRFToken: sess.CSRFToken})
}

// endOldSession drops the session a browser signs in over, so an id
// planted before the sign-in never becomes a signed-in one.
func (s *server) endOldSession(r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		if err := s.sessions.delete(r.Context(), c.Value); err != nil {
			s.log.WarnContext(r.Context(), "drop previous session", "request_id", requestID(r.Context()), "err", err)
		}
	}
}

// logout ends the session: POST /api/logout.
func (s *server) logout(w http.ResponseWriter, r *http.Request, sess session) {
	c, err := r.Cookie(sessionCookie)
	if err == nil {
		if err := s.sessions.delete(r.Context(), c.Value); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: s.secure(r), SameSite: http.SameSiteStrictMode})
	s.log.InfoContext(r.Context(), "signed out", "agent", sess.AgentID)
	w.WriteHeader(http.StatusNoContent)
}

// showSession returns who is signed in and the CSRF token, for a panel
// reloaded after sign-in: GET /api/session.
func (s *server) showSession(w http.ResponseWriter, _ *http.Request, sess session) {
	writeJSON(w, http.StatusOK, sessionResponse{AgentID: sess.AgentID, Role: sess.Role, CSRFToken: sess.CSRFToken})
}
