package agents

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/agents/redistest"
	"github.com/hotline-dev/hotline/configs"
	"github.com/hotline-dev/hotline/sip/siptest/poll"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A node dies: within NodeTTL its callers leave the queues, the agent
// ringing for its caller is available and the agent talking through it is in
// wrap-up; the live node's callers stay.
func TestReapDeadNode(t *testing.T) {
	ctx := context.Background()
	const ttl = 500 * time.Millisecond
	a := newTestACD(t, ACDOptions{Node: "node-a", NodeTTL: ttl})
	b := newTestACD(t, ACDOptions{Node: "node-b", NodeTTL: ttl, Prefix: a.prefix})
	for _, n := range []*acdEnv{b, a} {
		if _, err := n.Heartbeat(ctx); err != nil {
			t.Fatalf("heartbeat: %v", err)
		}
	}
	lastBeat := time.Now() // node-b dies after this heartbeat
	a.login(t, "1001", "inquiry")
	a.clock.Add(time.Second)
	a.login(t, "1002", "inquiry")
	mustEnqueue(t, b.q, configs.QueueEntry{CallID: "b1", Category: "inquiry", EnqueuedAt: at(1)},
		configs.QueueEntry{CallID: "b2", Category: "inquiry", EnqueuedAt: at(2)},
		configs.QueueEntry{CallID: "b3", Category: "inquiry", EnqueuedAt: at(3)})
	mustEnqueue(t, a.q, configs.QueueEntry{CallID: "a1", Category: "inquiry", EnqueuedAt: at(4)})
	if got := a.match(t); !slices.Equal(got, []string{"b1→1001", "b2→1002"}) {
		t.Fatalf("offers = %v", got)
	}
	a.must(t, "answer", a.Answered(ctx, "b1", "1001"))

	if dead, err := a.Reap(ctx); err != nil || len(dead) != 0 {
		t.Fatalf("reap while b lives = %v, %v", dead, err)
	}
	deadline := lastBeat.Add(ttl)
	var dead []string
	for time.Now().Before(deadline) && len(dead) == 0 {
		if _, err := a.Heartbeat(ctx); err != nil {
			t.Fatalf("heartbeat: %v", err)
		}
		var err error
		if dead, err = a.Reap(ctx); err != nil {
			t.Fatalf("reap: %v", err)
		}
		time.Sleep(ttl / 20)
	}
	if !slices.Equal(dead, []string{"node-b"}) {
		t.Fatalf("dead nodes = %v within %s of death, want node-b", dead, ttl)
	}
	t.Logf("node-b reaped %s after its last heartbeat", time.Since(lastBeat).Round(time.Millisecond))
	if s := a.state(t, "1001"); s.State != StateWrapUp || s.Reason != "node_lost" {
		t.Fatalf("talking agent after reap: %+v", s)
	}
	if s := a.state(t, "1002"); s.State != StateAvailable || s.Reason != "node_lost" {
		t.Fatalf("ringing agent after reap: %+v", s)
	}
	got, err := a.q.Entries(ctx, "inquiry")
	if err != nil || !slices.Equal(ids(got), []string{"a1"}) {
		t.Fatalf("queue after reap = %v, %v; want only a1", ids(got), err)
	}
	if got := a.match(t); !slices.Equal(got, []string{"a1→1002"}) {
		t.Fatalf("offers after reap = %v", got)
	}
	// node-b comes back: its heartbeat tells it to re-publish.
	if restarted, err := b.Heartbeat(ctx); err != nil || !restarted {
		t.Fatalf("heartbeat of the reaped node = %v, %v; want restarted", restarted, err)
	}
}

// A Redis restart (every key gone): the next heartbeat reports it, and
// Republish restores the callers' order and the agents' states.
func TestRedisRestartRepublish(t *testing.T) {
	ctx := context.Background()
	e := newTestACD(t, ACDOptions{})
	if restarted, err := e.Heartbeat(ctx); err != nil || restarted {
		t.Fatalf("first heartbeat = %v, %v", restarted, err)
	}
	e.login(t, "1001", "inquiry")
	e.clock.Add(time.Minute)
	e.login(t, "1002", "inquiry")
	e.clock.Add(time.Minute)
	e.login(t, "1003", "inquiry")
	e.must(t, "pause", e.Pause(ctx, "1003", "lunch"))
	calls := []configs.QueueEntry{
		{CallID: "c1", Caller: "101", Category: "inquiry", EnqueuedAt: at(1)},
		{CallID: "c2", Caller: "102", Category: "inquiry", Priority: true, EnqueuedAt: at(3)},
		{CallID: "c3", Caller: "103", Category: "inquiry", EnqueuedAt: at(2)},
	}
	mustEnqueue(t, e.q, calls...)
	if got := e.match(t); !slices.Equal(got, []string{"c2→1001", "c1→1002"}) {
		t.Fatalf("offers = %v", got)
	}
	before, err := e.q.Entries(ctx, "inquiry")
	if err != nil {
		t.Fatalf("entries: %v", err)
	}
	agents, err := e.Agents(ctx)
	if err != nil {
		t.Fatalf("agents: %v", err)
	}
	if restarted, err := e.Heartbeat(ctx); err != nil || restarted {
		t.Fatalf("heartbeat before restart = %v, %v", restarted, err)
	}

	redistest.DeletePrefix(t, e.rdb, e.prefix)
	if restarted, err := e.Heartbeat(ctx); err != nil || !restarted {
		t.Fatalf("heartbeat after restart = %v, %v; want restarted", restarted, err)
	}
	scrambled := slices.Clone(calls)
	slices.Reverse(scrambled)
	e.must(t, "republish", e.Republish(ctx, scrambled, agents))
	after, err := e.q.Entries(ctx, "inquiry")
	if err != nil || !slices.EqualFunc(after, before, sameEntry) {
		t.Fatalf("queue after republish = %+v, %v; want %+v", after, err, before)
	}
	restored, err := e.Agents(ctx)
	if err != nil || !slices.EqualFunc(restored, agents, sameAgentState) {
		t.Fatalf("agents after republish:\n got %+v\nwant %+v", restored, agents)
	}
	// The reservations came back: nothing is offered twice; answers work.
	if got := e.match(t); len(got) != 0 {
		t.Fatalf("offers after republish = %v", got)
	}
	e.must(t, "answer", e.Answered(ctx, "c2", "1001"))
	e.must(t, "resume", e.Resume(ctx, "1003"))
	if got := e.match(t); !slices.Equal(got, []string{"c3→1003"}) {
		t.Fatalf("offers after resume = %v", got)
	}
}

func sameAgentState(a, b AgentState) bool {
	return a.ID == b.ID && a.State == b.State && a.Reason == b.Reason && a.CallID == b.CallID &&
		a.Since.Equal(b.Since) && a.IdleSince.Equal(b.IdleSince) && slices.Equal(a.Categories, b.Categories) &&
		a.Misses == b.Misses && a.Node == b.Node
}

// Offers for callers on another node go through that node's list.
func TestForwardAndPopOffers(t *testing.T) {
	ctx := context.Background()
	a := newTestACD(t, ACDOptions{Node: "node-a"})
	b := newTestACD(t, ACDOptions{Node: "node-b", Prefix: a.prefix})
	offers := []Offer{
		{CallID: "a1", AgentID: "1001", Category: "inquiry", CallerNode: "node-a"},
		{CallID: "b1", AgentID: "1002", Category: "inquiry", CallerNode: "node-b"},
		{CallID: "b2", AgentID: "1003", Category: "complaint", CallerNode: "node-b"},
		{CallID: "b3", Agents: []string{"1004", "1005"}, Category: "inquiry", CallerNode: "node-b"}, // ring-all
	}
	local, err := a.Forward(ctx, offers)
	if err != nil || !reflect.DeepEqual(local, offers[:1]) {
		t.Fatalf("forward = %v, %v; want the node-a offer", local, err)
	}
	got, err := b.PopOffers(ctx, "node-b", time.Second)
	if err != nil || !reflect.DeepEqual(got, offers[1:]) {
		t.Fatalf("pop = %v, %v; want the node-b offers", got, err)
	}
	start := time.Now()
	got, err = b.PopOffers(ctx, "node-b", 100*time.Millisecond)
	if err != nil || len(got) != 0 || time.Since(start) < 100*time.Millisecond {
		t.Fatalf("empty pop = %v, %v after %s", got, err, time.Since(start))
	}
}

// Every transition is an event on <p>events; a free agent or caller is a
// match hint.
func TestSubscribeEvents(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := newTestACD(t, ACDOptions{})
	events, err := e.Subscribe(ctx)
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	e.login(t, "1001", "inquiry")
	mustEnqueue(t, e.q, configs.QueueEntry{CallID: "c1", Category: "inquiry", EnqueuedAt: at(1)})
	e.match(t)
	want := []Event{
		{Type: EventState, Agent: "1001", From: StateOffline, To: StateAvailable, Node: "node-a", At: t0},
		{Type: EventMatch, Node: "node-a", At: t0},
		{Type: EventMatch, Reason: "enqueued", CallID: "c1", Node: "node-a"},
		{Type: EventState, Agent: "1001", From: StateAvailable, To: StateRinging, CallID: "c1", Node: "node-a", At: t0},
	}
	for i, w := range want {
		select {
		case got := <-events:
			if got.Type != w.Type || got.Agent != w.Agent || got.From != w.From || got.To != w.To ||
				got.CallID != w.CallID || got.Reason != w.Reason || got.Node != w.Node || !got.At.Equal(w.At) {
				t.Fatalf("event %d = %+v, want %+v", i, got, w)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("event %d (%+v) not received", i, w)
		}
	}
	cancel()
	for range events { // the channel closes after ctx is done
	}
}

// Run heartbeats, sweeps and calls OnRestart after a Redis restart.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var restarts atomic.Int32
	e := newTestACD(t, ACDOptions{NodeTTL: 250 * time.Millisecond, Clock: time.Now,
		OnRestart: func(context.Context) { restarts.Add(1) }})
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	poll.Until(t, "alive key", func() bool { return e.rdb.Exists(ctx, e.key("node:node-a:alive")).Val() == 1 })
	redistest.DeletePrefix(t, e.rdb, e.prefix)
	poll.Until(t, "OnRestart", func() bool { return restarts.Load() == 1 })
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("run: %v", err)
	}
}

// A heartbeat that comes after the node's own alive key lapsed, before any
// node reaped it, is counted and does not ask for a re-publish: nothing was
// lost, and re-publishing on a node already behind only makes it later.
// Once another node has reaped it, the next heartbeat does ask.
func TestLateHeartbeatNotReaped(t *testing.T) {
	ctx := context.Background()
	m := NewMetrics(prometheus.NewRegistry())
	e := newTestACD(t, ACDOptions{Metrics: m})
	if _, err := e.Heartbeat(ctx); err != nil {
		t.Fatalf("first heartbeat: %v", err)
	}
	e.rdb.Del(ctx, e.key("node:node-a:alive")) // lapsed: the beat came late
	if restarted, err := e.Heartbeat(ctx); err != nil || restarted {
		t.Fatalf("late heartbeat = %v, %v; want not restarted", restarted, err)
	}
	if got := testutil.ToFloat64(m.acd.lateBeats); got != 1 {
		t.Fatalf("late heartbeats counted = %v, want 1", got)
	}
	// Now a node that found it dead reaps it (removes it from <p>nodes).
	b := NewACD(e.rdb, ACDOptions{Prefix: e.prefix, Node: "node-b", Clock: e.clock.Now})
	e.rdb.Del(ctx, e.key("node:node-a:alive"))
	if dead, err := b.Reap(ctx); err != nil || !slices.Equal(dead, []string{"node-a"}) {
		t.Fatalf("reap by node-b = %v, %v; want node-a", dead, err)
	}
	if restarted, err := e.Heartbeat(ctx); err != nil || !restarted {
		t.Fatalf("heartbeat after being reaped = %v, %v; want restarted", restarted, err)
	}
}

// The heartbeat does not wait for the main loop: while a re-publish (or a
// slow sweep or reap) holds the loop, the alive key keeps being refreshed on
// the heartbeat's own connection, so a loaded node is not reaped.
func TestHeartbeatNotHeldByMainLoop(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	release := make(chan struct{})
	var restarts atomic.Int32
	hb := redistest.Client(t)
	e := newTestACD(t, ACDOptions{NodeTTL: 250 * time.Millisecond, Clock: time.Now, Heartbeats: hb,
		OnRestart: func(ctx context.Context) {
			restarts.Add(1)
			select { // the loop is stuck here, as on a node far behind
			case <-release:
			case <-ctx.Done():
			}
		}})
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	alive := e.key("node:node-a:alive")
	poll.Until(t, "alive key", func() bool { return e.rdb.Exists(ctx, alive).Val() == 1 })
	redistest.DeletePrefix(t, e.rdb, e.prefix)
	poll.Until(t, "OnRestart", func() bool { return restarts.Load() == 1 })
	// The loop is held; over ten heartbeat intervals the alive key must
	// never be missing and its value (the beat's time) must move on.
	first := e.rdb.Get(ctx, alive).Val()
	for range 20 {
		time.Sleep(25 * time.Millisecond)
		if e.rdb.Exists(ctx, alive).Val() != 1 {
			t.Fatal("alive key lapsed while the main loop was busy")
		}
	}
	if now := e.rdb.Get(ctx, alive).Val(); now == first {
		t.Fatalf("alive key not refreshed while the main loop was busy (still %s)", now)
	}
	close(release)
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("run: %v", err)
	}
}
