// Package api is the JSON HTTP API of the tickets under /api/ for the panel
// and for integrations: sign-in with server-side sessions in Redis,
// CSRF protection, and the ticket, unmask and nuisance endpoints. An agent
// sees only the tickets it owns; a supervisor sees all. Errors are JSON
// {"error", "fields"} with the status of their kind; internal errors are
// logged with the request id and never shown.
package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/configs"
	"github.com/hotline-dev/hotline/tickets"
	"github.com/redis/go-redis/v9"
)

// Store is the part of the ticket store the API uses; *tickets.Store
// satisfies it.
type Store interface {
	Get(ctx context.Context, ref string) (tickets.Ticket, error)
	List(ctx context.Context, f tickets.Filter) ([]tickets.Ticket, error)
	Submit(ctx context.Context, ref string, in tickets.SubmitInput, actor, idemKey string) (tickets.Ticket, error)
	SetStatus(ctx context.Context, ref, to, actor, note string) (tickets.Ticket, error)
	AddNote(ctx context.Context, ref, actor, note string) error
	Extend(ctx context.Context, ref string, newDue time.Time, reason, actor string) (tickets.Ticket, error)
	HandOff(ctx context.Context, ref, toAgent, actor string) (tickets.Ticket, error)
	CreateWebTicket(ctx context.Context, in tickets.SubmitInput, channel, actor, idemKey string) (tickets.Ticket, error)
	FlagNuisance(ctx context.Context, number, actor, reason string) error
	ClearNuisance(ctx context.Context, number, actor, reason string) error
	ReportNuisance(ctx context.Context, number, agent, reason string) (string, error)
	DismissNuisanceReport(ctx context.Context, id int64, actor, reason string) error
	OpenNuisanceReports(ctx context.Context) ([]tickets.NuisanceReport, error)

	// The panel's and the wall's (panel_*.go).
	Reassign(ctx context.Context, ref, toAgent, reason, actor string) (tickets.Ticket, error)
	Acknowledge(ctx context.Context, ref, note, actor string) (tickets.Ticket, bool, error)
	RecordingOf(ctx context.Context, ref string) (tickets.Playback, error)
	AuditPlayback(ctx context.Context, req tickets.UnmaskRequest, denied bool) error
	AuditAgentState(ctx context.Context, actor, role, agent, from, to, reason, clientIP string) error
	WallFigures(ctx context.Context) (tickets.WallTickets, error)
}

// Panel is the agents' side of the panel's routes: live states in the
// ACD, the current call, transfers and the queues; *dispatch.Router
// satisfies it.
type Panel interface {
	AgentState(ctx context.Context, agentID string) (agents.AgentState, error)
	AgentStates(ctx context.Context) ([]agents.AgentState, error)
	SetState(ctx context.Context, agentID string, to agents.State, reason string) error
	ForceState(ctx context.Context, agentID string, to agents.State) (agents.State, error)
	CurrentCall(ctx context.Context, agentID string) (agents.CurrentCall, error)
	Transfer(ctx context.Context, agentID, kind, target string) error
	QueueFigures(ctx context.Context) ([]agents.QueueFigure, error)
	PauseReasons() []string
	WrapUpUntilSubmitted() bool
	// TicketEvent publishes a "ticket" event for the ticket's owner.
	TicketEvent(ctx context.Context, owner, ref, reason string)
	// WallChanged asks for a "wall" event soon (coalesced; never blocks).
	WallChanged()
}

// Auth checks sign-ins and looks agents up; *agents.Directory satisfies it.
type Auth interface {
	// Verify is false, with a nil error, for an unknown or disabled agent
	// and a wrong password alike; its error wraps agents.ErrNoPanelPassword
	// for an agent who must be given a panel password first.
	Verify(ctx context.Context, id, password string) (agents.Agent, bool, error)
	// Get is asked on every request: a session lives only while its agent
	// is enabled with the role and SessionEpoch it signed in with.
	Get(ctx context.Context, id string) (agents.Agent, error)
	// List names every agent (the wall).
	List(ctx context.Context) ([]agents.Agent, error)
}

// Unmasker shows the clear ID number of ticket ref to the person of req,
// writing the audit row (S5); *PGUnmasker is the implementation.
type Unmasker interface {
	Unmask(ctx context.Context, ref string, req tickets.UnmaskRequest) (string, error)
}

// BlindIndexer computes the blind index of an ID number for look-ups (S5);
// *tickets.Keyring satisfies it.
type BlindIndexer interface {
	BlindIndex(idType, idNumber string) ([]byte, error)
}

// Options are the dependencies of the API.
type Options struct {
	Store    Store                 // required
	Auth     Auth                  // required
	Sessions redis.UniversalClient // required: sessions live in Redis so every node accepts them
	// Prefix is put before every Redis key (default "hotline:").
	Prefix string
	// Config holds session lifetimes, login limits and trusted proxies
	// (nil: DefaultConfig).
	Config *Config
	// Now is the clock of session lifetimes and login limits (nil: time.Now).
	Now      func() time.Time
	Unmasker Unmasker     // required
	Indexer  BlindIndexer // required
	Logger   *slog.Logger // nil: logs are discarded
	Metrics  *Metrics     // nil: an unregistered set is used
	// Submitted, when set, is told of every call ticket entered through the
	// API; the agent's wrap-up ends there (S12).
	Submitted func(ctx context.Context, k tickets.Ticket)
	// Panel serves the agents' panel and the wall; nil: those routes
	// answer 503.
	Panel Panel
	// RecordingsDir is the folder of the call recordings (S19): a recording
	// whose path lies elsewhere is never served.
	RecordingsDir string
	// Callbacks serves GET /api/callbacks and the claims (S9); nil: those
	// routes answer 404.
	Callbacks Callbacks
	// CallbackCategory is the queue of requests left without a category
	// (callbacks.default_category; default inquiry).
	CallbackCategory string
	// Claimed, when set, is told of every claimed callback (the placer
	// starts a round at once).
	Claimed func()
}

// Validate reports the first missing dependency.
func (o Options) Validate() error {
	switch {
	case o.Store == nil:
		return errors.New("api: a ticket store is required")
	case o.Auth == nil:
		return errors.New("api: an agent directory (Auth) is required")
	case o.Sessions == nil:
		return errors.New("api: a Redis client for sessions is required")
	case o.Unmasker == nil:
		return errors.New("api: an unmasker is required (S5)")
	case o.Indexer == nil:
		return errors.New("api: a blind indexer (the keyring) is required for ID look-ups (S5)")
	case o.Config != nil:
		return o.Config.Validate()
	}
	return nil
}

// server holds the dependencies the handlers share.
type server struct {
	store     Store
	auth      Auth
	sessions  *sessionStore
	unmasker  Unmasker
	indexer   BlindIndexer
	limiter   *loginLimiter
	proxies   []netip.Prefix
	log       *slog.Logger
	metrics   *Metrics
	submitted func(ctx context.Context, k tickets.Ticket)
	panel     Panel
	recDir    string
	now       func() time.Time
	wall      wallCache

	callbacks        Callbacks
	callbackCategory string
	claimed          func()
}

// New returns the API handler, to be mounted at /api/. It panics when a
// required dependency is missing (Options.Validate): that is a wiring
// mistake, not a run-time condition.
func New(opts Options) http.Handler {
	if err := opts.Validate(); err != nil {
		panic(err)
	}
	if opts.Prefix == "" {
		opts.Prefix = "hotline:"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	cfg := DefaultConfig()
	if opts.Config != nil {
		cfg = *opts.Config
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	proxies, _ := cfg.trustedProxies() // checked by Validate
	s := &server{
		submitted: opts.Submitted,
		panel:     opts.Panel,
		recDir:    opts.RecordingsDir,
		now:       opts.Now,
		store:     opts.Store,
		auth:      opts.Auth,
		sessions: &sessionStore{rdb: opts.Sessions, prefix: opts.Prefix + "api:session:",
			idle: cfg.SessionIdle, max: cfg.SessionMax, now: opts.Now},
		unmasker: opts.Unmasker,
		indexer:  opts.Indexer,
		limiter:  &loginLimiter{rdb: opts.Sessions, prefix: opts.Prefix + "api:", limits: cfg.Login, now: opts.Now},
		proxies:  proxies,
		log:      opts.Logger.With("component", "tickets.api"),
		metrics:  opts.Metrics,

		callbacks: opts.Callbacks, callbackCategory: opts.CallbackCategory, claimed: opts.Claimed,
	}
	if s.callbackCategory == "" {
		s.callbackCategory = configs.CategoryInquiry
	}
	return s.instrument(s.routes())
}

// routes declares every endpoint (Go 1.22 method patterns).
func (s *server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/login", s.login)
	mux.HandleFunc("POST /api/logout", s.authed(s.logout))
	mux.HandleFunc("GET /api/session", s.authed(s.showSession))

	mux.HandleFunc("GET /api/tickets", s.authed(s.listTickets))
	mux.HandleFunc("POST /api/tickets", s.authed(s.createTicket))
	mux.HandleFunc("GET /api/tickets/{ref}", s.authed(s.showTicket))
	mux.HandleFunc("POST /api/tickets/{ref}/submit", s.authed(s.submitTicket))
	mux.HandleFunc("POST /api/tickets/{ref}/status", s.authed(s.setStatus))
	mux.HandleFunc("POST /api/tickets/{ref}/notes", s.authed(s.addNote))
	mux.HandleFunc("POST /api/tickets/{ref}/extend", s.authed(s.extendDeadline))
	mux.HandleFunc("POST /api/tickets/{ref}/handoff", s.authed(s.handOff))
	mux.HandleFunc("POST /api/tickets/{ref}/unmask", s.authed(s.unmaskID))
	mux.HandleFunc("GET /api/tickets/{ref}/events", s.authed(s.listTicketEvents))

	mux.HandleFunc("GET /api/agent/state", s.authed(s.withPanel(s.showAgentState)))
	mux.HandleFunc("POST /api/agent/state", s.authed(s.withPanel(s.setAgentState)))
	mux.HandleFunc("GET /api/agent/call", s.authed(s.withPanel(s.showCurrentCall)))
	mux.HandleFunc("POST /api/agent/transfer", s.authed(s.withPanel(s.transferCall)))
	mux.HandleFunc("POST /api/agents/{id}/state", s.authed(s.supervisorOnly(s.withPanel(s.forceAgentState))))
	mux.HandleFunc("GET /api/wall", s.authed(s.supervisorOnly(s.withPanel(s.showWall))))
	mux.HandleFunc("GET /api/tickets/{ref}/recording", s.authed(s.playRecording))
	mux.HandleFunc("POST /api/tickets/{ref}/reassign", s.authed(s.supervisorOnly(s.reassignTicket)))
	mux.HandleFunc("POST /api/tickets/{ref}/acknowledge", s.authed(s.supervisorOnly(s.acknowledgeEscalation)))

	mux.HandleFunc("GET /api/callbacks", s.authed(s.listCallbacks))
	mux.HandleFunc("POST /api/callbacks/{id}/claim", s.authed(s.claimCallback))

	mux.HandleFunc("POST /api/nuisance", s.authed(s.flagNuisance))
	mux.HandleFunc("DELETE /api/nuisance/{number}", s.authed(s.clearNuisance))
	mux.HandleFunc("GET /api/nuisance/reports", s.authed(s.nuisanceReports))
	mux.HandleFunc("POST /api/nuisance/reports/{id}/dismiss", s.authed(s.dismissNuisanceReport))

	// Anything else under /api/ answers in JSON too, not the mux's text.
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, apiError(http.StatusNotFound, msgRouteUnknown, "method", r.Method, "path", r.URL.Path))
	})
	return mux
}
