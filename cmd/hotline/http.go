package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/hotline-dev/hotline/tickets/api"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// startHTTP binds the ops server (a port in use is an error at once) and serves
// /metrics, /healthz and /readyz.
func (a *app) startHTTP(ctx context.Context, errc chan<- error) (*http.Server, error) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{Registry: a.reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", a.health.serveReady)
	// The tickets API for the panel and integrations.
	mux.Handle("/api/", api.New(api.Options{
		Store: a.store, Auth: a.dir, Sessions: a.rdb, Prefix: a.cfg.Queue.KeyPrefix,
		Unmasker: api.NewPGUnmasker(a.pool, a.keyring), Indexer: a.keyring,
		Logger: a.log, Metrics: api.NewMetrics(a.reg), Submitted: a.router.TicketSubmitted,
	}))
	if a.cfg.HTTP.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	ln, err := net.Listen("tcp", a.cfg.HTTP.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen http %s: %w", a.cfg.HTTP.Listen, err)
	}
	srv := &http.Server{Addr: ln.Addr().String(), Handler: mux, ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http: %w", err)
		}
	}()
	return srv, nil
}

func shutdownHTTP(srv *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
}

// firstLine keeps an error to one line for logs and the terminal.
func firstLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
