package ivr

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/configs"
)

// t0 is when every test call starts (a Monday morning in Beijing).
var t0 = time.Date(2025, 3, 3, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t
	}
}

// event is one scripted caller action, consumed by the Call operation named in on.
type event struct {
	on  string // "read" (ReadDigit), "play" (Play, PlayKeys), "loop" (PlayLoop), "held" (FlushDigits)
	key rune   // 0 with hangup false: a ReadDigit timeout
	bye bool   // the caller hangs up
	at  string // "play" only: consumed by an interruptible Play of this prompt ("" any)
}

// greet is the default greeting: welcome, then English offered on key 8.
var greet = []string{PromptWelcome, PromptID("en", PromptLanguageOffer), PromptID("en", "num_8")}

func key(r rune) event   { return event{on: "read", key: r} }
func barge(r rune) event { return event{on: "play", key: r, at: PromptMenu} }

// typeAhead is a key pressed during the greeting: the flow takes it only in
// office hours; otherwise FlushDigits drops it.
func typeAhead(r rune) event { return event{on: "play", key: r, at: PromptWelcome} }
func timeout() event         { return event{on: "read"} }

// held is a key pressed while nothing reads keys (hold music, a prompt
// without barge-in): the next FlushDigits drops it.
func held(r rune) event { return event{on: "held", key: r} }

// during is a key pressed while the prompt at plays.
func during(at string, r rune) event { return event{on: "play", key: r, at: at} }
func hangup(on string) event         { return event{on: on, bye: true} }

// fakeCall plays the caller from a script and records what the flow played.
// Prompts take no time; ReadDigit timeouts and hold music move the fake clock.
type fakeCall struct {
	t        *testing.T
	id       string
	caller   string
	clk      *fakeClock
	cancel   context.CancelFunc
	script   []event
	hangupAt time.Duration // > 0: hang up when hold music reaches t0+hangupAt
	mediaErr error         // returned by ReadDigit instead of the script (media failure)
	played   []string      // prompt names; hold music as "hold→+<until-t0>"
	timeouts []string      // SetMediaTimeout calls, with the prompts played so far
}

// SetMediaTimeout notes the timeout and the number of prompts played before it.
func (c *fakeCall) SetMediaTimeout(d time.Duration) {
	c.timeouts = append(c.timeouts, fmt.Sprintf("%v@%d", d, len(c.played)))
}

func (c *fakeCall) ID() string     { return c.id }
func (c *fakeCall) Caller() string { return c.caller }

// FlushDigits drops the keys typed during a greeting that did not take
// them, and keys held for the next FlushDigits (held), and counts them.
func (c *fakeCall) FlushDigits() int {
	n := 0
	for len(c.script) > 0 && !c.script[0].bye && (c.script[0].on == "held" ||
		c.script[0].on == "play" && c.script[0].at == PromptWelcome) {
		c.script = c.script[1:]
		n++
	}
	return n
}

// plays reports whether the scripted event e is for prompts: its at names
// one of them, in any language ("en/welcome" is welcome).
func plays(e event, prompts []string) bool {
	return e.at == "" || slices.ContainsFunc(prompts, func(p string) bool {
		_, name, _ := strings.Cut(p, "/")
		return p == e.at || name == e.at
	})
}

// PlayKeys takes the keys scripted for these prompts in turn: one in keys
// ends it, the others go to dropped.
func (c *fakeCall) PlayKeys(ctx context.Context, prompts []string, keys string, dropped func(rune)) (rune, error) {
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	c.played = append(c.played, prompts...)
	for len(c.script) > 0 && c.script[0].on == "play" && plays(c.script[0], prompts) {
		e, _ := c.next("play")
		switch {
		case e.bye:
			return 0, c.hangUp(ctx)
		case strings.ContainsRune(keys, e.key):
			return e.key, nil
		default:
			dropped(e.key)
		}
	}
	return 0, nil
}

// next consumes the next event if it is meant for op.
func (c *fakeCall) next(op string) (event, bool) {
	if len(c.script) == 0 || c.script[0].on != op {
		return event{}, false
	}
	e := c.script[0]
	c.script = c.script[1:]
	return e, true
}

func (c *fakeCall) hangUp(ctx context.Context) error {
	c.cancel()
	return ctx.Err()
}

func (c *fakeCall) Play(ctx context.Context, prompts []string, interruptible bool) (rune, error) {
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	c.played = append(c.played, prompts...)
	if len(c.script) > 0 && c.script[0].bye && c.script[0].on == "play" {
		c.next("play")
		return 0, c.hangUp(ctx)
	}
	if interruptible && len(c.script) > 0 && plays(c.script[0], prompts) {
		if e, ok := c.next("play"); ok {
			return e.key, nil
		}
	}
	return 0, nil
}

func (c *fakeCall) PlayLoop(ctx context.Context, prompts []string, _ bool) (rune, error) {
	until, ok := ctx.Deadline()
	if !ok {
		c.t.Errorf("PlayLoop(%v) without a deadline would never end", prompts)
		return 0, c.hangUp(ctx)
	}
	c.played = append(c.played, fmt.Sprintf("hold→+%s", until.Sub(t0)))
	if e, ok := c.next("loop"); ok && e.bye {
		return 0, c.hangUp(ctx)
	}
	if c.hangupAt > 0 && !until.Before(t0.Add(c.hangupAt)) {
		c.clk.set(t0.Add(c.hangupAt))
		return 0, c.hangUp(ctx)
	}
	c.clk.set(until)
	return 0, context.DeadlineExceeded
}

func (c *fakeCall) ReadDigit(ctx context.Context, timeout time.Duration) (rune, error) {
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	if c.mediaErr != nil {
		return 0, c.mediaErr
	}
	e, ok := c.next("read")
	switch {
	case !ok:
		c.t.Errorf("ReadDigit: script has no key for it (left: %v; played %v)", c.script, c.played)
		return 0, c.hangUp(ctx)
	case e.bye:
		return 0, c.hangUp(ctx)
	case e.key == 0:
		c.clk.set(c.clk.Now().Add(timeout))
	}
	return e.key, nil
}

type fakeQueue struct {
	mu         sync.Mutex
	entries    []configs.QueueEntry // queued now
	enqueued   []configs.QueueEntry // every Enqueue that succeeded
	removed    []string             // "category/callID"
	removeErrs []error              // ctx.Err() seen by each Remove: nil means still usable
	positions  []int                // returned in turn, the last one repeated; default 1
	perCaller  time.Duration
	enqueueErr error
	posErr     error
	waitErr    error
	removeErr  error
	onEnqueue  func() // runs inside Enqueue (e.g. hang up)
	loseOnce   bool   // the next Position finds the queue has lost the call
}

func (q *fakeQueue) Enqueue(ctx context.Context, e configs.QueueEntry) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.onEnqueue != nil {
		q.onEnqueue()
	}
	if q.enqueueErr != nil {
		return q.enqueueErr
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	q.entries = append(q.entries, e)
	q.enqueued = append(q.enqueued, e)
	return nil
}

func (q *fakeQueue) Position(ctx context.Context, category, callID string) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.posErr != nil {
		return 0, q.posErr
	}
	if q.loseOnce {
		q.loseOnce = false
		q.entries = slices.DeleteFunc(q.entries, func(e configs.QueueEntry) bool { return e.CallID == callID })
	}
	if !q.has(category, callID) {
		return 0, fmt.Errorf("position of %s in %s: %w", callID, category, ErrNotQueued)
	}
	if len(q.positions) == 0 {
		return 1, nil
	}
	p := q.positions[0]
	if len(q.positions) > 1 {
		q.positions = q.positions[1:]
	}
	return p, nil
}

func (q *fakeQueue) EstimatedWait(ctx context.Context, category string, position int) (time.Duration, error) {
	if q.waitErr != nil {
		return 0, q.waitErr
	}
	return time.Duration(position) * q.perCaller, nil
}

func (q *fakeQueue) Remove(ctx context.Context, category, callID string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.removed = append(q.removed, category+"/"+callID)
	q.removeErrs = append(q.removeErrs, ctx.Err())
	if q.removeErr != nil {
		return q.removeErr
	}
	q.entries = slices.DeleteFunc(q.entries, func(e configs.QueueEntry) bool {
		return e.Category == category && e.CallID == callID
	})
	return nil
}

func (q *fakeQueue) has(category, callID string) bool {
	return slices.ContainsFunc(q.entries, func(e configs.QueueEntry) bool {
		return e.Category == category && e.CallID == callID
	})
}

type fakeRecords struct {
	q        *fakeQueue
	requests []configs.CallbackRequest
	stillQ   []bool // whether the caller was still queued at each request
	err      error
}

func (r *fakeRecords) RequestCallback(ctx context.Context, req configs.CallbackRequest) error {
	if ctx.Err() != nil {
		return fmt.Errorf("records: %w", ctx.Err())
	}
	if r.err != nil {
		return r.err
	}
	r.q.mu.Lock()
	r.stillQ = append(r.stillQ, r.q.has(req.Category, req.CallID))
	r.q.mu.Unlock()
	r.requests = append(r.requests, req)
	return nil
}

type fakeHours bool

func (h fakeHours) IsOpen(time.Time) bool { return bool(h) }

var errRedis = errors.New("redis: connection refused")

// harness is one flow with its fakes, built from DefaultConfig.
type harness struct {
	flow     *Flow
	cfg      Config
	open     bool
	clk      *fakeClock
	q        *fakeQueue
	rec      *fakeRecords
	hangupAt time.Duration // copied to each fakeCall
	mediaErr error         // copied to each fakeCall
	cancel   context.CancelFunc
}

func newHarness(t *testing.T, open bool, edit func(*Config)) *harness {
	t.Helper()
	cfg := DefaultConfig()
	cfg.PriorityNumbers = []string{"13900000009"}
	if edit != nil {
		edit(&cfg)
	}
	h := &harness{cfg: cfg, open: open, clk: &fakeClock{now: t0}, q: &fakeQueue{perCaller: time.Minute}}
	h.rec = &fakeRecords{q: h.q}
	h.build(t, nil, nil)
	return h
}

// build (re)builds the harness's flow with these agents and tickets (nil: none).
func (h *harness) build(t *testing.T, ag Agents, tk Tickets) {
	t.Helper()
	f, err := NewFlow(h.cfg, FlowOptions{Hours: fakeHours(h.open), Queue: h.q, Records: h.rec, Clock: h.clk,
		Agents: ag, Tickets: tk})
	if err != nil {
		t.Fatalf("NewFlow: %v", err)
	}
	h.flow = f
}

// call runs one call from caller with the script and checks the script was used up.
func (h *harness) call(t *testing.T, caller string, script ...event) (Result, *fakeCall) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h.cancel = cancel
	c := &fakeCall{t: t, id: "call-1", caller: caller, clk: h.clk, cancel: cancel, script: script,
		hangupAt: h.hangupAt, mediaErr: h.mediaErr}
	res := h.flow.Run(ctx, c)
	if len(c.script) != 0 {
		t.Errorf("script not used up: %v left; played %v", c.script, c.played)
	}
	return res, c
}

// seq flattens prompt names and lists of them into one expected sequence.
func seq(parts ...any) []string {
	var out []string
	for _, p := range parts {
		switch v := p.(type) {
		case string:
			out = append(out, v)
		case []string:
			out = append(out, v...)
		default:
			panic(fmt.Sprintf("seq: %T", p))
		}
	}
	return out
}

// ann is the Mandarin S8 announcement with the given number prompts.
func ann(position, minutes string, oneMinute bool) []string {
	suffix := PromptQueueWaitSuffix
	if oneMinute {
		suffix = PromptQueueWaitSuffixOne
	}
	return []string{PromptQueuePositionPrefix, position, PromptQueuePositionSuffix,
		PromptQueueWaitPrefix, minutes, suffix}
}
