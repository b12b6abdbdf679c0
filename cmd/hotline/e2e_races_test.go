package main

import (
	"context"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/sip/siptest"
)

// agentNode is a node whose registrar speaks MD5 only (baresip 1.0) with a
// short ring timeout.
func agentNode(t *testing.T, mutate func(*Config)) *testNode {
	return startNode(t, calendarOpen, func(c *Config) {
		c.Registrar.Algorithms = []string{"MD5"}
		c.ACD.RingTimeout = 3e9
		if mutate != nil {
			mutate(c)
		}
	})
}

// S1: the longest-idle agent does not answer within ring_timeout; the caller
// keeps their place and the next agent takes the call; the silent agent's miss
// is counted and it is back in routing (not_responding only after max_no_answer).
func TestE2ENoAnswerThenNextAgent(t *testing.T) {
	siptest.RequireBaresip(t)
	n := agentNode(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	silent := startAgentPhone(ctx, t, n, "1001", false) // logs in first: longest idle; never answers
	time.Sleep(200 * time.Millisecond)
	startAgent(ctx, t, n, "1002")

	call := dial(t, newCaller(t), siptest.DialOptions{Target: n.target})
	pressInMenu(t, call, '1')
	if _, err := silent.WaitEvent(ctx, siptest.EventCallIncoming); err != nil {
		t.Fatalf("longest-idle agent not rung first: %v", err)
	}
	waitAgentState(t, n, "1002", agents.StateOnCall)
	st, err := n.app.acd.State(ctx, "1001")
	if err != nil || st.Misses != 1 || st.State != agents.StateAvailable {
		t.Fatalf("silent agent after one miss: %+v %v", st, err)
	}
	hangup(t, call)
	if rec := n.record(call.CallID()); rec.AgentID != "1002" || rec.Outcome != "answered" {
		t.Fatalf("record = %+v", rec)
	}
}

// A caller hangs up while the agent's phone rings: the agent gets CANCEL and
// is available again at once (no agent stuck "reserved").
func TestE2ECallerGoneWhileRinging(t *testing.T) {
	siptest.RequireBaresip(t)
	n := agentNode(t, func(c *Config) { c.ACD.RingTimeout = 10e9 })
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := n.app.dir.Add(ctx, agents.Agent{ID: "1001", DisplayName: "Agent 1001", StaffNumber: "1001",
		Categories: []string{"inquiry"}, Role: agents.RoleAgent}, "secret-1001"); err != nil {
		t.Fatal(err)
	}
	b, err := siptest.StartBaresip(ctx, siptest.BaresipOptions{User: "1001", Password: "secret-1001", Domain: n.sipHP})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.WaitRegistered(ctx); err != nil {
		t.Fatalf("register: %v\n%s", err, b.Log())
	}
	if err := n.app.acd.Login(ctx, "1001", []string{"inquiry"}); err != nil {
		t.Fatal(err)
	}
	call := dial(t, newCaller(t), siptest.DialOptions{Target: n.target})
	pressInMenu(t, call, '1')
	if _, err := b.WaitEvent(ctx, siptest.EventCallIncoming); err != nil {
		t.Fatalf("agent not rung: %v\n%s", err, b.Log())
	}
	waitAgentState(t, n, "1001", agents.StateRinging)
	hangup(t, call)
	if _, err := b.WaitEvent(ctx, siptest.EventCallClosed); err != nil {
		t.Fatalf("agent's ringing not cancelled: %v", err)
	}
	waitAgentState(t, n, "1001", agents.StateAvailable)
	if rec := n.record(call.CallID()); rec.Outcome != "abandoned_in_queue" || rec.AgentID != "" {
		t.Fatalf("record = %+v", rec)
	}
	n.waitQueueLen("inquiry", 0)
	if got := n.counter(`hotline_calls_agent_rings_total{result="caller_gone"}`); got != 1 {
		t.Fatalf("caller_gone rings = %v, want 1", got)
	}
}

// Two nodes on one Redis and one PostgreSQL: an agent registered through node
// B takes a caller waiting on node A.
func TestE2ETwoNodes(t *testing.T) {
	siptest.RequireBaresip(t)
	a := agentNode(t, nil)
	b := agentNode(t, func(c *Config) {
		c.DatabaseURL = a.cfg.DatabaseURL
		c.Queue.KeyPrefix = a.cfg.Queue.KeyPrefix
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	agent := startAgent(ctx, t, b, "1001")
	call := dial(t, newCaller(t), siptest.DialOptions{Target: a.target, Audio: siptest.Tone(440, time.Second, 8000)})
	pressInMenu(t, call, '1')
	if _, err := agent.WaitEvent(ctx, siptest.EventCallEstablished); err != nil {
		t.Fatalf("agent on node B not rung for a caller on node A: %v", err)
	}
	waitAgentState(t, b, "1001", agents.StateOnCall)
	hangup(t, call)
	rec := a.record(call.CallID())
	if rec.AgentID != "1001" || rec.Node != a.cfg.Node || rec.Outcome != "answered" {
		t.Fatalf("record = %+v", rec)
	}
}
