package dispatch

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/hotline-dev/hotline/ivr"
	"github.com/hotline-dev/hotline/tickets"
)

// Call is an answered (or abandoned) caller leg with the facts its record
// keeps: a *sip.Call.
type Call interface {
	ivr.Call
	SIPCallID() string
	Dialled() string
	Answered() bool
	StartedAt() time.Time
	AnsweredAt() time.Time
	EndedAt() time.Time
	HungUpBy() string
	EndReason() string
	Recording() string
	Hangup(ctx context.Context)
	Logger() *slog.Logger
}

// How a call ended for the record; the IVR's outcomes add to these.
const (
	outcomeFailed          = "failed"
	outcomeAbandonedInMenu = "abandoned_in_menu"
	hungUpByCaller         = "caller"
	hungUpByAgent          = "agent"
	hungUpBySystem         = "system"
)

// recordWriteTimeout bounds writing one call's record; the writer spools
// it when PostgreSQL does not answer in time.
const recordWriteTimeout = 10 * time.Second

// HandleCall runs the IVR on an answered call and writes its call record
// at the end, whatever happened (the writer spools it if PostgreSQL is down).
func (r *Router) HandleCall(ctx context.Context, c Call) {
	res := ivr.Result{Outcome: outcomeFailed}
	if c.Answered() {
		r.live.track(ctx, c)
		defer r.live.untrack(ctx, c.ID())                    // after the record is saved or spooled
		defer r.talks.remove(c.ID(), nil)                    // a conversation that never talked
		defer r.pops.ended(c.ID())                           // rung but never answered
		forget := r.queue.lookAhead(ctx, c.ID(), c.Caller()) // S16, during the greeting and menu
		defer forget()
		res = r.flow.Run(ctx, c)
	} else if c.HungUpBy() == hungUpByCaller {
		res.Outcome = outcomeAbandonedInMenu
	}
	c.Hangup(context.WithoutCancel(ctx))
	if res.Err != nil {
		c.Logger().Warn("call flow error", "error", res.Err)
	}
	rec := r.record(c, res)
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordWriteTimeout)
	defer cancel()
	if err := r.saveRecord(wctx, rec, res); err != nil {
		c.Logger().Error("call record not saved", "error", err)
		return
	}
	r.m.callEnded(res.Outcome)
	c.Logger().Info("call record saved", "outcome", rec.Outcome, "category", rec.Category, "hung_up_by", rec.HungUpBy)
}

// record is the call's record from the leg's facts and what the IVR did.
func (r *Router) record(c Call, res ivr.Result) tickets.CallRecord {
	rec := tickets.CallRecord{
		ID: c.ID(), SIPCallID: c.SIPCallID(), Caller: c.Caller(), Dialled: c.Dialled(),
		Category: res.Category, Priority: res.Priority, Node: r.o.Node,
		StartedAt: c.StartedAt(), AnsweredAt: c.AnsweredAt(), QueuedAt: res.QueuedAt, EndedAt: c.EndedAt(),
		Outcome: res.Outcome, HungUpBy: c.HungUpBy(),
		AgentID: res.AgentID, ConnectedAt: res.ConnectedAt, RecordingPath: c.Recording(),
		TransferredTo: strings.Join(res.Transfers, ","), EndReason: c.EndReason(), Language: res.Language,
	}
	if res.AgentHungUp {
		rec.HungUpBy = hungUpByAgent // S11
	}
	if !rec.QueuedAt.IsZero() {
		// S1: the caller's total wait in the queue, to the agent or to the end.
		until := rec.EndedAt
		if !rec.ConnectedAt.IsZero() {
			until = rec.ConnectedAt
		}
		wait := until.Sub(rec.QueuedAt)
		rec.WaitSeconds = wait.Seconds()
		rec.WaitExceeded = wait > r.o.ServiceLevelThreshold
	}
	return rec
}

// saveRecord writes the call record; an answered call also gets its draft
// ticket in the same transaction (S12), and the survey score (S18).
func (r *Router) saveRecord(ctx context.Context, rec tickets.CallRecord, res ivr.Result) error {
	if rec.Outcome != ivr.OutcomeAnswered {
		return r.o.Records.SaveCall(ctx, rec)
	}
	facts := tickets.DraftFacts{Ref: res.TicketRef, WaitSeconds: int(rec.WaitSeconds + 0.5)}
	if err := r.o.Records.SaveAnsweredCall(ctx, rec, facts); err != nil {
		return err
	}
	if res.SurveyScore != 0 {
		if _, err := r.o.Tickets.RecordSurvey(ctx, rec.ID, res.SurveyScore); err != nil {
			return fmt.Errorf("survey score %d: %w", res.SurveyScore, err)
		}
	}
	return nil
}
