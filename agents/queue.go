package agents

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/hotline-dev/hotline/configs"
	"github.com/redis/go-redis/v9"
)

// ErrNotQueued is returned (wrapped) when a call is not waiting in the queue asked about.
var ErrNotQueued = errors.New("call not queued")

// ErrInvalidEntry is returned (wrapped) for an entry without a call id or category.
var ErrInvalidEntry = errors.New("invalid queue entry")

// Defaults applied by NewQueue to zero QueueOptions fields.
const (
	DefaultPrefix     = "hotline:"
	DefaultHandleTime = 3 * time.Minute
)

// QueueOptions configures a Queue. Zero fields take defaults.
type QueueOptions struct {
	// Prefix starts every Redis key (default "hotline:"). On Redis Cluster use a
	// hash tag such as "{hotline}:" so all keys share one slot.
	Prefix string
	// Node names this server; its waiting calls are listed under it so they can
	// be re-published or reaped (default: the host name).
	Node string
	// DefaultHandleTime is the handle time assumed before any was measured (S8);
	// default 3 minutes. cmd sets it from the configuration.
	DefaultHandleTime time.Duration
	// Metrics receives the queue metrics; nil means unregistered metrics.
	Metrics *Metrics
}

// Queue is the set of per-category caller queues in Redis, shared by all nodes.
// It is safe for concurrent use.
type Queue struct {
	rdb         redis.UniversalClient
	prefix      string
	node        string
	defaultAHT  time.Duration
	metrics     *Metrics
	emergencyQK string
}

// NewQueue returns a Queue on rdb. It attaches the queue-length collector of
// opts.Metrics to this queue.
func NewQueue(rdb redis.UniversalClient, opts QueueOptions) *Queue {
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.Node == "" {
		opts.Node = hostName()
	}
	if opts.DefaultHandleTime <= 0 {
		opts.DefaultHandleTime = DefaultHandleTime
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	q := &Queue{
		rdb:        rdb,
		prefix:     opts.Prefix,
		node:       opts.Node,
		defaultAHT: opts.DefaultHandleTime,
		metrics:    opts.Metrics,
	}
	q.emergencyQK = q.queueKey(configs.CategoryEmergency)
	q.metrics.lengths.attach(q.queueGauges)
	return q
}

func hostName() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "local"
	}
	return h
}

// Enqueue adds a caller to its category's queue. It is idempotent per call id:
// a call already waiting keeps its original enqueue time, and a new category,
// priority or node in e moves it.
func (q *Queue) Enqueue(ctx context.Context, e configs.QueueEntry) error {
	existed, err := q.enqueue(ctx, e, false)
	if err != nil {
		return err
	}
	reason := reasonNew
	if existed {
		reason = reasonRequeue
	}
	q.metrics.enqueued(e.Category, reason)
	return nil
}

// Republish re-adds entries with their original enqueue times, after a Redis
// restart lost them. Every entry is tried; the errors are joined.
func (q *Queue) Republish(ctx context.Context, entries []configs.QueueEntry) error {
	var errs []error
	for _, e := range entries {
		if _, err := q.enqueue(ctx, e, true); err != nil {
			errs = append(errs, err)
			continue
		}
		q.metrics.enqueued(e.Category, reasonRepublish)
	}
	return errors.Join(errs...)
}

func (q *Queue) enqueue(ctx context.Context, e configs.QueueEntry, needTime bool) (existed bool, err error) {
	if err := validate(e, needTime); err != nil {
		return false, err
	}
	var ms int64
	if !e.EnqueuedAt.IsZero() {
		ms = e.EnqueuedAt.UnixMilli()
	}
	keys := []string{q.queueKey(e.Category), q.callKey(e.CallID), q.nodeKey(q.node), q.categoriesKey()}
	res, err := enqueueScript.Run(ctx, q.rdb, keys,
		e.CallID, e.Caller, e.Category, flag(e.Priority), q.node, ms, q.prefix, e.Owner).Slice()
	if err != nil {
		return false, fmt.Errorf("enqueue call %s in %s: %w", e.CallID, e.Category, err)
	}
	if len(res) != 2 {
		return false, fmt.Errorf("enqueue call %s: %w", e.CallID, errUnexpectedReply(res))
	}
	return res[0] == int64(1), nil
}

func validate(e configs.QueueEntry, needTime bool) error {
	switch {
	case e.CallID == "":
		return fmt.Errorf("%w: empty call id", ErrInvalidEntry)
	case e.Category == "":
		return fmt.Errorf("%w: call %s has no category", ErrInvalidEntry, e.CallID)
	case needTime && e.EnqueuedAt.IsZero():
		return fmt.Errorf("%w: call %s has no enqueue time to re-publish", ErrInvalidEntry, e.CallID)
	case !e.EnqueuedAt.IsZero() && e.EnqueuedAt.UnixMilli() <= 0:
		return fmt.Errorf("%w: call %s enqueue time %s is before 1970", ErrInvalidEntry, e.CallID, e.EnqueuedAt)
	}
	return nil
}

// Remove takes a call out of a queue. Removing a call that is not waiting
// there is not an error (the caller may have been matched or reaped already).
func (q *Queue) Remove(ctx context.Context, category, callID string) error {
	keys := []string{q.queueKey(category), q.callKey(callID)}
	ms, err := removeScript.Run(ctx, q.rdb, keys, callID, category, q.prefix).Int64()
	if err != nil {
		return fmt.Errorf("remove call %s from %s: %w", callID, category, err)
	}
	if ms < 0 {
		q.metrics.removed(category, reasonNotQueued, 0)
		return nil
	}
	q.metrics.removed(category, reasonRemoved, time.Since(time.UnixMilli(ms)))
	return nil
}

// Position returns the call's 1-based place in line: its rank in its queue
// plus, outside the emergency queue, every emergency caller waiting (S6, S8).
// A call not in the queue gives an error wrapping ErrNotQueued.
func (q *Queue) Position(ctx context.Context, category, callID string) (int, error) {
	count := category != configs.CategoryEmergency
	keys := []string{q.queueKey(category), q.emergencyQK}
	pos, err := positionScript.Run(ctx, q.rdb, keys, callID, flag(count)).Int64()
	if err != nil {
		return 0, fmt.Errorf("position of call %s in %s: %w", callID, category, err)
	}
	if pos < 0 {
		return 0, fmt.Errorf("position of call %s in %s: %w", callID, category, ErrNotQueued)
	}
	return int(pos), nil
}

// Len returns how many callers wait in the category's queue.
func (q *Queue) Len(ctx context.Context, category string) (int, error) {
	n, err := q.rdb.ZCard(ctx, q.queueKey(category)).Result()
	if err != nil {
		return 0, fmt.Errorf("length of queue %s: %w", category, err)
	}
	return int(n), nil
}

// Entries lists the category's queue in serving order.
func (q *Queue) Entries(ctx context.Context, category string) ([]configs.QueueEntry, error) {
	res, err := entriesScript.Run(ctx, q.rdb, []string{q.queueKey(category)}, q.prefix).Slice()
	if err != nil {
		return nil, fmt.Errorf("list queue %s: %w", category, err)
	}
	if len(res)%3 != 0 {
		return nil, fmt.Errorf("list queue %s: %w", category, errUnexpectedReply(res))
	}
	out := make([]configs.QueueEntry, 0, len(res)/3)
	for i := 0; i < len(res); i += 3 {
		e, err := entryFromReply(category, res[i:i+3])
		if err != nil {
			return nil, fmt.Errorf("list queue %s: %w", category, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// entryFromReply builds a queue entry from entriesScript's (callID, score, caller).
func entryFromReply(category string, r []any) (configs.QueueEntry, error) {
	id, ok1 := r[0].(string)
	sc, ok2 := r[1].(string)
	caller, ok3 := r[2].(string)
	if !ok1 || !ok2 || !ok3 {
		return configs.QueueEntry{}, errUnexpectedReply(r)
	}
	s, err := strconv.ParseFloat(sc, 64)
	if err != nil {
		return configs.QueueEntry{}, fmt.Errorf("score of call %s: %w", id, err)
	}
	priority, at := decodeScore(s)
	return configs.QueueEntry{CallID: id, Caller: caller, Category: category, Priority: priority, EnqueuedAt: at}, nil
}

func errUnexpectedReply(v any) error {
	return fmt.Errorf("unexpected reply from redis: %#v", v)
}

// AnyServing reports whether any logged-in agent serves category: a caller
// of a queue nobody serves is offered a callback at once (overflow).
// Emergencies may go to any logged-in agent (S6), so for them any category's
// agent counts. It reads only set sizes (SCARD), never the members, so it
// stays cheap for every queued caller at thousands of agents.
func (q *Queue) AnyServing(ctx context.Context, category string) (bool, error) {
	cats := []string{category}
	if category == configs.CategoryEmergency {
		cats = configs.QueueCategories()
	}
	pipe := q.rdb.Pipeline()
	counts := make([]*redis.IntCmd, len(cats))
	for i, c := range cats {
		counts[i] = pipe.SCard(ctx, q.servingKey(c))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return false, fmt.Errorf("agents serving %s: %w", category, err)
	}
	for _, n := range counts {
		if n.Val() > 0 {
			return true, nil
		}
	}
	return false, nil
}
