package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

// serve runs the node until SIGINT/SIGTERM: the first signal drains (new calls
// get 503, calls in progress finish), a second one hangs up everything.
func serve(cfg Config) error {
	logw := newLogWriter(os.Stderr)
	defer logw.Close() // last, after the app's own shutdown lines
	log := newLogger(logw, cfg.LogLevel)
	slog.SetDefault(log)
	cfg.Runtime.apply(log)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	a, err := newApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.close()

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	return a.run(ctx, sigs)
}

// run starts every goroutine and owns them until shutdown.
func (a *app) run(ctx context.Context, sigs <-chan os.Signal) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 5)
	go func() { errc <- a.pacer.Run(ctx) }()
	wctx, wcancel := context.WithCancel(context.WithoutCancel(ctx))
	wdone := make(chan error, 1)
	go func() { wdone <- a.writer.Run(wctx) }()
	go func() { errc <- a.sip.Run(ctx) }()
	a.runAgents(ctx)
	go func() {
		if err := a.sweeper.Run(ctx); err != nil && ctx.Err() == nil {
			a.log.Error("ticket sweeper stopped", "err", err)
		}
	}()
	httpSrvs, err := a.startHTTP(ctx, errc)
	if err != nil {
		cancel()
		wcancel()
		return err
	}
	select {
	case <-a.sip.Ready():
	case err := <-errc:
		cancel()
		wcancel()
		return err
	}
	go a.health.run(ctx)
	close(a.ready)
	tls := ""
	if addr := a.sip.TLSAddr(); addr != nil {
		tls = fmt.Sprintf(", tls %s", addr)
	}
	fmt.Fprintf(os.Stderr, "hotline %s ready: SIP udp %s and tcp %s%s (dial %s), API http://%s/api/, ops http://%s (/metrics /healthz /readyz)\n",
		a.cfg.Node, a.sip.UDPAddr(), a.sip.TCPAddr(), tls, a.cfg.SIP.Hotline, a.httpAddr, a.opsAddr)

	var runErr error
	select {
	case <-sigs:
		a.drain(sigs)
	case runErr = <-errc:
	}
	cancel()
	shutdownHTTP(httpSrvs...)
	// The writer outlives the calls: their records are written (or spooled) first.
	wcancel()
	<-wdone
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		return runErr
	}
	return nil
}

// drain refuses new calls and waits for calls in progress; a second signal
// hangs up everything.
func (a *app) drain(sigs <-chan os.Signal) {
	a.beginDrain()
	n := a.sip.ActiveCalls()
	a.log.Info("draining: new calls get 503; waiting for calls in progress (signal again to hang up all)", "calls", n)
	waitCtx, stop := context.WithCancel(context.Background())
	defer stop()
	// Callbacks in progress are outbound calls, waited for like the others
	// (none starts once the drain began); a second signal ends them with the
	// node's context.
	cbCtx, cbStop := context.WithCancel(waitCtx)
	defer cbStop()
	go func() {
		select {
		case <-sigs:
			a.log.Warn("second signal: hanging up every call")
			a.sip.HangupAll()
			cbStop()
		case <-waitCtx.Done():
		}
	}()
	_ = a.sip.Wait(waitCtx)
	a.router.DrainCallbacks(cbCtx)
	a.log.Info("drained")
}

// beginDrain refuses new calls (503) and turns /readyz false.
func (a *app) beginDrain() {
	a.sip.Drain()
	a.health.setDraining()
}
