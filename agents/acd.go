package agents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hotline-dev/hotline/configs"
	"github.com/redis/go-redis/v9"
)

// ErrCallerGone is returned (wrapped) by Answered when the caller left before
// the agent answered: the agent is available again and its leg gets a BYE.
var ErrCallerGone = errors.New("caller gone")

// Miss reasons accepted by Missed (a closed set: they label a metric).
const (
	MissNoAnswer = "no_answer" // ring_timeout passed (S1)
	MissBusy     = "busy"      // 486
	MissDecline  = "decline"   // 603
)

// Defaults applied by NewACD to zero ACDOptions fields. The S-rule numbers
// come from configs/ through cmd; these only keep a zero config usable.
const (
	DefaultMaxNoAnswer = 2
	DefaultWrapUpMax   = 5 * time.Minute  // S12
	DefaultOwnerWait   = 20 * time.Second // S16
	DefaultNodeTTL     = 15 * time.Second
	DefaultReservation = 20 * time.Second // ring_timeout 15 s (S1) plus a margin
	// DefaultMatchLimit: one Match of 1,200 waiting callers and 200 free
	// agents takes about 1.9 ms at 10 offers and 4.6 ms at 50 (Redis here;
	// in the server at 50 the slowest were 20 ms). Ten keeps each Match
	// short for the matching p99 while a burst still costs few round trips
	// (the dispatcher matches again at once when one Match hit the limit).
	DefaultMatchLimit = 10
)

// ACDOptions configures an ACD. Zero fields take defaults.
type ACDOptions struct {
	Prefix string // Redis key prefix, as for the Queue (default "hotline:")
	Node   string // this server's name (default: the host name)
	// MaxNoAnswer missed offers in a row make an agent not_responding (S1).
	MaxNoAnswer int
	// WrapUpMax ends a wrap-up the agent did not end (S12).
	WrapUpMax time.Duration
	// OwnerWait is how long a caller waits for its busy ticket owner (S16).
	OwnerWait time.Duration
	// NodeTTL: a node silent this long is dead and reaped.
	NodeTTL time.Duration
	// Reservation bounds how long an agent stays ringing without a report
	// (Answered, Missed, CallerGone); keep it above the ring timeout.
	Reservation time.Duration
	// MatchLimit caps the offers of one Match call.
	MatchLimit int
	// RingAll lists the categories whose callers ring every available agent
	// serving the category at once; the others ring one agent at a
	// time. A caller going to its ticket owner rings the owner alone (S16).
	RingAll []string
	// History receives every transition (S12 audit); nil records none.
	History History
	// HistoryBuffer bounds the transitions waiting for History (default 1024);
	// beyond it they are dropped and counted, never blocking routing.
	HistoryBuffer int
	// OnRestart is called by Run after Heartbeat detected a Redis restart or
	// this node being reaped; it should call Republish with what the node holds.
	OnRestart func(ctx context.Context)
	// Heartbeats, when set, carries the heartbeat alone (a client with a
	// connection or two of its own): a node whose main pool is busy with
	// calls must still say it is alive, or it is reaped while serving.
	Heartbeats redis.UniversalClient
	// OnLost receives the calls in progress (TrackCall) of nodes that Reap
	// found dead, so that their records are closed; nil drops them.
	OnLost  func(ctx context.Context, calls []LiveCall)
	Metrics *Metrics
	Logger  *slog.Logger
	Clock   func() time.Time
}

// ACD is the automatic call distributor: agent states and matching in Redis,
// shared by every node. It is safe for concurrent use.
type ACD struct {
	rdb     redis.UniversalClient
	opts    ACDOptions
	prefix  string
	node    string
	queue   *Queue
	metrics *Metrics
	log     *slog.Logger
	hist    chan Event
	epoch   epochState
	due     sweepDue
	wall    wallHints
}

// Offer pairs a waiting caller with a ringing agent, or for a ring-all
// category with every agent ringing for it (Agents; AgentID is then empty).
// The node holding the caller (CallerNode) rings them and reports the
// outcome: Answered (AnsweredBy for a group), Missed or CallerGone.
type Offer struct {
	CallID     string   `json:"call_id"`
	AgentID    string   `json:"agent_id,omitempty"`
	Agents     []string `json:"agents,omitempty"`
	Category   string   `json:"category"`
	CallerNode string   `json:"caller_node"`
}

// Rung lists the agents ringing for the offer: the group of a ring-all
// offer, else the one agent.
func (o Offer) Rung() []string {
	if len(o.Agents) > 0 {
		return o.Agents
	}
	return []string{o.AgentID}
}

// NewACD returns an ACD on rdb.
func NewACD(rdb redis.UniversalClient, opts ACDOptions) *ACD {
	opts = opts.withDefaults()
	a := &ACD{
		rdb: rdb, opts: opts, prefix: opts.Prefix, node: opts.Node,
		queue:   NewQueue(rdb, QueueOptions{Prefix: opts.Prefix, Node: opts.Node, Metrics: opts.Metrics}),
		metrics: opts.Metrics, log: opts.Logger.With("component", "acd", "node", opts.Node),
		hist: make(chan Event, opts.HistoryBuffer),
		due:  sweepDue{kick: make(chan struct{}, 1)},
		wall: wallHints{kick: make(chan struct{}, 1)},
	}
	a.metrics.acd.states.attach(a.stateGauges)
	return a
}

func (o ACDOptions) withDefaults() ACDOptions {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.WrapUpMax, DefaultWrapUpMax)
	def(&o.OwnerWait, DefaultOwnerWait)
	def(&o.NodeTTL, DefaultNodeTTL)
	def(&o.Reservation, DefaultReservation)
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Node == "" {
		o.Node = hostName()
	}
	if o.MaxNoAnswer <= 0 {
		o.MaxNoAnswer = DefaultMaxNoAnswer
	}
	if o.MatchLimit <= 0 {
		o.MatchLimit = DefaultMatchLimit
	}
	if o.HistoryBuffer <= 0 {
		o.HistoryBuffer = 1024
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return o
}

func (a *ACD) key(s string) string          { return a.prefix + s }
func (a *ACD) agentKey(id string) string    { return a.prefix + "agent:" + id }
func (a *ACD) offersKey(node string) string { return a.prefix + "node:" + node + ":offers" }

// matchScan bounds the callers one Match looks at per queue that are held
// for their busy owner (S16): deeper callers wait until they move up.
// Callers already ringing an agent are stepped over without counting, up to
// ten times matchScan in all (match_scripts.go).
const matchScan = 200

// MatchLimit is the most offers one Match makes: a Match that made as many
// may have left pairs for the next.
func (a *ACD) MatchLimit() int { return a.opts.MatchLimit }

// Match pairs waiting callers with agents until no pair is left (at most
// MatchLimit): emergencies first (S6), then by priority and wait (S7), each
// to its available ticket owner (S16) or the longest-idle available agent.
// A caller of a RingAll category not going to its owner is offered to every
// available agent serving the category at once (Offer.Agents).
// Each agent is ringing when Match returns; report the outcome with
// Answered (AnsweredBy for a group), Missed or CallerGone.
func (a *ACD) Match(ctx context.Context) ([]Offer, error) {
	return a.MatchUpTo(ctx, a.opts.MatchLimit)
}

// MatchUpTo is Match making at most limit offers (at least one): the
// dispatcher asks for more while a backlog lasts, so that the offers keep up
// with the callers when each round trip to Redis is slow.
func (a *ACD) MatchUpTo(ctx context.Context, limit int) ([]Offer, error) {
	start := time.Now()
	r, err := a.eval(ctx, "match callers", matchScript,
		a.opts.OwnerWait.Milliseconds(), a.opts.Reservation.Milliseconds(), max(limit, 1), matchScan,
		strings.Join(a.opts.RingAll, ","))
	a.metrics.acd.latency.Observe(time.Since(start).Seconds())
	if err != nil {
		return nil, err
	}
	if len(r.Offers) > 0 {
		a.due.by(a.now().Add(a.opts.Reservation))
	}
	for _, o := range r.Offers {
		mode := "one"
		if len(o.Agents) > 0 {
			mode = "all"
		}
		a.metrics.acd.matches.WithLabelValues(o.Category, mode).Inc()
	}
	return r.Offers, nil
}

// Answered records that agentID answered callID: the caller leaves the queue
// and the agent is on_call with its misses reset. When the caller already
// left, the agent is available again and the error wraps ErrCallerGone.
func (a *ACD) Answered(ctx context.Context, callID, agentID string) error {
	_, err := a.AnsweredBy(ctx, callID, agentID)
	return err
}

// AnsweredBy is Answered for ring-all: it also returns the other agents rung
// for the caller, now available again with their idle time kept and no miss
// counted (reason answered_elsewhere), whose legs the caller's node cancels.
func (a *ACD) AnsweredBy(ctx context.Context, callID, agentID string) ([]string, error) {
	r, err := a.eval(ctx, "answer call "+callID+" by agent "+agentID, answerScript, callID, agentID)
	if errors.Is(err, ErrCallerGone) {
		a.metrics.acd.callerGone.WithLabelValues("answered").Inc()
	}
	if err != nil {
		return nil, err
	}
	if r.Category != "" {
		a.metrics.removed(r.Category, reasonRemoved, a.now().Sub(time.UnixMilli(r.EnqueuedAt)))
	}
	return r.Released, nil
}

// Missed records that the offer of callID to agentID failed (reason is
// MissNoAnswer, MissBusy or MissDecline): the caller keeps its place for the
// next agent and the agent goes to the back of the idle line, or becomes
// not_responding after MaxNoAnswer misses in a row (S1).
func (a *ACD) Missed(ctx context.Context, callID, agentID, reason string) error {
	switch reason {
	case MissNoAnswer, MissBusy, MissDecline:
	default:
		return fmt.Errorf("missed call %s by agent %s: unknown reason %q", callID, agentID, reason)
	}
	r, err := a.eval(ctx, "missed call "+callID+" by agent "+agentID, missScript,
		callID, agentID, reason, a.opts.MaxNoAnswer)
	if err != nil {
		return err
	}
	a.metrics.acd.misses.WithLabelValues(reason).Inc()
	if r.NotResponding {
		a.metrics.acd.notResponding.Inc()
	}
	return nil
}

// CallerGone records that callID hung up while agentID rang: the caller
// leaves the queue and every agent ringing for it is available again with its
// idle time kept (not a miss).
func (a *ACD) CallerGone(ctx context.Context, callID, agentID string) error {
	r, err := a.eval(ctx, "caller of "+callID+" gone while agent "+agentID+" rang", goneScript, callID, agentID)
	if err != nil {
		return err
	}
	a.metrics.acd.callerGone.WithLabelValues("ringing").Inc()
	if r.Category != "" {
		a.metrics.removed(r.Category, reasonRemoved, a.now().Sub(time.UnixMilli(r.EnqueuedAt)))
	}
	return nil
}

// Hangup ends agentID's call: the agent is in wrap_up until WrapUpDone or
// WrapUpMax (S12), and handle (answer to hang-up) feeds the category's wait
// estimate (S8) when at least a millisecond.
func (a *ACD) Hangup(ctx context.Context, agentID string, handle time.Duration, category string) error {
	deadline := a.now().Add(a.opts.WrapUpMax)
	if _, err := a.eval(ctx, "hang up agent "+agentID, hangupScript, agentID, deadline.UnixMilli()); err != nil {
		return err
	}
	a.due.by(deadline)
	if category == "" || handle < time.Millisecond {
		return nil
	}
	if configs.IsQueueCategory(category) {
		a.metrics.acd.handle.WithLabelValues(category).Observe(handle.Seconds())
	}
	return a.queue.RecordHandleTime(ctx, category, handle)
}

// PhoneLost takes an agent whose phone vanished mid-call (no BYE, no RTP
// until the media timeout) from on_call to not_responding: no caller is
// offered to a phone that is gone until the agent resumes.
func (a *ACD) PhoneLost(ctx context.Context, agentID string) error {
	_, err := a.eval(ctx, "agent "+agentID+" lost its phone", lostScript, agentID)
	return err
}

// WrapUpDone ends agentID's wrap-up (ticket submitted or feature code); the
// agent's idle time starts now.
func (a *ACD) WrapUpDone(ctx context.Context, agentID string) error {
	_, err := a.eval(ctx, "end wrap-up of agent "+agentID, doneScript, agentID)
	return err
}

// sweepBatch bounds the agents one sweep script moves per kind, and
// sweepRounds the scripts one Sweep runs. Redis runs one script at a time:
// when 150 wrap-ups ended in one script it held Redis for 9 ms (SLOWLOG,
// bench matching step) and every Match waited behind it. Short scripts let
// the Matches in between.
const (
	sweepBatch  = 16
	sweepRounds = 64
)

// Sweep releases ringing reservations past expiry (the stuck "reserved"
// agent of app_queue) and ends wrap-ups past WrapUpMax (S12), in batches of
// sweepBatch per script until none is left (at most sweepRounds scripts; the
// next Sweep does the rest). It returns how many agents it moved.
func (a *ACD) Sweep(ctx context.Context) (int, error) {
	moved, _, err := a.sweep(ctx)
	return moved, err
}

// sweep is Sweep that also returns the earliest reservation expiry or
// wrap-up deadline left in Redis (any node's; zero when there is none, now
// when the rounds ran out with more due).
func (a *ACD) sweep(ctx context.Context) (int, time.Time, error) {
	moved := 0
	for range sweepRounds {
		r, err := a.eval(ctx, "sweep agents", sweepScript, sweepBatch)
		moved += len(r.Tr)
		if err != nil {
			return moved, time.Time{}, err
		}
		if len(r.Tr) < sweepBatch {
			var next time.Time
			if ms, err := strconv.ParseInt(r.Next, 10, 64); err == nil {
				next = time.UnixMilli(ms)
			}
			return moved, next, nil
		}
	}
	return moved, a.now(), nil
}

// Sweeps follow the deadlines (sweepDue): the sweep runs when the earliest
// reservation expiry or wrap-up deadline is due, at most every sweepMinGap
// and at least every sweepMaxGap (a deadline another node set that this
// one has not heard of). A sweep once a second ended every wrap-up of the
// second before at once: agents freed in lumps, a lump of matches, rings
// and Redis scripts once a second (the matching benchmark's slow Match
// steps all fell in those lumps), and wrap-up (S12) up to a second longer
// than wrap_up_max.
const (
	sweepMinGap = 20 * time.Millisecond
	sweepMaxGap = time.Second
)

// sweepDue is the earliest deadline this node set since the sweep loop
// last looked (Hangup's wrap-up, Match's reservations); kick wakes the loop.
type sweepDue struct {
	mu   sync.Mutex
	at   time.Time
	kick chan struct{}
}

// by asks for a sweep at t, if earlier than the one already asked for.
func (d *sweepDue) by(t time.Time) {
	d.mu.Lock()
	earlier := d.at.IsZero() || t.Before(d.at)
	if earlier {
		d.at = t
	}
	d.mu.Unlock()
	if earlier {
		select {
		case d.kick <- struct{}{}:
		default:
		}
	}
}

// take returns and clears the deadline asked for.
func (d *sweepDue) take() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.at
	d.at = time.Time{}
	return t
}

// sweepDelay is how long the loop waits for a sweep due at next (ACD
// clock), within sweepMinGap and maxGap; zero next means none is known.
func (a *ACD) sweepDelay(next time.Time, maxGap time.Duration) time.Duration {
	if next.IsZero() {
		return maxGap
	}
	return min(max(next.Sub(a.now()), sweepMinGap), maxGap)
}

func (a *ACD) now() time.Time { return a.opts.Clock() }

// reply is the JSON every ACD script returns.
type reply struct {
	Err           string     `json:"err"`
	State         string     `json:"state"`
	Tr            []Event    `json:"tr"`
	Next          string     `json:"next"` // sweep: the earliest deadline left (ms)
	Offers        []Offer    `json:"offers"`
	Released      []string   `json:"released"`
	Category      string     `json:"category"`
	EnqueuedAt    int64      `json:"enqueued_at"`
	NotResponding bool       `json:"not_responding"`
	CallID        string     `json:"call_id"`
	Agents        []string   `json:"agents"`
	Alive         bool       `json:"alive"`
	Member        bool       `json:"member"`
	Epoch         string     `json:"epoch"`
	Restored      bool       `json:"restored"`
	Dead          []string   `json:"dead"`
	Calls         int        `json:"calls"`
	Lost          []lostCall `json:"lost"`
	Agent         string     `json:"agent"` // reserveCallbackScript
	Held          string     `json:"held"`  // reserveCallbackScript: why no agent
	IdleSince     int64      `json:"idle_since"`
}

// eval executes an ACD script with the common arguments, records its
// transitions and maps its error codes.
func (a *ACD) eval(ctx context.Context, what string, s *redis.Script, args ...any) (reply, error) {
	return a.evalOn(ctx, a.rdb, what, s, args...)
}

// evalOn is eval over a given client (the heartbeat's own connection).
func (a *ACD) evalOn(ctx context.Context, c redis.Scripter, what string, s *redis.Script, args ...any) (reply, error) {
	argv := append([]any{a.prefix, a.now().UnixMilli(), a.node}, args...)
	raw, err := s.Run(ctx, c, []string{a.key("agents:state")}, argv...).Text()
	if err != nil {
		return reply{}, fmt.Errorf("%s: %w", what, err)
	}
	var r reply
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return reply{}, fmt.Errorf("%s: decode script reply: %w", what, err)
	}
	a.record(r.Tr)
	switch r.Err {
	case "":
		return r, nil
	case "bad_transition":
		return r, fmt.Errorf("%s: %w from %s", what, ErrBadTransition, r.State)
	case "caller_gone":
		return r, fmt.Errorf("%s: %w", what, ErrCallerGone)
	}
	return r, fmt.Errorf("%s: %w", what, errUnexpectedReply(raw))
}
