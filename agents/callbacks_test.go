package agents

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/configs"
)

// S6, S9: a callback gets an agent only when no caller waits ahead: any
// emergency caller, or a caller of its category who waited the limit; then
// the claiming agent, or the longest-idle agent serving the category, rings
// for it like for a caller, and answers it.
func TestReserveCallback(t *testing.T) {
	ctx := context.Background()
	e := newTestACD(t, ACDOptions{Reservation: 30 * time.Second})
	e.login(t, "1001", "inquiry")
	e.clock.Add(time.Second)
	e.login(t, "1002", "inquiry")
	e.login(t, "1003", "complaint")

	reserve := func(call, cat, claimed string, wait time.Duration) (string, string) {
		t.Helper()
		r, err := e.ReserveCallback(ctx, call, cat, claimed, wait)
		if err != nil {
			t.Fatalf("reserve %s: %v", call, err)
		}
		if r.Agent != "" && (r.IdleSince.Before(t0) || r.IdleSince.After(e.clock.Now())) {
			t.Fatalf("reserved %s idle since %s, want when it became available", r.Agent, r.IdleSince)
		}
		return r.Agent, r.Held
	}

	// An emergency caller waiting holds every callback (S6).
	mustEnqueue(t, e.q, configs.QueueEntry{CallID: "e1", Category: "emergency", EnqueuedAt: e.clock.Now()})
	if a, why := reserve("cb-1", "inquiry", "", time.Hour); a != "" || why != CallbackHeldCallers {
		t.Fatalf("with an emergency caller waiting: %q %q", a, why)
	}
	e.must(t, "remove", e.q.Remove(ctx, "emergency", "e1"))

	// A caller of the category waiting less than the limit does not; one
	// who waited the limit does.
	mustEnqueue(t, e.q, configs.QueueEntry{CallID: "c1", Category: "inquiry", EnqueuedAt: e.clock.Now()})
	e.clock.Add(10 * time.Second)
	if a, why := reserve("cb-1", "inquiry", "", 10*time.Second); a != "" || why != CallbackHeldCallers {
		t.Fatalf("with a caller waiting the limit: %q %q", a, why)
	}
	if a, _ := reserve("cb-1", "inquiry", "", 20*time.Second); a != "1001" {
		t.Fatalf("reserved %q, want the longest idle 1001", a)
	}
	e.wantState(t, "1001", StateRinging)
	e.must(t, "callback answered", e.CallbackAnswered(ctx, "cb-1", "1001"))
	e.wantState(t, "1001", StateOnCall)
	e.must(t, "remove", e.q.Remove(ctx, "inquiry", "c1"))

	// A claim rings only the claiming agent, and only when it is available.
	if a, why := reserve("cb-2", "complaint", "1002", 0); a != "" || why != CallbackHeldNoAgent {
		t.Fatalf("claimed by an agent not serving the category: %q %q", a, why)
	}
	if a, _ := reserve("cb-2", "inquiry", "1002", 0); a != "1002" {
		t.Fatalf("claimed callback reserved %q, want 1002", a)
	}
	if a, why := reserve("cb-3", "inquiry", "", 0); a != "" || why != CallbackHeldNoAgent {
		t.Fatalf("with nobody available: %q %q", a, why)
	}
	// A claim by an agent who logged out goes to anyone.
	e.must(t, "logout", e.Logout(ctx, "1003"))
	if a, _ := reserve("cb-4", "complaint", "1003", 0); a != "" {
		t.Fatalf("complaint callback reserved %q with nobody serving complaints", a)
	}
	e.login(t, "1004", "complaint")
	if a, _ := reserve("cb-4", "complaint", "1003", 0); a != "1004" {
		t.Fatalf("callback claimed by a logged-out agent reserved %q, want 1004", a)
	}
	// A ring not answered is a miss, like a caller's (S1).
	e.must(t, "missed", e.Missed(ctx, "cb-2", "1002", MissNoAnswer))
	e.wantState(t, "1002", StateAvailable)
	if err := e.CallbackAnswered(ctx, "cb-2", "1002"); err == nil {
		t.Fatal("an agent no longer ringing answered the callback")
	}
}

// S9: callers ringing at the head of a queue (more than the 32 looked at) do
// not hide a caller waiting behind them: the callback is still held.
func TestReserveCallbackSeesCallersBehindRingingOnes(t *testing.T) {
	ctx := context.Background()
	const ringing = 40
	e := newTestACD(t, ACDOptions{Reservation: 30 * time.Second, MatchLimit: ringing})
	for i := range ringing {
		e.login(t, fmt.Sprintf("a%02d", i), "inquiry")
		mustEnqueue(t, e.q, configs.QueueEntry{CallID: fmt.Sprintf("c%02d", i), Category: "inquiry", EnqueuedAt: at(i)})
	}
	if got := e.match(t); len(got) != ringing {
		t.Fatalf("%d offers, want %d", len(got), ringing)
	}
	mustEnqueue(t, e.q, configs.QueueEntry{CallID: "behind", Category: "inquiry", EnqueuedAt: at(ringing)})
	e.login(t, "free", "inquiry")
	e.clock.Add(time.Minute) // every caller has waited
	r, err := e.ReserveCallback(ctx, "cb-1", "inquiry", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if r.Agent != "" || r.Held != CallbackHeldCallers {
		t.Fatalf("callback with a caller waiting behind %d ringing ones: agent %q, held %q; want held for callers", ringing, r.Agent, r.Held)
	}
}
