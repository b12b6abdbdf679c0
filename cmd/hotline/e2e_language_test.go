package main

import (
	"context"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/configs"
	"github.com/hotline-dev/hotline/sip/siptest"
)

// tapHears waits up to d for the audio a tap recorded after since to hold
// want (normalised cross-correlation, as hears does for the Go caller).
func tapHears(t *testing.T, tap *siptest.RTPTap, since time.Time, what string, want []int16, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	best := 0.0
	for time.Now().Before(deadline) {
		if got := tap.ReceivedSince(since); len(got) >= len(want) {
			if best = siptest.Similarity(got, want); best >= siptest.SameAudio {
				return
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("SIPp did not hear %s: similarity %.2f < %.2f (%d packets tapped)", what, best, siptest.SameAudio, tap.Packets())
}

// sippRun is RunSIPp started in the background; wait returns its result.
func sippRun(t *testing.T, opts siptest.SIPpOptions) (wait func() siptest.SIPpResult) {
	t.Helper()
	siptest.RequireSIPp(t)
	type result struct {
		res siptest.SIPpResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), opts.Timeout+30*time.Second)
		defer cancel()
		res, err := siptest.RunSIPp(ctx, opts)
		done <- result{res, err}
	}()
	return func() siptest.SIPpResult {
		t.Helper()
		r := <-done
		if r.err != nil {
			t.Fatalf("sipp %s: %v", opts.Scenario, r.err)
		}
		return r.res
	}
}

// A whole call in English with SIPp as the caller (RFC 4733 keys) and
// baresip as the agent: the Mandarin greeting offers English ("For English,
// press" "eight"), key 8 switches, and from then on SIPp hears English only —
// menu, queue entry and position (S8), the staff number (S2), the complaint
// reference (S17), the survey (S18). What SIPp heard is tapped off loopback
// and compared with the English prompts; the record and the ticket keep "en".
func TestE2ESIPpEnglishCall(t *testing.T) {
	siptest.RequireSIPp(t)
	siptest.RequireBaresip(t)
	n := startNode(t, calendarOpen, func(c *Config) {
		c.SIP.AnswerDelay = 0
		c.Registrar.Algorithms = []string{"MD5"} // baresip 1.0 cannot answer a SHA-256 challenge
		c.ACD.RingTimeout = 5e9
		c.IVR.SurveyTimeout = configs.Duration(20 * time.Second)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 170*time.Second)
	defer cancel()
	agent := startAgent(ctx, t, n, "1007")
	// Paused, the agent still serves complaints: the caller waits in the
	// queue (and hears it in English) instead of being offered a callback.
	if err := n.app.acd.Pause(ctx, "1007", "break"); err != nil {
		t.Fatal(err)
	}

	port, err := siptest.FreeUDPPort()
	if err != nil {
		t.Fatal(err)
	}
	tap, err := siptest.TapRTP(port)
	if err != nil {
		t.Fatal(err)
	}
	defer tap.Close()
	const caller = "13866660008"
	keysBefore := n.counter(`hotline_ivr_language_choices_total{language="en",source="key"}`)
	start := time.Now()
	// 8 during the Mandarin menu, after the whole greeting and its offer;
	// 2 four seconds into the English menu; 1 at 60 s, in the survey that
	// follows the agent's hang-up at 40 s (a replayed capture would be
	// dropped as a retransmission, so SIPp presses each key once, on time).
	wait := sippRun(t, siptest.SIPpOptions{Scenario: "english_call.xml", Target: n.sipHP, Caller: caller,
		AnswerWait: 7 * time.Second, AfterKey: 4 * time.Second, Pauses: map[string]time.Duration{"before_survey": 49 * time.Second},
		Timeout: 120 * time.Second, MediaPort: port})
	hangUpAt := start.Add(40 * time.Second)
	en := func(name string) []int16 { return prompt(t, "en", name) }

	tapHears(t, tap, start, "the Mandarin greeting", prompt(t, "zh-CN", "welcome"), 10*time.Second)
	tapHears(t, tap, start, `the offer "For English, press"`, en("language_offer"), 10*time.Second)
	tapHears(t, tap, start, `"eight"`, en("num_8"), 10*time.Second)
	tapHears(t, tap, start, "the English menu", en("menu")[:16000], 20*time.Second)
	n.waitQueueLen("complaint", 1)
	tapHears(t, tap, start, "the English queue entry", en("queue_entered"), 10*time.Second)
	tapHears(t, tap, start, "the English position (S8)", en("queue_position_prefix"), 10*time.Second)
	tapHears(t, tap, start, "the English wait (S8)", en("queue_wait_prefix"), 10*time.Second)

	if err := n.app.acd.Resume(ctx, "1007"); err != nil {
		t.Fatal(err)
	}
	n.app.router.Poke()
	if _, err := agent.WaitEvent(ctx, siptest.EventCallEstablished); err != nil {
		t.Fatalf("agent not rung: %v\n%s", err, agent.Log())
	}
	waitAgentState(t, n, "1007", agents.StateOnCall)
	tapHears(t, tap, start, "the staff number in English (S2)", en("agent_number_prefix"), 10*time.Second)
	tapHears(t, tap, start, `"seven"`, en("num_7"), 10*time.Second)
	tapHears(t, tap, start, "the staff number's end in English", en("agent_number_suffix"), 10*time.Second)
	if late := time.Since(hangUpAt); late > 8*time.Second {
		t.Fatalf("the agent was reached %v after the planned hang-up: SIPp's survey key would come before the survey", late)
	}
	time.Sleep(time.Until(hangUpAt)) // the conversation
	agentGone := time.Now()
	if err := agent.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	tapHears(t, tap, agentGone, "the reference in English (S17)", en("ticket_number_prefix"), 10*time.Second)
	tapHears(t, tap, agentGone, "the survey in English (S18)", en("survey")[:16000], 30*time.Second)
	tapHears(t, tap, agentGone, "the survey's thanks in English", en("survey_thanks"), 30*time.Second)

	res := wait()
	wantSIPpOK(t, res, "english_call.xml")
	// After the key nothing Mandarin: neither the menu nor the queue entry.
	for _, name := range []string{"menu", "queue_entered", "survey"} {
		zh := prompt(t, "zh-CN", name)
		if sim := siptest.Similarity(tap.ReceivedSince(start.Add(11*time.Second)), zh[:min(len(zh), 12000)]); sim >= siptest.DifferentAudio {
			t.Errorf("SIPp heard the Mandarin %s after choosing English (similarity %.2f)", name, sim)
		}
	}
	rec := n.recordOfCaller(caller)
	if rec.Language != "en" || rec.Outcome != "answered" || rec.Category != "complaint" || rec.AgentID != "1007" {
		t.Fatalf("record = %+v", rec)
	}
	k := ticketOfCall(t, n, rec.ID)
	for scoreBy := time.Now().Add(10 * time.Second); k.SurveyScore == 0 && time.Now().Before(scoreBy); {
		time.Sleep(100 * time.Millisecond)
		k = ticketOfCall(t, n, rec.ID)
	}
	if k.Language != "en" || k.SurveyScore != 1 || k.Category != "complaint" {
		t.Fatalf("ticket = %+v", k)
	}
	if got := n.counter(`hotline_ivr_language_choices_total{language="en",source="key"}`); got != keysBefore+1 {
		t.Errorf("language choices by key %v, want %v", got, keysBefore+1)
	}
}

// S6 after hours: SIPp presses 1 during the greeting (it means nothing yet:
// dropped, counted), then 3 (emergency in both menus): the caller is queued as
// an emergency within about a second, without the after-hours message, and
// the agent (baresip) answers.
func TestE2ESIPpAfterHoursEmergencyDuringGreeting(t *testing.T) {
	siptest.RequireSIPp(t)
	siptest.RequireBaresip(t)
	n := startNode(t, calendarClosed(), func(c *Config) {
		c.SIP.AnswerDelay = 0
		c.Registrar.Algorithms = []string{"MD5"}
		c.ACD.RingTimeout = 5e9
	})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	agent := startAgent(ctx, t, n, "1003")
	dropped := `hotline_ivr_dtmf_dropped_total{stage="greeting"}`
	closedMsg := `hotline_sip_prompts_started_total{prompt="after_hours"}`
	droppedBefore, closedBefore := n.counter(dropped), n.counter(closedMsg)
	const caller = "13877770003"
	// 1 at 1 s, 3 at 2 s: both within the 4 s greeting.
	res := runSIPp(t, siptest.SIPpOptions{Scenario: "invalid_then_valid.xml", Target: n.sipHP, Caller: caller,
		InvalidKey: '1', Key: '3', AnswerWait: time.Second, AfterInvalid: time.Second, AfterKey: 8 * time.Second})
	wantSIPpOK(t, res, "invalid_then_valid.xml")
	if _, err := agent.WaitEvent(ctx, siptest.EventCallEstablished); err != nil {
		t.Fatalf("agent not rung for the emergency: %v\n%s", err, agent.Log())
	}
	rec := n.recordOfCaller(caller)
	if rec.Category != "emergency" || rec.QueuedAt.IsZero() || rec.Outcome != "answered" || rec.AgentID != "1003" {
		t.Fatalf("record = %+v", rec)
	}
	// The 3 left SIPp 2 s after the answer; the caller was queued within
	// about a second of it.
	if wait := rec.QueuedAt.Sub(rec.AnsweredAt); wait > 3500*time.Millisecond {
		t.Errorf("queued %v after the answer, want about 2 s (the key at 2 s)", wait)
	}
	if got := n.counter(dropped); got != droppedBefore+1 {
		t.Errorf("%s = %v, want %v (key 1 during the after-hours greeting)", dropped, got, droppedBefore+1)
	}
	if got := n.counter(closedMsg); got != closedBefore {
		t.Errorf("the after-hours message was played %v times to a caller who pressed 3 in the greeting", got-closedBefore)
	}
}

// An international number (prefix +, not +86) hears the greeting in English
// at once, without the offer, and the rest of the call too; a home number in
// international form (+86) hears Mandarin.
func TestE2EInternationalCallerHearsEnglish(t *testing.T) {
	n := startNode(t, calendarOpen, nil)
	t.Run("+44", func(t *testing.T) {
		t.Parallel()
		call := dial(t, newCaller(t), siptest.DialOptions{Target: n.target, From: "sip:+442079460000@127.0.0.1"})
		start := time.Now()
		hears(t, call, start, prompt(t, "en", "welcome"), 8*time.Second)
		hears(t, call, start, prompt(t, "en", "menu")[:8000], 8*time.Second)
		if sim := siptest.Similarity(call.ReceivedSince(start), prompt(t, "en", "language_offer")); sim >= siptest.DifferentAudio {
			t.Errorf("an English caller was offered English (similarity %.2f)", sim)
		}
		pressed := time.Now()
		if err := call.SendDTMF('3'); err != nil {
			t.Fatal(err)
		}
		hears(t, call, pressed, prompt(t, "en", "queue_emergency"), 8*time.Second)
		hangup(t, call)
		if rec := n.record(call.CallID()); rec.Language != "en" || rec.Category != "emergency" || rec.Caller != "+442079460000" {
			t.Fatalf("record = %+v", rec)
		}
	})
	t.Run("+86", func(t *testing.T) {
		t.Parallel()
		call := dial(t, newCaller(t), siptest.DialOptions{Target: n.target, From: "sip:+8613800000001@127.0.0.1"})
		start := time.Now()
		hears(t, call, start, prompt(t, "zh-CN", "welcome"), 8*time.Second)
		hears(t, call, start, prompt(t, "en", "language_offer"), 8*time.Second)
		hangup(t, call)
		if rec := n.record(call.CallID()); rec.Language != "zh-CN" {
			t.Fatalf("record = %+v", rec)
		}
	})
}
