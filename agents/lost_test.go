package agents

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/configs"
)

// A node dies with calls in progress: the reaper hands each to OnLost with
// what the cluster knew of it (the agent talking to it and since when, the
// queue facts), once, and forgets them; a call whose record its node wrote
// (untracked) and the live node's calls are not lost.
func TestReapHandsOverLostCalls(t *testing.T) {
	ctx := context.Background()
	const ttl = 500 * time.Millisecond
	var mu sync.Mutex
	var lost []LiveCall
	a := newTestACD(t, ACDOptions{Node: "node-a", NodeTTL: ttl, OnLost: func(_ context.Context, c []LiveCall) {
		mu.Lock()
		lost = append(lost, c...)
		mu.Unlock()
	}})
	b := newTestACD(t, ACDOptions{Node: "node-b", NodeTTL: ttl, Prefix: a.prefix})
	for _, n := range []*acdEnv{b, a} {
		if _, err := n.Heartbeat(ctx); err != nil {
			t.Fatalf("heartbeat: %v", err)
		}
	}
	a.login(t, "1001", "inquiry")
	call := func(id string) LiveCall {
		return LiveCall{ID: id, SIPCallID: "sip-" + id, Caller: "1390000000" + id[1:], Dialled: "12345",
			StartedAt: at(10), AnsweredAt: at(11)}
	}
	for _, c := range []LiveCall{call("b1"), call("b2"), call("b3")} {
		b.must(t, "track", b.TrackCall(ctx, c))
	}
	a.must(t, "track", a.TrackCall(ctx, call("a1")))
	b.must(t, "track queued", b.TrackQueued(ctx, "b1", "inquiry", true, at(20)))
	b.must(t, "untrack", b.UntrackCall(ctx, "b3"))
	if err := b.TrackQueued(ctx, "b3", "inquiry", false, at(21)); err == nil {
		t.Fatal("an untracked call took queue facts")
	}
	mustEnqueue(t, b.q, configs.QueueEntry{CallID: "b1", Category: "inquiry", Priority: true, EnqueuedAt: at(20)})
	a.match(t)
	a.clock.Add(time.Minute)
	connected := a.clock.Now()
	a.must(t, "answer", a.Answered(ctx, "b1", "1001"))

	deadline := time.Now().Add(10 * ttl)
	for {
		if _, err := a.Heartbeat(ctx); err != nil {
			t.Fatal(err)
		}
		dead, err := a.Reap(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(dead) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(ttl / 20)
	}
	want := []LiveCall{
		{ID: "b1", SIPCallID: "sip-b1", Caller: "13900000001", Dialled: "12345", Node: "node-b",
			StartedAt: at(10), AnsweredAt: at(11), Category: "inquiry", Priority: true, QueuedAt: at(20),
			AgentID: "1001", ConnectedAt: connected},
		{ID: "b2", SIPCallID: "sip-b2", Caller: "13900000002", Dialled: "12345", Node: "node-b",
			StartedAt: at(10), AnsweredAt: at(11)},
	}
	mu.Lock()
	got := lost
	mu.Unlock()
	if len(got) == 2 && got[0].ID == "b2" {
		got[0], got[1] = got[1], got[0]
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("lost calls:\n got %+v\nwant %+v", got, want)
	}
	if n, err := a.rdb.Exists(ctx, a.liveKey("b1"), a.liveKey("b2"), a.liveSetKey("node-b")).Result(); err != nil || n != 0 {
		t.Fatalf("the dead node's calls are still in redis: %d keys (%v)", n, err)
	}
	if n, err := a.rdb.Exists(ctx, a.liveKey("a1")).Result(); err != nil || n != 1 {
		t.Fatalf("the live node's call was reaped: %d, %v", n, err)
	}
	if _, err := a.Reap(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lost) != 2 {
		t.Fatalf("a second reap handed over %d calls in all, want the 2 once", len(lost))
	}
}
