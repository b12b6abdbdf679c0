package dispatch

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/agents/redistest"
	"github.com/hotline-dev/hotline/configs"
	"github.com/hotline-dev/hotline/ivr"
	"github.com/hotline-dev/hotline/sip/siptest/poll"
)

// The fakes below stand for what a Router needs but Republish never uses:
// a call of this test is rung and answered through the Router's own code.
type (
	noPhones  struct{ Phones }
	noRecords struct{ Records }
	noTickets struct{ Tickets }
	openHours struct{}
	testLeg   struct{ Leg }
	testCall  struct {
		ivr.Call
		id, caller string
	}
)

func (openHours) IsOpen(time.Time) bool { return true }
func (c testCall) ID() string           { return c.id }
func (c testCall) Caller() string       { return c.caller }

// An agent's current call (the panel's screen pop, <p>agent:<id>:call)
// survives a Redis restart: the node holding the call writes it back with
// the rest of what it holds (OnRestart → Router.Republish), for a call
// bridged to an agent and for one still ringing, so the panel shows it again
// (S1, S16: caller, wait, priority, open tickets); and announces it.
func TestCurrentCallRepublishedAfterRedisRestart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rdb, prefix := redistest.New(t)
	var router *Router
	acd := agents.NewACD(rdb, agents.ACDOptions{Prefix: prefix, Node: "node-a", NodeTTL: 250 * time.Millisecond,
		Clock: time.Now, OnRestart: func(ctx context.Context) { router.Republish(ctx) }})
	locs := agents.NewLocations(rdb, prefix, agents.LocationsOptions{})
	q := agents.NewQueue(rdb, agents.QueueOptions{Prefix: prefix, Node: "node-a"})
	r, err := New(Options{Node: "node-a", ACD: acd, Directory: agents.NewDirectory(nil, "test"), Locations: locs,
		Queue: q, Phones: noPhones{}, Records: noRecords{}, Tickets: noTickets{}, Hours: openHours{},
		IVR: ivr.DefaultConfig(), ServiceLevelThreshold: 20 * time.Second})
	if err != nil {
		t.Fatalf("new router: %v", err)
	}
	router = r

	// 1001 answers c1; 1002's phone rings for c2. Both registered here.
	for i, id := range []string{"1001", "1002"} {
		reg := agents.Registration{AgentID: id, Contact: "sip:" + id + "@127.0.0.1:5062", Transport: "UDP",
			Node: "node-a", Expires: time.Hour, RegisteredAt: time.Now()}
		if err := locs.Register(ctx, reg); err != nil {
			t.Fatalf("register %s: %v", id, err)
		}
		if err := acd.Login(ctx, id, []string{"inquiry"}); err != nil {
			t.Fatalf("login %s: %v", id, err)
		}
		call := testCall{id: []string{"c1", "c2"}[i], caller: []string{"13800138001", "13800138002"}[i]}
		e := configs.QueueEntry{CallID: call.id, Caller: call.caller, Category: "inquiry", Priority: i == 1,
			EnqueuedAt: time.Now().Add(-30 * time.Second)}
		if err := q.Enqueue(ctx, e); err != nil {
			t.Fatalf("enqueue %s: %v", call.id, err)
		}
		r.live.calls[call.id] = agents.LiveCall{ID: call.id, Caller: call.caller, Category: "inquiry",
			Priority: e.Priority, QueuedAt: e.EnqueuedAt}
		offers, err := acd.Match(ctx)
		if err != nil || len(offers) != 1 || offers[0].AgentID != id {
			t.Fatalf("match = %+v, %v; want %s offered to %s", offers, err, call.id, id)
		}
		r.popUp(ctx, call, id, "inquiry")
		if id == "1001" {
			if _, err := r.takeAnswer(ctx, call, legResult{agent: ivr.AgentOffer{AgentID: id, Category: "inquiry"},
				leg: testLeg{}}); err != nil {
				t.Fatalf("answer: %v", err)
			}
		}
	}
	before := map[string]agents.CurrentCall{}
	for _, id := range []string{"1001", "1002"} {
		c, err := acd.CurrentCall(ctx, id)
		if err != nil {
			t.Fatalf("current call of %s before the restart: %v", id, err)
		}
		before[id] = c
	}
	if before["1001"].State != agents.StateOnCall || before["1002"].State != agents.StateRinging {
		t.Fatalf("before the restart: %+v", before)
	}

	done := make(chan error, 1)
	go func() { done <- acd.Run(ctx) }()
	// Run copies what the node holds after each heartbeat that finds Redis
	// as before: wait for a copy with both agents on their calls.
	poll.Until(t, "the held copy of both agents", func() bool {
		n := 0
		for _, s := range acd.Held().Agents {
			if s.CallID != "" {
				n++
			}
		}
		return n == 2
	})
	events, err := acd.Subscribe(ctx)
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	redistest.DeletePrefix(t, rdb, prefix) // the restart: every key gone

	after := map[string]agents.CurrentCall{}
	if !poll.Within(5*time.Second, func() bool {
		for _, id := range []string{"1001", "1002"} {
			c, err := acd.CurrentCall(ctx, id)
			if err != nil {
				return false
			}
			after[id] = c
		}
		return true
	}) {
		_, err1 := acd.CurrentCall(ctx, "1001")
		_, err2 := acd.CurrentCall(ctx, "1002")
		t.Fatalf("no current call after the Redis restart: 1001: %v; 1002: %v", err1, err2)
	}
	for _, id := range []string{"1001", "1002"} {
		b, a := before[id], after[id]
		if a.CallID != b.CallID || a.State != b.State || a.Caller != b.Caller || a.Category != b.Category ||
			a.WaitedMS != b.WaitedMS || a.Priority != b.Priority || a.Apologise != b.Apologise {
			t.Errorf("%s after the restart:\n got %+v\nwant %+v", id, a, b)
		}
		// The answer time is the node's; the ACD's differs by the moments between.
		if d := a.Started.Sub(b.Started); d < -time.Second || d > time.Second {
			t.Errorf("%s started %s after the restart, %s before", id, a.Started, b.Started)
		}
	}
	if !after["1002"].Apologise || after["1002"].Priority != 1 {
		t.Errorf("1002's pop lost the wait and priority: %+v", after["1002"])
	}
	// Open panels are told: "answered" for 1001, "ringing" with the pop for 1002.
	want := map[string]string{"1001": agents.EventAnswered, "1002": agents.EventRinging}
	deadline := time.After(5 * time.Second)
	for len(want) > 0 {
		select {
		case e := <-events:
			if w, ok := want[e.Agent]; ok && e.Type == w {
				if e.Type == agents.EventRinging && (e.Pop == nil || e.Pop.Caller != "13800138002") {
					t.Errorf("ringing event without the pop: %+v", e)
				}
				delete(want, e.Agent)
			}
		case <-deadline:
			t.Fatalf("events not published after the restart: %v", want)
		}
	}

	// The conversation ends: the node no longer holds a pop for it, and a
	// second restart does not bring it back.
	r.pops.stopped("c1", "1001")
	r.pops.ended("c2")
	rdb.Del(ctx, prefix+"agent:1001:call", prefix+"agent:1002:call")
	r.pops.republish(ctx, acd, r.log)
	if n := rdb.Exists(ctx, prefix+"agent:1001:call", prefix+"agent:1002:call").Val(); n != 0 {
		t.Fatalf("%d calls written back after they ended", n)
	}
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("run: %v", err)
	}
}
