package tickets

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/configs"
)

// addCallback stores a callback request as the writer does and tickets it.
func (f storeFixture) addCallback(t testing.TB, caller, category string, at time.Time) Callback {
	t.Helper()
	ctx := context.Background()
	id := fmt.Sprintf("cbcall-%d", callSeq.Add(1))
	req := configs.CallbackRequest{CallID: id, Caller: caller, Category: category, Reason: "after_hours", RequestedAt: at}
	if err := insertCallback(ctx, f.pool, req); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.TicketCallbacks(ctx, 1000); err != nil {
		t.Fatal(err)
	}
	var c Callback
	row := f.pool.QueryRow(ctx, `SELECT `+callbackColumns+` FROM callback_requests c
		LEFT JOIN tickets t ON t.id = c.ticket_id WHERE c.call_id = $1`, id)
	c, err := scanCallback(row)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// S9, S14: a request becomes a ticket of channel callback, due two working
// hours after the request (deadlines.yaml "callback"); an evening request
// counts from the next morning's opening.
func TestCallbackBecomesTicketWithDeadline(t *testing.T) {
	f := newStoreFixture(t)
	cal := f.store.opts.Calendar
	// A Monday evening after hours (the calendar's zone).
	evening := time.Date(2026, 3, 2, 19, 30, 0, 0, cal.loc)
	c := f.addCallback(t, "13800138000", "complaint", evening)
	if c.Ticket == "" || c.TicketID == 0 {
		t.Fatalf("request has no ticket: %+v", c)
	}
	k, err := f.store.Get(context.Background(), c.Ticket)
	if err != nil {
		t.Fatal(err)
	}
	want := cal.AddWorkingTime(evening, 2*time.Hour)
	if k.Channel != ChannelCallback || k.Status != StatusOpen || k.CallerNumber != "13800138000" ||
		k.Category != "complaint" || !k.DueAt.Equal(want) {
		t.Fatalf("ticket = %+v, want channel callback, open, due %s", k, want)
	}
	if want.Day() != 3 || want.Hour() != 11 {
		t.Fatalf("due %s: want Tuesday 11:00 (2 working hours from the 09:00 opening)", want)
	}
	// The sweeper breaches it like any other ticket once past due (S14/S15).
	if _, err := f.pool.Exec(context.Background(), `UPDATE tickets SET due_at = now() - interval '1 minute' WHERE id = $1`, c.TicketID); err != nil {
		t.Fatal(err)
	}
	sw := newTestSweeper(t, f.pool, f.metrics, nil, 0)
	if _, err := sw.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	k, _ = f.store.Get(context.Background(), c.Ticket)
	if k.BreachedAt.IsZero() || k.EscalationLevel != 1 {
		t.Fatalf("callback ticket past due not breached/escalated: %+v", k)
	}
}

// Busy and no answer are retried after retry_after; the last failure closes
// the request with its reason and leaves the ticket open (its deadline
// still runs); each attempt is a ticket event.
func TestCallbackAttemptsUntilClosed(t *testing.T) {
	f := newStoreFixture(t)
	ctx := context.Background()
	c := f.addCallback(t, "13800138001", "inquiry", time.Now().Add(-time.Hour))
	attempt := func(result string, retry time.Duration) Callback {
		t.Helper()
		l, err := f.store.LeaseCallback(ctx, "n1", time.Minute, LeaseSkip{})
		if err != nil {
			t.Fatalf("lease: %v", err)
		}
		if l.ID != c.ID {
			t.Fatalf("leased %d, want %d", l.ID, c.ID)
		}
		out, err := f.store.FinishCallback(ctx, l.ID, "n1", CallbackAttempt{Result: result, Agent: "1001",
			CallID: "cb-x", MaxAttempts: 2, RetryAfter: retry})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	out := attempt(ResultBusy, time.Hour)
	if out.Status != CallbackPending || out.Attempts != 1 {
		t.Fatalf("after busy: %+v", out)
	}
	// Not due again before retry_after.
	if _, err := f.store.LeaseCallback(ctx, "n1", time.Minute, LeaseSkip{}); !errors.Is(err, ErrNoCallback) {
		t.Fatalf("lease before retry_after: %v, want ErrNoCallback", err)
	}
	if _, err := f.pool.Exec(ctx, `UPDATE callback_requests SET next_attempt_at = now() WHERE id = $1`, c.ID); err != nil {
		t.Fatal(err)
	}
	out = attempt(ResultNoAnswer, time.Hour)
	if out.Status != CallbackFailed || out.Attempts != 2 || out.LastResult != ResultNoAnswer {
		t.Fatalf("after the last attempt: %+v, want failed no_answer", out)
	}
	var kinds []string
	rows, _ := f.pool.Query(ctx, `SELECT kind FROM ticket_events WHERE ticket_id = $1 ORDER BY id`, c.TicketID)
	for rows.Next() {
		var k string
		_ = rows.Scan(&k)
		kinds = append(kinds, k)
	}
	if fmt.Sprint(kinds) != "[created callback_attempt callback_failed]" {
		t.Fatalf("ticket events %v", kinds)
	}
	k, _ := f.store.Get(ctx, c.Ticket)
	if k.Status != StatusOpen {
		t.Fatalf("ticket of a failed callback is %s, want open (its deadline still breaches)", k.Status)
	}
}

// Connected closes the request and resolves its ticket; a forbidden number
// closes it without an attempt.
func TestCallbackConnectedAndForbidden(t *testing.T) {
	f := newStoreFixture(t)
	ctx := context.Background()
	ok := f.addCallback(t, "13800138002", "business", time.Now().Add(-time.Hour))
	bad := f.addCallback(t, "+447700900123", "business", time.Now().Add(-time.Minute))
	for _, tc := range []struct {
		c      Callback
		result string
		status string
		ticket string
		tries  int
	}{
		{ok, ResultConnected, CallbackConnected, StatusResolved, 1},
		{bad, ResultForbidden, CallbackFailed, StatusOpen, 0},
	} {
		l, err := f.store.LeaseCallback(ctx, "n1", time.Minute, LeaseSkip{})
		if err != nil || l.ID != tc.c.ID {
			t.Fatalf("lease: %v %+v, want %d (oldest first)", err, l, tc.c.ID)
		}
		out, err := f.store.FinishCallback(ctx, l.ID, "n1", CallbackAttempt{Result: tc.result, Agent: "1001", MaxAttempts: 3, RetryAfter: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		k, _ := f.store.Get(ctx, tc.c.Ticket)
		if out.Status != tc.status || out.Attempts != tc.tries || k.Status != tc.ticket {
			t.Fatalf("%s: request %+v ticket %s", tc.result, out, k.Status)
		}
	}
	if _, err := f.store.FinishCallback(ctx, ok.ID, "n1", CallbackAttempt{Result: ResultConnected}); !errors.Is(err, ErrNoCallback) {
		t.Fatalf("finishing a closed request: %v, want ErrNoCallback", err)
	}
}

// Exactly once: many placers leasing at once never get the same request
// while its lease runs (FOR UPDATE SKIP LOCKED).
func TestCallbackLeaseExactlyOnce(t *testing.T) {
	f := newStoreFixture(t)
	ctx := context.Background()
	const n = 100
	for i := range n {
		req := configs.CallbackRequest{CallID: fmt.Sprintf("lease-%d", i), Caller: fmt.Sprintf("138%08d", i),
			Category: "inquiry", Reason: "max_wait", RequestedAt: time.Now().Add(-time.Hour)}
		if err := insertCallback(ctx, f.pool, req); err != nil {
			t.Fatal(err)
		}
	}
	// Two nodes ticket concurrently: each request gets one ticket.
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for {
				k, err := f.store.TicketCallbacks(ctx, 7)
				if err != nil {
					t.Error(err)
					return
				}
				if k == 0 {
					return
				}
			}
		})
	}
	wg.Wait()
	var tickets int
	_ = f.pool.QueryRow(ctx, `SELECT count(*) FROM tickets WHERE channel = 'callback'`).Scan(&tickets)
	if tickets != n {
		t.Fatalf("%d callback tickets for %d requests", tickets, n)
	}
	var mu sync.Mutex
	seen := map[int64]string{}
	for w := range 4 {
		node := fmt.Sprintf("n%d", w)
		wg.Go(func() {
			for {
				c, err := f.store.LeaseCallback(ctx, node, time.Minute, LeaseSkip{})
				if errors.Is(err, ErrNoCallback) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if other, dup := seen[c.ID]; dup {
					t.Errorf("request %d leased by %s and %s", c.ID, other, node)
				}
				seen[c.ID] = node
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("%d of %d requests leased", len(seen), n)
	}
}

// The panel's list shows the requests of the agent's categories; a claim
// puts the request first and makes it the claimer's.
func TestCallbackListAndClaim(t *testing.T) {
	f := newStoreFixture(t)
	ctx := context.Background()
	old := f.addCallback(t, "13800138003", "inquiry", time.Now().Add(-2*time.Hour))
	none := f.addCallback(t, "13800138004", "", time.Now().Add(-time.Hour))
	other := f.addCallback(t, "13800138005", "complaint", time.Now().Add(-time.Hour))
	list, err := f.store.ListCallbacks(ctx, []string{"inquiry"}, "inquiry")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != old.ID || list[1].ID != none.ID || list[0].Ticket == "" {
		t.Fatalf("list %+v", list)
	}
	if _, err := f.store.ClaimCallback(ctx, other.ID, "1001", []string{"inquiry"}, "inquiry"); !errors.Is(err, ErrNoCallback) {
		t.Fatalf("claim outside the agent's categories: %v", err)
	}
	c, err := f.store.ClaimCallback(ctx, none.ID, "1001", []string{"inquiry"}, "inquiry")
	if err != nil || c.ClaimedBy != "1001" {
		t.Fatalf("claim: %v %+v", err, c)
	}
	if _, err := f.store.ClaimCallback(ctx, none.ID, "1002", []string{"inquiry"}, "inquiry"); !errors.Is(err, ErrNoCallback) {
		t.Fatalf("claim of another's claim: %v", err)
	}
	// A category without an agent is passed over, but not its claimed request.
	skip := LeaseSkip{Categories: []string{"inquiry"}, Default: "inquiry"}
	l, err := f.store.LeaseCallback(ctx, "n1", time.Minute, skip)
	if err != nil || l.ID != none.ID || l.ClaimedBy != "1001" {
		t.Fatalf("lease after claim: %v %+v, want the claimed request first", err, l)
	}
	skip.IDs = []int64{l.ID}
	if l, err = f.store.LeaseCallback(ctx, "n1", time.Minute, skip); err != nil || l.ID != other.ID {
		t.Fatalf("lease with inquiry held: %v %+v, want the complaint %d", err, l, other.ID)
	}
}
