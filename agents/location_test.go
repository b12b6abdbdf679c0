package agents

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/agents/redistest"
	"github.com/hotline-dev/hotline/sip/siptest/poll"
)

// changeLog records OnChange calls.
type changeLog struct {
	mu  sync.Mutex
	got []string
}

func (c *changeLog) hook(id string, registered bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := "-" + id
	if registered {
		s = "+" + id
	}
	c.got = append(c.got, s)
}

func (c *changeLog) events() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.got)
}

func newTestLocations(t *testing.T) (*Locations, *changeLog) {
	t.Helper()
	rdb, prefix := redistest.New(t)
	log := &changeLog{}
	l := NewLocations(rdb, prefix, LocationsOptions{OnChange: log.hook})
	return l, log
}

func binding(id, contact string, expires time.Duration) Registration {
	return Registration{AgentID: id, Contact: contact, Transport: "UDP", Node: "node-a",
		Source: "127.0.0.1:5062", UserAgent: "softphone", Expires: expires}
}

func TestLocationsRegisterLookupReplace(t *testing.T) {
	l, log := newTestLocations(t)
	ctx := context.Background()
	if err := l.Register(ctx, binding("1001", "sip:1001@10.0.0.5:5062", time.Minute)); err != nil {
		t.Fatalf("register: %v", err)
	}
	// A new registration replaces the old contact (one contact per agent).
	if err := l.Register(ctx, binding("1001", "sip:1001@10.0.0.6:5062;transport=tcp", time.Minute)); err != nil {
		t.Fatalf("re-register: %v", err)
	}
	got, err := l.Lookup(ctx, "1001")
	if err != nil {
		t.Fatalf("lookup: %v", err)
	}
	if got.Contact != "sip:1001@10.0.0.6:5062;transport=tcp" || got.Node != "node-a" ||
		got.Expires != time.Minute || time.Since(got.RegisteredAt) > 5*time.Second {
		t.Fatalf("lookup = %+v", got)
	}
	if _, err := l.Lookup(ctx, "1002"); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("lookup of unregistered agent: %v, want ErrNotRegistered", err)
	}
	if ev := log.events(); !slices.Equal(ev, []string{"+1001"}) {
		t.Fatalf("OnChange events %v, want [+1001] (a refresh is no change)", ev)
	}
}

func TestLocationsUnregister(t *testing.T) {
	tests := []struct {
		name     string
		contact  string
		removed  bool
		wantHook []string
	}{
		{"same contact", "sip:1001@10.0.0.5:5062", true, []string{"+1001", "-1001"}},
		{"wildcard", "*", true, []string{"+1001", "-1001"}},
		{"stale other contact keeps the binding", "sip:1001@10.9.9.9:5062", false, []string{"+1001"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, log := newTestLocations(t)
			ctx := context.Background()
			if err := l.Register(ctx, binding("1001", "sip:1001@10.0.0.5:5062", time.Minute)); err != nil {
				t.Fatalf("register: %v", err)
			}
			if err := l.Unregister(ctx, "1001", tt.contact); err != nil {
				t.Fatalf("unregister: %v", err)
			}
			_, err := l.Lookup(ctx, "1001")
			if removed := errors.Is(err, ErrNotRegistered); removed != tt.removed {
				t.Fatalf("after unregister lookup err = %v, want removed=%v", err, tt.removed)
			}
			if ev := log.events(); !slices.Equal(ev, tt.wantHook) {
				t.Fatalf("OnChange events %v, want %v", ev, tt.wantHook)
			}
			if err := l.Unregister(ctx, "1001", "*"); err != nil {
				t.Fatalf("unregister again: %v", err)
			}
		})
	}
}

func TestLocationsExpiryAndSweep(t *testing.T) {
	l, log := newTestLocations(t)
	ctx := context.Background()
	if err := l.Register(ctx, binding("1001", "sip:1001@10.0.0.5:5062", 150*time.Millisecond)); err != nil {
		t.Fatalf("register: %v", err)
	}
	if err := l.Register(ctx, binding("1002", "sip:1002@10.0.0.7:5062", time.Minute)); err != nil {
		t.Fatalf("register: %v", err)
	}
	regs, err := l.Registered(ctx)
	if err != nil || len(regs) != 2 || regs[0].AgentID != "1001" || regs[1].AgentID != "1002" {
		t.Fatalf("registered = %+v, %v; want 1001 then 1002", regs, err)
	}
	time.Sleep(300 * time.Millisecond)
	if _, err := l.Lookup(ctx, "1001"); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("lookup after TTL: %v, want ErrNotRegistered", err)
	}
	regs, err = l.Registered(ctx)
	if err != nil || len(regs) != 1 || regs[0].AgentID != "1002" {
		t.Fatalf("registered after expiry = %+v, %v; want only 1002", regs, err)
	}
	gone, err := l.Sweep(ctx)
	if err != nil || !slices.Equal(gone, []string{"1001"}) {
		t.Fatalf("sweep = %v, %v; want [1001]", gone, err)
	}
	if gone, err = l.Sweep(ctx); err != nil || len(gone) != 0 {
		t.Fatalf("second sweep = %v, %v; want nothing (each expiry reported once)", gone, err)
	}
	if ev := log.events(); !slices.Equal(ev, []string{"+1001", "+1002", "-1001"}) {
		t.Fatalf("OnChange events %v", ev)
	}
}

func TestLocationsRunSweeps(t *testing.T) {
	l, log := newTestLocations(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	sweepErrs := make(chan error, 100)
	go func() { done <- l.Run(ctx, 50*time.Millisecond, func(err error) { sweepErrs <- err }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	if err := l.Register(ctx, binding("1001", "sip:1001@10.0.0.5:5062", 100*time.Millisecond)); err != nil {
		t.Fatalf("register: %v", err)
	}
	poll.Until(t, "Run to report the expiry of 1001", func() bool { return slices.Contains(log.events(), "-1001") })
	if len(sweepErrs) > 0 {
		t.Fatalf("sweep: %v", <-sweepErrs)
	}
}

func TestLocationsRegisterRejectsIncomplete(t *testing.T) {
	l, _ := newTestLocations(t)
	tests := []struct {
		name string
		r    Registration
	}{
		{"no agent", binding("", "sip:x@h", time.Minute)},
		{"no contact", binding("1001", "", time.Minute)},
		{"no expiry", binding("1001", "sip:x@h", 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := l.Register(context.Background(), tt.r); err == nil {
				t.Fatal("register accepted an incomplete binding")
			}
		})
	}
}
