package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/hotline-dev/hotline/tickets"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
)

// health tracks readiness: PostgreSQL and Redis reachable, records not piling
// up in the spool, and the node not draining. It is refreshed in the
// background so /readyz never blocks on a dead database. The body names what
// is wrong, never an address or an internal error: those go to the log.
type health struct {
	pool   *pgxpool.Pool
	rdb    *redis.Client
	sip    interface{ ActiveCalls() int }
	writer *tickets.Writer
	cal    *tickets.Calendar
	log    *slog.Logger

	mu       sync.Mutex
	state    readiness
	draining bool
}

// Dependency states in /readyz.
const (
	stateOK       = "ok"
	stateDown     = "down"
	stateDegraded = "degraded"
)

type readiness struct {
	Ready bool `json:"ready"`
	// Status is "ok", "degraded" (ready, but something needs an operator)
	// or "down" (not taking calls).
	Status      string `json:"status"`
	PostgreSQL  string `json:"postgresql"`
	Redis       string `json:"redis"`
	RecordSpool string `json:"record_spool"` // degraded: records wait to be written
	Calendar    string `json:"calendar"`     // degraded: holidays of next year missing (S9)
	Draining    bool   `json:"draining"`
	ActiveCalls int    `json:"active_calls"`
	CheckedAt   string `json:"checked_at"`
}

func newHealth(pool *pgxpool.Pool, rdb *redis.Client, s interface{ ActiveCalls() int }, w *tickets.Writer, cal *tickets.Calendar, log *slog.Logger) *health {
	h := &health{pool: pool, rdb: rdb, sip: s, writer: w, cal: cal, log: log.With("component", "health")}
	h.check(context.Background())
	return h
}

func (h *health) run(ctx context.Context) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			h.check(ctx)
		}
	}
}

func (h *health) check(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	now := time.Now()
	h.mu.Lock()
	prev := h.state // check alone writes state, so prev is stable
	h.mu.Unlock()
	r := readiness{
		PostgreSQL:  h.verdict("postgresql", prev.PostgreSQL, stateDown, h.pool.Ping(ctx)),
		Redis:       h.verdict("redis", prev.Redis, stateDown, h.rdb.Ping(ctx).Err()),
		RecordSpool: h.verdict("record spool", prev.RecordSpool, stateDegraded, h.writer.CheckSpool(now)),
		Calendar:    h.verdict("calendar", prev.Calendar, stateDegraded, h.cal.CheckCoverage(now)),
		CheckedAt:   now.UTC().Format(time.RFC3339),
	}
	h.mu.Lock()
	h.state = r
	h.mu.Unlock()
}

// verdict is a dependency's state; a change from prev is logged with the error.
func (h *health) verdict(what, prev, bad string, err error) string {
	st := stateOK
	if err != nil {
		st = bad
	}
	switch {
	case st != prev && err != nil:
		h.log.Warn("readiness: "+what+" "+st, "err", firstLine(err))
	case st != prev && prev != "":
		h.log.Info("readiness: " + what + " ok again")
	}
	return st
}

func (h *health) setDraining() {
	h.mu.Lock()
	h.draining = true
	h.mu.Unlock()
}

// readiness is the last check's verdict with the draining flag and the
// calls in progress.
func (h *health) readiness() readiness {
	h.mu.Lock()
	r := h.state
	r.Draining = h.draining
	h.mu.Unlock()
	r.ActiveCalls = h.sip.ActiveCalls()
	r.Ready = r.PostgreSQL == stateOK && r.Redis == stateOK && !r.Draining
	switch {
	case !r.Ready:
		r.Status = stateDown
	case r.RecordSpool != stateOK || r.Calendar != stateOK:
		r.Status = stateDegraded
	default:
		r.Status = stateOK
	}
	return r
}

// serveReady answers /readyz: 200 when the node takes calls (a degraded
// spool or calendar is reported but does not stop calls), 503 otherwise.
func (h *health) serveReady(w http.ResponseWriter, _ *http.Request) {
	r := h.readiness()
	w.Header().Set("Content-Type", "application/json")
	if !r.Ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(r)
}
