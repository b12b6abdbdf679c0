package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hotline-dev/hotline/configs"
	"github.com/hotline-dev/hotline/ivr"
	"github.com/hotline-dev/hotline/tickets"
)

// CallbackStore is the ticket store's part of placing callbacks (S9).
type CallbackStore interface {
	TicketCallbacks(ctx context.Context, limit int) (int, error)
	LeaseCallback(ctx context.Context, node string, lease time.Duration, skip tickets.LeaseSkip) (tickets.Callback, error)
	ReleaseCallback(ctx context.Context, id int64, node string) error
	FinishCallback(ctx context.Context, id int64, node string, a tickets.CallbackAttempt) (tickets.Callback, error)
	PendingCallbacks(ctx context.Context) (int, error)
}

// Trunk dials a callback's callee through the outbound trunk: the SIP side.
type Trunk interface {
	// Call dials number (digits only, already checked against the allowed
	// prefixes) and returns the answered leg; ringing runs when the
	// callee's phone rings. A refusal wraps ErrBusy or ErrDeclined, an
	// unanswered ring ErrNoAnswer.
	Call(ctx context.Context, number, callID string, ringing func()) (Callee, error)
}

// ErrNoAnswer: the callee's phone rang out.
var ErrNoAnswer = errors.New("phone did not answer")

// Callee is the answered leg of a callback's callee: the caller's side of
// the bridge (an ivr.Call, so the agent's Leg.Bridge takes it).
type Callee interface {
	ivr.Call
	SIPCallID() string
	Recording() string
	EndReason() string
	// HungUp: the callee ended the call (BYE).
	HungUp() bool
	// Done is closed when the leg has ended.
	Done() <-chan struct{}
	Hangup(ctx context.Context)
}

// Callbacks is how callbacks are placed (the callbacks: section of
// hotline.yaml). With Trunk nil no callback is placed (requests are still
// stored and ticketed).
type Callbacks struct {
	Store CallbackStore
	Trunk Trunk
	// MaxAttempts: busy, no answer and failed are retried RetryAfter later
	// until this many attempts were made.
	MaxAttempts int
	RetryAfter  time.Duration
	// CallerWait: a caller of the category waiting this long (0: any
	// caller), or any emergency caller (S6), holds the callbacks.
	CallerWait time.Duration
	// AllowedPrefixes: the only numbers dialled out (toll fraud).
	AllowedPrefixes []string
	// DefaultCategory routes requests without a category.
	DefaultCategory string
	// RingTimeout bounds the callee's ringing.
	RingTimeout time.Duration
	// Interval between rounds (a freed agent also starts one).
	Interval time.Duration
	// MaxActive bounds the callbacks this node places at once.
	MaxActive int
}

// maxDialDigits bounds a number dialled out; E.164 has at most 15 digits.
const maxDialDigits = 20

// Dialable returns the number the trunk may dial for a request's stored
// caller number, normalised (tickets.NormalizeNumber): digits only, 3–20 of
// them, starting with one of prefixes. Anything else — an international
// "+" form, letters, a SIP URI — is never dialled (toll fraud).
func Dialable(stored string, prefixes []string) (string, bool) {
	if len(stored) > 64 {
		return "", false
	}
	n := tickets.NormalizeNumber(stored)
	if len(n) < 3 || len(n) > maxDialDigits || strings.Trim(n, "0123456789") != "" {
		return "", false
	}
	for _, p := range prefixes {
		if strings.HasPrefix(n, p) {
			return n, true
		}
	}
	return "", false
}

// placer places this node's callbacks: one round per Interval or freed
// agent; each round tickets new requests, then leases due requests one at
// a time and places each for which the ACD reserves an agent.
type placer struct {
	r      *Router
	c      Callbacks
	log    *slog.Logger
	m      *callbackMetrics
	kick   chan struct{}
	active atomic.Int64
	wg     sync.WaitGroup

	// mu orders starting a placement (wg.Go) before drain's wg.Wait.
	mu       sync.Mutex
	draining bool
}

// leaseMargin is added to the rings an attempt may take before the callee
// answers; the lease ends at the latest then, so a node that died
// mid-attempt leaves the request to another.
const leaseMargin = 30 * time.Second

// roundLeases bounds the leases one round takes (most are given back when
// no agent is free).
const roundLeases = 32

func (p *placer) lease() time.Duration { return p.r.o.RingTimeout + p.c.RingTimeout + leaseMargin }

func (p *placer) poke() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

func (p *placer) run(ctx context.Context) {
	defer p.wg.Wait()
	tick := time.NewTicker(p.c.Interval)
	defer tick.Stop()
	for {
		p.round(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-p.kick:
		}
	}
}

func (p *placer) round(ctx context.Context) {
	if _, err := p.c.Store.TicketCallbacks(ctx, 100); err != nil && ctx.Err() == nil {
		p.log.Warn("ticket callback requests", "err", err)
	}
	if n, err := p.c.Store.PendingCallbacks(ctx); err == nil {
		p.m.pending.Store(int64(n))
	}
	if p.c.Trunk == nil || !p.r.o.Hours.IsOpen(p.r.o.Clock.Now()) || p.isDraining() {
		return // S9: callbacks are placed in office hours only; a draining node starts none
	}
	held := map[string]bool{} // categories without an agent this round
	skip := tickets.LeaseSkip{Default: p.c.DefaultCategory}
	for len(skip.IDs) < roundLeases && p.active.Load() < int64(p.c.MaxActive) && ctx.Err() == nil {
		c, err := p.c.Store.LeaseCallback(ctx, p.r.o.Node, p.lease(), skip)
		if err != nil {
			if !errors.Is(err, tickets.ErrNoCallback) && ctx.Err() == nil {
				p.log.Warn("lease callback", "err", err)
			}
			return
		}
		skip.IDs = append(skip.IDs, c.ID)
		p.consider(ctx, c, held)
		// A category without an agent is not leased again this round: the
		// lease and give-back of each of its requests would hold up the
		// round while agents of other categories are freed.
		skip.Categories = skip.Categories[:0]
		for cat := range held {
			skip.Categories = append(skip.Categories, cat)
		}
	}
}

// consider places a leased request when the number may be dialled and an
// agent is reserved; otherwise it closes the request (forbidden number) or
// gives it back.
func (p *placer) consider(ctx context.Context, c tickets.Callback, held map[string]bool) {
	cat := c.Category
	if cat == "" {
		cat = p.c.DefaultCategory
	}
	number, ok := Dialable(c.Caller, p.c.AllowedPrefixes)
	if !ok {
		p.log.Warn("callback number not dialled: outside callbacks.allowed_prefixes", "callback", c.ID)
		p.finish(ctx, c, tickets.CallbackAttempt{Result: tickets.ResultForbidden})
		return
	}
	if held[cat] && c.ClaimedBy == "" {
		p.release(ctx, c)
		return
	}
	callID := fmt.Sprintf("cb-%d-%d", c.ID, c.Attempts+1)
	res, err := p.r.o.ACD.ReserveCallback(ctx, callID, cat, c.ClaimedBy, p.c.CallerWait)
	if err != nil || res.Agent == "" {
		if err != nil {
			p.log.Warn("reserve agent for callback", "callback", c.ID, "err", err)
		} else {
			p.m.heldRounds.WithLabelValues(res.Held).Inc()
		}
		if c.ClaimedBy == "" {
			held[cat] = true
		}
		p.release(ctx, c)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.draining {
		p.r.releaseAgent(ctx, callID, res.Agent, p.log)
		p.release(ctx, c)
		return
	}
	p.active.Add(1)
	p.wg.Go(func() {
		defer p.active.Add(-1)
		p.place(ctx, c, callAttempt{id: callID, number: number, category: cat, agent: res.Agent, freeAt: res.IdleSince})
	})
}

func (p *placer) isDraining() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.draining
}

// drain starts no more callbacks and waits, until ctx ends, for those in
// progress.
func (p *placer) drain(ctx context.Context) {
	p.mu.Lock()
	p.draining = true
	p.mu.Unlock()
	done := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

func (p *placer) finish(ctx context.Context, c tickets.Callback, a tickets.CallbackAttempt) {
	if _, err := p.finishErr(ctx, c, a); err != nil {
		p.log.Error("callback attempt not recorded", "callback", c.ID, "result", a.Result, "err", err)
	}
}

func (p *placer) finishErr(ctx context.Context, c tickets.Callback, a tickets.CallbackAttempt) (tickets.Callback, error) {
	a.MaxAttempts, a.RetryAfter = p.c.MaxAttempts, p.c.RetryAfter
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordWriteTimeout)
	defer cancel()
	out, err := p.c.Store.FinishCallback(wctx, c.ID, p.r.o.Node, a)
	if err != nil {
		return out, err
	}
	p.m.attempts.WithLabelValues(a.Result).Inc()
	if out.Status == tickets.CallbackFailed {
		p.m.failed.WithLabelValues(a.Result).Inc()
	}
	p.log.Info("callback attempt", "callback", c.ID, "result", a.Result, "attempts", out.Attempts, "status", out.Status)
	return out, nil
}

func (p *placer) release(ctx context.Context, c tickets.Callback) {
	dctx, cancel := detached(ctx)
	defer cancel()
	if err := p.c.Store.ReleaseCallback(dctx, c.ID, p.r.o.Node); err != nil {
		p.log.Warn("release callback", "callback", c.ID, "err", err)
	}
}

// onDone runs fn when done closes, unless the returned stop ran first.
func onDone(done <-chan struct{}, fn func()) (stop func()) {
	quit := make(chan struct{})
	go func() {
		select {
		case <-done:
			fn()
		case <-quit:
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(quit) }) }
}

// check reports a Callbacks that cannot place calls correctly.
func (c Callbacks) check() error {
	switch {
	case c.Trunk == nil:
		return nil // stored and ticketed, not placed
	case c.MaxAttempts < 1:
		return errors.New("callbacks: max_attempts must be at least 1")
	case c.RetryAfter <= 0 || c.RingTimeout <= 0 || c.Interval <= 0:
		return errors.New("callbacks: retry_after, ring_timeout and interval must be positive")
	case c.MaxActive < 1:
		return errors.New("callbacks: max_active must be at least 1")
	case len(c.AllowedPrefixes) == 0:
		return errors.New("callbacks: allowed_prefixes is empty: no number could be called back")
	case !configs.IsQueueCategory(c.DefaultCategory):
		return fmt.Errorf("callbacks: default_category %q is not a queue category", c.DefaultCategory)
	}
	return nil
}
