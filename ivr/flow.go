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
	// sharedKeys queue the same category in both menus (3, emergency, S6):
	// they count at any hour, even during the after-hours greeting.
	sharedKeys string
	langs      languages
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
		langs:      compileLanguages(cfg),
	}
	f.sharedKeys = sharedKeys(f.menu, f.afterHours)
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

// sharedKeys are the keys that queue the same category in both menus.
func sharedKeys(open, closed menu) string {
	var keys []rune
	for k, it := range closed.items {
		if o, ok := open.items[k]; ok && it.Action == ActionQueue && o == it {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return string(keys)
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
	lang       string // the prompt language the caller hears
	dropLogs   int    // dropped keys logged so far (bounded: keys are the caller's input)
}

// Run takes the call through greeting, hours check, menu and queue, and returns
// what happened. ctx must be cancelled when the caller hangs up; the caller is
// then removed from the queue at once.
func (f *Flow) Run(ctx context.Context, call Call) Result {
	r := &visit{f: f, call: call, log: f.log.With("call_id", call.ID())}
	r.startLanguage()
	err := r.answer(ctx)
	r.res.Language = r.lang
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
	r.closed = !r.f.hours.IsOpen(r.f.clk.Now())
	typed, err := r.greet(ctx)
	if err != nil {
		return err
	}
	if r.closed {
		return r.afterHours(ctx, typed)
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

// greet plays the S2 greeting with the other languages' offers, and returns
// a key typed ahead for the first menu. A language key switches the call's
// language and ends the greeting. In office hours a caller who knows the
// menu may type ahead: any key stops the greeting and is the first menu
// choice (barge-in), so a caller is never made to wait for the greeting's
// last word — nor is their key lost when prompts run late under load.
// Outside office hours most keys mean something else (the after-hours menu,
// S9) and the caller has not heard which yet: only a key that queues the
// same category in both menus (3, emergency, S6) stops the greeting and
// counts at once; the others are dropped, logged and counted.
func (r *visit) greet(ctx context.Context) (rune, error) {
	prompts := r.greeting()
	var key rune
	var err error
	if r.closed {
		key, err = r.call.PlayKeys(ctx, prompts, r.f.sharedKeys+r.languageKeys(), r.dropKey(stageGreeting))
	} else {
		key, err = r.call.Play(ctx, prompts, true)
	}
	if err != nil {
		return 0, fmt.Errorf("%w: play %s: %w", errCallEnded, strings.Join(prompts, " "), err)
	}
	if r.switchByKey(key) {
		return 0, nil
	}
	if key != 0 {
		r.f.m.typeAhead.Inc()
	}
	return key, nil
}

// Stages where a key can be dropped (label "stage" of dtmf_dropped_total):
// pressed where it means nothing, it is consumed so that it cannot answer the
// next question, and counted.
const (
	stageGreeting      = "greeting"       // after hours, not a shared or language key
	stageCallbackOffer = "callback_offer" // pressed while queued or bridged, before the offer
	stageSurvey        = "survey"         // before the survey question, or not 1-3
)

// maxDropLogs bounds the log lines of one call's dropped keys; the counter
// keeps counting.
const maxDropLogs = 10

// dropKey returns the PlayKeys callback that drops a key at stage.
func (r *visit) dropKey(stage string) func(rune) {
	return func(k rune) { r.dropped(stage, 1, string(k)) }
}

// flushKeys drops the keys pressed before the question at stage.
func (r *visit) flushKeys(stage string) {
	if n := r.call.FlushDigits(); n > 0 {
		r.dropped(stage, n, "")
	}
}

func (r *visit) dropped(stage string, n int, key string) {
	r.f.m.dropped.WithLabelValues(stage).Add(float64(n))
	if r.dropLogs++; r.dropLogs <= maxDropLogs {
		r.log.Info("key dropped: it means nothing here", "stage", stage, "key", key, "count", n)
	}
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
		"queued", !r.res.QueuedAt.IsZero(), "language", r.res.Language}
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
	key, err := r.call.Play(ctx, r.ids(prompts), true)
	if err != nil {
		return 0, fmt.Errorf("%w: play %s: %w", errCallEnded, strings.Join(prompts, " "), err)
	}
	return key, nil
}

// play says prompts without barge-in.
func (r *visit) play(ctx context.Context, names ...string) error {
	if _, err := r.call.Play(ctx, r.ids(names), false); err != nil {
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
