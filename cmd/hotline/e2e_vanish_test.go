package main

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/configs"
	"github.com/hotline-dev/hotline/sip/siptest"
)

// An agent's softphone vanishes mid-call (baresip killed with SIGKILL: no
// BYE, no more RTP). The agent's leg ends at the media timeout, the agent
// goes not_responding (S1: no caller is offered to a phone that is gone),
// and the caller, still on the line, is offered the callback (S9) and takes
// it; the conversation keeps its answered record and draft (S12).
func TestE2EAgentPhoneVanishes(t *testing.T) {
	if !siptest.HaveBaresip() {
		t.Fatal("baresip is not installed: run scripts/services.sh tools (make test does)")
	}
	const mediaTimeout = 2 * time.Second
	n := startNode(t, calendarOpen, func(c *Config) {
		c.Registrar.Algorithms = []string{"MD5"} // baresip 1.0 cannot answer a SHA-256 challenge
		c.ACD.RingTimeout = configs.Duration(5 * time.Second)
		c.SIP.MediaTimeout = configs.Duration(mediaTimeout)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	agent := startAgent(ctx, t, n, "1001")

	call := dial(t, newCaller(t), siptest.DialOptions{Target: n.target, Audio: siptest.Tone(440, time.Second, 8000)})
	pressInMenu(t, call, '1')
	if _, err := agent.WaitEvent(ctx, siptest.EventCallEstablished); err != nil {
		t.Fatalf("agent not rung: %v\n%s", err, agent.Log())
	}
	waitAgentState(t, n, "1001", agents.StateOnCall)
	time.Sleep(time.Second) // a moment of conversation
	vanished := time.Now()
	if err := agent.Vanish(); err != nil {
		t.Fatal(err)
	}
	hears(t, call, vanished, prompt(t, "zh-CN", "callback_offer"), mediaTimeout+10*time.Second)
	if took := time.Since(vanished); took < mediaTimeout {
		t.Fatalf("callback offered %v after the phone vanished, before the media timeout (%v)", took, mediaTimeout)
	}
	waitAgentState(t, n, "1001", agents.StateNotResponding)
	offered := time.Now()
	if err := call.SendDTMF('1'); err != nil {
		t.Fatal(err)
	}
	hears(t, call, offered, prompt(t, "zh-CN", "callback_confirmed"), 10*time.Second)
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	if err := call.WaitHangup(wctx); err != nil {
		hangup(t, call)
	}
	rec := n.record(call.CallID())
	if rec.Outcome != "answered" || rec.AgentID != "1001" || rec.ConnectedAt.IsZero() {
		t.Fatalf("record = %+v, want answered by 1001", rec)
	}
	if cb := n.callbacks(rec.ID); !slices.Equal(cb, []string{"agent_lost/inquiry"}) {
		t.Fatalf("callback requests = %v, want [agent_lost/inquiry]", cb)
	}
	st, err := n.app.acd.State(ctx, "1001")
	if err != nil || st.State != agents.StateNotResponding || st.Reason != "phone_lost" {
		t.Fatalf("agent state %+v (%v), want not_responding for phone_lost", st, err)
	}
	ticketOfCall(t, n, rec.ID) // the draft of the conversation exists (S12)
}
