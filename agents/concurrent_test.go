package agents

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/agents/redistest"
	"github.com/hotline-dev/hotline/configs"
)

// Two nodes on one Redis, many goroutines matching at once: no caller and no
// agent is ever handed out twice, and every possible pair is made.
func TestConcurrentMatchNeverDoubleAssigns(t *testing.T) {
	const (
		iterations = 200
		agents     = 6
		callers    = 9
		workers    = 8
	)
	ctx := context.Background()
	a := newTestACD(t, ACDOptions{Node: "node-a"})
	b := newTestACD(t, ACDOptions{Node: "node-b", Prefix: a.prefix})
	nodes := []*acdEnv{a, b}
	for it := range iterations {
		redistest.DeletePrefix(t, a.rdb, a.prefix)
		for i := range agents {
			a.login(t, fmt.Sprint(1001+i), "inquiry", "complaint")
		}
		for i := range callers {
			cat := []string{"inquiry", "complaint"}[i%2]
			mustEnqueue(t, nodes[i%2].q, configs.QueueEntry{CallID: fmt.Sprintf("c%d", i), Category: cat, EnqueuedAt: at(i)})
		}
		var mu sync.Mutex
		var offers []Offer
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				got, err := nodes[w%2].Match(ctx)
				if err != nil {
					t.Errorf("match: %v", err)
				}
				mu.Lock()
				offers = append(offers, got...)
				mu.Unlock()
			})
		}
		wg.Wait()
		seenCall, seenAgent := map[string]bool{}, map[string]bool{}
		for _, o := range offers {
			if seenCall[o.CallID] || seenAgent[o.AgentID] {
				t.Fatalf("iteration %d: double assignment in %+v", it, offers)
			}
			seenCall[o.CallID], seenAgent[o.AgentID] = true, true
			if s := a.state(t, o.AgentID); s.State != StateRinging || s.CallID != o.CallID {
				t.Fatalf("iteration %d: agent %s is %+v, want ringing for %s", it, o.AgentID, s, o.CallID)
			}
		}
		if len(offers) != agents {
			t.Fatalf("iteration %d: %d offers, want %d", it, len(offers), agents)
		}
	}
}

// Two nodes answer and miss concurrently for the same offers: each outcome
// is applied once.
func TestConcurrentOutcomes(t *testing.T) {
	ctx := context.Background()
	a := newTestACD(t, ACDOptions{Node: "node-a"})
	b := newTestACD(t, ACDOptions{Node: "node-b", Prefix: a.prefix})
	a.login(t, "1001", "inquiry")
	mustEnqueue(t, a.q, configs.QueueEntry{CallID: "c1", Category: "inquiry", EnqueuedAt: at(1)})
	a.match(t)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Go(func() { errs[0] = a.Answered(ctx, "c1", "1001") })
	wg.Go(func() { errs[1] = b.CallerGone(ctx, "c1", "1001") })
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("answer and caller-gone both %v / %v: exactly one must win", errs[0], errs[1])
	}
	if n, err := a.q.Len(ctx, "inquiry"); err != nil || n != 0 {
		t.Fatalf("queue length = %d, %v; want 0", n, err)
	}
}

// BenchmarkMatch: 1,000 waiting callers and 200 agents; each round one agent
// finishes a call and becomes available, a new caller joins, and Match pairs
// them. Reports the p99 of Match (target: 5 ms).
func BenchmarkMatch(b *testing.B) {
	ctx := context.Background()
	rdb, prefix := redistest.New(b)
	clock := &fakeClock{t: t0}
	a := NewACD(rdb, ACDOptions{Prefix: prefix, Node: "node-a", Clock: clock.Now})
	q := NewQueue(rdb, QueueOptions{Prefix: prefix, Node: "node-a"})
	categories := []string{"inquiry", "complaint", "business", configs.CategoryEmergency}
	for i := range 200 {
		if err := a.Login(ctx, fmt.Sprint(1000+i), categories[:3]); err != nil {
			b.Fatalf("login: %v", err)
		}
	}
	enqueue := func(n int) {
		cat := categories[n%3]
		if n%97 == 0 {
			cat = configs.CategoryEmergency
		}
		e := configs.QueueEntry{CallID: fmt.Sprintf("c%d", n), Category: cat, Priority: n%11 == 0, EnqueuedAt: at(n)}
		if err := q.Enqueue(ctx, e); err != nil {
			b.Fatalf("enqueue: %v", err)
		}
	}
	next := 0
	for ; next < 1000+200; next++ {
		enqueue(next)
	}
	ringing := map[string]Offer{} // agent → offer
	for {
		offers, err := a.Match(ctx)
		if err != nil {
			b.Fatalf("match: %v", err)
		}
		if len(offers) == 0 {
			break
		}
		for _, o := range offers {
			ringing[o.AgentID] = o
		}
	}
	agentIDs := make([]string, 0, len(ringing))
	for id := range ringing {
		agentIDs = append(agentIDs, id)
	}
	slices.Sort(agentIDs)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		id := agentIDs[i%len(agentIDs)]
		o := ringing[id]
		if err := a.Answered(ctx, o.CallID, id); err != nil {
			b.Fatalf("answer: %v", err)
		}
		if err := a.Hangup(ctx, id, 0, ""); err != nil {
			b.Fatalf("hangup: %v", err)
		}
		clock.Add(time.Millisecond)
		if err := a.WrapUpDone(ctx, id); err != nil {
			b.Fatalf("wrap-up done: %v", err)
		}
		enqueue(next)
		next++
		b.StartTimer()
		start := time.Now()
		offers, err := a.Match(ctx)
		lat = append(lat, time.Since(start))
		if err != nil || len(offers) != 1 {
			b.Fatalf("match = %v, %v; want one offer", offers, err)
		}
		ringing[offers[0].AgentID] = offers[0]
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
}
