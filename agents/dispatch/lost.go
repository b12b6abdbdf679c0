package dispatch

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/configs"
	"github.com/hotline-dev/hotline/ivr"
	"github.com/hotline-dev/hotline/tickets"
)

// liveCalls publishes this node's calls in progress (agents.LiveCall) so
// that, should this node die, the node that reaps it closes their records;
// it keeps its own copy to publish them again after a Redis restart.
type liveCalls struct {
	acd *agents.ACD
	log *slog.Logger

	mu    sync.Mutex
	calls map[string]agents.LiveCall
}

// trackTimeout bounds a Redis write that only matters if the node dies: a
// slow Redis must not hold up the caller.
const trackTimeout = 2 * time.Second

func (l *liveCalls) track(ctx context.Context, c Call) {
	lc := agents.LiveCall{ID: c.ID(), SIPCallID: c.SIPCallID(), Caller: c.Caller(), Dialled: c.Dialled(),
		StartedAt: c.StartedAt(), AnsweredAt: c.AnsweredAt()}
	l.mu.Lock()
	l.calls[lc.ID] = lc
	l.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, trackTimeout)
	defer cancel()
	if err := l.acd.TrackCall(ctx, lc); err != nil {
		l.log.Warn("call not published for the reaper", "call_id", lc.ID, "err", err)
	}
}

// queued adds the queue facts of a tracked call.
func (l *liveCalls) queued(ctx context.Context, e configs.QueueEntry) {
	l.mu.Lock()
	lc, ok := l.calls[e.CallID]
	if ok {
		lc.Category, lc.Priority, lc.QueuedAt = e.Category, e.Priority, e.EnqueuedAt
		l.calls[e.CallID] = lc
	}
	l.mu.Unlock()
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, trackTimeout)
	defer cancel()
	if err := l.acd.TrackQueued(ctx, e.CallID, e.Category, e.Priority, e.EnqueuedAt); err != nil {
		l.log.Warn("queued call not published for the reaper", "call_id", e.CallID, "err", err)
	}
}

// get returns the call's facts as tracked (caller, queue, priority).
func (l *liveCalls) get(callID string) (agents.LiveCall, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.calls[callID]
	return c, ok
}

// untrack forgets a call whose record is written (or spooled).
func (l *liveCalls) untrack(ctx context.Context, callID string) {
	l.mu.Lock()
	delete(l.calls, callID)
	l.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), trackTimeout)
	defer cancel()
	if err := l.acd.UntrackCall(ctx, callID); err != nil {
		l.log.Warn("ended call still published for the reaper", "call_id", callID, "err", err)
	}
}

// republish publishes every call in progress again (after a Redis restart).
func (l *liveCalls) republish(ctx context.Context) {
	l.mu.Lock()
	calls := make([]agents.LiveCall, 0, len(l.calls))
	for _, c := range l.calls {
		calls = append(calls, c)
	}
	l.mu.Unlock()
	for _, c := range calls {
		if err := l.acd.TrackCall(ctx, c); err != nil {
			l.log.Error("re-publish call in progress", "call_id", c.ID, "err", err)
		}
	}
}

// CloseLost writes the records of calls lost with a dead node (pass it as
// agents.ACDOptions.OnLost): ended now by the system, end reason node_lost.
// A call an agent was talking to is an answered call whose draft ticket is
// still due (S12: the agent is in wrap-up); the others failed. A call that
// its node did record after all keeps that record (inserts are idempotent).
func (r *Router) CloseLost(ctx context.Context, calls []agents.LiveCall) {
	now := r.o.Clock.Now()
	for _, c := range calls {
		rec := lostRecord(c, now, r.o.ServiceLevelThreshold)
		if rec.SIPCallID == "" || rec.StartedAt.IsZero() {
			r.log.Error("lost call without its facts: no record", "call_id", c.ID, "node", c.Node)
			continue
		}
		res := ivr.Result{Outcome: rec.Outcome}
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordWriteTimeout)
		err := r.saveRecord(wctx, rec, res)
		cancel()
		if err != nil {
			r.log.Error("record of a lost call not saved", "call_id", c.ID, "node", c.Node, "err", err)
			continue
		}
		r.m.callEnded(rec.Outcome)
		r.log.Warn("closed the record of a call lost with its node", "call_id", c.ID, "node", c.Node,
			"outcome", rec.Outcome, "agent", c.AgentID)
	}
}

func lostRecord(c agents.LiveCall, now time.Time, slt time.Duration) tickets.CallRecord {
	rec := tickets.CallRecord{
		ID: c.ID, SIPCallID: c.SIPCallID, Caller: c.Caller, Dialled: c.Dialled, Node: c.Node,
		Category: c.Category, Priority: c.Priority,
		StartedAt: c.StartedAt, AnsweredAt: c.AnsweredAt, QueuedAt: c.QueuedAt, EndedAt: now,
		Outcome: outcomeFailed, HungUpBy: hungUpBySystem, EndReason: tickets.EndReasonNodeLost,
		AgentID: c.AgentID, ConnectedAt: c.ConnectedAt,
	}
	if c.AgentID != "" && !c.ConnectedAt.IsZero() {
		rec.Outcome = ivr.OutcomeAnswered
	}
	if !rec.QueuedAt.IsZero() {
		until := rec.EndedAt
		if !rec.ConnectedAt.IsZero() {
			until = rec.ConnectedAt
		}
		rec.WaitSeconds = until.Sub(rec.QueuedAt).Seconds()
		rec.WaitExceeded = until.Sub(rec.QueuedAt) > slt
	}
	return rec
}
