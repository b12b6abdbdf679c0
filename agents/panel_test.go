package agents

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/configs"
)

// Events published from Go decode as the scripts' do: "at" in Unix
// milliseconds, the screen pop and the ticket ref kept.
func TestEventJSONRoundTrip(t *testing.T) {
	at := time.UnixMilli(1_800_000_000_123)
	in := Event{Type: EventRinging, Agent: "1001", CallID: "c1", At: at,
		Pop: &ScreenPop{Caller: "13800138000", WaitedMS: 25000, Apologise: true, OpenTickets: []OpenTicket{{Ref: "T1", Owner: "1002"}}}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil || raw["at"] != float64(at.UnixMilli()) {
		t.Fatalf("encoded %s (%v), want at in ms", b, err)
	}
	var out Event
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !out.At.Equal(at) || out.Pop == nil || out.Pop.OpenTickets[0].Owner != "1002" || !out.Pop.Apologise {
		t.Fatalf("decoded %+v pop %+v", out, out.Pop)
	}
	ticket, _ := json.Marshal(Event{Type: EventTicket, Agent: "1001", Ticket: "T2", Reason: TicketLate})
	raw = nil
	if err := json.Unmarshal(ticket, &raw); err != nil || raw["ticket"] != "T2" || raw["pop"] != nil || raw["at"] != nil {
		t.Fatalf("ticket event %s", ticket)
	}
}

// The current call follows the ACD, and an update for a call the agent
// has left (a late report) never lands on the next one.
func TestCurrentCallUpdatesOnlyItsCall(t *testing.T) {
	e := newTestACD(t, ACDOptions{})
	ctx := context.Background()
	if _, err := e.CurrentCall(ctx, "1001"); !errors.Is(err, ErrNoCall) {
		t.Fatalf("never logged in: %v, want ErrNoCall", err)
	}
	e.login(t, "1001", "inquiry")
	for _, id := range []string{"a", "b"} {
		if err := e.q.Enqueue(ctx, configs.QueueEntry{CallID: id, Caller: "1380000000" + id, Category: "inquiry"}); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.match(t); len(got) != 1 || got[0] != "a→1001" {
		t.Fatalf("match = %v", got)
	}
	if err := e.StartCall(ctx, "1001", CurrentCall{CallID: "a", ScreenPop: ScreenPop{Caller: "1380000000a"}, Started: t0}); err != nil {
		t.Fatal(err)
	}
	if c, err := e.CurrentCall(ctx, "1001"); err != nil || c.State != StateRinging || c.Caller != "1380000000a" || c.OpenTickets == nil {
		t.Fatalf("ringing: %+v, %v", c, err)
	}
	if err := e.Answered(ctx, "a", "1001"); err != nil {
		t.Fatal(err)
	}
	if err := e.Hangup(ctx, "1001", time.Minute, "inquiry"); err != nil {
		t.Fatal(err)
	}
	if err := e.WrapUpDone(ctx, "1001"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.CurrentCall(ctx, "1001"); !errors.Is(err, ErrNoCall) {
		t.Fatalf("available: %v, want ErrNoCall", err)
	}
	if got := e.match(t); len(got) != 1 || got[0] != "b→1001" {
		t.Fatalf("match = %v", got)
	}
	if err := e.StartCall(ctx, "1001", CurrentCall{CallID: "b", ScreenPop: ScreenPop{Caller: "1380000000b"}, Started: t0}); err != nil {
		t.Fatal(err)
	}
	// Call a's late reports.
	if err := e.CallEnded(ctx, "1001", "a", true, t0); err != nil {
		t.Fatal(err)
	}
	if err := e.DraftWritten(ctx, "1001", "a", "T-a", t0); err != nil {
		t.Fatal(err)
	}
	c, err := e.CurrentCall(ctx, "1001")
	if err != nil || c.CallID != "b" || c.State != StateRinging || c.Draft != "" || c.DraftDue || c.EntryDeadline != "" {
		t.Fatalf("call b after a's late reports: %+v, %v", c, err)
	}
}

// RestoreCall writes an agent's call back only where the key is gone (a
// Redis restart): a call that rang the agent since is never overwritten by
// the older one, and only a ringing or bridged call is restored.
func TestRestoreCallKeepsANewerCall(t *testing.T) {
	e := newTestACD(t, ACDOptions{})
	ctx := context.Background()
	old := CurrentCall{CallID: "a", ScreenPop: ScreenPop{Caller: "138000000a", OpenTickets: []OpenTicket{{Ref: "T1"}}},
		State: StateOnCall, Started: t0}
	if ok, err := e.RestoreCall(ctx, "1001", old); err != nil || !ok {
		t.Fatalf("restore into an empty Redis = %v, %v; want restored", ok, err)
	}
	v := e.rdb.HGetAll(ctx, e.key("agent:1001:call")).Val()
	if v["call_id"] != "a" || v["state"] != "on_call" || v["caller"] != "138000000a" || v["open_tickets"] == "" {
		t.Fatalf("restored hash = %v", v)
	}
	if err := e.StartCall(ctx, "1001", CurrentCall{CallID: "b", Started: t0}); err != nil {
		t.Fatal(err)
	}
	if ok, err := e.RestoreCall(ctx, "1001", old); err != nil || ok {
		t.Fatalf("restore over a newer call = %v, %v; want left alone", ok, err)
	}
	if id := e.rdb.HGet(ctx, e.key("agent:1001:call"), "call_id").Val(); id != "b" {
		t.Fatalf("call after the refused restore = %q, want b", id)
	}
	old.State = StateWrapUp
	if _, err := e.RestoreCall(ctx, "1002", old); err == nil {
		t.Fatal("a call in wrap-up was restored")
	}
}
