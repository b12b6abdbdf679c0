package main

import (
	"context"
	"encoding/binary"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/sip/siptest"
)

// baresip (Debian) registers as agent 1001 with digest
// auth, logs in with the feature code *1, auto-answers; a caller presses 1,
// is rung through (S1), hears the staff number (S2), and audio flows both ways
// through the bridge; the call is recorded in stereo (S19) and the record
// names the agent, the wait and who hung up (S11).
func TestE2EAgentBridge(t *testing.T) {
	siptest.RequireBaresip(t)
	n := startNode(t, calendarOpen, func(c *Config) {
		c.Registrar.Algorithms = []string{"MD5"} // baresip 1.0 cannot answer a SHA-256 challenge
		c.ACD.RingTimeout = 5e9
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := n.app.dir.Add(ctx, agents.Agent{ID: "1001", DisplayName: "Li Na", StaffNumber: "1001",
		Categories: []string{"inquiry", "complaint", "emergency", "business"}, Role: agents.RoleAgent}, "secret-1001"); err != nil {
		t.Fatal(err)
	}
	agent, err := siptest.StartBaresip(ctx, siptest.BaresipOptions{User: "1001", Password: "secret-1001",
		Domain: n.sipHP, AutoAnswer: true, Microphone: siptest.Tone(1000, time.Second, 8000)})
	if err != nil {
		t.Fatal(err)
	}
	defer agent.Close()
	if err := agent.WaitRegistered(ctx); err != nil {
		t.Fatalf("register: %v\n%s", err, agent.Log())
	}
	// Feature code *1: available (answered, confirmed, hung up by the server).
	featureCode(ctx, t, n, agent, "*1")
	waitAgentState(t, n, "1001", agents.StateAvailable)

	call := dial(t, newCaller(t), siptest.DialOptions{Target: n.target, Audio: siptest.Tone(440, time.Second, 8000)})
	pressInMenu(t, call, '1')
	if _, err := agent.WaitEvent(ctx, siptest.EventCallEstablished); err != nil {
		t.Fatalf("agent not rung: %v\n%s", err, agent.Log())
	}
	waitAgentState(t, n, "1001", agents.StateOnCall)
	bridged := time.Now()
	hears(t, call, bridged.Add(-3*time.Second), prompt(t, "zh-CN", "agent_number_prefix"), 8*time.Second)
	time.Sleep(4 * time.Second) // staff number, then the conversation
	if share := siptest.Goertzel(call.ReceivedSince(time.Now().Add(-time.Second)), 8000, 1000); share < 0.5 {
		t.Fatalf("caller does not hear the agent's 1 kHz tone: share %.2f", share)
	}
	heard, err := agent.Recorded()
	if err != nil {
		t.Fatal(err)
	}
	if len(heard) < 8000 || siptest.Goertzel(heard[len(heard)-8000:], 8000, 440) < 0.5 {
		t.Fatalf("agent does not hear the caller's 440 Hz tone (%d samples)", len(heard))
	}
	// The caller puts the agent on hold (re-INVITE sendonly): the agent hears
	// hold music instead of the caller's tone, and the tone again after unhold.
	hctx, hcancel := context.WithTimeout(ctx, 5*time.Second)
	defer hcancel()
	if err := call.Hold(hctx); err != nil {
		t.Fatalf("hold: %v", err)
	}
	time.Sleep(2 * time.Second)
	heard, err = agent.Recorded()
	if err != nil {
		t.Fatal(err)
	}
	onHold := heard[len(heard)-8000:]
	if siptest.Goertzel(onHold, 8000, 440) > 0.1 || siptest.RMS(onHold) < siptest.SilenceRMS {
		t.Fatalf("agent on hold: 440 Hz share %.2f, rms %.0f: want hold music, not the caller",
			siptest.Goertzel(onHold, 8000, 440), siptest.RMS(onHold))
	}
	if err := call.Unhold(hctx); err != nil {
		t.Fatalf("unhold: %v", err)
	}
	time.Sleep(2 * time.Second)
	if heard, err = agent.Recorded(); err != nil || siptest.Goertzel(heard[len(heard)-8000:], 8000, 440) < 0.5 {
		t.Fatalf("agent does not hear the caller again after unhold (err %v)", err)
	}
	hangup(t, call)
	if _, err := agent.WaitEvent(ctx, siptest.EventCallClosed); err != nil {
		t.Fatalf("agent leg not closed after the caller hung up: %v", err)
	}
	rec := n.record(call.CallID())
	if rec.Outcome != "answered" || rec.AgentID != "1001" || rec.HungUpBy != "caller" || rec.Category != "inquiry" ||
		rec.ConnectedAt.IsZero() || rec.WaitSeconds <= 0 || rec.WaitExceeded {
		t.Fatalf("record = %+v", rec)
	}
	checkStereoRecording(t, rec.RecordingPath)
	// S12: after the call the agent is in wrap-up, not offered new calls.
	waitAgentState(t, n, "1001", agents.StateWrapUp)
	n.waitQueueLen("inquiry", 0)
}

func waitAgentState(t *testing.T, n *testNode, id string, want agents.State) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := n.app.acd.State(context.Background(), id)
		if err == nil && st.State == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent %s: state %+v (err %v), want %s", id, st, err, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkStereoRecording parses the WAV and checks both channels carry sound:
// left the caller (440 Hz), right the agent (1 kHz).
func checkStereoRecording(t *testing.T, path string) {
	t.Helper()
	if path == "" {
		t.Fatal("no recording on the call record")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 44 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		t.Fatalf("recording %s is not a WAV file", path)
	}
	if ch := binary.LittleEndian.Uint16(b[22:24]); ch != 2 {
		t.Fatalf("recording has %d channels, want 2", ch)
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
	if siptest.Goertzel(left, 8000, 440) < 0.3 {
		t.Errorf("left channel (caller) lacks the 440 Hz tone; rms %.0f", siptest.RMS(left))
	}
	if siptest.Goertzel(right, 8000, 1000) < 0.3 {
		t.Errorf("right channel (agent) lacks the 1 kHz tone; rms %.0f", siptest.RMS(right))
	}
}
