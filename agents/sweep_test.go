package agents

import (
	"context"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/configs"
	"github.com/hotline-dev/hotline/sip/siptest/poll"
)

// sweep reports the earliest reservation expiry or wrap-up deadline left,
// so the loop sweeps when it is due rather than once a second.
func TestSweepReportsTheEarliestDeadline(t *testing.T) {
	ctx := context.Background()
	e := newSweepACD(t)
	mustEnqueue(t, e.q, configs.QueueEntry{CallID: "c1", Category: "inquiry", EnqueuedAt: at(1)})
	e.match(t)
	e.must(t, "answer", e.Answered(ctx, "c1", "1001"))
	e.must(t, "hangup", e.Hangup(ctx, "1001", time.Minute, "inquiry"))
	wrapUpEnds := e.clock.Now().Add(5 * time.Minute)
	mustEnqueue(t, e.q, configs.QueueEntry{CallID: "c2", Category: "inquiry", EnqueuedAt: at(2)})
	e.clock.Add(time.Second)
	e.match(t) // 1002 rings for c2 until now + 20 s
	reservationEnds := e.clock.Now().Add(20 * time.Second)
	sweep := func(wantMoved int, wantNext time.Time) {
		t.Helper()
		moved, next, err := e.sweep(ctx)
		if err != nil || moved != wantMoved || !next.Equal(wantNext) {
			t.Fatalf("sweep moved %d, next %v, %v; want %d, next %v", moved, next, err, wantMoved, wantNext)
		}
	}
	sweep(0, reservationEnds)
	e.clock.Add(21 * time.Second)
	sweep(1, wrapUpEnds)
	e.match(t) // c2 rings 1002 again
	e.must(t, "answer", e.Answered(ctx, "c2", "1002"))
	e.clock.Add(5 * time.Minute)
	sweep(1, time.Time{}) // 1001's wrap-up ends; nothing is left to sweep
}

// Run ends each wrap-up when its wrap_up_max is over (S12), not at the
// next of once-a-second sweeps: agents whose calls end apart are freed
// apart, not in a lump (a lump a second made the matching benchmark's slow
// Match steps).
func TestRunEndsEachWrapUpAtItsDeadline(t *testing.T) {
	const wrapUp = 300 * time.Millisecond
	const apart = 150 * time.Millisecond
	// Late by at most this: the sweep's 20 ms floor, a Redis round trip and
	// a loaded machine. A sweep once a second is late by 0-1 s, and of four
	// hang-ups 150 ms apart at most two are within 200 ms of their deadline.
	const slack = 200 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	e := newTestACD(t, ACDOptions{WrapUpMax: wrapUp, Clock: time.Now})
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	ids := []string{"1001", "1002", "1003", "1004"}
	for i, id := range ids {
		e.login(t, id, "inquiry")
		mustEnqueue(t, e.q, configs.QueueEntry{CallID: "c" + id, Category: "inquiry", EnqueuedAt: time.Now().Add(time.Duration(i) * time.Millisecond)})
	}
	offers, err := e.Match(ctx)
	if err != nil || len(offers) != len(ids) {
		t.Fatalf("match: %d offers, %v; want %d", len(offers), err, len(ids))
	}
	for _, o := range offers {
		e.must(t, "answer", e.Answered(ctx, o.CallID, o.AgentID))
	}
	hungUp := map[string]time.Time{}
	for i, id := range ids {
		if i > 0 {
			time.Sleep(apart)
		}
		hungUp[id] = time.Now()
		e.must(t, "hangup", e.Hangup(ctx, id, time.Second, "inquiry"))
	}
	for _, id := range ids {
		poll.Until(t, "agent "+id+" available", func() bool { return e.state(t, id).State == StateAvailable })
		s := e.state(t, id)
		late := s.Since.Sub(hungUp[id]) - wrapUp
		if s.Reason != "wrap_up_max" || late < -2*time.Millisecond || late > slack {
			t.Errorf("agent %s available %v after hanging up (reason %q): %v past wrap_up_max %v, want 0-%v",
				id, s.Since.Sub(hungUp[id]), s.Reason, late, wrapUp, slack)
		} else {
			t.Logf("agent %s: wrap-up ended %v past wrap_up_max", id, late)
		}
	}
}
