package main

import (
	"context"
	"time"
)

// First contact (S16) needs the owner of a repeat caller's open ticket
// before the caller is queued. The lookup is a PostgreSQL query; made at
// the moment of queueing, it put the database on the path from the menu key
// to the agent, and when the record writers kept the pool busy (a few
// hundred hang-ups a second on a loaded machine) callers waited for a
// connection: up to 0.8 s each in the bridged-call bench at 250 calls/s,
// late for the agent and the staff number. So the lookup starts when the call is answered
// and runs during the greeting and the menu; queueing waits for it at most
// ownerWaitMax, and a caller whose lookup is later than that is queued
// without the preference rather than kept from every agent.
const (
	ownerWaitMax       = 300 * time.Millisecond
	ownerLookupTimeout = 10 * time.Second
)

// ownerLookup is one caller's S16 lookup; owner is set before done closes.
type ownerLookup struct {
	done  chan struct{}
	owner string
}

// lookAhead starts the S16 lookup for a call about to go through the menu;
// the returned function drops it once the call has ended.
func (a *queueAdapter) lookAhead(ctx context.Context, callID, caller string) func() {
	l := a.lookup(ctx, callID, caller)
	a.mu.Lock()
	a.lookups[callID] = l
	a.mu.Unlock()
	return func() {
		a.mu.Lock()
		delete(a.lookups, callID)
		a.mu.Unlock()
	}
}

// lookup runs one caller's S16 lookup in the background.
func (a *queueAdapter) lookup(ctx context.Context, callID, caller string) *ownerLookup {
	l := &ownerLookup{done: make(chan struct{})}
	go func() {
		defer close(l.done)
		lctx, cancel := context.WithTimeout(ctx, ownerLookupTimeout)
		defer cancel()
		k, ok, err := a.store.OpenTicketForCaller(lctx, caller, a.repeat)
		switch {
		case err != nil && lctx.Err() == nil:
			a.logger.Warn("open ticket of a repeat caller not found out; queued without its owner (S16)", "call_id", callID, "err", err)
		case ok:
			l.owner = k.OwnerAgent
		}
	}()
	return l
}

// owner is the agent a caller goes to first (S16), or "" — also when the
// lookup has not answered within ownerWaitMax.
func (a *queueAdapter) owner(ctx context.Context, callID, caller string) string {
	a.mu.Lock()
	l := a.lookups[callID] // a re-queue reuses the call's answer
	a.mu.Unlock()
	if l == nil {
		l = a.lookup(ctx, callID, caller)
	}
	t := time.NewTimer(ownerWaitMax)
	defer t.Stop()
	select {
	case <-l.done:
		return l.owner
	case <-t.C:
		a.ownerLate.Inc()
		a.logger.Warn("open-ticket lookup slower than its bound; caller queued without its owner preference (S16)",
			"call_id", callID, "bound", ownerWaitMax)
		return ""
	case <-ctx.Done():
		return ""
	}
}
