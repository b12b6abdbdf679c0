package api

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/tickets"
)

// GET /api/agent/call follows the ACD: ringing with the screen pop (S1's
// apology, S16's open tickets), on the call, in wrap-up with the draft and
// its deadline (S12); 204 before and after, and to anyone else.
func TestCurrentCall(t *testing.T) {
	p := newPanelFixture(t)
	ctx := context.Background()
	agent, other := p.login(t, "1001"), p.login(t, "1002")
	if res := agent.do("GET", "/api/agent/call", nil, nil); res.status != http.StatusNoContent {
		t.Fatalf("no call yet = %d %s", res.status, res.raw)
	}
	p.available(t, "1001")
	id := p.ring(t, "1001", "13800000003", 30*time.Second)
	pop := agents.ScreenPop{Caller: "13800000003", Category: "inquiry", WaitedMS: 30000, Apologise: true,
		OpenTickets: []agents.OpenTicket{{Ref: "T20261207-000001", Owner: "1002", Status: "open", Category: "complaint"}}}
	if err := p.acd.StartCall(ctx, "1001", agents.CurrentCall{CallID: id, ScreenPop: pop, Started: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if e := p.event(t, agents.EventRinging, "1001"); e.CallID != id || e.Pop == nil || e.Pop.Caller != pop.Caller ||
		!e.Pop.Apologise || len(e.Pop.OpenTickets) != 1 || e.Pop.OpenTickets[0].Owner != "1002" {
		t.Fatalf("ringing event = %+v pop %+v", e, e.Pop)
	}
	res := agent.do("GET", "/api/agent/call", nil, nil)
	if res.status != http.StatusOK || res.body["call_id"] != id || res.body["state"] != "ringing" ||
		res.body["caller"] != "13800000003" || res.body["waited_ms"] != float64(30000) || res.body["apologise"] != true ||
		res.body["priority"] != float64(0) || res.body["draft"] != "" || res.body["entry_deadline"] != "" {
		t.Fatalf("ringing call = %d %s", res.status, res.raw)
	}
	if open := res.body["open_tickets"].([]any); len(open) != 1 || open[0].(map[string]any)["ref"] != "T20261207-000001" {
		t.Fatalf("open tickets = %v", open)
	}
	if res := other.do("GET", "/api/agent/call", nil, nil); res.status != http.StatusNoContent {
		t.Fatalf("another agent sees %d %s", res.status, res.raw)
	}
	if err := p.acd.Answered(ctx, id, "1001"); err != nil {
		t.Fatal(err)
	}
	if err := p.acd.CallAnswered(ctx, "1001", id); err != nil {
		t.Fatal(err)
	}
	p.event(t, agents.EventAnswered, "1001")
	if res := agent.do("GET", "/api/agent/call", nil, nil); res.body["state"] != "on_call" {
		t.Fatalf("answered call = %s", res.raw)
	}
	if err := p.acd.Hangup(ctx, "1001", time.Minute, "inquiry"); err != nil {
		t.Fatal(err)
	}
	if err := p.acd.CallEnded(ctx, "1001", id, true, time.Now().Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	p.event(t, agents.EventCallEnded, "1001")
	k := p.draft(t, "1001", 0)
	deadline := time.Now().Add(5 * time.Minute).Truncate(time.Second)
	if err := p.acd.DraftWritten(ctx, "1001", id, k.Ref, deadline); err != nil {
		t.Fatal(err)
	}
	if e := p.event(t, agents.EventTicket, "1001"); e.Ticket != k.Ref || e.Reason != agents.TicketDraft {
		t.Fatalf("ticket event = %+v", e)
	}
	res = agent.do("GET", "/api/agent/call", nil, nil)
	if res.body["state"] != "wrap_up" || res.body["draft"] != k.Ref || res.body["entry_deadline"] != deadline.UTC().Format(time.RFC3339) {
		t.Fatalf("call in wrap-up = %s", res.raw)
	}
	// A late update for this call never lands on the agent's next one.
	if err := p.acd.WrapUpDone(ctx, "1001"); err != nil {
		t.Fatal(err)
	}
	if res := agent.do("GET", "/api/agent/call", nil, nil); res.status != http.StatusNoContent {
		t.Fatalf("after wrap-up = %d %s", res.status, res.raw)
	}
}

func TestTransferRoute(t *testing.T) {
	p := newPanelFixture(t)
	ctx := context.Background()
	cmds, err := p.acd.Commands(ctx) // node-a's: the node holding the calls
	if err != nil {
		t.Fatal(err)
	}
	agent := p.login(t, "1001")
	p.available(t, "1001")
	tests := []struct {
		name      string
		body      any
		want      int
		wantField string
	}{
		{"unknown kind", map[string]string{"kind": "queue", "target": "complaint"}, http.StatusUnprocessableEntity, "kind"},
		{"no target", map[string]string{"kind": "agent"}, http.StatusUnprocessableEntity, "target"},
		{"unknown category", map[string]string{"kind": "category", "target": "weather"}, http.StatusUnprocessableEntity, "target"},
		{"unknown specialist", map[string]string{"kind": "specialist", "target": "gas"}, http.StatusUnprocessableEntity, "target"},
		{"an agent as a specialist", map[string]string{"kind": "specialist", "target": "1002"}, http.StatusUnprocessableEntity, "target"},
		{"to oneself", map[string]string{"kind": "agent", "target": "1001"}, http.StatusUnprocessableEntity, "target"},
		{"not on a call", map[string]string{"kind": "category", "target": "complaint"}, http.StatusConflict, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := agent.do("POST", "/api/agent/transfer", tc.body, nil)
			if res.status != tc.want || (tc.wantField != "" && res.fields()[tc.wantField] == nil) {
				t.Fatalf("status %d, want %d with field %q: %s", res.status, tc.want, tc.wantField, res.raw)
			}
		})
	}
	id := p.ring(t, "1001", "13800000004", time.Second)
	if err := p.acd.Answered(ctx, id, "1001"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		body       map[string]string
		kind, dest string
	}{
		{map[string]string{"kind": "category", "target": "complaint"}, "queue", "complaint"},
		{map[string]string{"kind": "agent", "target": "1002"}, "agent", "1002"},
		{map[string]string{"kind": "specialist", "target": "water"}, "number", "water"},
	} {
		res := agent.do("POST", "/api/agent/transfer", tc.body, nil)
		if res.status != http.StatusAccepted {
			t.Fatalf("transfer %v = %d %s", tc.body, res.status, res.raw)
		}
		select {
		case c := <-cmds:
			if c.Type != agents.CommandTransfer || c.Agent != "1001" || c.CallID != id || c.Kind != tc.kind || c.Target != tc.dest {
				t.Fatalf("command = %+v, want %s:%s for call %s", c, tc.kind, tc.dest, id)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no command reached the call's node")
		}
	}
	bare := &client{t: t, base: agent.base, http: agent.http}
	if res := bare.do("POST", "/api/agent/transfer", map[string]string{"kind": "agent", "target": "1002"}, nil); res.status != http.StatusForbidden {
		t.Fatalf("without CSRF = %d", res.status)
	}
	// A GET changes nothing: the route answers only POST.
	if res := agent.do("GET", "/api/agent/transfer", nil, nil); res.status != http.StatusNotFound {
		t.Fatalf("GET transfer = %d, want the API's 404", res.status)
	}
}

// The sweeper's alerts reach the owner's panel as "ticket" events: an
// overdue draft is late (S12), a breach or escalation escalated (S14,
// S15); a submission through the API is "submitted".
func TestTicketEventsFromAlerts(t *testing.T) {
	p := newPanelFixture(t)
	ctx := context.Background()
	k := p.draft(t, "1001", 10*time.Minute)
	sw, err := tickets.NewSweeper(p.pool, tickets.SweeperOptions{Notifier: p.router})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := sw.Sweep(ctx); err != nil || res.Overdue != 1 {
		t.Fatalf("sweep = %+v, %v", res, err)
	}
	if e := p.event(t, agents.EventTicket, "1001"); e.Ticket != k.Ref || e.Reason != agents.TicketLate {
		t.Fatalf("overdue draft event = %+v", e)
	}
	p.router.Notify(ctx, tickets.Alert{Kind: tickets.AlertBreach, TicketRef: k.Ref, Agent: "1001", Level: 1})
	if e := p.event(t, agents.EventTicket, "1001"); e.Ticket != k.Ref || e.Reason != agents.TicketEscalated {
		t.Fatalf("breach event = %+v", e)
	}
	agent := p.login(t, "1001")
	if res := agent.do("POST", "/api/tickets/"+k.Ref+"/submit", form(), map[string]string{idempotencyHeader: "s"}); res.status != http.StatusOK {
		t.Fatalf("submit = %d %s", res.status, res.raw)
	}
	if e := p.event(t, agents.EventTicket, "1001"); e.Ticket != k.Ref || e.Reason != agents.TicketSubmitted {
		t.Fatalf("submitted event = %+v", e)
	}
}
