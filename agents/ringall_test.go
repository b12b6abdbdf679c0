package agents

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/agents/redistest"
	"github.com/hotline-dev/hotline/configs"
)

// Ring-all categories in Match: a caller rings every available
// agent serving its queue at once, in the same order across queues as one
// at a time (S6, S7), and its available ticket owner alone (S16). Agents log
// in one minute apart (the first logged in is the longest idle).
func TestMatchRingAll(t *testing.T) {
	type agent struct {
		id         string
		categories []string
	}
	tests := []struct {
		name    string
		ringAll []string
		agents  []agent
		busy    []string // logged in for inquiry, then paused
		callers []configs.QueueEntry
		advance time.Duration
		want    []string
	}{
		{
			name:    "every agent serving the queue rings for its first caller",
			ringAll: []string{"inquiry"},
			agents:  []agent{{"1001", []string{"inquiry"}}, {"1002", []string{"inquiry"}}, {"1003", []string{"business"}}},
			callers: []configs.QueueEntry{
				{CallID: "i1", Category: "inquiry", EnqueuedAt: at(1)},
				{CallID: "i2", Category: "inquiry", EnqueuedAt: at(2)},
				{CallID: "b1", Category: "business", EnqueuedAt: at(3)},
			},
			want: []string{"i1→1001+1002", "b1→1003"},
		},
		{
			name:    "other categories still ring one agent at a time",
			ringAll: []string{"inquiry"},
			agents:  []agent{{"1001", []string{"complaint"}}, {"1002", []string{"complaint"}}},
			callers: []configs.QueueEntry{
				{CallID: "c1", Category: "complaint", EnqueuedAt: at(1)},
				{CallID: "c2", Category: "complaint", EnqueuedAt: at(2)},
			},
			want: []string{"c1→1001", "c2→1002"},
		},
		{
			name:    "an available owner rings alone",
			ringAll: []string{"inquiry"},
			agents:  []agent{{"1001", []string{"inquiry"}}, {"1002", []string{"inquiry"}}, {"1003", []string{"inquiry"}}},
			callers: []configs.QueueEntry{
				{CallID: "r1", Category: "inquiry", Owner: "1002", EnqueuedAt: at(1)},
				{CallID: "i2", Category: "inquiry", EnqueuedAt: at(2)},
			},
			want: []string{"r1→1002", "i2→1001+1003"},
		},
		{
			name:    "a busy owner holds the caller within owner_wait",
			ringAll: []string{"inquiry"},
			agents:  []agent{{"1001", []string{"inquiry"}}, {"1003", []string{"inquiry"}}},
			busy:    []string{"1002"},
			callers: []configs.QueueEntry{
				{CallID: "r1", Category: "inquiry", Owner: "1002", EnqueuedAt: at(1)},
				{CallID: "i2", Category: "inquiry", EnqueuedAt: at(2)},
			},
			advance: 10 * time.Second,
			want:    []string{"i2→1001+1003"},
		},
		{
			name:    "an older caller of a one-at-a-time queue takes a shared agent first",
			ringAll: []string{"inquiry"},
			agents:  []agent{{"1001", []string{"inquiry", "complaint"}}, {"1002", []string{"inquiry"}}},
			callers: []configs.QueueEntry{
				{CallID: "c1", Category: "complaint", EnqueuedAt: at(1)},
				{CallID: "i1", Category: "inquiry", EnqueuedAt: at(2)},
			},
			want: []string{"c1→1001", "i1→1002"},
		},
		{
			name:    "an older ring-all caller takes every shared agent",
			ringAll: []string{"inquiry"},
			agents:  []agent{{"1001", []string{"inquiry", "complaint"}}, {"1002", []string{"inquiry"}}},
			callers: []configs.QueueEntry{
				{CallID: "i1", Category: "inquiry", EnqueuedAt: at(1)},
				{CallID: "c1", Category: "complaint", EnqueuedAt: at(2)},
			},
			want: []string{"i1→1001+1002"},
		},
		{
			name:    "emergency first even when another queue rings all",
			ringAll: []string{"inquiry"},
			agents:  []agent{{"1001", []string{"inquiry", configs.CategoryEmergency}}, {"1002", []string{"inquiry"}}},
			callers: []configs.QueueEntry{
				{CallID: "i1", Category: "inquiry", Priority: true, EnqueuedAt: at(1)},
				{CallID: "e1", Category: configs.CategoryEmergency, EnqueuedAt: at(9)},
			},
			want: []string{"e1→1001", "i1→1002"},
		},
		{
			name:    "ring-all emergency rings the agents serving it",
			ringAll: []string{configs.CategoryEmergency},
			agents: []agent{{"1001", []string{"business"}}, {"1002", []string{configs.CategoryEmergency}},
				{"1003", []string{configs.CategoryEmergency, "inquiry"}}},
			callers: []configs.QueueEntry{{CallID: "e1", Category: configs.CategoryEmergency, EnqueuedAt: at(1)}},
			want:    []string{"e1→1002+1003"},
		},
		{
			name:    "ring-all emergency nobody serves rings every available agent",
			ringAll: []string{configs.CategoryEmergency},
			agents:  []agent{{"1001", []string{"business"}}, {"1002", []string{"inquiry"}}},
			callers: []configs.QueueEntry{{CallID: "e1", Category: configs.CategoryEmergency, EnqueuedAt: at(1)}},
			want:    []string{"e1→1001+1002"},
		},
		{
			name:    "priority caller first within a ring-all queue (S7)",
			ringAll: []string{"inquiry"},
			agents:  []agent{{"1001", []string{"inquiry"}}, {"1002", []string{"inquiry"}}},
			callers: []configs.QueueEntry{
				{CallID: "normal", Category: "inquiry", EnqueuedAt: at(1)},
				{CallID: "elderly", Category: "inquiry", Priority: true, EnqueuedAt: at(5)},
			},
			want: []string{"elderly→1001+1002"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			e := newTestACD(t, ACDOptions{RingAll: tt.ringAll})
			for _, a := range tt.agents {
				e.login(t, a.id, a.categories...)
				e.clock.Add(time.Minute)
			}
			for _, id := range tt.busy {
				e.login(t, id, "inquiry")
				e.must(t, "pause", e.Pause(ctx, id, "busy"))
			}
			mustEnqueue(t, e.q, tt.callers...)
			e.clock.t = at(0).Add(tt.advance)
			offers, err := e.Match(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range offers {
				got = append(got, o.CallID+"→"+strings.Join(o.Rung(), "+"))
				for _, id := range o.Rung() {
					if s := e.state(t, id); s.State != StateRinging || s.CallID != o.CallID {
						t.Errorf("agent %s of offer %s is %+v, want ringing for it", id, o.CallID, s)
					}
				}
				if len(o.Agents) > 0 && o.AgentID != "" {
					t.Errorf("ring-all offer %+v also names one agent", o)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("offers = %v, want %v", got, tt.want)
			}
			if again := e.match(t); len(again) != 0 {
				t.Fatalf("second match offered again: %v", again)
			}
		})
	}
}

// The outcomes of a ring-all offer as the caller's node reports them: the
// first answer releases the others without a miss; when nobody answers,
// every agent's miss counts (S1) and the caller is offered again only once
// the whole group has failed; a caller gone releases the whole group.
func TestRingAllOutcomes(t *testing.T) {
	ctx := context.Background()
	e := newTestACD(t, ACDOptions{RingAll: []string{"inquiry"}, MaxNoAnswer: 2})
	for _, id := range []string{"1001", "1002", "1003"} {
		e.login(t, id, "inquiry")
		e.clock.Add(time.Minute)
	}
	mustEnqueue(t, e.q, configs.QueueEntry{CallID: "c1", Category: "inquiry", EnqueuedAt: at(1)},
		configs.QueueEntry{CallID: "c2", Category: "inquiry", EnqueuedAt: at(2)})
	if got := e.match(t); !slices.Equal(got, []string{"c1→1001+1002+1003"}) {
		t.Fatalf("offers = %v", got)
	}

	// 1003 declined first, then 1002 answered: its node reports only the
	// answer, which releases 1001 and 1003 (no miss, idle time kept).
	released, err := e.AnsweredBy(ctx, "c1", "1002")
	slices.Sort(released)
	if err != nil || !slices.Equal(released, []string{"1001", "1003"}) {
		t.Fatalf("answered by = %v, %v; want 1001 and 1003 released", released, err)
	}
	e.wantState(t, "1002", StateOnCall)
	for i, id := range []string{"1001", "1003"} {
		s := e.state(t, id)
		if s.State != StateAvailable || s.Misses != 0 || s.Reason != "answered_elsewhere" ||
			!s.IdleSince.Equal(t0.Add(time.Duration(2*i)*time.Minute)) {
			t.Fatalf("released agent %s: %+v", id, s)
		}
	}
	if n, err := e.q.Len(ctx, "inquiry"); err != nil || n != 1 {
		t.Fatalf("queue length = %d, %v; want 1 (c2)", n, err)
	}

	// c2 rings the two free agents; neither answers. The caller stays
	// offered until the last miss, then rings the group again.
	if got := e.match(t); !slices.Equal(got, []string{"c2→1001+1003"}) {
		t.Fatalf("offers for c2 = %v", got)
	}
	e.must(t, "decline", e.Missed(ctx, "c2", "1001", MissDecline))
	if got := e.match(t); len(got) != 0 {
		t.Fatalf("c2 offered again while 1003 still rings: %v", got)
	}
	e.clock.Add(time.Second)
	e.must(t, "no answer", e.Missed(ctx, "c2", "1003", MissNoAnswer))
	for _, id := range []string{"1001", "1003"} {
		if s := e.state(t, id); s.State != StateAvailable || s.Misses != 1 {
			t.Fatalf("agent %s after one unanswered ring-all: %+v", id, s)
		}
	}
	if pos := mustPosition(t, e.q, "inquiry", "c2"); pos != 1 {
		t.Fatalf("c2 at position %d, want 1", pos)
	}
	if got := e.match(t); !slices.Equal(got, []string{"c2→1001+1003"}) {
		t.Fatalf("offers for c2 after the misses = %v", got)
	}
	// A second unanswered round: both are not responding (max_no_answer 2).
	e.must(t, "no answer", e.Missed(ctx, "c2", "1001", MissNoAnswer))
	e.must(t, "no answer", e.Missed(ctx, "c2", "1003", MissNoAnswer))
	e.wantState(t, "1001", StateNotResponding)
	e.wantState(t, "1003", StateNotResponding)

	// The caller hangs up while the group rings: every agent is free.
	e.must(t, "resume", e.Resume(ctx, "1001"))
	e.must(t, "resume", e.Resume(ctx, "1003"))
	if got := e.match(t); !slices.Equal(got, []string{"c2→1001+1003"}) {
		t.Fatalf("offers after resume = %v", got)
	}
	e.must(t, "caller gone", e.CallerGone(ctx, "c2", "1003"))
	for _, id := range []string{"1001", "1003"} {
		if s := e.state(t, id); s.State != StateAvailable || s.Misses != 0 || s.Reason != "caller_gone" {
			t.Fatalf("agent %s after the caller left: %+v", id, s)
		}
	}
	if n, err := e.q.Len(ctx, "inquiry"); err != nil || n != 0 {
		t.Fatalf("queue length = %d, %v; want 0", n, err)
	}
}

// Every agent of a ring-all group answers at once, on two nodes, while the
// caller's node also reports the caller gone: exactly one outcome wins, so
// never two agents are bridged to one caller, and no agent stays reserved.
func TestConcurrentRingAllAnswers(t *testing.T) {
	const iterations = 100
	ctx := context.Background()
	a := newTestACD(t, ACDOptions{Node: "node-a", RingAll: []string{"inquiry"}})
	b := newTestACD(t, ACDOptions{Node: "node-b", Prefix: a.prefix, RingAll: []string{"inquiry"}})
	group := []string{"1001", "1002", "1003", "1004"}
	for it := range iterations {
		redistest.DeletePrefix(t, a.rdb, a.prefix)
		for _, id := range group {
			a.login(t, id, "inquiry")
		}
		mustEnqueue(t, a.q, configs.QueueEntry{CallID: "c1", Category: "inquiry", EnqueuedAt: at(1)})
		if got := b.match(t); len(got) != 1 {
			t.Fatalf("iteration %d: offers = %v", it, got)
		}
		var wg sync.WaitGroup
		errs := make([]error, len(group)+1)
		for i, id := range group {
			node := []*acdEnv{a, b}[i%2]
			wg.Go(func() { _, errs[i] = node.AnsweredBy(ctx, "c1", id) })
		}
		wg.Go(func() { errs[len(group)] = a.CallerGone(ctx, "c1", group[it%len(group)]) })
		wg.Wait()
		winners := 0
		for _, err := range errs {
			switch {
			case err == nil:
				winners++
			case !errors.Is(err, ErrBadTransition) && !errors.Is(err, ErrCallerGone):
				t.Fatalf("iteration %d: unexpected error %v", it, err)
			}
		}
		if winners != 1 {
			t.Fatalf("iteration %d: %d outcomes won (%v), want exactly one", it, winners, errs)
		}
		onCall := 0
		for _, id := range group {
			switch s := a.state(t, id); s.State {
			case StateOnCall:
				onCall++
			case StateAvailable:
			default:
				t.Fatalf("iteration %d: agent %s left %s", it, id, s.State)
			}
		}
		if want := btoi(errs[len(group)] != nil); onCall != want {
			t.Fatalf("iteration %d: %d agents on the call, want %d (errors %v)", it, onCall, want, errs)
		}
		if n, err := a.q.Len(ctx, "inquiry"); err != nil || n != 0 {
			t.Fatalf("iteration %d: queue length %d, %v", it, n, err)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// A Redis restart while a ring-all group rings: the re-published agents form
// the group again, so the first to answer takes the caller and releases the
// others, as before the restart.
func TestRepublishRingAllGroup(t *testing.T) {
	ctx := context.Background()
	e := newTestACD(t, ACDOptions{RingAll: []string{"inquiry"}})
	for _, id := range []string{"1001", "1002", "1003"} {
		e.login(t, id, "inquiry")
		e.clock.Add(time.Minute)
	}
	calls := []configs.QueueEntry{{CallID: "c1", Caller: "101", Category: "inquiry", EnqueuedAt: at(1)}}
	mustEnqueue(t, e.q, calls...)
	if got := e.match(t); !slices.Equal(got, []string{"c1→1001+1002+1003"}) {
		t.Fatalf("offers = %v", got)
	}
	held, err := e.Agents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	redistest.DeletePrefix(t, e.rdb, e.prefix)
	e.must(t, "republish", e.Republish(ctx, calls, held))
	if got := e.match(t); len(got) != 0 {
		t.Fatalf("offers after republish = %v; the group still rings", got)
	}
	e.must(t, "decline", e.Missed(ctx, "c1", "1001", MissDecline))
	if got := e.match(t); len(got) != 0 {
		t.Fatalf("offers after one miss = %v; 1002 and 1003 still ring", got)
	}
	released, err := e.AnsweredBy(ctx, "c1", "1003")
	if err != nil || !slices.Equal(released, []string{"1002"}) {
		t.Fatalf("answered by 1003 = %v, %v; want 1002 released", released, err)
	}
	e.wantState(t, "1003", StateOnCall)
	e.wantState(t, "1002", StateAvailable)
}
