package main

import (
	"context"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/sip/siptest"
)

// hold from the agent's side: "Hold from either side (re-INVITE
// sendonly) plays hold music to the other side." A Go caller (440 Hz) is
// bridged to a real baresip agent (1 kHz); the agent presses hold (baresip's
// own re-INVITE with a=sendonly): the caller hears the hold-music prompt, not
// the agent's tone, and nothing is relayed either way; resume (a=sendrecv)
// brings the agent's tone back to the caller and the relay both ways, and the
// call record is an answered call that went on after the hold.
func TestE2EAgentHold(t *testing.T) {
	siptest.RequireBaresip(t)
	n := agentNode(t, func(c *Config) {
		c.SIP.Listen = freeSIPListen(t)
		c.ACD.RingTimeout = 10e9
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	agent := startAgent(ctx, t, n, "1001") // auto-answers, microphone 1 kHz

	call := dial(t, newCaller(t), siptest.DialOptions{Target: n.target, Audio: siptest.Tone(440, time.Second, 8000)})
	hears(t, call, time.Now(), prompt(t, "zh-CN", "welcome"), 10*time.Second)
	if err := call.SendDTMF('1'); err != nil {
		t.Fatal(err)
	}
	if _, err := agent.WaitEvent(ctx, siptest.EventCallEstablished); err != nil {
		t.Fatalf("agent not rung: %v\n%s", err, agent.Log())
	}
	waitAgentState(t, n, "1001", agents.StateOnCall)
	// The staff number (S2) is announced first; then the agent's tone.
	hears(t, call, time.Now().Add(-3*time.Second), prompt(t, "zh-CN", "agent_number_prefix"), 10*time.Second)
	waitTone(t, "caller hears the agent before hold", call.ReceivedSince, 1000, 10*time.Second)
	waitTone(t, "agent hears the caller before hold", func(time.Time) []int16 {
		heard, err := agent.Recorded()
		if err != nil {
			t.Fatal(err)
		}
		return heard
	}, 440, 10*time.Second)

	relayed := func(dir string) float64 {
		return n.counter(`hotline_media_relayed_packets_total{direction="` + dir + `"}`)
	}
	music := prompt(t, "zh-CN", "hold_music")
	held := time.Now()
	if err := agent.Hold(ctx); err != nil {
		t.Fatalf("agent hold: %v\n%s", err, agent.Log())
	}
	// The caller hears the hold music from its start (the prompt is looped
	// from the beginning when the hold begins), identified by correlation.
	hears(t, call, held, music, 10*time.Second)
	// Steady state on hold: music, and none of the agent's tone relayed; the
	// agent, who asked not to receive (sendonly), is sent nothing either.
	toAgent, toCaller := relayed("caller_to_agent"), relayed("agent_to_caller")
	time.Sleep(1500 * time.Millisecond)
	onHold := call.ReceivedSince(time.Now().Add(-1500 * time.Millisecond))
	if share := siptest.Goertzel(onHold, 8000, 1000); share > 0.1 || siptest.RMS(onHold) < siptest.SilenceRMS {
		t.Fatalf("caller while the agent holds: 1 kHz share %.2f, rms %.0f (%d samples): want hold music only",
			share, siptest.RMS(onHold), len(onHold))
	}
	if a, c := relayed("caller_to_agent")-toAgent, relayed("agent_to_caller")-toCaller; a != 0 || c != 0 {
		t.Fatalf("relayed while the agent holds: %v packets to the agent, %v to the caller; want none", a, c)
	}
	if st, err := n.app.acd.State(ctx, "1001"); err != nil || st.State != agents.StateOnCall {
		t.Fatalf("agent on hold: state %+v, %v; want on_call", st, err)
	}

	resumed := time.Now()
	toAgent, toCaller = relayed("caller_to_agent"), relayed("agent_to_caller")
	if err := agent.Resume(ctx); err != nil {
		t.Fatalf("agent resume: %v\n%s", err, agent.Log())
	}
	// The music stops and the agent's tone comes back, on its own.
	waitTone(t, "caller hears the agent after resume", func(time.Time) []int16 {
		since := time.Now().Add(-time.Second)
		if since.Before(resumed) {
			since = resumed
		}
		return call.ReceivedSince(since)
	}, 1000, 10*time.Second)
	// The caller's voice goes to the agent again: about 50 packets a second.
	// (Counted at the relay: baresip 1.0.0 receives them, its RTP statistics
	// match, but after its own hold and resume it no longer decodes them into
	// the recording Baresip.Recorded reads.)
	time.Sleep(time.Second)
	if a, c := relayed("caller_to_agent")-toAgent, relayed("agent_to_caller")-toCaller; a < 40 || c < 40 {
		t.Fatalf("relayed since resume: %v packets to the agent, %v to the caller; want both ways", a, c)
	}

	hangup(t, call)
	if _, err := agent.WaitEvent(ctx, siptest.EventCallClosed); err != nil {
		t.Fatalf("agent leg not closed after the caller hung up: %v", err)
	}
	rec := n.record(call.CallID())
	if rec.Outcome != "answered" || rec.AgentID != "1001" || rec.HungUpBy != "caller" || rec.ConnectedAt.IsZero() ||
		!rec.EndedAt.After(resumed) {
		t.Fatalf("record = %+v", rec)
	}
	waitAgentState(t, n, "1001", agents.StateWrapUp)
}

// waitTone polls audio (called with the time of the poll's start) until the
// last second of it is mostly a tone at freq, or fails after d.
func waitTone(t *testing.T, what string, audio func(since time.Time) []int16, freq float64, d time.Duration) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(d)
	share := 0.0
	for time.Now().Before(deadline) {
		got := audio(start.Add(-time.Second))
		if len(got) >= 8000 {
			if share = siptest.Goertzel(got[len(got)-8000:], 8000, freq); share >= 0.5 {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: %.0f Hz share of the last second %.2f < 0.5 after %s", what, freq, share, d)
}
