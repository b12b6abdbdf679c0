package ivr

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hotline-dev/hotline/configs"
)

// callbackKey accepts the max_wait callback offer ("press 1 to be called back").
const callbackKey = '1'

// enterQueue queues the caller in category and keeps them waiting. Whatever
// ends the wait (hang-up, callback, error), the caller leaves the queue at once.
func (r *visit) enterQueue(ctx context.Context, category string) error {
	r.res.Category = category
	r.f.m.choices.WithLabelValues(category).Inc()
	e := configs.QueueEntry{CallID: r.call.ID(), Caller: r.call.Caller(), Category: category,
		Priority: r.res.Priority, EnqueuedAt: r.f.clk.Now(), Owner: r.owner}
	// Offers are open before the caller is in the queue: a match that runs
	// as Enqueue returns (another caller's poke, another node) must find the
	// caller waiting here, or the dispatcher takes the caller for gone.
	r.openOffers()
	r.entry = e
	err := r.f.queue.Enqueue(ctx, e)
	if err != nil && ctx.Err() == nil {
		r.closeOffers()
		return fmt.Errorf("enqueue in %s: %w", category, err)
	}
	// A hang-up during Enqueue may still have queued the caller: remove anyway.
	r.queued(category)
	defer r.leave(ctx)
	if err != nil {
		return fmt.Errorf("%w: enqueue in %s: %w", errCallEnded, category, err)
	}
	r.res.QueuedAt = e.EnqueuedAt
	r.stint = category
	r.f.m.offered.WithLabelValues(category).Inc()
	entered := PromptQueueEntered
	if category == configs.CategoryEmergency {
		entered = PromptQueueEmergency // S6
	}
	// An agent matched at once interrupts the entry prompt: the caller is
	// rung through, not told a place in a queue they are leaving.
	offer, err := r.playOrOffer(ctx, entered)
	if err != nil {
		return err
	}
	return r.wait(ctx, category, e.EnqueuedAt, offer)
}

// wait keeps a queued caller: position and wait on entry and every
// announce_interval (S8) with hold music between, and a callback offer every
// max_wait — never for emergencies, which stay queued (S6). It returns when the
// caller leaves the queue.
// An offer that came during the entry prompt (pending) is rung first.
func (r *visit) wait(ctx context.Context, category string, since time.Time, pending *AgentOffer) error {
	interval, maxWait := time.Duration(r.f.cfg.AnnounceInterval), time.Duration(r.f.cfg.MaxWait)
	nextAnnounce := since
	var nextOffer time.Time // zero: no offers
	if category != configs.CategoryEmergency {
		nextOffer = since.Add(maxWait)
	}
	if r.nobodyServing(ctx, category) {
		nextOffer = since // no agent logged in for the category: offer at once
	}
	for {
		if pending != nil {
			talked, err := r.connect(ctx, *pending)
			if err != nil || talked {
				return err
			}
			pending = nil
		}
		now := r.f.clk.Now()
		if !nextOffer.IsZero() && !now.Before(nextOffer) {
			accepted, err := r.offerCallback(ctx)
			if err != nil || accepted {
				return err
			}
			now = r.f.clk.Now()
			nextOffer, nextAnnounce = now.Add(maxWait), now
		}
		if !now.Before(nextAnnounce) {
			nextAnnounce = now.Add(interval)
			offer, err := r.announce(ctx, category)
			if offer != nil {
				pending = offer
				continue
			}
			if err != nil {
				if ctx.Err() != nil || !errors.Is(err, errAnnounce) {
					return err
				}
				// A Redis blip (or a restart before the nodes re-publish) costs
				// this announcement, not the call: the caller keeps their place
				// and hears the next one (S8).
				r.f.m.announceFailures.Inc()
				r.log.Warn("queue announcement skipped", "category", category, "err", err)
				if errors.Is(err, ErrNotQueued) {
					r.requeue(ctx)
				}
			}
		}
		until := nextAnnounce
		if !nextOffer.IsZero() && nextOffer.Before(until) {
			until = nextOffer
		}
		offer, err := r.holdFor(ctx, until)
		if err != nil {
			return err
		}
		pending = offer
	}
}

// requeue puts back a waiting caller the queue lost (entry reaped, or Redis
// emptied before the nodes re-published), with the original enqueue time so
// the caller keeps their place (S8). Without it an emergency caller (never
// offered a callback, S6) would hear hold music for ever.
func (r *visit) requeue(ctx context.Context) {
	if err := r.f.queue.Enqueue(ctx, r.entry); err != nil {
		r.log.Warn("re-queue a caller missing from the queue", "category", r.entry.Category, "err", err)
		return
	}
	r.log.Warn("caller was missing from the queue: re-queued with the original enqueue time",
		"category", r.entry.Category, "enqueued_at", r.entry.EnqueuedAt)
}

// errAnnounce marks a failed lookup of position or wait: the announcement is
// skipped and the caller stays queued.
var errAnnounce = errors.New("queue announcement")

// announce says the caller's position and estimated wait (S8); an offer
// that arrives meanwhile ends it and is returned.
func (r *visit) announce(ctx context.Context, category string) (*AgentOffer, error) {
	pos, err := r.f.queue.Position(ctx, category, r.call.ID())
	if err != nil {
		return nil, fmt.Errorf("%w: queue position in %s: %w", errAnnounce, category, err)
	}
	wait, err := r.f.queue.EstimatedWait(ctx, category, pos)
	if err != nil {
		return nil, fmt.Errorf("%w: estimated wait in %s at position %d: %w", errAnnounce, category, pos, err)
	}
	r.f.m.announces.Inc()
	return r.playOrOffer(ctx, queueAnnouncement(r.lang, pos, wait)...)
}

// hold plays hold music until the given time (from the flow's clock). It is
// the one place a queued caller waits: the agent step ends
// the hold early when an agent is offered the call, by running this PlayLoop
// under a context that the offer cancels.
func (r *visit) hold(ctx context.Context, until time.Time) error {
	hctx, cancel := context.WithDeadline(ctx, until)
	defer cancel()
	_, err := r.call.PlayLoop(hctx, r.ids([]string{PromptHoldMusic}), false)
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%w: hold: %w", errCallEnded, ctx.Err())
	case err == nil || errors.Is(err, context.DeadlineExceeded):
		return nil
	default:
		return fmt.Errorf("%w: hold: %w", errCallEnded, err)
	}
}

// offerCallback offers a callback after max_wait. Any key but 1, or none
// within callback_timeout, keeps the caller queued in their place.
func (r *visit) offerCallback(ctx context.Context) (bool, error) {
	r.flushKeys(stageCallbackOffer) // keys pressed during hold music do not answer the offer
	key, err := r.ask(ctx, []string{PromptCallbackOffer}, time.Duration(r.f.cfg.CallbackTimeout))
	if err != nil {
		return false, err
	}
	if key != callbackKey {
		r.log.Debug("callback offer declined", "key", string(key))
		return false, nil
	}
	r.leave(ctx) // first, so that no agent is offered a caller who is leaving
	return true, r.requestCallback(ctx, ReasonMaxWait)
}

// leave removes the caller from the queue, once, on a context that survives
// the hang-up.
func (r *visit) leave(ctx context.Context) {
	category := r.inQueue
	if category == "" {
		return
	}
	r.queued("")
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), detachedTimeout)
	defer cancel()
	if err := r.f.queue.Remove(rctx, category, r.call.ID()); err != nil {
		r.cleanupErr = fmt.Errorf("remove from queue %s: %w", category, err)
		r.log.Error("caller not removed from queue", "category", category, "err", err)
	}
}

// queued notes that the caller is queued in category ("": no longer) and
// gives their call the queue's media timeout meanwhile: a queued phone that
// stopped sending RTP has gone, and no agent must be rung for it.
func (r *visit) queued(category string) {
	switch {
	case category != "" && r.inQueue == "":
		r.call.SetMediaTimeout(time.Duration(r.f.cfg.QueueMediaTimeout))
	case category == "" && r.inQueue != "":
		r.call.SetMediaTimeout(0)
	}
	r.inQueue = category
}
