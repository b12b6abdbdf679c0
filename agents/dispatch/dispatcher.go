package dispatch

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/ivr"
)

// dispatcher delivers the ACD's matches to the callers waiting on this node.
// Any node may run the match; offers for callers held by another node travel
// through that node's offer list in Redis (agents.ACD.Forward/PopOffers),
// ring-all groups (acd.ring_all) as one offer like single ones.
type dispatcher struct {
	acd  *agents.ACD
	dir  *agents.Directory
	node string
	log  *slog.Logger

	mu      sync.Mutex
	waiting map[string]chan ivr.AgentOffer // by call id
	kick    chan struct{}

	staff      staffNumbers
	deliveries sync.WaitGroup // popForwarded and the deliver goroutines, waited for by run
	batch      int            // offers asked of the next Match (nextBatch); only run touches it
	freed      func()         // an agent became available (the callback placer's poke); may be nil
}

// matchBurst bounds how far the dispatcher raises its Match batch over the
// ACD's MatchLimit while a backlog lasts (nextBatch): twice, 20 offers, a
// Match of about 2.6 ms in Redis with 1,200 waiting. At 40 the slowest
// Match of a burst of freed agents came within a scheduling hiccup of the
// 5 ms matching target; 20 offers a round trip still make 500 offers/s at
// a 40 ms round trip.
const matchBurst = 2

// nextBatch is the number of offers to ask of the next Match, given the
// batch just asked and the offers it made: double it after a Match that
// filled its batch (callers and agents were left to pair), up to burst ×
// base; back to base after one that did not. Matching is one loop per node,
// so its offers per second are the batch over the round trip to Redis, and a
// slow round trip under load must not cap them; without a backlog each
// Match stays short.
func nextBatch(batch, made, base, burst int) int {
	if made < batch {
		return base
	}
	return min(2*batch, burst*base)
}

func newDispatcher(acd *agents.ACD, dir *agents.Directory, node string, log *slog.Logger) *dispatcher {
	return &dispatcher{acd: acd, dir: dir, node: node, log: log.With("component", "dispatch"),
		waiting: map[string]chan ivr.AgentOffer{}, kick: make(chan struct{}, 1),
		staff: staffNumbers{ttl: staffTTL, byID: map[string]staffEntry{}, busy: map[string]bool{}}}
}

// offers registers a caller about to be queued; offers for it arrive on the
// channel. The IVR registers before it enqueues, and the queue adapter pokes
// once the caller is in Redis (queue.joined).
func (d *dispatcher) offers(callID string) (<-chan ivr.AgentOffer, func()) {
	ch := make(chan ivr.AgentOffer, 1)
	d.mu.Lock()
	d.waiting[callID] = ch
	d.mu.Unlock()
	return ch, func() {
		d.mu.Lock()
		delete(d.waiting, callID)
		d.mu.Unlock()
	}
}

// poke asks for a match soon (a caller queued, an agent freed).
func (d *dispatcher) poke() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// run matches on every hint from Redis, every poke and every 500 ms, and
// takes the offers other nodes forwarded here. It returns when ctx is done.
func (d *dispatcher) run(ctx context.Context) {
	events, err := d.acd.Subscribe(ctx)
	if err != nil {
		d.log.Warn("no match hints from redis; polling only", "err", err)
	}
	defer d.deliveries.Wait()
	defer d.staff.bg.Wait()
	d.deliveries.Go(func() { d.popForwarded(ctx) })
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if ev.Type != agents.EventMatch && ev.To != agents.StateAvailable {
				continue
			}
			if ev.To == agents.StateAvailable {
				d.staff.warm(ctx, d.dir, ev.Agent) // S2, before the agent is offered
				if d.freed != nil {
					d.freed()
				}
			}
		case <-d.kick:
		case <-tick.C:
		}
		events = d.coalesce(events)
		d.match(ctx)
	}
}

// coalesce takes the hints that queued up while the last match ran: one
// Match serves them all (it makes up to MatchLimit offers over every
// queue), so offers never wait behind matches with nothing left to match.
// It returns nil once the hint channel is closed.
func (d *dispatcher) coalesce(events <-chan agents.Event) <-chan agents.Event {
	for {
		select {
		case _, ok := <-events:
			if !ok {
				return nil
			}
		case <-d.kick:
		default:
			return events
		}
	}
}

func (d *dispatcher) match(ctx context.Context) {
	base := d.acd.MatchLimit()
	if d.batch < base {
		d.batch = base
	}
	asked := d.batch
	offers, err := d.acd.MatchUpTo(ctx, asked)
	if err != nil {
		d.batch = base
		d.log.Warn("match failed", "err", err)
		return
	}
	d.batch = nextBatch(asked, len(offers), base, matchBurst)
	if len(offers) == 0 {
		return
	}
	if len(offers) >= asked {
		d.poke() // there may be more to match than one Match offers
	}
	local, err := d.acd.Forward(ctx, offers)
	if err != nil {
		d.log.Warn("forward offers failed", "err", err)
	}
	d.deliverAll(ctx, local)
}

func (d *dispatcher) popForwarded(ctx context.Context) {
	for ctx.Err() == nil {
		offers, err := d.acd.PopOffers(ctx, d.node, time.Second)
		if err != nil && ctx.Err() == nil {
			d.log.Warn("pop forwarded offers failed", "err", err)
			time.Sleep(500 * time.Millisecond)
			continue
		}
		d.deliverAll(ctx, offers)
	}
}

// deliverAll hands the offers over off the matching loop: looking up a
// staff number (PostgreSQL) or freeing the agent of a gone caller (Redis)
// must not hold up the next match.
func (d *dispatcher) deliverAll(ctx context.Context, offers []agents.Offer) {
	for _, o := range offers {
		d.deliveries.Go(func() { d.deliver(ctx, o) })
	}
}

// deliver hands an offer (one agent, or a ring-all group) to its waiting
// caller; a caller who is gone frees the reserved agents at once (never a
// stuck "reserved" agent).
func (d *dispatcher) deliver(ctx context.Context, o agents.Offer) {
	d.mu.Lock()
	ch := d.waiting[o.CallID]
	d.mu.Unlock()
	if ch != nil {
		select {
		case ch <- d.offer(ctx, o):
			return
		default:
		}
	}
	d.log.Info("offer for a caller no longer waiting here", "call_id", o.CallID, "agents", o.Rung())
	releaseAgents(ctx, d.acd, o.CallID, o.Rung(), d.log)
}

// offer is the IVR's form of an ACD offer, with the staff numbers to
// announce (S2); a ring-all offer lists its agents in Group.
func (d *dispatcher) offer(ctx context.Context, o agents.Offer) ivr.AgentOffer {
	agent := func(id string) ivr.AgentOffer {
		return ivr.AgentOffer{AgentID: id, StaffNumber: d.staff.get(ctx, d.dir, id), Category: o.Category}
	}
	if len(o.Agents) == 0 {
		return agent(o.AgentID)
	}
	out := ivr.AgentOffer{Category: o.Category, Group: make([]ivr.AgentOffer, len(o.Agents))}
	for i, id := range o.Agents {
		out.Group[i] = agent(id)
	}
	return out
}
