package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/sip/siptest"
	"github.com/hotline-dev/hotline/tickets"
)

// End to end with a real softphone (baresip as agent 1001):
//   - an answered call leaves a draft ticket with the call facts, submitted in
//     time → not late (S12, S13);
//   - a complaint whose agent hangs up first: the caller hears the reference
//     (S17) and presses 3 in the survey (S18); the draft left alone is flagged
//     overdue by the sweeper without any submission, and counted; entered late,
//     the dissatisfied complaint opens as reopened.
func TestE2ETicketsUnderStandard(t *testing.T) {
	siptest.RequireBaresip(t)
	n := startNode(t, calendarOpen, func(c *Config) {
		c.Registrar.Algorithms = []string{"MD5"} // baresip 1.0 cannot answer a SHA-256 challenge
		c.ACD.RingTimeout = 5e9
		c.Tickets.EntryWindow = 4e9 // S12 window shortened for the test
		c.Tickets.SweepInterval = 5e8
	})
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	agent := startAgent(ctx, t, n, "1001")

	// Call 1 from SIPp: inquiry (key 1 by RFC 4733), bridged to baresip, SIPp
	// hangs up; the draft is submitted in time.
	res := runSIPp(t, siptest.SIPpOptions{Scenario: "ivr_key.xml", Target: n.sipHP, Caller: "13811110001",
		Key: '1', AnswerWait: 6 * time.Second, AfterKey: 12 * time.Second})
	wantSIPpOK(t, res, "ivr_key.xml")
	if _, err := agent.WaitEvent(ctx, siptest.EventCallEstablished); err != nil {
		t.Fatalf("agent not rung for the SIPp caller: %v", err)
	}
	rec := n.recordOfCaller("13811110001")
	if rec.Outcome != "answered" || rec.AgentID != "1001" {
		t.Fatalf("record = %+v", rec)
	}
	draft := ticketOfCall(t, n, rec.ID)
	if draft.Status != tickets.StatusDraft || draft.AgentID != "1001" || draft.CallerNumber != "13811110001" ||
		draft.Category != "inquiry" || draft.RecordingPath == "" || draft.RecordingPath != rec.RecordingPath {
		t.Fatalf("draft ticket = %+v (record %+v)", draft, rec)
	}
	// The agent submits through the JSON API, as the panel will.
	cl := apiLogin(t, n, "1001", "secret-1001")
	var k tickets.Ticket
	cl.post(t, "/api/tickets/"+draft.Ref+"/submit", "submit-"+draft.Ref, map[string]any{
		"caller_name": "张三", "callback_phone": "13811110001", "description": "问水费缴纳方式",
		"category": "inquiry", "result": "answered"}, 200, &k)
	if k.Status != tickets.StatusOpen || k.Late || k.EnteredAt.IsZero() {
		t.Fatalf("submitted in time: %+v", k)
	}
	// Submitting again (a double click) changes nothing.
	var again tickets.Ticket
	cl.post(t, "/api/tickets/"+draft.Ref+"/submit", "submit-"+draft.Ref, map[string]any{
		"caller_name": "张三", "callback_phone": "13811110001", "description": "问水费缴纳方式",
		"category": "inquiry", "result": "answered"}, 200, &again)
	if !again.EnteredAt.Equal(k.EnteredAt) {
		t.Fatalf("resubmission changed the ticket: %+v vs %+v", again, k)
	}
	// S12: the agent's wrap-up ended when the ticket was entered.
	waitAgentState(t, n, "1001", agents.StateAvailable)

	// Call 2: complaint; the agent hangs up first (S11).
	overdueBefore := n.counter(`hotline_tickets_overdue_drafts_total`)
	call := dial(t, newCaller(t), siptest.DialOptions{Target: n.target, From: "sip:13822220002@127.0.0.1",
		Audio: siptest.Tone(440, time.Second, 8000)})
	pressInMenu(t, call, '2')
	if _, err := agent.WaitEvent(ctx, siptest.EventCallEstablished); err != nil {
		t.Fatalf("agent not rung: %v", err)
	}
	waitAgentState(t, n, "1001", agents.StateOnCall)
	time.Sleep(5 * time.Second) // the staff number (S2), then a few words
	agentGone := time.Now()
	if err := agent.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	hears(t, call, agentGone, prompt(t, "zh-CN", "ticket_number_prefix"), 8*time.Second)
	hears(t, call, agentGone, prompt(t, "zh-CN", "survey")[:16000], 30*time.Second)
	if err := call.SendDTMF('3'); err != nil {
		t.Fatal(err)
	}
	hears(t, call, agentGone, prompt(t, "zh-CN", "survey_thanks"), 10*time.Second)
	if err := call.WaitHangup(ctx); err != nil {
		t.Fatalf("server did not end the call after the survey: %v", err)
	}
	rec = n.record(call.CallID())
	if rec.Outcome != "answered" || rec.HungUpBy != "agent" || rec.Category != "complaint" {
		t.Fatalf("record = %+v", rec)
	}
	// The score is written just after the call record (its own step): wait
	// for it rather than race it.
	draft = ticketOfCall(t, n, rec.ID)
	for scoreBy := time.Now().Add(10 * time.Second); draft.SurveyScore == 0 && time.Now().Before(scoreBy); {
		time.Sleep(100 * time.Millisecond)
		draft = ticketOfCall(t, n, rec.ID)
	}
	if draft.SurveyScore != 3 || draft.Status != tickets.StatusDraft {
		t.Fatalf("complaint draft = %+v", draft)
	}
	// Left alone past the entry window: flagged overdue by the sweeper, counted.
	deadline := time.Now().Add(20 * time.Second)
	for draft.OverdueFlaggedAt.IsZero() && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		draft = ticketOfCall(t, n, rec.ID)
	}
	if draft.OverdueFlaggedAt.IsZero() {
		t.Fatalf("draft not flagged overdue: %+v", draft)
	}
	if got := n.counter(`hotline_tickets_overdue_drafts_total`); got < overdueBefore+1 {
		t.Fatalf("overdue metric %v, want > %v", got, overdueBefore)
	}
	k, err := n.app.store.Submit(ctx, draft.Ref, tickets.SubmitInput{CallerName: "李四", CallbackPhone: "13822220002",
		Description: "投诉停水未通知", Category: "complaint", Result: "follow_up",
		FollowUpDue: time.Now().Add(48 * time.Hour)}, "1001", "submit-"+draft.Ref)
	if err != nil {
		t.Fatalf("late submit: %v", err)
	}
	if !k.Late || k.Status != tickets.StatusReopened {
		t.Fatalf("late dissatisfied complaint: %+v", k)
	}
	// Entered outside the API: the agent ends wrap-up with the feature code *3.
	waitAgentState(t, n, "1001", agents.StateWrapUp)
	featureCode(ctx, t, n, agent, "*3")
	waitAgentState(t, n, "1001", agents.StateAvailable)
}

// startAgent adds an agent, registers baresip (answering by itself) for it
// and logs it in with *1.
func startAgent(ctx context.Context, t *testing.T, n *testNode, id string) *siptest.Baresip {
	t.Helper()
	return startAgentPhone(ctx, t, n, id, true)
}

// startAgentPhone is startAgent with a phone that answers by itself or not.
func startAgentPhone(ctx context.Context, t *testing.T, n *testNode, id string, autoAnswer bool) *siptest.Baresip {
	t.Helper()
	if err := n.app.dir.Add(ctx, agents.Agent{ID: id, DisplayName: "Agent " + id, StaffNumber: id,
		Categories: []string{"inquiry", "complaint", "emergency", "business"}, Role: agents.RoleAgent}, "secret-"+id); err != nil {
		t.Fatal(err)
	}
	b, err := siptest.StartBaresip(ctx, siptest.BaresipOptions{User: id, Password: "secret-" + id,
		Domain: n.sipHP, AutoAnswer: autoAnswer, Microphone: siptest.Tone(1000, time.Second, 8000)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if err := b.WaitRegistered(ctx); err != nil {
		t.Fatalf("register: %v\n%s", err, b.Log())
	}
	featureCode(ctx, t, n, b, "*1")
	waitAgentState(t, n, id, agents.StateAvailable)
	return b
}

// featureCode dials a feature code from the softphone and waits for its end.
func featureCode(ctx context.Context, t *testing.T, n *testNode, b *siptest.Baresip, code string) {
	t.Helper()
	if err := b.Dial(ctx, "sip:"+code+"@"+n.sipHP); err != nil {
		t.Fatal(err)
	}
	for _, ev := range []string{siptest.EventCallEstablished, siptest.EventCallClosed} {
		if _, err := b.WaitEvent(ctx, ev); err != nil {
			t.Fatalf("feature call %s: %v\n%s", code, err, b.Log())
		}
	}
}

// ticketOfCall reads the ticket of a call through the store's own look-up.
func ticketOfCall(t *testing.T, n *testNode, callID string) tickets.Ticket {
	t.Helper()
	var ref string
	if err := n.pool.QueryRow(context.Background(), `SELECT ref FROM tickets WHERE call_id = $1`, callID).Scan(&ref); err != nil {
		t.Fatalf("ticket of call %s: %v", callID, err)
	}
	k, err := n.app.store.Get(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// apiClient is a logged-in session of the tickets API.
type apiClient struct {
	n    *testNode
	http *http.Client
	csrf string
}

func apiLogin(t *testing.T, n *testNode, id, password string) *apiClient {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &apiClient{n: n, http: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
	var out struct {
		CSRF string `json:"csrf_token"`
	}
	c.post(t, "/api/login", "", map[string]string{"agent_id": id, "password": password}, 200, &out)
	if out.CSRF == "" {
		t.Fatal("login returned no csrf token")
	}
	c.csrf = out.CSRF
	return c
}

func (c *apiClient) post(t *testing.T, path, idemKey string, body any, want int, out any) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("POST", "http://"+c.n.app.httpAddr+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.csrf != "" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	res, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		t.Fatalf("POST %s: %d %s, want %d", path, res.StatusCode, data, want)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("POST %s: %v in %s", path, err, data)
		}
	}
}
