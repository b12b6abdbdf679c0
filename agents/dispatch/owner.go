package dispatch

import (
	"context"
	"time"

	"github.com/hotline-dev/hotline/tickets"
)

// First contact (S16) needs the owner of a repeat caller's open ticket
// before the caller is queued. The lookup is a PostgreSQL query, kept off
// the path from the menu key to the agent: it starts when the call is
// answered and runs during the greeting and the menu; queueing waits for it
// at most ownerWaitMax, and a caller whose lookup is later than that is
// queued without the preference rather than kept from every agent.
const (
	ownerWaitMax       = 300 * time.Millisecond
	ownerLookupTimeout = 10 * time.Second
)

// maxOpenTickets bounds the repeat caller's open tickets looked up and
// shown on the agent's screen pop (S16).
const maxOpenTickets = 5

// ownerLookup is one caller's S16 lookup; owner and open are set before
// done closes.
type ownerLookup struct {
	done  chan struct{}
	owner string
	open  []tickets.Ticket // newest first: the screen pop shows them
}

// lookAhead starts the S16 lookup for a call about to go through the menu;
// the returned function drops it once the call has ended.
func (q *queue) lookAhead(ctx context.Context, callID, caller string) func() {
	l := q.lookup(ctx, callID, caller)
	q.mu.Lock()
	q.lookups[callID] = l
	q.mu.Unlock()
	return func() {
		q.mu.Lock()
		delete(q.lookups, callID)
		q.mu.Unlock()
	}
}

// lookup runs one caller's S16 lookup in the background.
func (q *queue) lookup(ctx context.Context, callID, caller string) *ownerLookup {
	l := &ownerLookup{done: make(chan struct{})}
	go func() {
		defer close(l.done)
		lctx, cancel := context.WithTimeout(ctx, ownerLookupTimeout)
		defer cancel()
		open, err := q.tickets.OpenTicketsForCaller(lctx, caller, q.repeat, maxOpenTickets)
		switch {
		case err != nil && lctx.Err() == nil:
			q.log.Warn("open ticket of a repeat caller not found out; queued without its owner (S16)", "call_id", callID, "err", err)
		case len(open) > 0:
			l.owner, l.open = open[0].OwnerAgent, open
		}
	}()
	return l
}

// owner is the agent a caller goes to first (S16), or "" — also when the
// lookup has not answered within ownerWaitMax.
func (q *queue) owner(ctx context.Context, callID, caller string) string {
	q.mu.Lock()
	l := q.lookups[callID] // a re-queue reuses the call's answer
	q.mu.Unlock()
	if l == nil {
		l = q.lookup(ctx, callID, caller)
	}
	t := time.NewTimer(ownerWaitMax)
	defer t.Stop()
	select {
	case <-l.done:
		return l.owner
	case <-t.C:
		q.ownerLate.Inc()
		q.log.Warn("open-ticket lookup slower than its bound; caller queued without its owner preference (S16)",
			"call_id", callID, "bound", ownerWaitMax)
		return ""
	case <-ctx.Done():
		return ""
	}
}

// openTickets are the caller's open tickets the S16 lookup found, if it
// has answered (the screen pop never waits for it).
func (q *queue) openTickets(callID string) []tickets.Ticket {
	q.mu.Lock()
	l := q.lookups[callID]
	q.mu.Unlock()
	if l == nil {
		return nil
	}
	select {
	case <-l.done:
		return l.open
	default:
		return nil
	}
}
