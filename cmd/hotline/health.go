package main

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/hotline-dev/hotline/sip"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
)

// health tracks readiness: PostgreSQL and Redis reachable and not draining.
// It is refreshed in the background so /readyz never blocks on a dead database.
type health struct {
	pool *pgxpool.Pool
	rdb  *redis.Client
	sip  *sip.Server

	mu       sync.Mutex
	pgErr    string
	redisErr string
	draining bool
	checked  time.Time
}

func newHealth(pool *pgxpool.Pool, rdb *redis.Client, s *sip.Server) *health {
	h := &health{pool: pool, rdb: rdb, sip: s}
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
	pgErr, redisErr := "", ""
	if err := h.pool.Ping(ctx); err != nil {
		pgErr = firstLine(err)
	}
	if err := h.rdb.Ping(ctx).Err(); err != nil {
		redisErr = firstLine(err)
	}
	h.mu.Lock()
	h.pgErr, h.redisErr, h.checked = pgErr, redisErr, time.Now()
	h.mu.Unlock()
}

func (h *health) setDraining() {
	h.mu.Lock()
	h.draining = true
	h.mu.Unlock()
}

type readiness struct {
	Ready       bool   `json:"ready"`
	PostgreSQL  string `json:"postgresql"`
	Redis       string `json:"redis"`
	Draining    bool   `json:"draining"`
	ActiveCalls int    `json:"active_calls"`
	CheckedAt   string `json:"checked_at"`
}

// serveReady answers /readyz: 200 when ready, 503 with the reason otherwise.
func (h *health) serveReady(w http.ResponseWriter, _ *http.Request) {
	h.mu.Lock()
	r := readiness{PostgreSQL: okOr(h.pgErr), Redis: okOr(h.redisErr), Draining: h.draining,
		ActiveCalls: h.sip.ActiveCalls(), CheckedAt: h.checked.UTC().Format(time.RFC3339)}
	r.Ready = h.pgErr == "" && h.redisErr == "" && !h.draining
	h.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if !r.Ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(r)
}

func okOr(e string) string {
	if e == "" {
		return "ok"
	}
	return e
}
