package agents

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/configs"
	"github.com/redis/go-redis/v9"
)

// Matching order and agent choice (S1, S6, S7, S16). Agents log in one
// minute apart (the first logged in is the longest idle).
func TestMatch(t *testing.T) {
	type agent struct {
		id         string
		categories []string
	}
	tests := []struct {
		name    string
		agents  []agent
		busy    []string // logged in, then paused (busy, not offline)
		callers []configs.QueueEntry
		advance time.Duration // clock moves before Match
		want    []string
	}{
		{
			name:    "longest idle agent first",
			agents:  []agent{{"1001", []string{"inquiry"}}, {"1002", []string{"inquiry"}}},
			callers: []configs.QueueEntry{{CallID: "c1", Category: "inquiry", EnqueuedAt: at(1)}},
			want:    []string{"c1→1001"},
		},
		{
			name:   "fifo two callers one agent",
			agents: []agent{{"1001", []string{"inquiry"}}},
			callers: []configs.QueueEntry{
				{CallID: "late", Category: "inquiry", EnqueuedAt: at(2)},
				{CallID: "early", Category: "inquiry", EnqueuedAt: at(1)},
			},
			want: []string{"early→1001"},
		},
		{
			name:   "priority overtakes within the queue",
			agents: []agent{{"1001", []string{"inquiry"}}},
			callers: []configs.QueueEntry{
				{CallID: "normal", Category: "inquiry", EnqueuedAt: at(1)},
				{CallID: "elderly", Category: "inquiry", Priority: true, EnqueuedAt: at(5)},
			},
			want: []string{"elderly→1001"},
		},
		{
			name:   "oldest head across queues",
			agents: []agent{{"1001", []string{"inquiry", "complaint"}}},
			callers: []configs.QueueEntry{
				{CallID: "i1", Category: "inquiry", EnqueuedAt: at(3)},
				{CallID: "c1", Category: "complaint", EnqueuedAt: at(2)},
			},
			want: []string{"c1→1001"},
		},
		{
			name:   "emergency overtakes every queue",
			agents: []agent{{"1001", []string{"inquiry", configs.CategoryEmergency}}},
			callers: []configs.QueueEntry{
				{CallID: "i1", Category: "inquiry", Priority: true, EnqueuedAt: at(1)},
				{CallID: "e1", Category: configs.CategoryEmergency, EnqueuedAt: at(9)},
			},
			want: []string{"e1→1001"},
		},
		{
			name:    "emergency goes to any available agent",
			agents:  []agent{{"1001", []string{"business"}}},
			callers: []configs.QueueEntry{{CallID: "e1", Category: configs.CategoryEmergency, EnqueuedAt: at(1)}},
			want:    []string{"e1→1001"},
		},
		{
			name:    "emergency prefers agents serving it",
			agents:  []agent{{"1001", []string{"business"}}, {"1002", []string{configs.CategoryEmergency}}},
			callers: []configs.QueueEntry{{CallID: "e1", Category: configs.CategoryEmergency, EnqueuedAt: at(1)}},
			want:    []string{"e1→1002"},
		},
		{
			name:    "no agent serving the category",
			agents:  []agent{{"1001", []string{"business"}}},
			callers: []configs.QueueEntry{{CallID: "i1", Category: "inquiry", EnqueuedAt: at(1)}},
			want:    []string{},
		},
		{
			name:   "every pair in one match",
			agents: []agent{{"1001", []string{"inquiry"}}, {"1002", []string{"inquiry", "complaint"}}},
			callers: []configs.QueueEntry{
				{CallID: "i1", Category: "inquiry", EnqueuedAt: at(1)},
				{CallID: "c1", Category: "complaint", EnqueuedAt: at(2)},
				{CallID: "i2", Category: "inquiry", EnqueuedAt: at(3)},
			},
			want: []string{"i1→1001", "c1→1002"},
		},
		{
			name:    "owner first when available",
			agents:  []agent{{"1001", []string{"inquiry"}}, {"1002", []string{"inquiry"}}},
			callers: []configs.QueueEntry{{CallID: "c1", Category: "inquiry", Owner: "1002", EnqueuedAt: at(1)}},
			want:    []string{"c1→1002"},
		},
		{
			name:   "busy owner holds the caller within owner_wait, others go",
			agents: []agent{{"1001", []string{"inquiry"}}},
			busy:   []string{"1002"},
			callers: []configs.QueueEntry{
				{CallID: "repeat", Category: "inquiry", Owner: "1002", EnqueuedAt: at(1)},
				{CallID: "other", Category: "inquiry", EnqueuedAt: at(2)},
			},
			advance: 10 * time.Second,
			want:    []string{"other→1001"},
		},
		{
			name:    "busy owner past owner_wait: longest idle",
			agents:  []agent{{"1001", []string{"inquiry"}}},
			busy:    []string{"1002"},
			callers: []configs.QueueEntry{{CallID: "repeat", Category: "inquiry", Owner: "1002", EnqueuedAt: at(1)}},
			advance: 30 * time.Second,
			want:    []string{"repeat→1001"},
		},
		{
			name:    "offline owner: no wait",
			agents:  []agent{{"1001", []string{"inquiry"}}},
			callers: []configs.QueueEntry{{CallID: "repeat", Category: "inquiry", Owner: "1099", EnqueuedAt: at(1)}},
			want:    []string{"repeat→1001"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			e := newTestACD(t, ACDOptions{})
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
			got := e.match(t)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("offers = %v, want %v", got, tt.want)
			}
			if again := e.match(t); len(again) != 0 {
				t.Fatalf("second match offered again: %v", again)
			}
		})
	}
}

// The offered caller keeps its place; the offer carries the caller's node.
func TestOfferKeepsPlace(t *testing.T) {
	ctx := context.Background()
	e := newTestACD(t, ACDOptions{})
	e.login(t, "1001", "inquiry")
	mustEnqueue(t, e.q, configs.QueueEntry{CallID: "c1", Category: "inquiry", EnqueuedAt: at(1)},
		configs.QueueEntry{CallID: "c2", Category: "inquiry", EnqueuedAt: at(2)})
	offers, err := e.Match(ctx)
	if err != nil || len(offers) != 1 {
		t.Fatalf("match = %v, %v", offers, err)
	}
	if want := (Offer{CallID: "c1", AgentID: "1001", Category: "inquiry", CallerNode: "node-a"}); !reflect.DeepEqual(offers[0], want) {
		t.Fatalf("offer = %+v, want %+v", offers[0], want)
	}
	if pos := mustPosition(t, e.q, "inquiry", "c1"); pos != 1 {
		t.Fatalf("offered caller at position %d, want 1", pos)
	}
	s := e.state(t, "1001")
	if s.State != StateRinging || s.CallID != "c1" || s.Node != "node-a" {
		t.Fatalf("agent = %+v, want ringing for c1 on node-a", s)
	}
	e.must(t, "answer", e.Answered(ctx, "c1", "1001"))
	if _, err := e.q.Position(ctx, "inquiry", "c1"); !errors.Is(err, ErrNotQueued) {
		t.Fatalf("answered caller still queued: %v", err)
	}
	if pos := mustPosition(t, e.q, "inquiry", "c2"); pos != 1 {
		t.Fatalf("c2 at position %d, want 1", pos)
	}
}

// More callers ringing at once at the head of a queue than Match scans for
// owners (matchScan) do not stop the callers behind them from reaching free
// agents: at a few hundred calls/s hundreds ring at once (S1).
func TestMatchStepsOverRingingCallers(t *testing.T) {
	const ringing, perMatch = matchScan + 50, 25
	e := newTestACD(t, ACDOptions{MatchLimit: perMatch})
	for i := range ringing + 1 {
		e.login(t, fmt.Sprintf("a%04d", i), "inquiry")
		mustEnqueue(t, e.q, configs.QueueEntry{CallID: fmt.Sprintf("c%04d", i), Category: "inquiry",
			EnqueuedAt: t0.Add(time.Duration(i) * time.Millisecond)})
	}
	offered := 0
	for offered < ringing {
		got := e.match(t)
		if len(got) == 0 {
			t.Fatalf("match made no offer with %d callers ringing and agents free", offered)
		}
		offered += len(got)
	}
	// Nobody answered yet: the last caller is behind matchScan+50 ringing ones.
	got := e.match(t)
	if want := []string{fmt.Sprintf("c%04d→a%04d", ringing, ringing)}; !slices.Equal(got, want) {
		t.Fatalf("match behind %d ringing callers = %v, want %v", ringing, got, want)
	}
}

// S1: no answer → the caller keeps its place and goes to the next agent;
// the silent agent is not_responding after two misses in a row.
func TestMissedGoesToNextAgent(t *testing.T) {
	ctx := context.Background()
	e := newTestACD(t, ACDOptions{})
	e.login(t, "1001", "inquiry")
	e.clock.Add(time.Minute)
	e.login(t, "1002", "inquiry")
	mustEnqueue(t, e.q, configs.QueueEntry{CallID: "c1", Category: "inquiry", EnqueuedAt: at(1)},
		configs.QueueEntry{CallID: "c2", Category: "inquiry", EnqueuedAt: at(2)})
	if got := e.match(t); !slices.Equal(got, []string{"c1→1001", "c2→1002"}) {
		t.Fatalf("offers = %v", got)
	}
	e.clock.Add(15 * time.Second)
	e.must(t, "miss", e.Missed(ctx, "c1", "1001", MissNoAnswer))
	if s := e.state(t, "1001"); s.State != StateAvailable || s.Misses != 1 {
		t.Fatalf("after one miss: %+v", s)
	}
	e.clock.Add(time.Second)
	e.must(t, "decline", e.Missed(ctx, "c2", "1002", MissDecline))
	// 1002 was released later: 1001 is the longest idle again, c1 first.
	if got := e.match(t); !slices.Equal(got, []string{"c1→1001", "c2→1002"}) {
		t.Fatalf("offers after misses = %v", got)
	}
	e.must(t, "second miss", e.Missed(ctx, "c1", "1001", MissNoAnswer))
	s := e.state(t, "1001")
	if s.State != StateNotResponding || s.Reason != ReasonNotResponding || s.Misses != 2 {
		t.Fatalf("after two misses: %+v", s)
	}
	e.must(t, "answer", e.Answered(ctx, "c2", "1002"))
	if s := e.state(t, "1002"); s.Misses != 0 {
		t.Fatalf("answer did not reset misses: %+v", s)
	}
	if got := e.match(t); len(got) != 0 {
		t.Fatalf("not-responding agent offered: %v", got)
	}
	e.must(t, "resume", e.Resume(ctx, "1001"))
	if s := e.state(t, "1001"); s.Misses != 0 {
		t.Fatalf("resume kept misses: %+v", s)
	}
	if got := e.match(t); !slices.Equal(got, []string{"c1→1001"}) {
		t.Fatalf("offers after resume = %v", got)
	}
}

// The caller hangs up while the agent rings: the caller leaves the queue,
// the agent is available with its idle time kept, and it is not a miss.
func TestCallerGoneWhileRinging(t *testing.T) {
	ctx := context.Background()
	e := newTestACD(t, ACDOptions{})
	e.login(t, "1001", "inquiry")
	e.clock.Add(time.Minute)
	e.login(t, "1002", "inquiry")
	mustEnqueue(t, e.q, configs.QueueEntry{CallID: "c1", Category: "inquiry", EnqueuedAt: at(1)})
	e.match(t)
	e.clock.Add(5 * time.Second)
	e.must(t, "caller gone", e.CallerGone(ctx, "c1", "1001"))
	s := e.state(t, "1001")
	if s.State != StateAvailable || s.Misses != 0 || !s.IdleSince.Equal(t0) || s.Reason != "caller_gone" {
		t.Fatalf("agent after caller gone: %+v", s)
	}
	if n, err := e.q.Len(ctx, "inquiry"); err != nil || n != 0 {
		t.Fatalf("queue length = %d, %v; want 0", n, err)
	}
	// The agent answers a call whose caller is gone: BYE at once.
	mustEnqueue(t, e.q, configs.QueueEntry{CallID: "c2", Category: "inquiry", EnqueuedAt: at(2)})
	e.match(t)
	e.must(t, "remove", e.q.Remove(ctx, "inquiry", "c2"))
	if err := e.Answered(ctx, "c2", "1001"); !errors.Is(err, ErrCallerGone) {
		t.Fatalf("answer after caller left: err = %v, want ErrCallerGone", err)
	}
	e.wantState(t, "1001", StateAvailable)
}

// An agent logging out while its phone rings: the caller keeps its place
// and goes to the next agent.
func TestLogoutWhileRinging(t *testing.T) {
	ctx := context.Background()
	e := newTestACD(t, ACDOptions{})
	e.login(t, "1001", "inquiry")
	mustEnqueue(t, e.q, configs.QueueEntry{CallID: "c1", Category: "inquiry", EnqueuedAt: at(1)})
	e.match(t)
	e.must(t, "logout", e.Logout(ctx, "1001"))
	e.login(t, "1002", "inquiry")
	if got := e.match(t); !slices.Equal(got, []string{"c1→1002"}) {
		t.Fatalf("offers after logout = %v", got)
	}
	if err := e.Answered(ctx, "c1", "1001"); !errors.Is(err, ErrBadTransition) {
		t.Fatalf("logged-out agent answered: err = %v", err)
	}
}

// Sweep ends many wrap-ups (S12) in short scripts, sweepBatch agents each, so
// Redis never runs one long script while Matches wait; one Sweep still ends
// them all.
func TestSweepInBatches(t *testing.T) {
	ctx := context.Background()
	e := newTestACD(t, ACDOptions{WrapUpMax: time.Minute})
	const n = 3*sweepBatch + 5
	for i := range n {
		id := fmt.Sprint(2000 + i)
		e.login(t, id, "inquiry")
		mustEnqueue(t, e.q, configs.QueueEntry{CallID: "w" + id, Category: "inquiry", EnqueuedAt: at(i)})
	}
	offers := 0
	for {
		got := e.match(t)
		if len(got) == 0 {
			break
		}
		offers += len(got)
	}
	if offers != n {
		t.Fatalf("%d offers for %d agents", offers, n)
	}
	for i := range n {
		id := fmt.Sprint(2000 + i)
		e.must(t, "answer", e.Answered(ctx, "w"+id, id))
		e.must(t, "hangup", e.Hangup(ctx, id, time.Minute, "inquiry"))
	}
	e.clock.Add(2 * time.Minute)
	// One script moves one batch...
	r, err := e.eval(ctx, "sweep agents", sweepScript, sweepBatch)
	if err != nil || len(r.Tr) != sweepBatch {
		t.Fatalf("one sweep script moved %d, %v; want a batch of %d", len(r.Tr), err, sweepBatch)
	}
	// ...and one Sweep runs as many as it takes.
	moved, err := e.Sweep(ctx)
	if err != nil || moved != n-sweepBatch {
		t.Fatalf("sweep moved %d, %v; want the other %d", moved, err, n-sweepBatch)
	}
	for i := range n {
		e.wantState(t, fmt.Sprint(2000+i), StateAvailable)
	}
	if moved, err = e.Sweep(ctx); err != nil || moved != 0 {
		t.Fatalf("second sweep moved %d, %v; want 0", moved, err)
	}
}

// newSweepACD is an ACD with wrap_up_max 5 min and 20 s reservations, and
// agents 1001 and, a minute later (so 1001 is the longer idle), 1002 logged
// in to inquiry.
func newSweepACD(t *testing.T) *acdEnv {
	t.Helper()
	e := newTestACD(t, ACDOptions{WrapUpMax: 5 * time.Minute, Reservation: 20 * time.Second})
	e.login(t, "1001", "inquiry")
	e.clock.Add(time.Minute)
	e.login(t, "1002", "inquiry")
	return e
}

// Sweep: wrap-up past WrapUpMax (S12) and stuck reservations end.
func TestSweep(t *testing.T) {
	ctx := context.Background()
	e := newSweepACD(t)
	mustEnqueue(t, e.q, configs.QueueEntry{CallID: "c1", Category: "inquiry", EnqueuedAt: at(1)},
		configs.QueueEntry{CallID: "c2", Category: "inquiry", EnqueuedAt: at(2)})
	e.match(t)
	e.must(t, "answer", e.Answered(ctx, "c1", "1001"))
	e.must(t, "hangup", e.Hangup(ctx, "1001", 90*time.Second, "inquiry"))
	sweep := func(want int) {
		t.Helper()
		n, err := e.Sweep(ctx)
		if err != nil || n != want {
			t.Fatalf("sweep moved %d, %v; want %d", n, err, want)
		}
	}
	e.clock.Add(19 * time.Second)
	sweep(0)
	e.clock.Add(2 * time.Second) // the reservation of 1002 expired
	sweep(1)
	if s := e.state(t, "1002"); s.State != StateAvailable || s.Reason != "reservation_expired" || s.Misses != 0 {
		t.Fatalf("stuck agent after sweep: %+v", s)
	}
	if got := e.match(t); !slices.Equal(got, []string{"c2→1002"}) {
		t.Fatalf("c2 not offered again after the sweep: %v", got)
	}
	e.wantState(t, "1001", StateWrapUp)
	e.clock.Add(5 * time.Minute)
	sweep(2) // 1001's wrap-up ends and 1002's new reservation expires
	s := e.state(t, "1001")
	if s.State != StateAvailable || s.Reason != "wrap_up_max" || !s.IdleSince.Equal(e.clock.Now()) {
		t.Fatalf("agent after wrap-up max: %+v", s)
	}
	// S8: the handle time of the hang-up feeds the estimate.
	if avg, _, err := e.q.serviceRate(ctx, "inquiry"); err != nil || avg != 90*time.Second {
		t.Fatalf("average handle time = %s, %v; want 90s", avg, err)
	}
}

// MatchUpTo makes at most the offers asked, in queue order, and the next
// call picks up where it stopped: the dispatcher's larger batches during a
// backlog pair the same callers as several small ones would (FIFO, S7).
func TestMatchUpTo(t *testing.T) {
	ctx := context.Background()
	e := newTestACD(t, ACDOptions{MatchLimit: 2})
	for i := range 7 {
		e.login(t, fmt.Sprintf("a%d", i), "inquiry")
		e.clock.Add(time.Millisecond) // a0 is the longest idle
		mustEnqueue(t, e.q, configs.QueueEntry{CallID: fmt.Sprintf("c%d", i), Category: "inquiry",
			EnqueuedAt: t0.Add(time.Duration(i) * time.Millisecond)})
	}
	var got []string
	for _, n := range []int{5, 0, 9} { // 0 asks for one
		offers, err := e.MatchUpTo(ctx, n)
		if err != nil {
			t.Fatalf("match up to %d: %v", n, err)
		}
		if want := min(max(n, 1), 7-len(got)); len(offers) != want {
			t.Fatalf("match up to %d made %d offers, want %d", n, len(offers), want)
		}
		for _, o := range offers {
			got = append(got, o.CallID+"→"+o.AgentID)
		}
	}
	want := []string{"c0→a0", "c1→a1", "c2→a2", "c3→a3", "c4→a4", "c5→a5", "c6→a6"}
	if !slices.Equal(got, want) {
		t.Fatalf("offers = %v, want %v", got, want)
	}
}

// Match starts each queue's walk at <p>qskip:<cat>, below which every caller
// is being offered. The hint must never hide a caller who can be matched: a
// caller whose offer failed (S1) and a priority caller queued ahead of it
// (S7) are both matched again.
func TestMatchSkipHint(t *testing.T) {
	ctx := context.Background()
	e := newTestACD(t, ACDOptions{})
	// hint is the skip score, -1 when there is none.
	hint := func() float64 {
		t.Helper()
		v, err := e.rdb.Get(ctx, e.q.skipKey("inquiry")).Float64()
		if errors.Is(err, redis.Nil) {
			return -1
		}
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	score := func(call string) float64 {
		t.Helper()
		v, err := e.rdb.ZScore(ctx, e.q.queueKey("inquiry"), call).Result()
		if err != nil {
			t.Fatalf("score of %s: %v", call, err)
		}
		return v
	}
	for i := 1; i <= 3; i++ {
		e.login(t, fmt.Sprintf("a%d", i), "inquiry")
		e.clock.Add(time.Second)
	}
	for i := 1; i <= 6; i++ {
		mustEnqueue(t, e.q, configs.QueueEntry{CallID: fmt.Sprintf("c%d", i), Category: "inquiry", EnqueuedAt: at(i)})
	}
	if got := e.match(t); !slices.Equal(got, []string{"c1→a1", "c2→a2", "c3→a3"}) {
		t.Fatalf("first offers = %v", got)
	}
	if h, want := hint(), score("c4"); h != want {
		t.Fatalf("skip hint after c1-c3 were offered = %.0f, want c4's score %.0f", h, want)
	}
	e.login(t, "a4", "inquiry")
	if got := e.match(t); !slices.Equal(got, []string{"c4→a4"}) {
		t.Fatalf("offers with c1-c3 ringing = %v", got)
	}
	if h, want := hint(), score("c5"); h != want {
		t.Fatalf("skip hint after c4 was offered = %.0f, want c5's score %.0f", h, want)
	}
	// c2's offer fails: it is below the hint and must be matched again.
	e.must(t, "miss", e.Missed(ctx, "c2", "a2", MissNoAnswer))
	if h := hint(); h != -1 {
		t.Fatalf("skip hint %.0f kept after an offer was withdrawn", h)
	}
	if got := e.match(t); !slices.Equal(got, []string{"c2→a2"}) {
		t.Fatalf("offers after c2's miss = %v, want c2 matched again", got)
	}
	e.login(t, "a5", "inquiry")
	if got := e.match(t); !slices.Equal(got, []string{"c5→a5"}) {
		t.Fatalf("offers for a5 = %v", got)
	}
	if h, want := hint(), score("c6"); h != want {
		t.Fatalf("skip hint after c1-c5 were offered = %.0f, want c6's score %.0f", h, want)
	}
	// Every caller offered: the skip passes the last one.
	e.login(t, "a6", "inquiry")
	if got := e.match(t); !slices.Equal(got, []string{"c6→a6"}) {
		t.Fatalf("offers for a6 = %v", got)
	}
	if h, last := hint(), score("c6"); h != last+1 {
		t.Fatalf("skip hint with every caller offered = %.0f, want past c6's score %.0f", h, last)
	}
	// A priority caller scores below every normal caller, so below the hint.
	mustEnqueue(t, e.q, configs.QueueEntry{CallID: "p1", Category: "inquiry", Priority: true, EnqueuedAt: at(9)})
	if h, p := hint(), score("p1"); h != p {
		t.Fatalf("skip hint %.0f not lowered to the priority caller's score %.0f", h, p)
	}
	e.login(t, "a7", "inquiry")
	if got := e.match(t); !slices.Equal(got, []string{"p1→a7"}) {
		t.Fatalf("offers with a priority caller queued = %v, want p1 first (S7)", got)
	}
}
