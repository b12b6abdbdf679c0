package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/configs"
	"github.com/hotline-dev/hotline/sip/siptest"
	"github.com/hotline-dev/hotline/sip/siptest/poll"
	"github.com/hotline-dev/hotline/tickets"
)

// End-to-end tests of placed callbacks (S9): SIPp is the outbound trunk and
// the callee (a UAS of sip/siptest/scenarios/callee_*.xml).

// startTrunk starts a SIPp callee for the trunk.
func startTrunk(t *testing.T, scenario string, calls int, echo bool) *siptest.SIPpUAS {
	t.Helper()
	siptest.RequireSIPp(t)
	u, err := siptest.StartSIPpUAS(context.Background(), siptest.SIPpUASOptions{Scenario: scenario, Calls: calls,
		Echo: echo, Timeout: 3 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _, _ = u.Stop() })
	return u
}

// withTrunk configures callbacks through the SIPp trunk at addr.
func withTrunk(addr string, attempts int, retry time.Duration) func(*Config) {
	return func(c *Config) {
		c.Callbacks.Trunk = "sip:" + addr
		c.Callbacks.MaxAttempts = attempts
		c.Callbacks.RetryAfter = configs.Duration(retry)
		c.Callbacks.RingTimeout = configs.Duration(3 * time.Second)
		c.Callbacks.Interval = configs.Duration(300 * time.Millisecond)
		c.ACD.RingTimeout = configs.Duration(5 * time.Second)
		c.Registrar.Algorithms = []string{"MD5"} // baresip 1.0 cannot answer a SHA-256 challenge
	}
}

// sipAgent registers agent id with its Contact on a SIPp phone (phone) and
// logs it in to category: the agent side of tests that do not need a
// softphone's audio.
func sipAgent(t *testing.T, n *testNode, id string, phone *siptest.SIPpUAS, category string) {
	t.Helper()
	ctx := context.Background()
	if err := n.app.dir.Add(ctx, agents.Agent{ID: id, DisplayName: "Agent " + id, StaffNumber: id,
		Categories: []string{category}, Role: agents.RoleAgent}, "secret-"+id); err != nil {
		t.Fatal(err)
	}
	if err := n.app.locs.Register(ctx, agents.Registration{AgentID: id, Contact: "sip:" + id + "@" + phone.Addr,
		Transport: "UDP", Node: n.cfg.Node, Source: phone.Addr, UserAgent: "sipp", Expires: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if err := n.app.acd.Login(ctx, id, []string{category}); err != nil {
		t.Fatal(err)
	}
}

// storeCallback writes a callback request as the IVR does.
func storeCallback(t *testing.T, n *testNode, callID, caller, category string) {
	t.Helper()
	if err := n.app.writer.SaveCallback(context.Background(), configs.CallbackRequest{CallID: callID, Caller: caller,
		Category: category, Reason: "max_wait", RequestedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
}

// callbackOf reads the request of a call.
func callbackOf(t *testing.T, n *testNode, callID string) tickets.Callback {
	t.Helper()
	var c tickets.Callback
	err := n.pool.QueryRow(context.Background(), `SELECT c.id, c.status, c.attempts, coalesce(c.last_result, ''),
			coalesce(t.ref, ''), coalesce(c.ticket_id, 0)
		FROM callback_requests c LEFT JOIN tickets t ON t.id = c.ticket_id WHERE c.call_id = $1`, callID).
		Scan(&c.ID, &c.Status, &c.Attempts, &c.LastResult, &c.Ticket, &c.TicketID)
	if err != nil {
		t.Fatalf("callback of %s: %v", callID, err)
	}
	return c
}

func waitCallback(t *testing.T, n *testNode, callID string, d time.Duration, ok func(tickets.Callback) bool) tickets.Callback {
	t.Helper()
	var c tickets.Callback
	if !poll.Within(d, func() bool {
		c = callbackOf(t, n, callID)
		return ok(c)
	}) {
		t.Fatalf("callback of %s after %s: %+v", callID, d, c)
	}
	return c
}

// ticketEvents lists a ticket's event kinds with their results.
func ticketEvents(t *testing.T, n *testNode, ticketID int64) []string {
	t.Helper()
	rows, err := n.pool.Query(context.Background(), `SELECT kind || coalesce('/' || (data->>'result'), '')
		FROM ticket_events WHERE ticket_id = $1 ORDER BY id`, ticketID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// A caller asks for a callback after hours on a closed node (SIPp presses 1
// on the after-hours menu, S9); the next morning (a node of the same
// centre whose calendar is open) places it: baresip, the agent, is rung
// and answers; the callee is dialled through the SIPp trunk and answers;
// SIPp echoes what it hears, so the agent hears its own 1 kHz voice only
// when the bridge carries audio both ways; the call is recorded (S19), the
// agent goes to wrap-up with a draft ticket (S12), and the request's ticket
// holds the attempt.
func TestE2ECallbackPlacedNextMorning(t *testing.T) {
	siptest.RequireBaresip(t)
	trunk := startTrunk(t, "callee_answer.xml", 1, true)
	night := startNode(t, calendarClosed(), withTrunk(trunk.Addr, 3, time.Minute))
	const number = "13800138000"
	res := runSIPp(t, siptest.SIPpOptions{Scenario: "ivr_key.xml", Target: night.sipHP, Caller: number, Key: '1',
		AnswerWait: 9 * time.Second, AfterKey: 5 * time.Second}) // welcome and after_hours first
	wantSIPpOK(t, res, "ivr_key.xml")
	rec := night.recordOfCaller(number)
	if rec.Outcome != "callback" {
		t.Fatalf("after-hours record = %+v, want a callback", rec)
	}
	req := waitCallback(t, night, rec.ID, 10*time.Second, func(c tickets.Callback) bool { return c.Ticket != "" })
	time.Sleep(time.Second) // the closed node's placer rounds place nothing
	if c := callbackOf(t, night, rec.ID); c.Attempts != 0 || c.Status != tickets.CallbackPending {
		t.Fatalf("placed while closed: %+v", c)
	}

	morning := startNode(t, calendarOpen, func(c *Config) {
		withTrunk(trunk.Addr, 3, time.Minute)(c)
		c.DatabaseURL, c.Queue.KeyPrefix = night.cfg.DatabaseURL, night.cfg.Queue.KeyPrefix
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := morning.app.dir.Add(ctx, agents.Agent{ID: "1001", DisplayName: "Li Na", StaffNumber: "1001",
		Categories: []string{"inquiry"}, Role: agents.RoleAgent}, "secret-1001"); err != nil {
		t.Fatal(err)
	}
	agent, err := siptest.StartBaresip(ctx, siptest.BaresipOptions{User: "1001", Password: "secret-1001",
		Domain: morning.sipHP, AutoAnswer: true, Microphone: siptest.Tone(1000, time.Second, 8000)})
	if err != nil {
		t.Fatal(err)
	}
	defer agent.Close()
	if err := agent.WaitRegistered(ctx); err != nil {
		t.Fatalf("register: %v\n%s", err, agent.Log())
	}
	featureCode(ctx, t, morning, agent, "*1")
	if _, err := agent.WaitEvent(ctx, siptest.EventCallEstablished); err != nil {
		t.Fatalf("agent not rung for the callback: %v\n%s", err, agent.Log())
	}
	waitAgentState(t, morning, "1001", agents.StateOnCall)
	connected := waitCallback(t, morning, rec.ID, 15*time.Second, func(c tickets.Callback) bool { return c.Status != tickets.CallbackPending })
	if connected.Status != tickets.CallbackConnected || connected.Attempts != 1 {
		t.Fatalf("callback %+v, want connected at the first attempt", connected)
	}
	time.Sleep(8 * time.Second) // the intro to the callee (about 5 s), then the conversation
	heard, err := agent.Recorded()
	if err != nil {
		t.Fatal(err)
	}
	if len(heard) < 8000 || siptest.Goertzel(heard[len(heard)-8000:], 8000, 1000) < 0.5 {
		t.Fatalf("agent does not hear its voice echoed by the callee: the bridge is not carrying audio both ways (%d samples, share %.2f)",
			len(heard), siptest.Goertzel(heard[max(0, len(heard)-8000):], 8000, 1000))
	}
	// The callee hangs up (SIPp's BYE after 12 s); the agent's leg follows.
	if _, err := agent.WaitEvent(ctx, siptest.EventCallClosed); err != nil {
		t.Fatalf("agent leg not closed after the callee hung up: %v", err)
	}
	sres, incoming, err := trunk.Wait(ctx)
	if err != nil || incoming != 1 || sres.Successful != 1 {
		t.Fatalf("trunk: %d calls in, %d ok, err %v\n%s", incoming, sres.Successful, err, sres.Errors)
	}
	call := waitCallRecord(t, morning, fmt.Sprintf("cb-%d-1", req.ID))
	if call.Outcome != "answered" || call.AgentID != "1001" || call.Caller != number || call.HungUpBy != "caller" ||
		call.Category != configs.CategoryInquiry {
		t.Fatalf("callback call record = %+v", call)
	}
	checkEchoRecording(t, call.RecordingPath)
	waitAgentState(t, morning, "1001", agents.StateWrapUp) // S12: its draft ticket to enter
	if k := ticketOfCall(t, morning, call.ID); k.Status != tickets.StatusDraft || k.AgentID != "1001" {
		t.Fatalf("draft ticket of the callback call = %+v", k)
	}
	events := ticketEvents(t, morning, req.TicketID)
	if strings.Join(events, " ") != "created callback_connected/connected" {
		t.Fatalf("request ticket events %v", events)
	}
	k, err := morning.app.store.Get(ctx, req.Ticket)
	if err != nil || k.Channel != tickets.ChannelCallback || k.Status != tickets.StatusResolved {
		t.Fatalf("request ticket %+v (err %v), want channel callback, resolved", k, err)
	}
	if v := morning.counter("hotline_callbacks_connected_total"); v != 1 {
		t.Fatalf("hotline_callbacks_connected_total = %v", v)
	}
}

// waitCallRecord waits for the call record of our call id.
func waitCallRecord(t *testing.T, n *testNode, id string) tickets.CallRecord {
	t.Helper()
	var rec tickets.CallRecord
	found := poll.Within(15*time.Second, func() bool {
		recs, err := tickets.RecentCalls(context.Background(), n.pool, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.ID == id {
				rec = r
				return true
			}
		}
		return false
	})
	if !found {
		t.Fatalf("no call record %s", id)
	}
	return rec
}

// checkEchoRecording checks both channels of a callback's recording carry
// the agent's 1 kHz voice: right as the agent said it, left as the callee
// echoed it back (S19, both directions).
func checkEchoRecording(t *testing.T, path string) {
	t.Helper()
	if path == "" {
		t.Fatal("no recording on the callback's call record")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 44 || string(b[:4]) != "RIFF" || binary.LittleEndian.Uint16(b[22:24]) != 2 {
		t.Fatalf("recording %s is not a stereo WAV", path)
	}
	data := b[44:]
	if i := strings.Index(string(b[:200]), "data"); i >= 0 {
		data = b[i+8:]
	}
	var left, right []int16
	for i := 0; i+4 <= len(data); i += 4 {
		left = append(left, int16(binary.LittleEndian.Uint16(data[i:])))
		right = append(right, int16(binary.LittleEndian.Uint16(data[i+2:])))
	}
	if siptest.Goertzel(left, 8000, 1000) < 0.3 || siptest.Goertzel(right, 8000, 1000) < 0.3 {
		t.Fatalf("recording: 1 kHz share left (callee) %.2f, right (agent) %.2f; want both",
			siptest.Goertzel(left, 8000, 1000), siptest.Goertzel(right, 8000, 1000))
	}
}

// The callee is busy (486) at the first attempt and answers the second,
// retry_after later; each attempt is an event of the request's ticket.
func TestE2ECallbackBusyThenAnswered(t *testing.T) {
	busy := startTrunk(t, "callee_busy.xml", 1, false)
	phone := startTrunk(t, "callee_answer.xml", 2, true) // the agent's phone
	var trunkAddr = busy.Addr
	n := startNode(t, calendarOpen, withTrunk(trunkAddr, 3, 4*time.Second))
	sipAgent(t, n, "2001", phone, "inquiry")
	storeCallback(t, n, "busy-call", "13900000001", "inquiry")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, incoming, err := busy.Wait(ctx); err != nil || incoming != 1 {
		t.Fatalf("busy trunk: %d calls, err %v", incoming, err)
	}
	// The same trunk address answers the retry: SIPp binds it again.
	answer, err := siptest.StartSIPpUASAt(ctx, trunkAddr, siptest.SIPpUASOptions{Scenario: "callee_answer.xml", Echo: true})
	if err != nil {
		t.Fatal(err)
	}
	defer answer.Stop()
	first := callbackOf(t, n, "busy-call")
	if first.Status != tickets.CallbackPending || first.Attempts != 1 || first.LastResult != tickets.ResultBusy {
		t.Fatalf("after the busy attempt: %+v", first)
	}
	c := waitCallback(t, n, "busy-call", 30*time.Second, func(c tickets.Callback) bool { return c.Status != tickets.CallbackPending })
	if c.Status != tickets.CallbackConnected || c.Attempts != 2 {
		t.Fatalf("callback %+v, want connected at the second attempt", c)
	}
	if ev := strings.Join(ticketEvents(t, n, c.TicketID), " "); ev != "created callback_attempt/busy callback_connected/connected" {
		t.Fatalf("ticket events %s", ev)
	}
}

// A callee who never answers: each attempt rings out (CANCEL), and the
// last closes the request with no_answer; the ticket stays open, so its
// deadline breaches (S14, S15).
func TestE2ECallbackNoAnswerClosed(t *testing.T) {
	trunk := startTrunk(t, "callee_noanswer.xml", 2, false)
	phone := startTrunk(t, "callee_answer.xml", 2, true)
	n := startNode(t, calendarOpen, withTrunk(trunk.Addr, 2, time.Second))
	sipAgent(t, n, "2002", phone, "complaint")
	storeCallback(t, n, "silent-call", "02088888888", "complaint")
	c := waitCallback(t, n, "silent-call", 40*time.Second, func(c tickets.Callback) bool { return c.Status != tickets.CallbackPending })
	if c.Status != tickets.CallbackFailed || c.Attempts != 2 || c.LastResult != tickets.ResultNoAnswer {
		t.Fatalf("callback %+v, want failed no_answer after 2 attempts", c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if res, incoming, err := trunk.Wait(ctx); err != nil || incoming != 2 || res.Successful != 2 {
		t.Fatalf("trunk: %d calls, %d ok, err %v\n%s", incoming, res.Successful, err, res.Errors)
	}
	if ev := strings.Join(ticketEvents(t, n, c.TicketID), " "); ev != "created callback_attempt/no_answer callback_failed/no_answer" {
		t.Fatalf("ticket events %s", ev)
	}
	k, err := n.app.store.Get(ctx, c.Ticket)
	if err != nil || k.Status != tickets.StatusOpen || k.DueAt.IsZero() {
		t.Fatalf("ticket of the failed callback %+v (err %v): want open with its deadline", k, err)
	}
	if v := n.counter(`hotline_callbacks_failed_total{reason="no_answer"}`); v != 1 {
		t.Fatalf("failed_total{no_answer} = %v", v)
	}
	waitAgentState(t, n, "2002", agents.StateAvailable)
}

// Toll fraud: a number outside callbacks.allowed_prefixes (here an
// international one, and a premium-rate 9… one) is never dialled — the
// trunk sees no INVITE, the agent is not rung — and its request is closed
// with that reason.
func TestE2ECallbackForbiddenNumberNeverDialled(t *testing.T) {
	trunk := startTrunk(t, "callee_answer.xml", 1, true)
	phone := startTrunk(t, "callee_answer.xml", 1, true)
	n := startNode(t, calendarOpen, withTrunk(trunk.Addr, 3, time.Second))
	sipAgent(t, n, "2003", phone, "inquiry")
	for id, number := range map[string]string{"intl-call": "+447700900123", "premium-call": "95105105", "uri-call": "sip:1@evil.example"} {
		storeCallback(t, n, id, number, "inquiry")
		c := waitCallback(t, n, id, 10*time.Second, func(c tickets.Callback) bool { return c.Status != tickets.CallbackPending })
		if c.Status != tickets.CallbackFailed || c.Attempts != 0 || c.LastResult != tickets.ResultForbidden {
			t.Fatalf("%s: callback %+v, want failed forbidden_number with no attempt", number, c)
		}
	}
	time.Sleep(time.Second)
	for name, u := range map[string]*siptest.SIPpUAS{"trunk": trunk, "agent phone": phone} {
		if _, incoming, err := u.Stop(); err != nil || incoming != 0 {
			t.Fatalf("%s got %d INVITEs (err %v), want none", name, incoming, err)
		}
	}
	if v := n.counter(`hotline_callbacks_failed_total{reason="forbidden_number"}`); v != 3 {
		t.Fatalf("failed_total{forbidden_number} = %v", v)
	}
}

// Exactly once across nodes: two nodes place 100 requests at once (every
// callee busy, one attempt each); the trunk receives exactly 100 INVITEs,
// and each request was attempted once.
func TestE2ECallbacksTwoNodesEachDialledOnce(t *testing.T) {
	const requests, agentsPerNode = 100, 4
	trunk := startTrunk(t, "callee_busy.xml", requests, false)
	phones := startTrunk(t, "callee_answer.xml", requests, false)
	a := startNode(t, calendarOpen, withTrunk(trunk.Addr, 1, time.Second))
	b := startNode(t, calendarOpen, func(c *Config) {
		withTrunk(trunk.Addr, 1, time.Second)(c)
		c.DatabaseURL, c.Queue.KeyPrefix = a.cfg.DatabaseURL, a.cfg.Queue.KeyPrefix
	})
	for i := range agentsPerNode {
		sipAgent(t, a, fmt.Sprintf("31%02d", i), phones, "business")
		sipAgent(t, b, fmt.Sprintf("32%02d", i), phones, "business")
	}
	ctx := context.Background()
	for i := range requests {
		if _, err := a.pool.Exec(ctx, `INSERT INTO callback_requests (call_id, caller, category, reason, requested_at)
			VALUES ($1, $2, 'business', 'max_wait', now())`, fmt.Sprintf("two-%d", i), fmt.Sprintf("1370000%04d", i)); err != nil {
			t.Fatal(err)
		}
	}
	var open int
	if !poll.Within(90*time.Second, func() bool {
		_ = a.pool.QueryRow(ctx, `SELECT count(*) FROM callback_requests WHERE status = 'pending'`).Scan(&open)
		return open == 0
	}) {
		t.Fatalf("%d requests still pending", open)
	}
	var once, total int
	_ = a.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE attempts = 1 AND last_result = 'busy'), count(*)
		FROM callback_requests`).Scan(&once, &total)
	if once != requests || total != requests {
		t.Fatalf("%d of %d requests attempted exactly once (busy)", once, total)
	}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	res, incoming, err := trunk.Wait(wctx)
	if err != nil || incoming != requests {
		t.Fatalf("trunk received %d INVITEs (err %v), want %d\n%s", incoming, err, requests, res.Errors)
	}
	pa, pb := a.counter("hotline_callbacks_placed_total"), b.counter("hotline_callbacks_placed_total")
	if pa+pb != requests || pa == 0 || pb == 0 {
		t.Fatalf("placed %v by node a and %v by node b, want %d from both", pa, pb, requests)
	}
	t.Logf("node a placed %v, node b %v", pa, pb)
}

// A claim from the panel places the request with the claiming agent, not
// the longest-idle one.
func TestE2ECallbackClaimedGoesToClaimer(t *testing.T) {
	trunk := startTrunk(t, "callee_busy.xml", 1, false)
	phone := startTrunk(t, "callee_answer.xml", 1, false)
	n := startNode(t, calendarOpen, withTrunk(trunk.Addr, 1, time.Second))
	ctx := context.Background()
	storeCallback(t, n, "claimed-call", "13900000009", "inquiry")
	req := waitCallback(t, n, "claimed-call", 10*time.Second, func(c tickets.Callback) bool { return c.Ticket != "" })
	// Not due until claimed; the claimer is logged in (paused), the other
	// agent is the longest idle when the claimer resumes.
	if _, err := n.pool.Exec(ctx, `UPDATE callback_requests SET next_attempt_at = now() + interval '1 hour' WHERE id = $1`, req.ID); err != nil {
		t.Fatal(err)
	}
	sipAgent(t, n, "2202", phone, "inquiry")
	if err := n.app.acd.Pause(ctx, "2202", "break"); err != nil {
		t.Fatal(err)
	}
	sipAgent(t, n, "2201", phone, "inquiry")
	if _, err := n.app.store.ClaimCallback(ctx, req.ID, "2202", []string{"inquiry"}, "inquiry"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // rounds pass: the claimer is paused, 2201 must not get it
	if c := callbackOf(t, n, "claimed-call"); c.Attempts != 0 {
		t.Fatalf("claimed callback placed while its claimer was paused: %+v", c)
	}
	if err := n.app.acd.Resume(ctx, "2202"); err != nil {
		t.Fatal(err)
	}
	c := waitCallback(t, n, "claimed-call", 20*time.Second, func(c tickets.Callback) bool { return c.Status != tickets.CallbackPending })
	var agent string
	if err := n.pool.QueryRow(ctx, `SELECT data->>'agent' FROM ticket_events WHERE ticket_id = $1 AND kind = 'callback_failed'`,
		c.TicketID).Scan(&agent); err != nil || agent != "2202" {
		t.Fatalf("callback placed with agent %q (err %v), want the claimer 2202", agent, err)
	}
}

// A draining node (SIGTERM) lets the callback in progress finish — the
// conversation and its record — and starts no other, though its agent is
// free again.
func TestE2ECallbackDrain(t *testing.T) {
	trunk := startTrunk(t, "callee_answer.xml", 2, true)
	phone := startTrunk(t, "callee_answer.xml", 2, true)
	n := startNode(t, calendarOpen, func(c *Config) {
		withTrunk(trunk.Addr, 3, time.Second)(c)
		c.ACD.WrapUpMax = configs.Duration(time.Second)
	})
	sipAgent(t, n, "2301", phone, "inquiry")
	storeCallback(t, n, "drain-first", "13900000011", "inquiry")
	first := waitCallback(t, n, "drain-first", 15*time.Second, func(c tickets.Callback) bool { return c.Status == tickets.CallbackConnected })
	storeCallback(t, n, "drain-second", "13900000012", "inquiry")
	n.sigs <- os.Interrupt // drain: the first callback talks on (SIPp hangs up after 12 s)
	rec := waitCallRecord(t, n, fmt.Sprintf("cb-%d-1", first.ID))
	// Both SIPp phones hang up 12 s after their answer; either may be first.
	if rec.HungUpBy == "system" || rec.EndedAt.Sub(rec.ConnectedAt) < 10*time.Second {
		t.Fatalf("callback in progress cut by the drain: %+v", rec)
	}
	time.Sleep(3 * time.Second) // the agent's 1 s wrap-up, rounds that would place the second
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var attempts int
	if err := n.pool.QueryRow(ctx, `SELECT attempts FROM callback_requests WHERE call_id = 'drain-second'`).Scan(&attempts); err != nil || attempts != 0 {
		t.Fatalf("second callback: %d attempts (err %v), want none from a draining node", attempts, err)
	}
	if _, incoming, err := trunk.Stop(); err != nil || incoming != 1 {
		t.Fatalf("trunk got %d INVITEs (err %v), want 1", incoming, err)
	}
}
