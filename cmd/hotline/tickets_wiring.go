package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hotline-dev/hotline/tickets"
)

// wireTickets builds the ticket store (S12–S18, S20, S21), the keyring for ID
// numbers (S4, S5) and the breach sweeper (S14, S15).
func (a *app) wireTickets(cal *tickets.Calendar, m *tickets.Metrics) error {
	cfg := a.cfg
	if cfg.SecretKey == "" {
		return errors.New("HOTLINE_SECRET_KEY is not set: ID numbers are encrypted with it (S5); " +
			"generate one with `openssl rand -base64 32` (make run keeps one in .data/secret.key)")
	}
	kr, err := tickets.ParseKeyring(cfg.SecretKey)
	if err != nil {
		return fmt.Errorf("HOTLINE_SECRET_KEY: %w", err)
	}
	rules, err := tickets.LoadDeadlineRules(cfg.Tickets.DeadlinesFile)
	if err != nil {
		return err
	}
	store, err := tickets.NewStore(a.pool, tickets.StoreOptions{EntryWindow: time.Duration(cfg.Tickets.EntryWindow),
		Rules: rules, Calendar: cal, IDs: kr, Metrics: m, Logger: a.log})
	if err != nil {
		return err
	}
	alerts := tickets.NewAlertBuffer(1000)
	sw, err := tickets.NewSweeper(a.pool, tickets.SweeperOptions{Rules: rules,
		Notifier: tickets.Notifiers{tickets.NewLogNotifier(a.log), alerts, panelAlerts{a}},
		Interval: time.Duration(cfg.Tickets.SweepInterval), Metrics: m, Logger: a.log})
	if err != nil {
		return err
	}
	a.keyring, a.rules, a.store, a.sweeper, a.alerts = kr, rules, store, sw, alerts
	return nil
}

// panelAlerts passes the sweeper's alerts to routing, which publishes them
// to the panels (the router is built after the sweeper).
type panelAlerts struct{ a *app }

func (p panelAlerts) Notify(ctx context.Context, al tickets.Alert) { p.a.router.Notify(ctx, al) }
