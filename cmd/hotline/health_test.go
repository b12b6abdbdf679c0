package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/tickets"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
)

type fixedCalls int

func (n fixedCalls) ActiveCalls() int { return int(n) }

// /readyz names the dependency that is down, never its address or the
// driver's error (those go to the log), and says degraded when the calendar
// has no holidays for next year from 1 December (S9).
func TestReadyzNamesDependenciesNotAddresses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close() // nothing listens there any more: connections are refused
	pool, err := pgxpool.New(context.Background(), "postgres://x@"+dead+"/x?connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	rdb := redis.NewClient(&redis.Options{Addr: dead})
	defer rdb.Close()
	w, err := tickets.NewWriter(pool, tickets.WriterOptions{SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	cal, err := tickets.LoadCalendar("../../configs/calendar.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	h := newHealth(pool, rdb, fixedCalls(3), w, cal, slog.New(slog.NewTextHandler(&logs, nil)))
	rec := httptest.NewRecorder()
	h.serveReady(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 503 {
		t.Fatalf("status %d, want 503", rec.Code)
	}
	body := rec.Body.String()
	var r readiness
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	if r.Ready || r.Status != stateDown || r.PostgreSQL != stateDown || r.Redis != stateDown || r.ActiveCalls != 3 {
		t.Fatalf("readiness %+v", r)
	}
	_, port, _ := net.SplitHostPort(dead)
	for _, leak := range []string{"127.0.0.1", port, "dial", "refused"} {
		if strings.Contains(body, leak) {
			t.Errorf("/readyz body %s names %q", body, leak)
		}
	}
	if !strings.Contains(logs.String(), "readiness: postgresql down") || !strings.Contains(logs.String(), "readiness: redis down") {
		t.Errorf("the log does not say what is down:\n%s", logs.String())
	}
	want := stateOK
	if cal.CheckCoverage(time.Now()) != nil {
		want = stateDegraded
	}
	if r.Calendar != want || r.RecordSpool != stateOK {
		t.Errorf("calendar %q, record spool %q; want %q and ok", r.Calendar, r.RecordSpool, want)
	}
}
