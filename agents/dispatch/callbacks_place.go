package dispatch

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/hotline-dev/hotline/ivr"
	"github.com/hotline-dev/hotline/tickets"
)

// callAttempt is one attempt at a request: our call id, whom it calls,
// which agent takes it.
type callAttempt struct {
	id, number, category, agent string
	freeAt                      time.Time // when the agent became available
}

// place rings the reserved agent; once the agent answers, it dials the
// callee through the trunk, and once the callee answers, it plays who is
// calling and bridges them (recorded, S19) like a caller and an agent, with
// the agent's wrap-up and draft ticket after (S12).
func (p *placer) place(ctx context.Context, c tickets.Callback, a callAttempt) {
	log := p.log.With("callback", c.ID, "call_id", a.id, "agent", a.agent)
	started := time.Now()
	leg, err := p.r.dial(ctx, nil, Dial{Who: a.agent, CallerID: a.number, CallID: a.id})
	if err != nil {
		p.agentMissed(ctx, a, err, log)
		p.release(ctx, c)
		return
	}
	dctx, cancel := detached(ctx)
	err = p.r.o.ACD.CallbackAnswered(dctx, a.id, a.agent)
	cancel()
	if err != nil {
		log.Warn("agent answered a callback no longer reserved", "err", err)
		leg.Hangup(context.WithoutCancel(ctx))
		p.release(ctx, c)
		return
	}
	// The agent hanging up stops the callee's ringing.
	cctx, stop := context.WithCancel(ctx)
	unhook := onDone(leg.Done(), stop)
	callee, err := p.c.Trunk.Call(cctx, a.number, a.id, func() {
		p.m.freeToRing.Observe(time.Since(a.freeAt).Seconds())
	})
	unhook()
	stop()
	p.m.placed.Inc()
	if err != nil {
		log.Info("callee not reached", "err", err)
		leg.Hangup(context.WithoutCancel(ctx))
		p.freeAgent(ctx, a.agent, log)
		p.finish(ctx, c, tickets.CallbackAttempt{Result: calleeResult(err), Agent: a.agent, CallID: a.id})
		return
	}
	connected := time.Now()
	if err := p.finishConnected(ctx, c, a); err != nil {
		log.Error("callback connected but not recorded as such", "err", err)
	}
	p.talk(ctx, c, a, leg, callee, started, connected, log)
}

// finishConnected closes the request as connected and observes the time
// from request to connection.
func (p *placer) finishConnected(ctx context.Context, c tickets.Callback, a callAttempt) error {
	p.m.connected.Inc()
	p.m.toConnect.Observe(time.Since(c.RequestedAt).Seconds())
	_, err := p.finishErr(ctx, c, tickets.CallbackAttempt{Result: tickets.ResultConnected, Agent: a.agent, CallID: a.id})
	return err
}

// talk plays the callee who is calling, bridges the callee and the agent
// through the router's conversation (recording, wrap-up), then writes the
// call's record and draft ticket.
func (p *placer) talk(ctx context.Context, c tickets.Callback, a callAttempt, leg Leg, callee Callee,
	started, connected time.Time, log *slog.Logger) {
	r := p.r
	tctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer onDone(callee.Done(), cancel)()
	if _, err := callee.Play(tctx, []string{ivr.PromptCallbackIntro}, false); err != nil && tctx.Err() == nil {
		log.Warn("callback intro prompt", "err", err)
	}
	staff := r.disp.staff.get(ctx, r.o.Directory, a.agent)
	conv := r.newConversation(callee, leg, ivr.AgentOffer{AgentID: a.agent, StaffNumber: staff, Category: a.category}, false)
	res, _ := conv.Talk(tctx)
	callee.Hangup(context.WithoutCancel(ctx))
	hungUpBy := hungUpBySystem
	switch {
	case res.AgentHungUp:
		hungUpBy = hungUpByAgent
	case callee.HungUp():
		hungUpBy = hungUpByCaller
	}
	rec := tickets.CallRecord{ID: a.id, SIPCallID: callee.SIPCallID(), Caller: a.number, Dialled: a.number,
		Category: a.category, Node: r.o.Node, StartedAt: started, AnsweredAt: connected, EndedAt: time.Now(),
		Outcome: ivr.OutcomeAnswered, HungUpBy: hungUpBy, AgentID: a.agent, ConnectedAt: connected,
		RecordingPath: callee.Recording(), EndReason: callee.EndReason()}
	wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), recordWriteTimeout)
	defer wcancel()
	if err := r.saveRecord(wctx, rec, ivr.Result{Outcome: ivr.OutcomeAnswered}); err != nil {
		log.Error("callback call record not saved", "err", err)
		return
	}
	r.m.callEnded(ivr.OutcomeAnswered)
	log.Info("callback call ended", "hung_up_by", hungUpBy, "ticket", c.Ticket)
}

// releaseAgent frees an agent reserved for a callback that is not placed.
func (r *Router) releaseAgent(ctx context.Context, callID, agent string, log *slog.Logger) {
	dctx, cancel := detached(ctx)
	defer cancel()
	releaseAgents(dctx, r.o.ACD, callID, []string{agent}, log)
}

// agentMissed reports an agent who did not take a callback's ring: a miss
// like for a caller (S1), or a logged-out agent.
func (p *placer) agentMissed(ctx context.Context, a callAttempt, err error, log *slog.Logger) {
	if errors.Is(err, errUnregistered) {
		return
	}
	dctx, cancel := detached(ctx)
	defer cancel()
	if ctx.Err() != nil {
		_ = p.r.o.ACD.CallerGone(dctx, a.id, a.agent)
		return
	}
	p.m.agentMiss.Inc()
	if merr := p.r.o.ACD.Missed(dctx, a.id, a.agent, missReason(err)); merr != nil {
		log.Warn("record missed callback ring", "err", merr)
	}
}

// freeAgent makes an agent whose callee was not reached available again:
// nothing to wrap up, and to the back of the idle line.
func (p *placer) freeAgent(ctx context.Context, agent string, log *slog.Logger) {
	dctx, cancel := detached(ctx)
	defer cancel()
	if err := p.r.o.ACD.Hangup(dctx, agent, 0, ""); err != nil {
		log.Warn("callback agent to wrap-up", "err", err)
		return
	}
	if err := p.r.o.ACD.WrapUpDone(dctx, agent); err != nil {
		log.Warn("callback agent available", "err", err)
	}
}

func calleeResult(err error) string {
	switch {
	case errors.Is(err, ErrBusy), errors.Is(err, ErrDeclined):
		return tickets.ResultBusy
	case errors.Is(err, ErrNoAnswer):
		return tickets.ResultNoAnswer
	}
	return tickets.ResultFailed
}
