package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/hotline-dev/hotline/tickets/api"
	"github.com/hotline-dev/hotline/tickets/panel"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// startHTTP binds the API and ops listeners (a port in use is an error at
// once) and serves them until shutdownHTTP.
func (a *app) startHTTP(ctx context.Context, errc chan<- error) ([]*http.Server, error) {
	apiMux := http.NewServeMux()
	apiOpts := api.Options{
		Store: a.store, Auth: a.dir, Sessions: a.rdb, Prefix: a.cfg.Queue.KeyPrefix,
		Unmasker: api.NewPGUnmasker(a.pool, a.keyring), Indexer: a.keyring,
		Logger: a.log, Metrics: api.NewMetrics(a.reg), Submitted: a.router.TicketSubmitted,
		Config: &a.cfg.API, Panel: a.router, RecordingsDir: a.cfg.Recording.Dir,
		Callbacks: a.store, CallbackCategory: a.cfg.Callbacks.DefaultCategory, Claimed: a.router.PokeCallbacks,
	}
	apiMux.Handle("/api/", api.New(apiOpts))
	apiMux.Handle("/", a.panel(ctx, apiOpts))
	var tlsConf *tls.Config
	if a.cfg.API.ServesTLS() {
		var err error
		if tlsConf, err = a.cfg.API.TLSConfig(); err != nil {
			return nil, err
		}
	}
	apiSrv, err := serveHTTP(ctx, "http", a.cfg.HTTP.Listen, apiMux, tlsConf, errc)
	if err != nil {
		return nil, err
	}
	opsSrv, err := serveHTTP(ctx, "ops http", a.cfg.HTTP.OpsListen, a.opsMux(), nil, errc)
	if err != nil {
		shutdownHTTP(apiSrv)
		return nil, err
	}
	a.httpAddr, a.opsAddr = apiSrv.Addr, opsSrv.Addr
	return []*http.Server{apiSrv, opsSrv}, nil
}

// panel serves the browser panel beside the API, on its sessions, fed by
// one subscription of this node to every node's ACD events.
func (a *app) panel(ctx context.Context, apiOpts api.Options) http.Handler {
	hub := panel.NewHub(panel.HubConfig{}, a.log, panel.NewMetrics(a.reg))
	go func() { _ = hub.Run(ctx, a.acd.SubscribeRaw) }()
	return panel.New(panel.Options{Auth: api.NewSessions(apiOpts), Hub: hub,
		GrafanaURL: a.cfg.Panel.GrafanaURL, Dashboards: panel.DefaultDashboards, Logger: a.log})
}

// opsMux is the operators' side: metrics, liveness, readiness, profiler.
func (a *app) opsMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{Registry: a.reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", a.health.serveReady)
	if a.cfg.HTTP.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// serveHTTP serves h on addr, over TLS when tc is set.
func serveHTTP(ctx context.Context, what, addr string, h http.Handler, tc *tls.Config, errc chan<- error) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s %s: %w", what, addr, err)
	}
	if tc != nil {
		ln = tls.NewListener(ln, tc)
	}
	srv := &http.Server{Addr: ln.Addr().String(), Handler: h, ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute,
		MaxHeaderBytes: 64 << 10, BaseContext: func(net.Listener) context.Context { return ctx }}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("%s: %w", what, err)
		}
	}()
	return srv, nil
}

func shutdownHTTP(srvs ...*http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range srvs {
		_ = srv.Shutdown(ctx)
	}
}

// firstLine keeps an error to one line for logs and the terminal.
func firstLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
