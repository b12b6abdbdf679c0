package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/ivr"
	"github.com/hotline-dev/hotline/sip"
	"github.com/hotline-dev/hotline/tickets"
	"github.com/prometheus/client_golang/prometheus"
)

// handleCall runs the IVR on an answered call and writes its call record at
// the end, whatever happened (the writer spools it if PostgreSQL is down).
func (a *app) handleCall(ctx context.Context, c *sip.Call) {
	res := ivr.Result{Outcome: "failed"}
	if c.Answered() {
		forget := a.queue.lookAhead(ctx, c.ID(), c.Caller()) // S16, during the greeting and menu
		defer forget()
		res = a.flow.Run(ctx, c)
	} else if c.HungUpBy() == sip.HungUpByCaller {
		res.Outcome = "abandoned_in_menu"
	}
	c.Hangup(context.WithoutCancel(ctx))
	if res.Err != nil {
		c.Logger().Warn("call flow error", "error", res.Err)
	}
	rec := tickets.CallRecord{
		ID: c.ID(), SIPCallID: c.SIPCallID(), Caller: c.Caller(), Dialled: c.Dialled(),
		Category: res.Category, Priority: res.Priority, Node: a.cfg.Node,
		StartedAt: c.StartedAt(), AnsweredAt: c.AnsweredAt(), QueuedAt: res.QueuedAt, EndedAt: c.EndedAt(),
		Outcome: res.Outcome, HungUpBy: c.HungUpBy(),
		AgentID: res.AgentID, ConnectedAt: res.ConnectedAt, RecordingPath: c.Recording(),
		TransferredTo: strings.Join(res.Transfers, ","),
	}
	if res.AgentHungUp {
		rec.HungUpBy = "agent" // S11
	}
	if !rec.QueuedAt.IsZero() {
		// S1: the caller's total wait in the queue, to the agent or to the end.
		until := rec.EndedAt
		if !rec.ConnectedAt.IsZero() {
			until = rec.ConnectedAt
		}
		wait := until.Sub(rec.QueuedAt)
		rec.WaitSeconds = wait.Seconds()
		rec.WaitExceeded = wait > time.Duration(a.cfg.ACD.ServiceLevelThreshold)
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := a.saveRecord(wctx, rec, res); err != nil {
		c.Logger().Error("call record not saved", "error", err)
		return
	}
	a.metrics.callEnded(res.Outcome)
	c.Logger().Info("call record saved", "outcome", rec.Outcome, "category", rec.Category, "hung_up_by", rec.HungUpBy)
}

// saveRecord writes the call record; an answered call also gets its draft
// ticket in the same transaction (S12), and the survey score (S18).
func (a *app) saveRecord(ctx context.Context, rec tickets.CallRecord, res ivr.Result) error {
	if rec.Outcome != ivr.OutcomeAnswered {
		return a.writer.SaveCall(ctx, rec)
	}
	facts := tickets.DraftFacts{Ref: res.TicketRef, WaitSeconds: int(rec.WaitSeconds + 0.5)}
	if err := a.writer.SaveAnsweredCall(ctx, rec, facts); err != nil {
		return err
	}
	if res.SurveyScore != 0 {
		if _, err := a.store.RecordSurvey(ctx, rec.ID, res.SurveyScore); err != nil {
			return fmt.Errorf("survey score %d: %w", res.SurveyScore, err)
		}
	}
	return nil
}

// queueAdapter lets the IVR use the agents' Redis queue, and remembers this
// node's waiting callers with their original enqueue times so they can be
// re-published after a Redis restart.
type queueAdapter struct {
	q      *agents.Queue
	store  *tickets.Store
	repeat time.Duration
	logger *slog.Logger
	mu     sync.Mutex
	local  map[string]agents.Entry
	// lookups are the S16 owner lookups of calls in progress (owner.go).
	lookups map[string]*ownerLookup
	// ownerLate counts callers queued without waiting any longer for theirs.
	ownerLate prometheus.Counter
	// joined, when set, runs after a caller is in the queue (the
	// dispatcher's poke: try a match now, not at the next tick).
	joined func()
}

func newQueueAdapter(q *agents.Queue, store *tickets.Store, repeat time.Duration, log *slog.Logger, ownerLate prometheus.Counter) *queueAdapter {
	return &queueAdapter{q: q, store: store, repeat: repeat, logger: log, ownerLate: ownerLate,
		local: map[string]agents.Entry{}, lookups: map[string]*ownerLookup{}}
}

func (a *queueAdapter) Enqueue(ctx context.Context, e ivr.QueueEntry) error {
	en := agents.Entry{CallID: e.CallID, Caller: e.Caller, Category: e.Category,
		Priority: e.Priority, EnqueuedAt: e.EnqueuedAt, Owner: e.Owner}
	// S16: a repeat caller with an open ticket goes to its owner first
	// (looked up since the answer: lookAhead).
	if en.Owner == "" {
		en.Owner = a.owner(ctx, e.CallID, e.Caller)
	}
	a.mu.Lock()
	a.local[e.CallID] = en
	a.mu.Unlock()
	if err := a.q.Enqueue(ctx, en); err != nil {
		return err
	}
	if a.joined != nil {
		a.joined()
	}
	return nil
}

func (a *queueAdapter) Position(ctx context.Context, category, callID string) (int, error) {
	pos, err := a.q.Position(ctx, category, callID)
	if errors.Is(err, agents.ErrNotQueued) {
		return 0, fmt.Errorf("%w: %w", ivr.ErrNotQueued, err)
	}
	return pos, err
}

func (a *queueAdapter) EstimatedWait(ctx context.Context, category string, position int) (time.Duration, error) {
	return a.q.EstimatedWait(ctx, category, position)
}

func (a *queueAdapter) Remove(ctx context.Context, category, callID string) error {
	a.forget(callID)
	return a.q.Remove(ctx, category, callID)
}

// forget drops a caller who left the queue (removed, or answered by an agent).
func (a *queueAdapter) forget(callID string) {
	a.mu.Lock()
	delete(a.local, callID)
	a.mu.Unlock()
}

func (a *queueAdapter) entries() []agents.Entry {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]agents.Entry, 0, len(a.local))
	for _, e := range a.local {
		out = append(out, e)
	}
	return out
}

// recordsAdapter stores the IVR's callback requests through the record writer.
type recordsAdapter struct{ w *tickets.Writer }

func (a recordsAdapter) RequestCallback(ctx context.Context, r ivr.CallbackRequest) error {
	return a.w.SaveCallback(ctx, tickets.CallbackRequest{CallID: r.CallID, Caller: r.Caller,
		Category: r.Category, Reason: r.Reason, RequestedAt: r.RequestedAt})
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
