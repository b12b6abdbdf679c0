package api

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/hotline-dev/hotline/agents"
)

// Principal is the signed-in person of a request, for the handlers outside
// this package (the panel) that share the API's sessions.
type Principal struct {
	Agent string // the agent id
	Role  string // agents.RoleAgent or agents.RoleSupervisor
}

// Supervisor reports whether the principal may see every agent and ticket.
func (p Principal) Supervisor() bool { return p.Role == agents.RoleSupervisor }

// Sessions authenticates requests with the API's session cookie, under the
// same rules as the API's own routes: the session must exist in Redis and
// its agent be enabled with the role and epoch it signed in with.
type Sessions struct {
	s *server
}

// NewSessions reads the sessions of the API built with the same options
// (only Auth, Sessions, Prefix, Config, Now and Logger are used).
func NewSessions(opts Options) *Sessions {
	if opts.Auth == nil || opts.Sessions == nil {
		panic("api: NewSessions needs Auth and Sessions")
	}
	if opts.Prefix == "" {
		opts.Prefix = "hotline:"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	cfg := DefaultConfig()
	if opts.Config != nil {
		cfg = *opts.Config
	}
	return &Sessions{s: &server{
		auth: opts.Auth,
		sessions: &sessionStore{rdb: opts.Sessions, prefix: opts.Prefix + "api:session:",
			idle: cfg.SessionIdle, max: cfg.SessionMax, now: opts.Now},
		log:     opts.Logger.With("component", "tickets.api"),
		metrics: NewMetrics(nil),
	}}
}

// Authenticate returns the principal of r; ok is false without a valid
// session (none, expired, or ended by an account change). The error is
// an infrastructure failure (Redis or the directory unreachable).
func (x *Sessions) Authenticate(r *http.Request) (p Principal, ok bool, err error) {
	sess, ok, err := x.s.currentSession(r)
	if errors.Is(err, sessionEnded) {
		return Principal{}, false, nil
	}
	if err != nil || !ok {
		return Principal{}, false, err
	}
	return Principal{Agent: sess.AgentID, Role: sess.Role}, true, nil
}
