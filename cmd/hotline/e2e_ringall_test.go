package main

import (
	"context"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/configs"
	"github.com/hotline-dev/hotline/sip/siptest"
)

// ringAllNode is an agent node whose inquiry queue rings every available
// agent at once (acd.ring_all: [inquiry]).
func ringAllNode(t *testing.T, ringTimeout time.Duration) *testNode {
	siptest.RequireBaresip(t)
	return agentNode(t, func(c *Config) {
		c.ACD.RingAll = []string{"inquiry"}
		c.ACD.RingTimeout = configs.Duration(ringTimeout)
	})
}

// ringAllCaller dials the hotline, presses 1 once the menu plays and waits
// until the IVR took the key (a key during the greeting would be taken too,
// as type-ahead; these tests press it in the menu, as most callers do).
func ringAllCaller(t *testing.T, n *testNode) *siptest.Call {
	t.Helper()
	call := dial(t, newCaller(t), siptest.DialOptions{Target: n.target, Audio: siptest.Tone(440, time.Second, 8000)})
	hears(t, call, time.Now(), prompt(t, "zh-CN", "welcome"), 8*time.Second)
	time.Sleep(500 * time.Millisecond)
	if err := call.SendDTMF('1'); err != nil {
		t.Fatal(err)
	}
	const chosen = `hotline_ivr_menu_choices_total{category="inquiry"}`
	for deadline := time.Now().Add(5 * time.Second); n.counter(chosen) != 1; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the IVR did not take key 1 (%s = %v)", chosen, n.counter(chosen))
		}
	}
	return call
}

// ringAllEvent fails the test unless the phone reports ev.
func ringAllEvent(ctx context.Context, t *testing.T, b *siptest.Baresip, who, ev string) siptest.Event {
	t.Helper()
	e, err := b.WaitEvent(ctx, ev)
	if err != nil {
		t.Fatalf("agent %s: no %s: %v\n%s", who, ev, err, b.Log())
	}
	return e
}

// soon bounds the wait for what must follow an answer at once (CANCEL or
// BYE to the other phones), well below the ring timeout.
func soon(ctx context.Context, t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// ringAllNoEvent fails the test if the phone already reported ev (events are queued
// in order, so this is exact for events that came before a later one seen).
func ringAllNoEvent(t *testing.T, b *siptest.Baresip, who, ev string) {
	t.Helper()
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if e, err := b.WaitEvent(done, ev); err == nil {
		t.Fatalf("agent %s reported %s (%+v)", who, ev, e)
	}
}

// Ring-all: both agents' phones ring for the caller; the one who
// answers is bridged (staff number, audio both ways), the other phone gets
// CANCEL and its agent is available again without a miss; the call record
// names the agent who answered.
func TestE2ERingAllFirstAnswerWins(t *testing.T) {
	n := ringAllNode(t, 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	first := startAgentPhone(ctx, t, n, "1001", false) // the longest idle: rung first one at a time
	time.Sleep(200 * time.Millisecond)
	second := startAgentPhone(ctx, t, n, "1002", false)

	call := ringAllCaller(t, n)
	ringAllEvent(ctx, t, first, "1001", siptest.EventCallIncoming)
	ringAllEvent(ctx, t, second, "1002", siptest.EventCallIncoming)
	waitAgentState(t, n, "1001", agents.StateRinging)
	waitAgentState(t, n, "1002", agents.StateRinging)
	time.Sleep(500 * time.Millisecond) // both ring together for a while
	if err := second.Accept(ctx); err != nil {
		t.Fatal(err)
	}
	ringAllEvent(ctx, t, second, "1002", siptest.EventCallEstablished)
	closed := ringAllEvent(soon(ctx, t), t, first, "1001", siptest.EventCallClosed)
	ringAllNoEvent(t, first, "1001", siptest.EventCallEstablished) // cancelled, not answered then hung up
	t.Logf("the other phone's call closed: %q", closed.Param)

	waitAgentState(t, n, "1002", agents.StateOnCall)
	waitAgentState(t, n, "1001", agents.StateAvailable)
	if st, err := n.app.acd.State(ctx, "1001"); err != nil || st.Misses != 0 || st.Reason != "answered_elsewhere" {
		t.Fatalf("agent who did not answer: %+v, %v; want available, no miss, answered_elsewhere", st, err)
	}
	hears(t, call, time.Now().Add(-3*time.Second), prompt(t, "zh-CN", "agent_number_prefix"), 8*time.Second)
	time.Sleep(4 * time.Second) // staff number, then the conversation
	if share := siptest.Goertzel(call.ReceivedSince(time.Now().Add(-time.Second)), 8000, 1000); share < 0.5 {
		t.Fatalf("caller does not hear the agent's 1 kHz tone: share %.2f", share)
	}
	hangup(t, call)
	ringAllEvent(ctx, t, second, "1002", siptest.EventCallClosed)
	rec := n.record(call.CallID())
	if rec.Outcome != "answered" || rec.AgentID != "1002" || rec.Category != "inquiry" || rec.ConnectedAt.IsZero() {
		t.Fatalf("record = %+v", rec)
	}
	waitAgentState(t, n, "1002", agents.StateWrapUp)
	for result, want := range map[string]float64{"answered": 1, "answered_elsewhere": 1, "no_answer": 0, "caller_gone": 0} {
		if got := n.counter(`hotline_calls_agent_rings_total{result="` + result + `"}`); got != want {
			t.Errorf("agent rings %s = %v, want %v", result, got, want)
		}
	}
	if got := n.counter(`hotline_agents_matches_total{category="inquiry",mode="all"}`); got != 1 {
		t.Errorf("ring-all matches = %v, want 1", got)
	}
}

// Both phones answer at once (auto-answer): exactly one agent is bridged to
// the caller, the other's answer gets BYE at once and that agent is
// available again; nobody stays ringing or reserved.
func TestE2ERingAllBothAnswerAtOnce(t *testing.T) {
	n := ringAllNode(t, 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	phones := map[string]*siptest.Baresip{
		"1001": startAgentPhone(ctx, t, n, "1001", true),
		"1002": startAgentPhone(ctx, t, n, "1002", true),
	}
	call := ringAllCaller(t, n)
	for id, b := range phones {
		ringAllEvent(ctx, t, b, id, siptest.EventCallEstablished)
	}
	deadline := time.Now().Add(10 * time.Second)
	var winner, loser string
	for winner == "" || loser == "" {
		winner, loser = "", ""
		for id := range phones {
			st, err := n.app.acd.State(ctx, id)
			switch {
			case err != nil:
				t.Fatal(err)
			case st.State == agents.StateOnCall && winner == "":
				winner = id
			case st.State == agents.StateOnCall:
				t.Fatalf("agents %s and %s both on the call", winner, id)
			case st.State == agents.StateAvailable && st.Misses == 0:
				loser = id
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("want one agent on the call and one available: winner %q, loser %q", winner, loser)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The loser's answered call is ended by the hotline, the winner's stays up.
	ringAllEvent(soon(ctx, t), t, phones[loser], loser, siptest.EventCallClosed)
	hears(t, call, time.Now().Add(-3*time.Second), prompt(t, "zh-CN", "agent_number_prefix"), 8*time.Second)
	ringAllNoEvent(t, phones[winner], winner, siptest.EventCallClosed)
	waitAgentState(t, n, winner, agents.StateOnCall)
	hangup(t, call)
	ringAllEvent(ctx, t, phones[winner], winner, siptest.EventCallClosed)
	if rec := n.record(call.CallID()); rec.Outcome != "answered" || rec.AgentID != winner {
		t.Fatalf("record = %+v, want answered by %s", rec, winner)
	}
	waitAgentState(t, n, loser, agents.StateAvailable)
}

// Nobody answers within ring_timeout: every phone gets CANCEL, each agent
// counts one miss (S1) and the caller keeps their place and rings the group
// again; the caller then hangs up while both ring: both get CANCEL and are
// available at once, with no further miss.
func TestE2ERingAllNobodyAnswersThenCallerLeaves(t *testing.T) {
	n := ringAllNode(t, 3*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	phones := map[string]*siptest.Baresip{
		"1001": startAgentPhone(ctx, t, n, "1001", false),
		"1002": startAgentPhone(ctx, t, n, "1002", false),
	}
	call := ringAllCaller(t, n)
	for id, b := range phones {
		ringAllEvent(ctx, t, b, id, siptest.EventCallIncoming)
	}
	for id, b := range phones { // the ring timeout
		ringAllEvent(ctx, t, b, id, siptest.EventCallClosed)
	}
	for id, b := range phones { // the caller kept their place: the group rings again
		ringAllEvent(ctx, t, b, id, siptest.EventCallIncoming)
		if st, err := n.app.acd.State(ctx, id); err != nil || st.State != agents.StateRinging || st.Misses != 1 {
			t.Fatalf("agent %s ringing again: %+v, %v; want ringing with one miss", id, st, err)
		}
	}
	if got := n.queueLen("inquiry"); got != 1 {
		t.Fatalf("queue length %d, want the caller still queued", got)
	}
	hangup(t, call)
	for id, b := range phones {
		ringAllEvent(ctx, t, b, id, siptest.EventCallClosed)
		ringAllNoEvent(t, b, id, siptest.EventCallEstablished)
	}
	for id := range phones {
		waitAgentState(t, n, id, agents.StateAvailable)
		if st, err := n.app.acd.State(ctx, id); err != nil || st.Misses != 1 || st.Reason != "caller_gone" {
			t.Fatalf("agent %s after the caller left: %+v, %v; want one miss, caller_gone", id, st, err)
		}
	}
	n.waitQueueLen("inquiry", 0)
	if rec := n.record(call.CallID()); rec.Outcome != "abandoned_in_queue" || rec.AgentID != "" {
		t.Fatalf("record = %+v", rec)
	}
	for result, want := range map[string]float64{"no_answer": 2, "caller_gone": 2, "answered": 0} {
		if got := n.counter(`hotline_calls_agent_rings_total{result="` + result + `"}`); got != want {
			t.Errorf("agent rings %s = %v, want %v", result, got, want)
		}
	}
}

// Three phones ring: one agent rejects the call, then another answers. The
// agent who rejected stays reserved until the outcome is known and counts no
// miss, since the caller was answered; the third phone gets CANCEL.
func TestE2ERingAllRejectThenAnswer(t *testing.T) {
	n := ringAllNode(t, 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ids := []string{"1001", "1002", "1003"}
	phones := map[string]*siptest.Baresip{}
	for _, id := range ids {
		phones[id] = startAgentPhone(ctx, t, n, id, false)
	}
	call := ringAllCaller(t, n)
	for _, id := range ids {
		ringAllEvent(ctx, t, phones[id], id, siptest.EventCallIncoming)
	}
	if err := phones["1001"].Hangup(ctx); err != nil { // rejects the incoming call
		t.Fatal(err)
	}
	ringAllEvent(ctx, t, phones["1001"], "1001", siptest.EventCallClosed)
	time.Sleep(300 * time.Millisecond) // the rejection reached the hotline
	if st, err := n.app.acd.State(ctx, "1001"); err != nil || st.State != agents.StateRinging || st.Misses != 0 {
		t.Fatalf("agent who rejected while others ring: %+v, %v; want still reserved, no miss", st, err)
	}
	if err := phones["1003"].Accept(ctx); err != nil {
		t.Fatal(err)
	}
	ringAllEvent(ctx, t, phones["1003"], "1003", siptest.EventCallEstablished)
	ringAllEvent(soon(ctx, t), t, phones["1002"], "1002", siptest.EventCallClosed)
	ringAllNoEvent(t, phones["1002"], "1002", siptest.EventCallEstablished)
	waitAgentState(t, n, "1003", agents.StateOnCall)
	for _, id := range []string{"1001", "1002"} {
		waitAgentState(t, n, id, agents.StateAvailable)
		if st, err := n.app.acd.State(ctx, id); err != nil || st.Misses != 0 || st.Reason != "answered_elsewhere" {
			t.Fatalf("agent %s: %+v, %v; want available, no miss, answered_elsewhere", id, st, err)
		}
	}
	hangup(t, call)
	if rec := n.record(call.CallID()); rec.Outcome != "answered" || rec.AgentID != "1003" {
		t.Fatalf("record = %+v", rec)
	}
	for result, want := range map[string]float64{"answered": 1, "answered_elsewhere": 2, "busy": 0, "decline": 0, "no_answer": 0} {
		if got := n.counter(`hotline_calls_agent_rings_total{result="` + result + `"}`); got != want {
			t.Errorf("agent rings %s = %v, want %v", result, got, want)
		}
	}
}
