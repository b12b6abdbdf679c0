package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/sip/siptest"
	"github.com/hotline-dev/hotline/tickets"
)

// get sends a GET of the API and returns the status and body.
func (c *apiClient) get(t *testing.T, path string) (int, []byte) {
	t.Helper()
	res, err := c.http.Get("http://" + c.n.app.httpAddr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, body
}

// currentCall is GET /api/agent/call: the status and the call.
func (c *apiClient) currentCall(t *testing.T) (int, agents.CurrentCall) {
	t.Helper()
	status, body := c.get(t, "/api/agent/call")
	var cc agents.CurrentCall
	if status == http.StatusOK {
		if err := json.Unmarshal(body, &cc); err != nil {
			t.Fatalf("decode current call %s: %v", body, err)
		}
	}
	return status, cc
}

// nextEvent waits for the next event of type typ for agent, skipping others.
func nextEvent(t *testing.T, events <-chan agents.Event, typ, agent string) agents.Event {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatal("event channel closed")
			}
			if e.Type == typ && e.Agent == agent {
				return e
			}
		case <-timeout:
			t.Fatalf("no %s event for agent %s within 20 s", typ, agent)
		}
	}
}

// End to end with a real softphone, through the panel's routes and events:
// the wall's hint when the caller queues, the screen pop the moment the phone rings (S1: the caller waited past
// service_level_threshold, so the agent apologises), the call resumed by
// GET /api/agent/call, the draft announced once written, wrap-up held
// while the draft is open (S12: *3 and "available" refused) until the
// submission ends it, and a repeat caller's open ticket and its owner on
// the next pop (S16).
func TestE2EWrapUpHeldUntilSubmitted(t *testing.T) {
	siptest.RequireBaresip(t)
	n := startNode(t, calendarOpen, func(c *Config) {
		c.Registrar.Algorithms = []string{"MD5"} // baresip 1.0 cannot answer a SHA-256 challenge
		c.ACD.RingTimeout = 5e9
		c.ACD.ServiceLevelThreshold = 2e9 // S1 threshold shortened for the test
	})
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	events, err := n.app.acd.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	agent := startAgent(ctx, t, n, "1001")
	cl := apiLogin(t, n, "1001", "secret-1001")
	// Paused from the panel: the caller waits past the threshold.
	cl.post(t, "/api/agent/state", "", map[string]string{"state": "paused", "reason": "meal"}, 200, nil)
	const caller = "13833330003"
	call := dial(t, newCaller(t), siptest.DialOptions{Target: n.target, From: "sip:" + caller + "@127.0.0.1",
		Audio: siptest.Tone(440, time.Second, 8000)})
	pressInMenu(t, call, '1')
	n.waitQueueLen("inquiry", 1)
	if e := nextEvent(t, events, agents.EventWall, ""); e.Node != n.cfg.Node {
		t.Fatalf("wall hint = %+v, want one from node %s", e, n.cfg.Node)
	}
	time.Sleep(2500 * time.Millisecond)
	cl.post(t, "/api/agent/state", "", map[string]string{"state": "available"}, 200, nil)

	ring := nextEvent(t, events, agents.EventRinging, "1001")
	if p := ring.Pop; p == nil || p.Caller != caller || p.Category != "inquiry" || p.WaitedMS < 2000 || !p.Apologise ||
		len(p.OpenTickets) != 0 {
		t.Fatalf("screen pop = %+v", ring.Pop)
	}
	if _, err := agent.WaitEvent(ctx, siptest.EventCallEstablished); err != nil {
		t.Fatalf("agent not rung: %v\n%s", err, agent.Log())
	}
	nextEvent(t, events, agents.EventAnswered, "1001")
	if status, cc := cl.currentCall(t); status != 200 || cc.State != agents.StateOnCall || cc.Caller != caller ||
		!cc.Apologise || cc.CallID != ring.CallID {
		t.Fatalf("current call on the call = %d %+v", status, cc)
	}
	time.Sleep(2 * time.Second) // the staff number (S2), then a few words
	hangup(t, call)
	if _, err := agent.WaitEvent(ctx, siptest.EventCallClosed); err != nil {
		t.Fatalf("agent leg not closed: %v", err)
	}
	nextEvent(t, events, agents.EventCallEnded, "1001")
	waitAgentState(t, n, "1001", agents.StateWrapUp)
	drafted := nextEvent(t, events, agents.EventTicket, "1001")
	rec := n.record(call.CallID())
	draft := ticketOfCall(t, n, rec.ID)
	if drafted.Reason != agents.TicketDraft || drafted.Ticket != draft.Ref {
		t.Fatalf("ticket event = %+v, want the draft %s", drafted, draft.Ref)
	}
	if status, cc := cl.currentCall(t); status != 200 || cc.State != agents.StateWrapUp || cc.Draft != draft.Ref ||
		cc.EntryDeadline != draft.EntryDeadline.UTC().Format(time.RFC3339) {
		t.Fatalf("current call in wrap-up = %d %+v (draft %+v)", status, cc, draft)
	}

	// S12: *3 does not end wrap-up while the draft is open, nor does the panel.
	featureCode(ctx, t, n, agent, "*3")
	if st, err := n.app.acd.State(ctx, "1001"); err != nil || st.State != agents.StateWrapUp {
		t.Fatalf("after *3 with the draft open: %+v (%v), want wrap_up", st, err)
	}
	cl.post(t, "/api/agent/state", "", map[string]string{"state": "available"}, 409, nil)
	// Submitting the draft ends it.
	cl.post(t, "/api/tickets/"+draft.Ref+"/submit", "submit-"+draft.Ref, map[string]any{
		"caller_name": "王五", "callback_phone": caller, "description": "问路灯维修进度",
		"category": "inquiry", "result": "answered"}, 200, nil)
	waitAgentState(t, n, "1001", agents.StateAvailable)
	if e := nextEvent(t, events, agents.EventTicket, "1001"); e.Reason != agents.TicketSubmitted || e.Ticket != draft.Ref {
		t.Fatalf("ticket event after the submission = %+v", e)
	}
	if status, _ := cl.currentCall(t); status != http.StatusNoContent {
		t.Fatalf("current call after wrap-up = %d, want 204", status)
	}

	// S16: the caller calls again; the pop shows the open ticket and its owner.
	again := dial(t, newCaller(t), siptest.DialOptions{Target: n.target, From: "sip:" + caller + "@127.0.0.1",
		Audio: siptest.Tone(440, time.Second, 8000)})
	pressInMenu(t, again, '1')
	ring = nextEvent(t, events, agents.EventRinging, "1001")
	if p := ring.Pop; p == nil || len(p.OpenTickets) != 1 || p.OpenTickets[0].Ref != draft.Ref ||
		p.OpenTickets[0].Owner != "1001" || p.OpenTickets[0].Status != tickets.StatusOpen || p.Apologise {
		t.Fatalf("repeat caller's pop = %+v", ring.Pop)
	}
	if _, err := agent.WaitEvent(ctx, siptest.EventCallEstablished); err != nil {
		t.Fatalf("agent not rung again: %v", err)
	}
	hangup(t, again)
}

// S10 from the panel: the agent on a call transfers the caller to another
// agent; the node holding the call carries it out whichever node the
// request reached, the second agent's phone rings and takes the caller,
// and the first agent, who owes no ticket for a caller sent on, may end
// the wrap-up with *3.
func TestE2EPanelTransfer(t *testing.T) {
	siptest.RequireBaresip(t)
	n := startNode(t, calendarOpen, func(c *Config) {
		c.Registrar.Algorithms = []string{"MD5"}
		c.ACD.RingTimeout = 5e9
	})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	first := startAgent(ctx, t, n, "1001")
	second := startAgent(ctx, t, n, "1002")
	cl1, cl2 := apiLogin(t, n, "1001", "secret-1001"), apiLogin(t, n, "1002", "secret-1002")
	cl2.post(t, "/api/agent/state", "", map[string]string{"state": "paused", "reason": "break"}, 200, nil)
	call := dial(t, newCaller(t), siptest.DialOptions{Target: n.target, Audio: siptest.Tone(440, time.Second, 8000)})
	pressInMenu(t, call, '1')
	if _, err := first.WaitEvent(ctx, siptest.EventCallEstablished); err != nil {
		t.Fatalf("first agent not rung: %v", err)
	}
	waitAgentState(t, n, "1001", agents.StateOnCall)
	cl2.post(t, "/api/agent/state", "", map[string]string{"state": "available"}, 200, nil)
	cl1.post(t, "/api/agent/transfer", "", map[string]string{"kind": "agent", "target": "1003"}, 422, nil)
	cl2.post(t, "/api/agent/transfer", "", map[string]string{"kind": "agent", "target": "1001"}, 409, nil) // not on a call
	cl1.post(t, "/api/agent/transfer", "", map[string]string{"kind": "agent", "target": "1002"}, 202, nil)
	if _, err := first.WaitEvent(ctx, siptest.EventCallClosed); err != nil {
		t.Fatalf("first agent's leg not closed by the transfer: %v", err)
	}
	if _, err := second.WaitEvent(ctx, siptest.EventCallEstablished); err != nil {
		t.Fatalf("second agent not rung: %v\n%s", err, second.Log())
	}
	waitAgentState(t, n, "1002", agents.StateOnCall)
	waitAgentState(t, n, "1001", agents.StateWrapUp)
	// After the second agent's staff number (S2), the caller hears its phone.
	waitTone(t, "the caller hears the second agent", call.ReceivedSince, 1000, 15*time.Second)
	featureCode(ctx, t, n, first, "*3")
	waitAgentState(t, n, "1001", agents.StateAvailable)
	hangup(t, call)
	rec := n.record(call.CallID())
	if rec.AgentID != "1002" || rec.TransferredTo != "agent:1002" || rec.Outcome != "answered" {
		t.Fatalf("record = %+v", rec)
	}
}
