package ivr

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hotline-dev/hotline/configs"
)

// Agents connects queued callers to agents (S1, S2). The ACD matches a waiting
// caller to an agent and delivers an AgentOffer for the call; the flow then rings
// the agent while the caller keeps their place in the queue.
type Agents interface {
	// Offers returns the channel on which offers for the call arrive, and a
	// function to call when the caller leaves the queue. The flow calls it
	// before Queue.Enqueue, so an offer made the moment the caller is queued
	// is never for a caller who is not listening.
	Offers(callID string) (<-chan AgentOffer, func())
	// Ring rings the offered agent, or every agent of a ring-all offer at
	// once; Conversation.Agent names the one who answered. An error wrapping
	// ErrNotConnected (no answer, busy, declined) leaves the caller waiting in
	// their place; any other error ends the call as failed.
	Ring(ctx context.Context, call Call, offer AgentOffer) (Conversation, error)
	// AnyServing reports whether any logged-in agent serves category.
	AnyServing(ctx context.Context, category string) (bool, error)
	// RingNumber rings a configured specialist line for a transfer (S10).
	RingNumber(ctx context.Context, call Call, number string) (Conversation, error)
}

// AgentOffer is an agent matched to a waiting caller, or for a ring-all
// queue every available agent, rung at once (Group).
type AgentOffer struct {
	AgentID     string
	StaffNumber string // announced to the caller (S2)
	Category    string
	// Group lists the agents of a ring-all offer (AgentID and StaffNumber
	// are then empty); the first to answer takes the call.
	Group []AgentOffer
}

// AgentIDs names the offered agents ("1001" or, for a ring-all offer,
// "1001,1002"), for logs and errors.
func (o AgentOffer) AgentIDs() string {
	if len(o.Group) == 0 {
		return o.AgentID
	}
	ids := make([]string, len(o.Group))
	for i, g := range o.Group {
		ids[i] = g.AgentID
	}
	return strings.Join(ids, ",")
}

// Conversation is a caller connected to an answering agent.
type Conversation interface {
	// Agent is the agent who answered (for a ring-all offer, one of its Group).
	Agent() AgentOffer
	// Talk bridges caller and agent until either hangs up or the agent
	// transfers the caller (S10).
	Talk(ctx context.Context) (TalkResult, error)
}

// TalkResult is how a conversation ended.
type TalkResult struct {
	AgentHungUp bool      // the agent hung up first (S11)
	AgentLost   bool      // the agent's phone vanished: no BYE, no RTP until the media timeout
	Transfer    *Transfer // the agent transferred the caller (S10)
}

// Transfer is where an agent sent the caller (S10), from the allowlist.
type Transfer struct {
	Kind   string // TransferQueue, TransferAgent or TransferNumber
	Target string // a category, an agent id, or a configured specialist number
}

// Transfer kinds.
const (
	TransferQueue  = "queue"
	TransferAgent  = "agent"
	TransferNumber = "number"
)

// String is how the transfer is kept on the call record: "queue:complaint".
func (t Transfer) String() string { return t.Kind + ":" + t.Target }

// maxTransfers bounds transfers in one call (a loop between agents ends).
const maxTransfers = 5

// ErrNotConnected marks a ring that did not reach the agent.
var ErrNotConnected = errors.New("agent not connected")

// OutcomeAnswered: the caller talked to an agent.
const OutcomeAnswered = "answered"

// offerBox receives one offer at a time for a queued caller.
type offerBox struct {
	ch   <-chan AgentOffer
	stop func()
	once sync.Once
}

func (r *visit) openOffers() {
	if r.f.agents == nil || r.offers != nil {
		return
	}
	ch, stop := r.f.agents.Offers(r.call.ID())
	r.offers = &offerBox{ch: ch, stop: stop}
}

func (r *visit) closeOffers() {
	if r.offers != nil {
		r.offers.once.Do(r.offers.stop)
		r.offers = nil
	}
}

// playOrOffer plays prompts to a queued caller unless an agent offer is
// waiting or arrives meanwhile: the prompt stops and the offer is returned
// (an agent is free: the caller is rung through, not told a queue place).
func (r *visit) playOrOffer(ctx context.Context, names ...string) (*AgentOffer, error) {
	if r.offers == nil {
		return nil, r.play(ctx, names...)
	}
	var offer *AgentOffer
	err := r.untilOffer(ctx, &offer, func(pctx context.Context) error {
		return r.play(pctx, names...)
	})
	if offer != nil {
		return offer, nil
	}
	return nil, err
}

// untilOffer runs f under a context that an arriving offer cancels; the
// offer, if any, is stored in *got.
func (r *visit) untilOffer(ctx context.Context, got **AgentOffer, f func(context.Context) error) error {
	select { // an offer that came before
	case o := <-r.offers.ch:
		*got = &o
		return nil
	default:
	}
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	arrived := make(chan AgentOffer, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case o := <-r.offers.ch:
			arrived <- o
			cancel()
		case <-fctx.Done():
		}
	}()
	err := f(fctx)
	cancel()
	<-done
	select {
	case o := <-arrived:
		*got = &o
		return nil
	default:
	}
	return err
}

// holdFor plays hold music until until, or until an offer arrives (returned).
func (r *visit) holdFor(ctx context.Context, until time.Time) (*AgentOffer, error) {
	if r.offers == nil {
		return nil, r.hold(ctx, until)
	}
	var offer *AgentOffer
	err := r.untilOffer(ctx, &offer, func(hctx context.Context) error {
		return r.hold(hctx, until)
	})
	if offer != nil {
		return offer, nil
	}
	return nil, err
}

// connect rings the offered agent (or agents); when one answers, the caller
// hears the staff number (S2) and talks. It reports whether the conversation
// took place.
func (r *visit) connect(ctx context.Context, o AgentOffer) (bool, error) {
	conv, err := r.f.agents.Ring(ctx, r.call, o)
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return false, fmt.Errorf("%w: ring agent %s: %w", errCallEnded, o.AgentIDs(), ctx.Err())
	case errors.Is(err, ErrNotConnected):
		r.log.Info("agent not connected, caller keeps their place", "agent", o.AgentIDs(), "err", err)
		return false, nil
	default:
		return false, fmt.Errorf("ring agent %s: %w", o.AgentIDs(), err)
	}
	r.queued("") // the ACD took the caller out of the queue when the agent answered
	r.closeOffers()
	who := conv.Agent()
	r.res.Outcome, r.res.AgentID, r.res.ConnectedAt = OutcomeAnswered, who.AgentID, r.f.clk.Now()
	r.answeredStint()
	if who.StaffNumber != "" {
		prompts := append([]string{PromptAgentNumberPrefix}, SayDigits(who.StaffNumber)...)
		err := r.play(ctx, append(prompts, PromptAgentNumberSuffix)...)
		if err != nil && ctx.Err() != nil {
			// The caller hung up during the staff number: Talk still ends the
			// agent's leg and puts the agent in wrap-up (no agent left on_call).
			if _, terr := conv.Talk(ctx); terr != nil {
				r.log.Warn("agent leg after the caller left", "agent", who.AgentID, "err", terr)
			}
			return true, err
		}
		if err != nil {
			r.log.Warn("staff number not announced", "agent", who.AgentID, "err", err)
		}
	}
	return true, r.talk(ctx, conv)
}

// talk runs a conversation and what follows it: a transfer (S10), or the
// reference and survey when the agent hung up first (S17, S18).
func (r *visit) talk(ctx context.Context, conv Conversation) error {
	tr, err := conv.Talk(ctx)
	r.res.AgentHungUp = tr.AgentHungUp
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("conversation with agent %s: %w", r.res.AgentID, err)
	}
	if tr.Transfer != nil && ctx.Err() == nil {
		return r.transfer(ctx, *tr.Transfer)
	}
	if tr.AgentLost && ctx.Err() == nil {
		return r.agentLost(ctx)
	}
	if tr.AgentHungUp && ctx.Err() == nil {
		// The caller is still on the line: reference and survey (S17, S18).
		// A hang-up now leaves the outcome answered.
		if err := r.afterAgent(ctx); err != nil {
			r.log.Debug("caller left during the survey", "err", err)
		}
	}
	return nil
}

// agentLost: the agent's phone vanished mid-call (no BYE, no RTP until the
// media timeout). The caller, still on the line, is offered a callback (S9);
// declined, they queue again in the same category. The conversation took
// place, so the outcome stays answered and its draft ticket is written (S12).
func (r *visit) agentLost(ctx context.Context) error {
	r.log.Warn("agent's phone lost mid-call: callback offered", "agent", r.res.AgentID)
	r.flushKeys(stageCallbackOffer)
	key, err := r.ask(ctx, []string{PromptCallbackOffer}, time.Duration(r.f.cfg.CallbackTimeout))
	if err != nil {
		return err
	}
	if key != callbackKey {
		return r.enterQueue(ctx, r.res.Category)
	}
	if err := r.storeCallback(ctx, ReasonAgentLost); err != nil {
		return err
	}
	return r.end(ctx, OutcomeAnswered, PromptCallbackConfirmed)
}

// transfer routes a caller the agent transferred (S10): back into a queue,
// to a named agent first (as that agent's caller, S16), or to a specialist line.
func (r *visit) transfer(ctx context.Context, t Transfer) error {
	r.res.Transfers = append(r.res.Transfers, t.String())
	r.log.Info("caller transferred", "to", t.String())
	if len(r.res.Transfers) > maxTransfers {
		return r.end(ctx, OutcomeAnswered)
	}
	switch t.Kind {
	case TransferQueue:
		return r.enterQueue(ctx, t.Target)
	case TransferAgent:
		r.owner = t.Target
		return r.enterQueue(ctx, r.res.Category)
	case TransferNumber:
		conv, err := r.f.agents.RingNumber(ctx, r.call, t.Target)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("%w: transfer to %s: %w", errCallEnded, t.Target, ctx.Err())
			}
			r.log.Warn("specialist line not reached", "number", t.Target, "err", err)
			return r.end(ctx, OutcomeAnswered, PromptSorryError)
		}
		return r.talk(ctx, conv)
	default:
		return fmt.Errorf("transfer kind %q", t.Kind)
	}
}

// nobodyServing reports whether no agent serving category is logged in at all:
// then waiting is pointless and the caller is offered a callback at once.
// Emergencies always stay queued (S6).
func (r *visit) nobodyServing(ctx context.Context, category string) bool {
	if r.f.agents == nil || category == configs.CategoryEmergency {
		return false
	}
	served, err := r.f.agents.AnyServing(ctx, category)
	if err != nil {
		r.log.Warn("agents serving unknown; caller waits", "category", category, "err", err)
		return false
	}
	return !served
}

// answeredStint counts the queue stay an agent just ended and its wait (S1).
func (r *visit) answeredStint() {
	if r.stint == "" {
		return
	}
	r.f.m.outcomes.WithLabelValues(r.stint, stintAnswered).Inc()
	r.f.m.answerWait.WithLabelValues(r.stint).Observe(max(r.res.ConnectedAt.Sub(r.res.QueuedAt), 0).Seconds())
	r.stint = ""
}
