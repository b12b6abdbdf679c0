package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/configs"
	"github.com/hotline-dev/hotline/ivr"
	"github.com/hotline-dev/hotline/tickets"
	"github.com/prometheus/client_golang/prometheus"
)

// Phones rings phones for the router: the SIP side.
type Phones interface {
	// Dial rings d.Contact on behalf of call (nil for a callback: d.CallerID
	// and d.CallID say for whom) for at most d.Timeout and returns the
	// answered leg. A refusal wraps ErrBusy or ErrDeclined.
	Dial(ctx context.Context, call ivr.Call, d Dial) (Leg, error)
}

// Dial is one phone to ring.
type Dial struct {
	Who     string // agent id or specialist number, for logs and the leg
	Contact string // SIP URI: a registration or a configured specialist line
	Timeout time.Duration
	// CallerID and CallID replace the caller's number and call id when
	// there is no caller: a callback shows the agent the number it calls.
	CallerID, CallID string
}

// Leg is an answered phone.
type Leg interface {
	// Hangup ends the leg (BYE).
	Hangup(ctx context.Context)
	// Done is closed when the leg has ended.
	Done() <-chan struct{}
	// Bridge connects call and this leg until either hangs up or the agent
	// transfers the caller; recordTo is the recording's path, "" for none.
	Bridge(ctx context.Context, call ivr.Call, recordTo string) ivr.TalkResult
}

// Ring failures a phone reports; other errors count as no answer.
var (
	ErrBusy     = errors.New("phone busy")
	ErrDeclined = errors.New("phone declined")
)

// Records writes call records and callback requests (the record writer,
// which spools them while PostgreSQL is down).
type Records interface {
	SaveCall(ctx context.Context, r tickets.CallRecord) error
	SaveAnsweredCall(ctx context.Context, r tickets.CallRecord, facts tickets.DraftFacts) error
	SaveCallback(ctx context.Context, r configs.CallbackRequest) error
}

// Tickets is what routing reads and writes in the ticket store.
type Tickets interface {
	ivr.Tickets
	OpenTicketsForCaller(ctx context.Context, number string, window time.Duration, limit int) ([]tickets.Ticket, error)
	Get(ctx context.Context, ref string) (tickets.Ticket, error)
	RecordSurvey(ctx context.Context, callID string, score int) (tickets.Ticket, error)
}

// Recording says where bridged calls are recorded (S19).
type Recording struct {
	// Dir holds the WAV files, one folder a day; empty: nothing is recorded.
	Dir string
	// Off lists the categories whose calls are not recorded.
	Off map[string]bool
}

func (r Recording) enabled(category string) bool { return r.Dir != "" && !r.Off[category] }

// Options are a Router's parts and policy.
type Options struct {
	Node      string
	ACD       *agents.ACD
	Directory *agents.Directory
	Locations *agents.Locations
	Queue     *agents.Queue
	Phones    Phones
	Records   Records
	Tickets   Tickets

	IVR   ivr.Config
	Hours ivr.Hours
	Clock ivr.Clock // nil: the wall clock

	RingTimeout           time.Duration // S1
	ServiceLevelThreshold time.Duration // S1: a longer wait is kept on the record
	RepeatWindow          time.Duration // S16: how old an open ticket still makes a caller "repeat"
	Recording             Recording
	Specialists           map[string]string // S10: transfer numbers and their SIP URIs
	// PauseReasons are the reasons an agent may pause with from the panel.
	PauseReasons []string
	// WrapUpUntilSubmitted holds the agent in wrap-up until the call's
	// ticket is submitted (S12): the wrap-up feature code is refused until
	// then; wrap_up_max still ends it.
	WrapUpUntilSubmitted bool
	// EntryWindow is the time to enter a ticket after the call (S12), for
	// the panel's deadline until the draft is written.
	EntryWindow time.Duration
	// Callbacks places the callback requests (S9); nil Store: none is placed.
	Callbacks Callbacks

	Registerer prometheus.Registerer // nil: metrics are not exported
	Logger     *slog.Logger
}

// Router routes this node's calls; see the package doc.
type Router struct {
	o     Options
	log   *slog.Logger
	m     *metrics
	flow  *ivr.Flow
	disp  *dispatcher
	queue *queue
	live  *liveCalls
	talks *talks
	pops  *pops
	cb    *placer // nil when callbacks are not placed
}

// New builds a router and the IVR flow it runs on each call.
func New(o Options) (*Router, error) {
	if o.ACD == nil || o.Directory == nil || o.Locations == nil || o.Queue == nil || o.Phones == nil ||
		o.Records == nil || o.Tickets == nil || o.Hours == nil {
		return nil, errors.New("new router: ACD, directory, locations, queue, phones, records, tickets and hours are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = wallClock{}
	}
	r := &Router{o: o, log: o.Logger, m: newMetrics(o.Registerer)}
	r.disp = newDispatcher(o.ACD, o.Directory, o.Node, o.Logger)
	r.queue = newQueue(o.Queue, o.Tickets, o.RepeatWindow, o.Logger.With("component", "queue"), r.m.ownerLate, r.disp.poke)
	r.live = &liveCalls{acd: o.ACD, log: o.Logger.With("component", "live_calls"), calls: map[string]agents.LiveCall{}}
	r.queue.queued = r.live.queued
	r.queue.changed = o.ACD.WallChanged
	r.talks = &talks{by: map[string]*conversation{}}
	r.pops = &pops{by: map[string]map[string]agents.CurrentCall{}}
	flow, err := ivr.NewFlow(o.IVR, ivr.FlowOptions{Hours: o.Hours, Queue: r.queue, Records: callbacks{o.Records},
		Clock: o.Clock, Agents: r, Tickets: o.Tickets, Logger: o.Logger, Metrics: ivr.NewMetrics(o.Registerer)})
	if err != nil {
		return nil, err
	}
	r.flow = flow
	if o.Callbacks.Store != nil {
		if err := o.Callbacks.check(); err != nil {
			return nil, fmt.Errorf("new router: %w", err)
		}
		r.cb = &placer{r: r, c: o.Callbacks, log: o.Logger.With("component", "callbacks"),
			m: newCallbackMetrics(o.Registerer), kick: make(chan struct{}, 1)}
		r.disp.freed = r.cb.poke
	}
	return r, nil
}

// Run matches callers and agents and delivers the offers, carries out the
// panel's commands, and places callbacks, until ctx ends.
func (r *Router) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { r.runCommands(ctx) })
	if r.cb != nil {
		wg.Go(func() { r.cb.run(ctx) })
	}
	r.disp.run(ctx)
	wg.Wait()
}

// Offers implements ivr.Agents.
func (r *Router) Offers(callID string) (<-chan ivr.AgentOffer, func()) { return r.disp.offers(callID) }

// AnyServing reports whether any logged-in agent serves category (overflow
// to the callback offer when none does).
func (r *Router) AnyServing(ctx context.Context, category string) (bool, error) {
	return r.o.Queue.AnyServing(ctx, category)
}

// DrainCallbacks makes this node start no more callbacks and waits, until
// ctx ends, for the callbacks in progress (a draining node, SIGTERM).
func (r *Router) DrainCallbacks(ctx context.Context) {
	if r.cb != nil {
		r.cb.drain(ctx)
	}
}

// PokeCallbacks starts a round of the callback placer now (a claim from
// the panel); nothing when callbacks are not placed.
func (r *Router) PokeCallbacks() {
	if r.cb != nil {
		r.cb.poke()
	}
}

// Poke asks for a match now (an agent freed, a caller queued).
func (r *Router) Poke() { r.disp.poke() }

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

// callbacks stores the IVR's callback requests (S9) through the writer.
type callbacks struct{ w Records }

func (c callbacks) RequestCallback(ctx context.Context, r configs.CallbackRequest) error {
	return c.w.SaveCallback(ctx, configs.CallbackRequest(r))
}
