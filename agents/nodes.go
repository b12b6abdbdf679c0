package agents

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hotline-dev/hotline/configs"
	"github.com/redis/go-redis/v9"
)

// Timing of the node loops, as fractions of NodeTTL. The alive key lives
// 4/5 of NodeTTL and every node reaps every 1/5, so a dead node's entries are
// gone at most NodeTTL after its last heartbeat (15 s), while a live
// node may miss three heartbeats in a row before it is declared dead.
const (
	aliveShare = 4 // alive TTL = NodeTTL * aliveShare / loopShare
	loopShare  = 5 // heartbeat and reap every NodeTTL / loopShare
)

// epochState is what this node remembers of Redis at its last heartbeat:
// <p>epoch, and what it holds there (held) for re-publishing after a restart.
type epochState struct {
	mu   sync.Mutex
	id   string
	held Held
}

// Held is what a node re-publishes after a Redis restart besides its waiting
// callers (which it keeps itself): the registrations it took (Registration.Node)
// and the states of those agents, as Redis had them at the node's last
// heartbeat before the restart.
type Held struct {
	Registrations []Registration
	Agents        []AgentState
}

// Heartbeat marks this node alive. restarted is true when Redis lost what the
// node published since the previous heartbeat: <p>epoch changed or vanished
// (a Redis restart), or another node found this one dead and reaped it. Then
// the node must Republish what it holds. An alive key that merely lapsed
// (a heartbeat late on a loaded machine, nobody reaped yet) is only counted:
// re-publishing then would redo thousands of writes on a node already
// behind, for nothing lost.
func (a *ACD) Heartbeat(ctx context.Context) (restarted bool, err error) {
	fresh, err := randomID()
	if err != nil {
		return false, fmt.Errorf("heartbeat: %w", err)
	}
	ttl := a.opts.NodeTTL * aliveShare / loopShare
	c := a.rdb
	if a.opts.Heartbeats != nil {
		c = a.opts.Heartbeats
	}
	r, err := a.evalOn(ctx, c, "heartbeat", heartbeatScript, ttl.Milliseconds(), fresh)
	if err != nil {
		return false, err
	}
	a.epoch.mu.Lock()
	defer a.epoch.mu.Unlock()
	known := a.epoch.id != ""
	restarted = known && (r.Epoch != a.epoch.id || !r.Member)
	if known && !restarted && !r.Alive {
		a.metrics.acd.lateBeats.Inc()
		a.log.Warn("heartbeat came after this node's alive key lapsed; no node had reaped it yet", "node_ttl", a.opts.NodeTTL)
	}
	a.epoch.id = r.Epoch
	return restarted, nil
}

// Reap cleans up after nodes whose heartbeat expired: their waiting callers
// leave the queues and the agents reserved for or talking to those callers
// are freed (ringing → available, on_call → wrap_up). Their calls in
// progress go to ACDOptions.OnLost. It returns the dead nodes. Every node
// runs it; the script makes it happen once.
func (a *ACD) Reap(ctx context.Context) ([]string, error) {
	r, err := a.eval(ctx, "reap dead nodes", reapScript, a.opts.WrapUpMax.Milliseconds())
	if err != nil {
		return nil, err
	}
	if len(r.Dead) > 0 {
		a.metrics.acd.reaped.WithLabelValues("node").Add(float64(len(r.Dead)))
		a.metrics.acd.reaped.WithLabelValues("call").Add(float64(r.Calls))
		a.metrics.acd.reaped.WithLabelValues("agent").Add(float64(len(r.Tr)))
		a.log.Warn("reaped dead nodes", "dead", r.Dead, "calls", r.Calls, "agents", len(r.Tr), "lost_calls", len(r.Lost))
	}
	if len(r.Lost) > 0 && a.opts.OnLost != nil {
		lost := make([]LiveCall, len(r.Lost))
		for i, l := range r.Lost {
			lost[i] = l.liveCall()
		}
		a.opts.OnLost(ctx, lost)
	}
	return r.Dead, nil
}

// Republish restores what this node holds after a Redis restart: its
// waiting callers with their original enqueue times (Queue.Republish) and
// its agents' states. Agents known again meanwhile (logged in since) are
// left as they are. Every item is tried; the errors are joined.
func (a *ACD) Republish(ctx context.Context, calls []configs.QueueEntry, agents []AgentState) error {
	var errs []error
	if err := a.queue.Republish(ctx, calls); err != nil {
		errs = append(errs, err)
	}
	now := a.now()
	for _, s := range agents {
		since := s.Since
		if since.IsZero() {
			since = now
		}
		_, err := a.eval(ctx, "republish agent "+s.ID, restoreScript,
			s.ID, string(s.State), s.Reason, s.CallID, s.IdleSince.UnixMilli(), strings.Join(s.Categories, ","),
			s.Misses, s.Node, since.UnixMilli(), now.Add(a.opts.Reservation).UnixMilli(),
			since.Add(a.opts.WrapUpMax).UnixMilli())
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Run heartbeats, sweeps, reaps and writes the state history until ctx is
// done. On a detected Redis restart it calls ACDOptions.OnRestart.
//
// The heartbeat has a goroutine of its own: a slow sweep, reap, copy or
// re-publish on a loaded node must never delay the beat that keeps the
// node from being reaped. What a beat asks for (re-publish, copy) is done
// on the main loop.
func (a *ACD) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { a.runHistory(ctx) })
	wg.Go(func() { a.runWall(ctx) })
	defer wg.Wait()
	every := a.opts.NodeTTL / loopShare
	after := make(chan bool, 1) // a beat's outcome: restarted
	wg.Go(func() { a.runBeats(ctx, every, after) })
	reap := time.NewTicker(every)
	// The sweep follows the deadlines (sweepDue), at least every maxGap.
	maxGap := min(sweepMaxGap, every)
	sweep := time.NewTimer(maxGap)
	sweepAt := time.Now().Add(maxGap)
	defer reap.Stop()
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case restarted := <-after:
			a.afterBeat(ctx, restarted)
		case <-reap.C:
			if _, err := a.Reap(ctx); err != nil {
				a.log.Error("reap dead nodes", "err", err)
			}
		case <-a.due.kick:
			// A deadline set here since: sweep sooner if it is earlier.
			if d := a.sweepDelay(a.due.take(), maxGap); time.Now().Add(d).Before(sweepAt) {
				sweep.Reset(d)
				sweepAt = time.Now().Add(d)
			}
		case <-sweep.C:
			_, next, err := a.sweep(ctx)
			if err != nil {
				a.log.Error("sweep agents", "err", err)
			}
			if asked := a.due.take(); !asked.IsZero() && (next.IsZero() || asked.Before(next)) {
				next = asked
			}
			d := a.sweepDelay(next, maxGap)
			sweep.Reset(d)
			sweepAt = time.Now().Add(d)
		}
	}
}

// runBeats heartbeats every interval and hands each successful beat's
// outcome to the main loop. A restart is never overwritten by a later
// plain beat still waiting in the channel.
func (a *ACD) runBeats(ctx context.Context, every time.Duration, after chan bool) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		restarted, err := a.Heartbeat(ctx)
		switch {
		case err != nil:
			if ctx.Err() == nil {
				a.log.Error("heartbeat", "err", err)
			}
		default:
			select {
			case after <- restarted:
			default:
				if restarted {
					// The pending outcome is a plain beat (a restart is
					// only sent once per beat): replace it.
					select {
					case <-after:
					default:
					}
					after <- true
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// afterBeat re-publishes after a restart, else copies what the node holds.
func (a *ACD) afterBeat(ctx context.Context, restarted bool) {
	if restarted {
		a.log.Warn("redis lost this node's state (restart or reaped): re-publishing")
		if a.opts.OnRestart != nil {
			a.opts.OnRestart(ctx)
		}
		return // the next heartbeat copies what was re-published
	}
	if err := a.copyHeld(ctx); err != nil {
		a.log.Warn("copy this node's agents for re-publishing", "err", err)
	}
}

// copyHeld copies what this node holds in Redis (Held) after a heartbeat that
// found Redis as before. The copy is kept only if <p>epoch is still the one
// that heartbeat saw once it is read, so a Redis restarting meanwhile is
// never taken for the node's agents having gone.
func (a *ACD) copyHeld(ctx context.Context) error {
	a.epoch.mu.Lock()
	epoch := a.epoch.id
	a.epoch.mu.Unlock()
	regs, err := NewLocations(a.rdb, a.prefix, LocationsOptions{}).Registered(ctx)
	if err != nil {
		return err
	}
	var h Held
	mine := map[string]bool{}
	for _, r := range regs {
		if r.Node == a.node {
			h.Registrations = append(h.Registrations, r)
			mine[r.AgentID] = true
		}
	}
	states, err := a.Agents(ctx)
	if err != nil {
		return err
	}
	for _, s := range states {
		if mine[s.ID] {
			h.Agents = append(h.Agents, s)
		}
	}
	now, err := a.rdb.Get(ctx, a.key("epoch")).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("read epoch: %w", err)
	}
	a.epoch.mu.Lock()
	defer a.epoch.mu.Unlock()
	if now == epoch && a.epoch.id == epoch {
		a.epoch.held = h
	}
	return nil
}

// Held returns what this node held in Redis at its last heartbeat before a
// restart (Run copies it after every heartbeat that found Redis as before):
// pass it to Locations.Restore and Republish from ACDOptions.OnRestart.
func (a *ACD) Held() Held {
	a.epoch.mu.Lock()
	defer a.epoch.mu.Unlock()
	return Held{Registrations: slices.Clone(a.epoch.held.Registrations), Agents: slices.Clone(a.epoch.held.Agents)}
}

// Subscribe delivers the events of every node (state changes and match
// hints) until ctx is done, then closes the channel.
func (a *ACD) Subscribe(ctx context.Context) (<-chan Event, error) {
	return subscribe(ctx, a, a.key("events"), "event", 256, func(p string) (Event, error) {
		var e Event
		err := json.Unmarshal([]byte(p), &e)
		return e, err
	})
}

// Forward pushes each offer whose caller is held by another node to that
// node's offer list and returns the offers for this node.
func (a *ACD) Forward(ctx context.Context, offers []Offer) ([]Offer, error) {
	var local []Offer
	var errs []error
	for _, o := range offers {
		if o.CallerNode == a.node {
			local = append(local, o)
			continue
		}
		if err := a.PushOffer(ctx, o); err != nil {
			errs = append(errs, err)
		}
	}
	return local, errors.Join(errs...)
}

// PushOffer appends o to <p>node:<o.CallerNode>:offers. The list expires
// with the reservation: an offer nobody popped is swept from the agent anyway.
func (a *ACD) PushOffer(ctx context.Context, o Offer) error {
	b, err := json.Marshal(o)
	if err != nil {
		return fmt.Errorf("encode offer of %s: %w", o.CallID, err)
	}
	k := a.offersKey(o.CallerNode)
	_, err = a.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.RPush(ctx, k, b)
		p.PExpire(ctx, k, a.opts.Reservation)
		return nil
	})
	if err != nil {
		return fmt.Errorf("push offer of %s to node %s: %w", o.CallID, o.CallerNode, err)
	}
	return nil
}

// popBatch bounds the offers PopOffers returns at once.
const popBatch = 100

// PopOffers waits up to timeout for offers pushed to node and returns all
// that are there (at most 100); none before the timeout gives an empty slice.
func (a *ACD) PopOffers(ctx context.Context, node string, timeout time.Duration) ([]Offer, error) {
	k := a.offersKey(node)
	first, err := a.blpop(ctx, timeout, k)
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pop offers of node %s: %w", node, err)
	}
	rest, err := a.rdb.LPopCount(ctx, k, popBatch-1).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("pop offers of node %s: %w", node, err)
	}
	out := make([]Offer, 0, 1+len(rest))
	for _, raw := range append([]string{first}, rest...) {
		var o Offer
		if err := json.Unmarshal([]byte(raw), &o); err != nil {
			return out, fmt.Errorf("decode offer for node %s: %w", node, err)
		}
		out = append(out, o)
	}
	return out, nil
}

// blpop pops the first element of k, waiting up to timeout. go-redis rounds
// BLPOP timeouts below one second up to a second; Redis 6+ takes fractions,
// sent through Do (whose default read timeout exceeds such a wait).
func (a *ACD) blpop(ctx context.Context, timeout time.Duration, k string) (string, error) {
	if timeout >= time.Second {
		r, err := a.rdb.BLPop(ctx, timeout, k).Result()
		if err != nil {
			return "", err
		}
		return r[1], nil
	}
	r, err := a.rdb.Do(ctx, "BLPOP", k, max(timeout, time.Millisecond).Seconds()).StringSlice()
	if err != nil {
		return "", err
	}
	if len(r) != 2 {
		return "", errUnexpectedReply(r)
	}
	return r[1], nil
}

func randomID() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random id: %w", err)
	}
	return hex.EncodeToString(b), nil
}
