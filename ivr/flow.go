package ivr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/hotline-dev/hotline/configs"
)

// detachedTimeout bounds the writes that must finish after a hang-up: leaving
// the queue and storing a callback the caller already asked for.
const detachedTimeout = 3 * time.Second

// errCallEnded wraps errors of the Call itself: hang-up or media failure.
var errCallEnded = errors.New("call ended")

// Flow runs the IVR for any number of calls at once; it holds no per-call state.
type Flow struct {
	cfg        Config
	hours      Hours
	queue      Queue
	records    Records
	clk        Clock
	log        *slog.Logger
	m          *Metrics
	menu       menu
	afterHours menu
	priority   map[string]bool
	agents     Agents  // nil: no agent system, callers wait for the callback offer
	tickets    Tickets // nil: no reference readout, survey or nuisance check
}

// menu is a compiled Config menu.
type menu struct {
	items   map[rune]MenuItem
	intro   []string // before the first menu only (the after-hours message)
	prompts []string // the menu itself, again on repeat, retry and priority
}

// FlowOptions are the parts a Flow talks to.
type FlowOptions struct {
	Hours   Hours   // required
	Queue   Queue   // required
	Records Records // required
	Clock   Clock   // required
	// Agents connects queued callers to agents; nil: callers wait for the
	// callback offer.
	Agents Agents
	// Tickets reads out references, runs the survey and turns nuisance
	// numbers away; nil: none of these.
	Tickets Tickets
	Logger  *slog.Logger // may be nil
	Metrics *Metrics     // may be nil
}

// NewFlow validates cfg and builds the flow.
func NewFlow(cfg Config, o FlowOptions) (*Flow, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("ivr config: %w", err)
	}
	if o.Hours == nil || o.Queue == nil || o.Records == nil || o.Clock == nil {
		return nil, errors.New("new ivr flow: hours, queue, records and clock are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	f := &Flow{cfg: cfg, hours: o.Hours, queue: o.Queue, records: o.Records, clk: o.Clock,
		agents: o.Agents, tickets: o.Tickets,
		log: o.Logger.With("component", "ivr"), m: o.Metrics, priority: map[string]bool{},
		menu:       compileMenu(cfg.Menu, nil, PromptMenu),
		afterHours: compileMenu(cfg.AfterHoursMenu, []string{PromptAfterHours}, PromptMenuAfterHours),
	}
	for _, n := range cfg.PriorityNumbers {
		f.priority[n] = true
	}
	return f, nil
}

func compileMenu(items []MenuItem, intro []string, prompt string) menu {
	m := menu{items: map[rune]MenuItem{}, intro: intro, prompts: []string{prompt}}
	for _, it := range items {
		m.items[rune(it.Key[0])] = it
	}
	return m
}

// visit is one call's way through the flow: its state from greeting to goodbye.
type visit struct {
	f          *Flow
	call       Call
	log        *slog.Logger
	res        Result
	closed     bool               // called outside office hours (S9)
	inQueue    string             // category while the caller is queued
	entry      configs.QueueEntry // the caller's queue entry while queued
	cleanupErr error              // leaving the queue failed
	offers     *offerBox
	owner      string // agent to offer the caller first (transfer to an agent)
	stint      string // category of the queue stay not yet counted as ended
}

// Run takes the call through greeting, hours check, menu and queue, and returns
// what happened. ctx must be cancelled when the caller hangs up; the caller is
// then removed from the queue at once.
func (f *Flow) Run(ctx context.Context, call Call) Result {
	r := &visit{f: f, call: call, log: f.log.With("call_id", call.ID())}
	err := r.answer(ctx)
	r.closeOffers()
	r.finish(ctx, err)
	return r.res
}

// answer is the flow up to the queue: greeting, hours (S9), menu (S3).
func (r *visit) answer(ctx context.Context) error {
	if r.nuisance(ctx) { // S21: the message says goodbye itself
		r.res.Outcome = OutcomeNuisance
		if err := r.play(ctx, PromptNuisance); err != nil {
			r.log.Debug("caller left during the nuisance message", "err", err)
		}
		return nil
	}
	if r.f.priority[r.call.Caller()] {
		r.markPriority(prioritySourceNumber) // S7
	}
	typed, err := r.greet(ctx)
	if err != nil {
		return err
	}
	if !r.f.hours.IsOpen(r.f.clk.Now()) {
		return r.afterHours(ctx)
	}
	item, err := r.choose(ctx, r.f.menu, typed)
	if errors.Is(err, errNoChoice) {
		return r.end(ctx, OutcomeFailed) // nobody is queued without a choice
	}
	if err != nil {
		return err
	}
	return r.enterQueue(ctx, item.Category)
}

// greet plays the S2 greeting. In office hours a caller who knows the menu
// may type ahead: a key pressed during the greeting stops it and is the
// first menu choice (barge-in), so a caller is never made to wait for the
// greeting's last word — nor is their key lost when prompts run late under
// load. Outside office hours the keys mean something else (the after-hours
// menu, S9) and the caller has not heard which yet: the greeting plays whole
// and its keys are dropped.
func (r *visit) greet(ctx context.Context) (rune, error) {
	if !r.f.hours.IsOpen(r.f.clk.Now()) {
		if err := r.play(ctx, r.f.cfg.Greeting); err != nil {
			return 0, err
		}
		r.call.FlushDigits()
		return 0, nil
	}
	key, err := r.listen(ctx, []string{r.f.cfg.Greeting})
	if err != nil {
		return 0, err
	}
	if key != 0 {
		r.f.m.typeAhead.Inc()
	}
	return key, nil
}

// end sets the outcome and says the prompts and goodbye. The outcome stands
// even if the caller hangs up meanwhile, so play errors are not returned.
func (r *visit) end(ctx context.Context, outcome string, prompts ...string) error {
	r.res.Outcome = outcome
	if err := r.play(ctx, append(prompts, PromptGoodbye)...); err != nil {
		r.log.Debug("caller left during the last prompt", "outcome", outcome, "err", err)
	}
	return nil
}

// finish turns the stage error into the outcome, counts it and logs it.
func (r *visit) finish(ctx context.Context, err error) {
	switch {
	case err == nil:
	case ctx.Err() != nil || errors.Is(err, errCallEnded):
		r.res.Outcome = r.abandoned()
		if ctx.Err() == nil || !errors.Is(err, context.Canceled) {
			r.res.Err = err // media failure, or a store error that was not the hang-up
		}
	default:
		r.res.Outcome = OutcomeFailed
		r.res.Err = err
		if perr := r.play(ctx, PromptSorryError, PromptGoodbye); perr != nil {
			r.log.Debug("caller left during the error prompt", "err", perr)
		}
	}
	r.res.Err = errors.Join(r.res.Err, r.cleanupErr)
	r.f.m.calls.WithLabelValues(r.res.Outcome).Inc()
	r.endStint()
	attrs := []any{"outcome", r.res.Outcome, "category", r.res.Category, "priority", r.res.Priority,
		"queued", !r.res.QueuedAt.IsZero()}
	if r.res.Err != nil {
		r.log.Warn("ivr call ended with error", append(attrs, "err", r.res.Err)...)
		return
	}
	r.log.Info("ivr call ended", attrs...)
}

// endStint counts how a caller's last stay in a queue ended, if no agent
// answered it: the visit ended there.
func (r *visit) endStint() {
	if r.stint == "" {
		return
	}
	outcome := stintFailed
	switch r.res.Outcome {
	case OutcomeAbandonedInQueue:
		outcome = stintAbandoned
	case OutcomeCallback:
		outcome = stintCallback
	}
	r.f.m.outcomes.WithLabelValues(r.stint, outcome).Inc()
	r.stint = ""
}

// abandoned is the outcome of a hang-up. After hours, a caller who leaves
// without choosing counts as after_hours, not as an abandoned call.
func (r *visit) abandoned() string {
	switch {
	case r.res.Outcome == OutcomeAnswered:
		return OutcomeAnswered
	case !r.res.QueuedAt.IsZero():
		return OutcomeAbandonedInQueue
	case r.closed:
		return OutcomeAfterHours
	default:
		return OutcomeAbandonedInMenu
	}
}

func (r *visit) markPriority(source string) {
	if !r.res.Priority {
		r.res.Priority = true
		r.f.m.priority.WithLabelValues(source).Inc()
	}
}

// listen plays prompts with barge-in: the first key stops them and is
// returned (0 when they played out).
func (r *visit) listen(ctx context.Context, prompts []string) (rune, error) {
	key, err := r.call.Play(ctx, slices.Clone(prompts), true)
	if err != nil {
		return 0, fmt.Errorf("%w: play %s: %w", errCallEnded, strings.Join(prompts, " "), err)
	}
	return key, nil
}

// play says prompts without barge-in.
func (r *visit) play(ctx context.Context, names ...string) error {
	if _, err := r.call.Play(ctx, names, false); err != nil {
		return fmt.Errorf("%w: play %s: %w", errCallEnded, strings.Join(names, " "), err)
	}
	return nil
}

// ask plays prompts with barge-in, then waits up to timeout for a key.
// It returns 0 when no key came.
func (r *visit) ask(ctx context.Context, prompts []string, timeout time.Duration) (rune, error) {
	key, err := r.listen(ctx, prompts)
	if err != nil {
		return 0, err
	}
	if key != 0 {
		return key, nil
	}
	if key, err = r.call.ReadDigit(ctx, timeout); err != nil {
		return 0, fmt.Errorf("%w: read digit: %w", errCallEnded, err)
	}
	return key, nil
}
